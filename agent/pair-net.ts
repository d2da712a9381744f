// Carrying pairing messages (cluster/pairing/protocol.ts) between machines: length-prefixed
// frames over TCP, and the LAN search that finds an offer from its number. Used by the agent's
// pairing service and by `kith node add`, which runs before the new machine has an agent.
//
// Frames: u32 big-endian length (≤ 32 KiB), then the message. Discovery: a joiner sends
// { t: "where", offer } to 239.255.70.75:5486 and the offer answers { t: "here", offer, port } to
// the sender only (cluster/pairing/README.md).
import dgram from 'node:dgram';
import net from 'node:net';
import type { Clock, Timer } from '../core/clock.js';
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { KithError } from '../core/errors.js';
import type { Endpoint } from '../core/udp.js';
import type { PairInitiator, Step } from '../cluster/pairing/protocol.js';
import { isLoopback } from './cluster-service.js';

export const DISCOVERY_GROUP = '239.255.70.75';
export const DISCOVERY_PORT = 5486;
export const MAX_FRAME = 32 * 1024;
export const STEP_TIMEOUT_MS = 15_000;
const DISCOVERY_LIMITS = { maxBytes: 128, maxDepth: 2, maxItems: 16 };


/** Length-prefixed frames (u32 big-endian) over a TCP socket, bounded in size. */
export function framed(sock: net.Socket, onFrame: (f: Uint8Array) => void, onBad: (why: string) => void): void {
  let buf = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 4) {
      const n = buf.readUInt32BE(0);
      if (n > MAX_FRAME) return onBad(`a frame of ${n} bytes`);
      if (buf.length < 4 + n) return;
      const f = new Uint8Array(buf.subarray(4, 4 + n));
      buf = buf.subarray(4 + n);
      onFrame(f);
    }
  });
}

export function sendFrame(sock: net.Socket, f: Uint8Array): void {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(f.length);
  sock.write(Buffer.concat([h, f]));
}

/** A discovery datagram as a map, or undefined (not ours: ignored, unanswered). */
export function readDiscovery(msg: Uint8Array): Record<string, CborValue> | undefined {
  try {
    const m = decodeCanonical(msg, DISCOVERY_LIMITS);
    return m !== null && typeof m === 'object' && !Array.isArray(m) && !(m instanceof Uint8Array) ? (m as Record<string, CborValue>) : undefined;
  } catch {
    return undefined;
  }
}

/** Finds offer `offer` on the LAN by multicast (5 tries, 400 ms apart); PAIR_NOT_FOUND otherwise. */
export function discoverOffer(clock: Clock, host: string, offer: number): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
    if (isLoopback(host)) {
      reject(new KithError('PAIR_NOT_FOUND', 'this agent is bound to loopback and does not search the LAN: give the QR content (kith:pair?c=…&a=host:port)'));
      return;
    }
    const s = dgram.createSocket('udp4');
    let tries = 0;
    let timer: Timer | undefined;
    let done = false;
    const finish = (e?: Error, ep?: Endpoint) => {
      if (done) return;
      done = true;
      timer?.cancel();
      s.close();
      if (e) reject(e);
      else resolve(ep!);
    };
    s.on('error', (e) => finish(new KithError('PAIR_NOT_FOUND', `LAN search failed: ${e.message}`)));
    s.on('message', (msg, rinfo) => {
      const m = readDiscovery(new Uint8Array(msg));
      const port = m?.['port'];
      if (m?.['t'] === 'here' && m['offer'] === offer && typeof port === 'number' && port > 0 && port < 65536) finish(undefined, { host: rinfo.address, port });
    });
    const ask = () => {
      if (tries++ >= 5) return finish(new KithError('PAIR_NOT_FOUND', `no offer ${offer} answered on the local network`));
      s.send(encodeCanonical({ t: 'where', offer }), DISCOVERY_PORT, DISCOVERY_GROUP);
      timer = clock.setTimer(400, ask);
    };
    s.bind(0, () => ask());
  });
}

/** Runs the joiner's side against an offer's TCP endpoint; resolves with the last step (a result or a welcome). */
export function runJoin(clock: Clock, endpoint: Endpoint, init: PairInitiator): Promise<Step> {
  return new Promise<Step>((resolve, reject) => {
    const sock = net.connect(endpoint.port, endpoint.host);
    let settled = false;
    const settle = (e?: KithError, r?: Step) => {
      if (settled) return;
      settled = true;
      timer.cancel();
      sock.end();
      if (e) reject(e);
      else resolve(r!);
    };
    let timer = clock.setTimer(STEP_TIMEOUT_MS, () => settle(new KithError('PAIR_FAILED', `the offer at ${endpoint.host}:${endpoint.port} stopped answering`)));
    sock.on('error', (e: NodeJS.ErrnoException) => settle(new KithError(e.code === 'ECONNREFUSED' ? 'PAIR_EXPIRED' : 'PAIR_FAILED', `cannot reach the offer at ${endpoint.host}:${endpoint.port}: ${e.code ?? e.message}`)));
    sock.on('close', () => settle(new KithError('PAIR_FAILED', 'the offer closed the connection')));
    sock.on('connect', () => sendFrame(sock, init.start()));
    framed(sock, (f) => {
      timer.cancel();
      timer = clock.setTimer(STEP_TIMEOUT_MS, () => settle(new KithError('PAIR_FAILED', 'the offer stopped answering')));
      let step: Step;
      try {
        step = init.receive(f);
      } catch (e) {
        settle(new KithError('PAIR_FAILED', `pairing: ${(e as Error).message}`));
        return;
      }
      if (step.send) sendFrame(sock, step.send);
      if (step.result || step.welcome) settle(undefined, step);
      else if (step.error) settle(step.error);
    }, (why) => settle(new KithError('PAIR_FAILED', `the offer sent ${why}`)));
  });
}
