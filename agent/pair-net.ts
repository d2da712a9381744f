// The real network of pairing: the LAN search that finds an offer from its number (UDP
// multicast on node:dgram), as the PairDiscovery of cluster/pairing/pairing-service.ts and for
// `kith node add`, which runs before the new machine has an agent. Frames and the joiner's side
// are cluster/pairing/frames.ts; the helpers here put them on a plain node:net socket.
//
// Discovery: a joiner sends { t: "where", offer } to 239.255.70.75:5486 and the offer answers
// { t: "here", offer, port } to the sender only (cluster/pairing/README.md). It is two datagrams,
// needs no library and does not compete with avahi for port 5353; nothing is sent or listened
// for unless an offer is open or a join is searching. Loopback agents never multicast.
import dgram from 'node:dgram';
import type net from 'node:net';
import type { Clock, Timer } from '../core/clock.js';
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { KithError } from '../core/errors.js';
import type { Log } from '../core/log.js';
import type { Endpoint } from '../core/udp.js';
import { encodeFrame, FrameReader } from '../cluster/pairing/frames.js';
import type { PairDiscovery } from '../cluster/pairing/pairing-service.js';

export { MAX_FRAME, runJoin, STEP_TIMEOUT_MS } from '../cluster/pairing/frames.js';
export const DISCOVERY_GROUP = '239.255.70.75';
export const DISCOVERY_PORT = 5486;
const DISCOVERY_LIMITS = { maxBytes: 128, maxDepth: 2, maxItems: 16 };

/** Length-prefixed frames (u32 big-endian) over a node:net socket, bounded in size. */
export function framed(sock: net.Socket, onFrame: (f: Uint8Array) => void, onBad: (why: string) => void): void {
  const reader = new FrameReader(onFrame, onBad);
  sock.on('data', (d: Buffer) => reader.push(new Uint8Array(d.buffer, d.byteOffset, d.byteLength)));
}

export function sendFrame(sock: net.Socket, f: Uint8Array): void {
  sock.write(encodeFrame(f));
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
export function discoverOffer(clock: Clock, offer: number): Promise<Endpoint> {
  return new Promise((resolve, reject) => {
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

/** The multicast discovery as pairing's PairDiscovery: a responder while offers are open, and searches. */
export function lanDiscovery(clock: Clock, log: Log): PairDiscovery {
  let socket: dgram.Socket | undefined;
  return {
    async serve(portOf) {
      if (socket) return;
      const s = dgram.createSocket({ type: 'udp4', reuseAddr: true });
      s.on('error', (e) => log.warn(`pairing discovery: ${e.message}`));
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(DISCOVERY_PORT, () => {
          s.off('error', reject);
          resolve();
        });
      });
      try {
        s.addMembership(DISCOVERY_GROUP);
      } catch (e) {
        log.warn(`pairing discovery: cannot join ${DISCOVERY_GROUP}: ${(e as Error).message}; codes need the QR content`);
      }
      s.on('message', (msg, rinfo) => {
        const m = readDiscovery(new Uint8Array(msg));
        if (m?.['t'] !== 'where' || typeof m['offer'] !== 'number') return;
        const port = portOf(m['offer']);
        if (port !== undefined) s.send(encodeCanonical({ t: 'here', offer: m['offer'], port }), rinfo.port, rinfo.address);
      });
      socket = s;
    },
    stopServing() {
      socket?.close();
      socket = undefined;
    },
    find: (offer) => discoverOffer(clock, offer),
  };
}
