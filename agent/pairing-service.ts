// Pairing in the agent: offers (a TCP listener for the PAKE, and a UDP multicast responder so a
// typed code finds the offer on the LAN) and joins. The protocol itself is
// cluster/pairing/protocol.ts, its transport agent/pair-net.ts; what a pairing produces (a friend,
// or an enrolled node of this same user) is kept by the roster (agent/roster-service.ts).
//
// Discovery is plain UDP multicast, not mDNS-SD: a joiner sends { t: "where", offer } to
// 239.255.70.75:5486 and the offer answers { t: "here", offer, port } to the sender only. It is
// two datagrams, needs no library and does not compete with avahi for port 5353; nothing is sent
// or listened for unless an offer is open or a join is searching. A QR's content names the
// offer's endpoint, so a scan needs no discovery at all. Loopback agents (tests) never multicast.
import dgram from 'node:dgram';
import net from 'node:net';
import type { Clock, Timer } from '../core/clock.js';
import { encodeCanonical } from '../core/cbor.js';
import { KithError, isKithError } from '../core/errors.js';
import { toHex } from '../core/hex.js';
import type { Rng } from '../core/rng.js';
import { newCode, parsePairTarget, qrContent, type PairCode } from '../cluster/pairing/code.js';
import { PairInitiator, PairOffer, PairResponder } from '../cluster/pairing/protocol.js';
import { isLoopback, lanEndpoints } from './cluster-service.js';
import type { Logger } from './log.js';
import { DISCOVERY_GROUP, DISCOVERY_PORT, discoverOffer, framed, readDiscovery, runJoin, sendFrame, STEP_TIMEOUT_MS } from './pair-net.js';
import type { EnrollOutcome, PairOutcome, RosterService } from './roster-service.js';

export interface OfferView {
  id: string;
  code: string;
  qr: string;
  endpoint: string;
  expiresAt: string;
  state: 'waiting' | 'paired' | 'failed' | 'expired' | 'cancelled';
  result?: PairOutcome | EnrollOutcome;
  error?: { code: string; message: string };
}

export interface PairingService {
  offer(opts?: { ttlMs?: number }): Promise<OfferView>;
  offerState(id: string): OfferView;
  cancel(id: string): void;
  join(target: string): Promise<PairOutcome>;
  stop(): Promise<void>;
}

interface OpenOffer {
  id: string;
  offer: PairOffer;
  view: OfferView;
  server: net.Server;
  expiry: Timer;
  /** Drops a finished offer once `kith pair` has had time to read its outcome. */
  forget?: Timer;
  /** Connections that have not sent their hello yet, with their address, oldest first. */
  pending: Map<net.Socket, string>;
}

/** A joiner sends its hello as soon as it connects: 5 s is plenty, even on a slow Wi-Fi. */
const HELLO_TIMEOUT_MS = 5_000;
/** Connections that have said nothing yet, per address and in all; beyond, the oldest is dropped. */
const MAX_PENDING_PER_HOST = 4;
const MAX_PENDING = 32;

export function startPairing(deps: {
  clock: Clock; rng: Rng; roster: RosterService; log: Logger; host: string; defaultTtlMs: number;
}): PairingService {
  const { clock, rng, roster, log } = deps;
  const offers = new Map<string, OpenOffer>();
  const failures = new Map<string, number>();
  let discovery: dgram.Socket | undefined;

  const ensureDiscovery = async () => {
    if (discovery || isLoopback(deps.host)) return;
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
      const o = [...offers.values()].find((x) => x.offer.isOpen && x.offer.code.offer === m['offer']);
      if (!o) return;
      const port = (o.server.address() as net.AddressInfo).port;
      s.send(encodeCanonical({ t: 'here', offer: m['offer'], port }), rinfo.port, rinfo.address);
    });
    discovery = s;
  };

  const closeDiscoveryIfIdle = () => {
    if (discovery && ![...offers.values()].some((o) => o.view.state === 'waiting')) {
      discovery.close();
      discovery = undefined;
    }
  };

  const finish = (o: OpenOffer, state: OfferView['state'], extra: Partial<OfferView> = {}) => {
    if (o.view.state !== 'waiting') return;
    o.view = { ...o.view, state, ...extra };
    o.offer.expire();
    o.expiry.cancel();
    o.server.close();
    for (const sock of o.pending.keys()) sock.destroy();
    closeDiscoveryIfIdle();
    o.forget = clock.setTimer(10 * 60_000, () => offers.delete(o.id));
  };

  /** Pre-hello connections: bounded per address and in all, the oldest dropped first. */
  const admit = (o: OpenOffer, sock: net.Socket, host: string) => {
    o.pending.set(sock, host);
    const fromHost = [...o.pending].filter(([, h]) => h === host);
    if (fromHost.length > MAX_PENDING_PER_HOST) fromHost[0]![0].destroy();
    if (o.pending.size > MAX_PENDING) o.pending.keys().next().value!.destroy();
  };

  const serve = (o: OpenOffer, sock: net.Socket) => {
    // First of all: a socket reset before (or while) anything is written to it must not become
    // an unhandled 'error' that takes the agent down (issue 18, break 1).
    sock.on('error', () => sock.destroy());
    const host = (sock.remoteAddress ?? '').replace(/^::ffff:/, '');
    // A connection is not a joiner until its first frame (the hello): one that says nothing holds
    // no slot of the offer, so it cannot keep the real friend out (weak spot 7).
    admit(o, sock, host);
    let timer = clock.setTimer(HELLO_TIMEOUT_MS, () => sock.destroy());
    let r: PairResponder | undefined;
    let ended = false;
    let lastError: KithError | undefined;
    const end = () => {
      if (ended) return;
      ended = true;
      timer.cancel();
      o.pending.delete(sock);
      if (!r) return;
      o.offer.settle(r, host, clock.wallTime());
      if (!o.offer.isOpen && o.view.state === 'waiting' && r.outcome !== 'success') {
        const e = r.outcome === 'wrong-code' || !lastError
          ? { code: 'PAIR_WRONG_CODE', message: `a joiner at ${host} did not prove the code: the offer is used up` }
          : { code: lastError.code, message: lastError.message };
        finish(o, 'failed', { error: e });
      }
    };
    sock.on('close', end);
    const first = (): PairResponder | undefined => {
      o.pending.delete(sock);
      const a = o.offer.accept(host, clock.wallTime());
      if (a instanceof PairResponder) return a;
      sendFrame(sock, a.refuse);
      sock.end();
      end();
      log.info(`pairing: refused a joiner at ${host}: ${a.error.code}`);
      return undefined;
    };
    framed(sock, (f) => {
      if (ended) return;
      if (!r && !(r = first())) return;
      timer.cancel();
      timer = clock.setTimer(STEP_TIMEOUT_MS, () => sock.destroy());
      const step = r.receive(f);
      if (step.send) sendFrame(sock, step.send);
      if (step.result || step.enrolled) {
        const done = step.result ? roster.befriend(step.result) : roster.enrolled(step.enrolled!);
        end();
        void done.then(
          (out) => finish(o, 'paired', { result: out }),
          (e) => finish(o, 'failed', { error: { code: isKithError(e) ? e.code : 'PAIR_FAILED', message: (e as Error).message } }),
        );
        sock.end();
      } else if (step.error) {
        lastError = step.error;
        log.warn(`pairing: ${step.error.message}`);
        sock.end();
        end();
      }
    }, () => sock.destroy());
  };

  return {
    async offer(opts = {}) {
      const ttl = opts.ttlMs ?? deps.defaultTtlMs;
      const me = await roster.pairSelf();
      const code: PairCode = newCode(rng);
      const id = toHex(rng.bytes(8));
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, deps.host, () => resolve());
      });
      const port = (server.address() as net.AddressInfo).port;
      const endpoint = { host: lanEndpoints(deps.host, port)[0]?.host ?? '127.0.0.1', port };
      const offer = new PairOffer(code, clock.wallTime() + ttl, me, rng, failures);
      const o: OpenOffer = {
        id, offer, server, pending: new Map(),
        view: { id, code: code.text, qr: qrContent(code, endpoint), endpoint: `${endpoint.host}:${endpoint.port}`, expiresAt: new Date(clock.wallTime() + ttl).toISOString(), state: 'waiting' },
        expiry: clock.setTimer(ttl, () => finish(o, 'expired', { error: { code: 'PAIR_EXPIRED', message: 'nobody paired before the offer expired' } })),
      };
      server.on('connection', (sock) => serve(o, sock));
      offers.set(id, o);
      await ensureDiscovery();
      log.info(`pairing offer ${code.offer} open on ${o.view.endpoint} until ${o.view.expiresAt}`);
      return o.view;
    },
    offerState(id) {
      const o = offers.get(id);
      if (!o) throw new KithError('PAIR_EXPIRED', `no pairing offer ${id.slice(0, 16)}`);
      return o.view;
    },
    cancel(id) {
      const o = offers.get(id);
      if (o) finish(o, 'cancelled');
    },
    async join(target) {
      const { code, endpoint: given } = parsePairTarget(target);
      const me = await roster.pairSelf();
      const endpoint = given ?? (await discoverOffer(clock, deps.host, code.offer));
      const step = await runJoin(clock, endpoint, new PairInitiator(code, me, rng));
      if (!step.result) throw new KithError('PAIR_FAILED', 'the offer answered as if this were a new node of its user');
      return roster.befriend(step.result);
    },
    async stop() {
      for (const o of offers.values()) {
        finish(o, 'cancelled');
        o.forget?.cancel();
      }
      offers.clear();
      discovery?.close();
      discovery = undefined;
    },
  };
}

