// Pairing in the agent: offers (a TCP listener for the PAKE, and a UDP multicast responder so a
// typed code finds the offer on the LAN), joins, and the friends they make. The protocol itself is
// cluster/pairing/protocol.ts; this file carries its messages and keeps what they produce.
//
// Discovery is plain UDP multicast, not mDNS-SD: a joiner sends { t: "where", offer } to
// 239.255.70.75:5486 and the offer answers { t: "here", offer, port } to the sender only. It is
// two datagrams, needs no library and does not compete with avahi for port 5353; nothing is sent
// or listened for unless an offer is open or a join is searching. A QR's content names the
// offer's endpoint, so a scan needs no discovery at all. Loopback agents (tests) never multicast.
//
// Friends are stored under "friend/<user key hex>":
//   { name, user: bytes32, secret: bytes32 (absent once blocked), cards: [node card bytes],
//     at: ms, blocked: bool }
// in the 0700 data dir's store, like members' PSKs; the secret is never logged or shown.
import dgram from 'node:dgram';
import net from 'node:net';
import type { Clock, Timer } from '../core/clock.js';
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { KithError, isKithError } from '../core/errors.js';
import { bytesEqual, fromHex, toHex } from '../core/hex.js';
import type { Rng } from '../core/rng.js';
import { prefixEnd, type KvStore } from '../core/store.js';
import type { Endpoint } from '../core/udp.js';
import { newCode, parsePairTarget, qrContent, type PairCode } from '../cluster/pairing/code.js';
import { makeFriendCard, type FriendCard } from '../cluster/pairing/friend-card.js';
import { PairInitiator, PairOffer, PairResponder, type PairResult, type PairSelf } from '../cluster/pairing/protocol.js';
import type { NodeIdentity } from '../identity/keystore.js';
import { isLoopback, lanEndpoints, type ClusterService } from './cluster-service.js';
import type { Logger } from './log.js';

export const DISCOVERY_GROUP = '239.255.70.75';
export const DISCOVERY_PORT = 5486;
const MAX_FRAME = 32 * 1024;
const STEP_TIMEOUT_MS = 15_000;
const FRIEND = 'friend/';

export interface OfferView {
  id: string;
  code: string;
  qr: string;
  endpoint: string;
  expiresAt: string;
  state: 'waiting' | 'paired' | 'failed' | 'expired' | 'cancelled';
  result?: PairOutcome;
  error?: { code: string; message: string };
}

export interface PairOutcome {
  friendUserKey: string;
  friendName: string;
  safetyNumber: string;
  nodes: number;
}

export interface FriendView {
  userKey: string;
  name: string;
  nodes: number;
  since: string;
  blocked: boolean;
}

export interface PairingService {
  offer(opts?: { ttlMs?: number }): Promise<OfferView>;
  offerState(id: string): OfferView;
  cancel(id: string): void;
  join(target: string): Promise<PairOutcome>;
  friends(): Promise<FriendView[]>;
  removeFriend(key: string): Promise<FriendView>;
  blockFriend(key: string): Promise<FriendView>;
  stop(): Promise<void>;
}

/** Length-prefixed frames (u32 big-endian) over a TCP socket, bounded in size. */
function framed(sock: net.Socket, onFrame: (f: Uint8Array) => void, onBad: (why: string) => void): void {
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

function sendFrame(sock: net.Socket, f: Uint8Array): void {
  const h = Buffer.alloc(4);
  h.writeUInt32BE(f.length);
  sock.write(Buffer.concat([h, f]));
}

interface OpenOffer {
  id: string;
  offer: PairOffer;
  view: OfferView;
  server: net.Server;
  expiry: Timer;
  /** Drops a finished offer once `kith pair` has had time to read its outcome. */
  forget?: Timer;
}

export function startPairing(deps: {
  clock: Clock; rng: Rng; store: KvStore; identity: NodeIdentity; cluster: ClusterService; log: Logger;
  host: string; name: string; defaultTtlMs: number;
}): PairingService {
  const { clock, rng, store, identity, cluster, log } = deps;
  const offers = new Map<string, OpenOffer>();
  const failures = new Map<string, number>();
  const blocked = new Set<string>();
  let discovery: dgram.Socket | undefined;
  let loaded = false;

  const loadBlocked = async () => {
    if (loaded) return;
    for await (const [, raw] of store.range({ gte: FRIEND, lt: prefixEnd(FRIEND) })) {
      try {
        const v = decodeCanonical(raw) as Record<string, CborValue>;
        if (v['blocked'] === true && v['user'] instanceof Uint8Array) blocked.add(toHex(v['user']));
      } catch {
        /* a bad entry is reported by friends() */
      }
    }
    loaded = true;
  };

  const self = async (): Promise<PairSelf> => {
    await loadBlocked();
    const card = await cluster.card();
    return {
      userKey: identity.cert.userKey,
      friendCard: makeFriendCard(deps.name, [new Uint8Array(Buffer.from(card.card, 'base64'))], identity.keys.sign.secretKey),
      isBlocked: (k) => blocked.has(toHex(k)),
    };
  };

  /** Keeps a new friend: stores the record, makes every node of theirs a member. */
  const befriend = async (r: PairResult): Promise<PairOutcome> => {
    const f: FriendCard = r.friend;
    const key = toHex(f.userKey);
    await store.put(FRIEND + key, encodeCanonical({ name: f.name, user: f.userKey, secret: r.secret, cards: f.cardBytes, at: clock.wallTime(), blocked: false }));
    for (const n of f.nodes) await cluster.addMember(n, r.secret);
    log.info(`paired with user ${key.slice(0, 12)}… ("${f.name}"), ${f.nodes.length} node(s)`);
    return { friendUserKey: key, friendName: f.name, safetyNumber: r.safetyNumber, nodes: f.nodes.length };
  };

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
      try {
        const m = decodeCanonical(new Uint8Array(msg), { maxBytes: 128, maxDepth: 2, maxItems: 16 }) as Record<string, CborValue>;
        if (m?.['t'] !== 'where' || typeof m['offer'] !== 'number') return;
        const o = [...offers.values()].find((x) => x.offer.isOpen && x.offer.code.offer === m['offer']);
        if (!o) return;
        const port = (o.server.address() as net.AddressInfo).port;
        s.send(encodeCanonical({ t: 'here', offer: m['offer'], port }), rinfo.port, rinfo.address);
      } catch {
        /* not ours: ignored, unanswered */
      }
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
    closeDiscoveryIfIdle();
    o.forget = clock.setTimer(10 * 60_000, () => offers.delete(o.id));
  };

  const serve = (o: OpenOffer, sock: net.Socket) => {
    const host = (sock.remoteAddress ?? '').replace(/^::ffff:/, '');
    const r = o.offer.accept(host, clock.wallTime());
    if (!(r instanceof PairResponder)) {
      sendFrame(sock, r.refuse);
      sock.end();
      log.info(`pairing: refused a joiner at ${host}: ${r.error.code}`);
      return;
    }
    let timer = clock.setTimer(STEP_TIMEOUT_MS, () => sock.destroy());
    let ended = false;
    let lastError: KithError | undefined;
    const end = () => {
      if (ended) return;
      ended = true;
      timer.cancel();
      o.offer.settle(r, host, clock.wallTime());
      if (!o.offer.isOpen && o.view.state === 'waiting' && r.outcome !== 'success') {
        const e = r.outcome === 'wrong-code' || !lastError
          ? { code: 'PAIR_WRONG_CODE', message: `a joiner at ${host} did not prove the code: the offer is used up` }
          : { code: lastError.code, message: lastError.message };
        finish(o, 'failed', { error: e });
      }
    };
    sock.on('close', end);
    sock.on('error', () => sock.destroy());
    framed(sock, (f) => {
      timer.cancel();
      timer = clock.setTimer(STEP_TIMEOUT_MS, () => sock.destroy());
      const step = r.receive(f);
      if (step.send) sendFrame(sock, step.send);
      if (step.result) {
        const result = step.result;
        end();
        void befriend(result).then(
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

  const discover = (offer: number): Promise<Endpoint> =>
    new Promise((resolve, reject) => {
      if (isLoopback(deps.host)) {
        reject(new KithError('PAIR_NOT_FOUND', 'this agent is bound to loopback and does not search the LAN: give the QR content (kith:pair?c=…&a=host:port)'));
        return;
      }
      const s = dgram.createSocket('udp4');
      let tries = 0;
      let timer: Timer | undefined;
      const done = (e?: Error, ep?: Endpoint) => {
        timer?.cancel();
        s.close();
        if (e) reject(e);
        else resolve(ep!);
      };
      s.on('error', (e) => done(new KithError('PAIR_NOT_FOUND', `LAN search failed: ${e.message}`)));
      s.on('message', (msg, rinfo) => {
        try {
          const m = decodeCanonical(new Uint8Array(msg), { maxBytes: 128, maxDepth: 2, maxItems: 16 }) as Record<string, CborValue>;
          if (m?.['t'] === 'here' && m['offer'] === offer && typeof m['port'] === 'number' && m['port'] > 0 && m['port'] < 65536) done(undefined, { host: rinfo.address, port: m['port'] });
        } catch {
          /* ignored */
        }
      });
      const ask = () => {
        if (tries++ >= 5) return done(new KithError('PAIR_NOT_FOUND', `no offer ${offer} answered on the local network`));
        s.send(encodeCanonical({ t: 'where', offer }), DISCOVERY_PORT, DISCOVERY_GROUP);
        timer = clock.setTimer(400, ask);
      };
      s.bind(0, () => ask());
    });

  const findFriend = async (key: string): Promise<{ k: string; v: Record<string, CborValue> }> => {
    const want = key.toLowerCase();
    if (!/^[0-9a-f]{8,64}$/.test(want)) throw new KithError('FRIEND_UNKNOWN', 'give a user key (hex, at least 8 digits)');
    const hits: { k: string; v: Record<string, CborValue> }[] = [];
    for await (const [k, raw] of store.range({ gte: FRIEND + want, lt: prefixEnd(FRIEND + want) })) hits.push({ k, v: decodeCanonical(raw) as Record<string, CborValue> });
    if (hits.length !== 1) throw new KithError('FRIEND_UNKNOWN', hits.length ? `${want} matches ${hits.length} friends: give more digits` : `no friend with user key ${want}`);
    return hits[0]!;
  };

  const viewOf = (v: Record<string, CborValue>): FriendView => ({
    userKey: toHex(v['user'] as Uint8Array), name: String(v['name']), nodes: Array.isArray(v['cards']) ? v['cards'].length : 0,
    since: new Date(Number(v['at'])).toISOString(), blocked: v['blocked'] === true,
  });

  return {
    async offer(opts = {}) {
      const ttl = opts.ttlMs ?? deps.defaultTtlMs;
      const me = await self();
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
        id, offer, server,
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
      const me = await self();
      const endpoint = given ?? (await discover(code.offer));
      const init = new PairInitiator(code, me, rng);
      const result = await new Promise<PairResult>((resolve, reject) => {
        const sock = net.connect(endpoint.port, endpoint.host);
        let settled = false;
        const settle = (e?: KithError, r?: PairResult) => {
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
          const step = init.receive(f);
          if (step.send) sendFrame(sock, step.send);
          if (step.result) settle(undefined, step.result);
          else if (step.error) settle(step.error);
        }, (why) => settle(new KithError('PAIR_FAILED', `the offer sent ${why}`)));
      });
      return befriend(result);
    },
    async friends() {
      const out: FriendView[] = [];
      for await (const [k, raw] of store.range({ gte: FRIEND, lt: prefixEnd(FRIEND) })) {
        try {
          out.push(viewOf(decodeCanonical(raw) as Record<string, CborValue>));
        } catch {
          log.warn(`store entry ${k} is not a friend record: skipped`);
        }
      }
      return out;
    },
    async removeFriend(key) {
      const { k, v } = await findFriend(key);
      const user = v['user'] as Uint8Array;
      await cluster.removeUser(user);
      await store.del(k);
      log.info(`removed friend ${toHex(user).slice(0, 12)}…`);
      return viewOf(v);
    },
    async blockFriend(key) {
      let found: { k: string; v: Record<string, CborValue> };
      try {
        found = await findFriend(key);
      } catch (e) {
        // Blocking someone never paired with: a full user key is enough.
        const user = fromHex(key.toLowerCase(), 32);
        if (!isKithError(e, 'FRIEND_UNKNOWN') || !user) throw e;
        found = { k: FRIEND + toHex(user), v: { name: '', user, cards: [], at: clock.wallTime() } };
      }
      const user = found.v['user'] as Uint8Array;
      if (bytesEqual(user, identity.cert.userKey)) throw new KithError('FRIEND_UNKNOWN', 'that is this node\'s own user');
      await cluster.removeUser(user);
      const v: Record<string, CborValue> = { ...found.v, blocked: true };
      delete v['secret'];
      await store.put(found.k, encodeCanonical(v));
      await loadBlocked();
      blocked.add(toHex(user));
      log.info(`blocked user ${toHex(user).slice(0, 12)}…`);
      return viewOf(v);
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

