// The secure datagram transport: Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s handshakes (WireGuard's
// pattern), sessions with receiver indexes, 64-bit counters and a replay window, mac1 / cookie
// DoS protection, roaming, rekeying and optional persistent keepalives. It delivers
// unreliable, authenticated, encrypted datagrams; cluster/reliable.ts builds on it.
//
// Silence: a datagram that does not authenticate gets no answer of any kind and changes nothing
// but the counters in `stats`. Under load (more than UNDER_LOAD_HANDSHAKES_PER_SEC handshake
// messages a second) a handshake message is read only with a valid mac2 or within a budget of
// identification work (handshake-admission.ts); one from the last known endpoint of a peer gets
// a cookie reply (WireGuard's mechanism). Strangers never hear from us, even under a flood.
// A peer's endpoint moves only with an authenticated response to our own initiation or a data
// packet that opened: a handshake initiation alone (perhaps a replay) moves nothing.
//
// Every random choice (ephemeral keys, sender indexes, cookie secrets and nonces, retry jitter)
// comes from `deps.rng`: a seeded simulation replays byte for byte; real use passes cryptoRng.
import type { Clock, Timer } from '../core/clock.js';
import { SECOND } from '../core/clock.js';
import type { Rng } from '../core/rng.js';
import type { Endpoint, UdpSocket } from '../core/udp.js';
import { formatEndpoint } from '../core/udp.js';
import { aead, xaead, TAG_BYTES, type AeadKey } from '../core/aead.js';
import { decodeCanonical, encodeCanonical } from '../core/cbor.js';
import { bytesEqual, toHex } from '../core/hex.js';
import { verifyCertificate, type NodeCertificate } from '../identity/certificate.js';
import { IkHandshake, type KeyPair } from './noise.js';
import { ReplayWindow } from './replay-window.js';
import { HandshakeAdmission, UNDER_LOAD_HANDSHAKES_PER_SEC } from './handshake-admission.js';
import { nextInitiationFloor, type InitiationTsStore } from './initiation-ts.js';
import {
  COOKIE_REPLY_BYTES, DATA_HEADER, INIT_HEADER, MAC_BYTES, MAX_DATAGRAM, MSG_COOKIE, MSG_DATA, MSG_INITIATION, MSG_RESPONSE,
  PROLOGUE, PROTOCOL_NAME, RESP_HEADER, cookieKey, header, mac, mac1Key, macEqual, view,
} from './wire.js';

// --- specification constants (WireGuard's, cluster/README.md §Timers) ---
export const REKEY_AFTER_MESSAGES = 2 ** 48;
export const REJECT_AFTER_MESSAGES = 2 ** 52;
export const REKEY_AFTER_TIME_MS = 120 * SECOND;
export const REJECT_AFTER_TIME_MS = 180 * SECOND;
export const REKEY_ATTEMPT_TIME_MS = 90 * SECOND;
export const REKEY_TIMEOUT_MS = 5 * SECOND;
export const COOKIE_SECRET_MAX_AGE_MS = 120 * SECOND;
// --- implementation constants ---
/** Payloads queued per peer while a handshake is under way. */
export const MAX_QUEUED_PER_PEER = 64;
/** Bytes of each slab that outgoing data datagrams are cut from (Transport.datagram). */
const SLAB_BYTES = 64 * 1024;
/** Largest payload of one transport datagram. */
export const MAX_PAYLOAD = MAX_DATAGRAM - DATA_HEADER - TAG_BYTES;
export { UNDER_LOAD_HANDSHAKES_PER_SEC };

export interface PeerConfig {
  /** The peer node's static X25519 key (its certificate's `dh`). */
  dhKey: Uint8Array;
  /** The pair's 32-byte pre-shared key. */
  psk: Uint8Array;
  endpoint?: Endpoint;
  /** Send an empty keepalive after this much silence on our side (0 = never): holds NAT mappings. */
  keepaliveMs?: number;
}

export interface TransportEvents {
  message?(peer: string, payload: Uint8Array): void;
  endpoint?(peer: string, endpoint: Endpoint, previous: Endpoint | undefined): void;
  session?(peer: string, cert: NodeCertificate): void;
}

export interface TransportOptions {
  staticKey: KeyPair;
  certBytes: Uint8Array;
  /** Called for a verified certificate of a known peer: false refuses it (revoked, blocked). */
  isAllowed?: (cert: NodeCertificate) => boolean;
  underLoadPerSec?: number;
  /** Under load: handshake messages a second from unproven addresses still read (default 50; 0 = none). */
  identifyPerSec?: number;
  /** Under load: the reserve for members' last hosts and answers to our initiations (default 20). */
  identifyPriorityPerSec?: number;
}

interface Session {
  /** The session's keys, set up once for all its datagrams (aead.prepare). */
  send: AeadKey;
  recv: AeadKey;
  localIndex: number;
  remoteIndex: number;
  sendCounter: number;
  replay: ReplayWindow;
  createdMs: number;
  initiator: boolean;
}

interface Pending {
  hs: IkHandshake;
  localIndex: number;
  startedMs: number;
  firstAttemptMs: number;
  sentMac1: Uint8Array;
  /** The initiation carried a mac2: a cookie reply to it does not trigger an immediate resend. */
  sentMac2: boolean;
}

interface Peer {
  id: string;
  cfg: PeerConfig;
  endpoint: Endpoint | undefined;
  cert: NodeCertificate | undefined;
  current: Session | undefined;
  previous: Session | undefined;
  next: Session | undefined;
  pending: Pending | undefined;
  queue: Uint8Array[];
  lastInitTs: number;
  lastSentMs: number;
  cookie: { value: Uint8Array; receivedMs: number } | undefined;
  retry: Timer | undefined;
  keepalive: Timer | undefined;
  mac1Key: Uint8Array;
  cookieKey: Uint8Array;
}

export type DropReason = 'short' | 'type' | 'mac1' | 'mac2' | 'rate' | 'handshake' | 'unknown-peer' | 'refused' | 'replayed-init' | 'index' | 'counter' | 'decrypt' | 'expired' | 'cookie';

export class Transport {
  readonly stats = { received: 0, sent: 0, delivered: 0, dropped: {} as Partial<Record<DropReason, number>>, handshakes: 0, cookiesSent: 0 };
  private readonly peers = new Map<string, Peer>();
  private readonly byIndex = new Map<number, { peer: Peer; kind: 'pending' | 'session' }>();
  private readonly myMac1Key: Uint8Array;
  private readonly myCookieKey: Uint8Array;
  private cookieSecret: { value: Uint8Array; createdMs: number };
  private readonly admission: HandshakeAdmission;
  /** Peers' last endpoints ("host:port") and their hosts, rebuilt when an endpoint changes. */
  private endpointIndex: { endpoints: Set<string>; hosts: Set<string> } | undefined;
  private initiationTs: InitiationTsStore | undefined;
  private lastInitTsSent = 0;
  private closed = false;
  /** Certificates already verified, by their bytes: a peer sends the same one every handshake. */
  private readonly certCache = new Map<string, NodeCertificate>();
  /** The data nonce (4 zero bytes ‖ 64-bit LE counter), rewritten for each datagram sealed or opened. */
  private readonly nonce = new Uint8Array(12);
  private readonly nonceView = new DataView(this.nonce.buffer);
  private slab = new Uint8Array(0);
  private slabAt = 0;

  constructor(
    private readonly deps: { clock: Clock; rng: Rng; socket: UdpSocket; events?: TransportEvents; initiationTs?: InitiationTsStore },
    private readonly opts: TransportOptions,
  ) {
    this.myMac1Key = mac1Key(opts.staticKey.publicKey);
    this.myCookieKey = cookieKey(opts.staticKey.publicKey);
    this.cookieSecret = { value: deps.rng.bytes(32), createdMs: deps.clock.now() };
    this.admission = new HandshakeAdmission(deps.clock.now(), {
      ...(opts.underLoadPerSec !== undefined ? { underLoadPerSec: opts.underLoadPerSec } : {}),
      ...(opts.identifyPerSec !== undefined ? { identifyPerSec: opts.identifyPerSec } : {}),
      ...(opts.identifyPriorityPerSec !== undefined ? { identifyPriorityPerSec: opts.identifyPriorityPerSec } : {}),
    });
    this.initiationTs = deps.initiationTs;
    deps.socket.onMessage((data, from) => this.receive(data, from));
  }

  /**
   * Where the last accepted initiation timestamp of each peer is kept across restarts (see
   * initiation-ts.ts). For callers that build the transport before the store is read (ClusterNode
   * inside the agent); set it before any peer is added.
   */
  setInitiationTsStore(store: InitiationTsStore): void {
    this.initiationTs = store;
  }

  /** Peer ids are the hex of the peer's static DH key. */
  addPeer(cfg: PeerConfig): string {
    if (cfg.dhKey.length !== 32 || cfg.psk.length !== 32) throw new RangeError('a peer needs a 32-byte DH key and a 32-byte psk');
    const id = toHex(cfg.dhKey);
    const existing = this.peers.get(id);
    if (existing) {
      existing.cfg = cfg;
      if (cfg.endpoint) existing.endpoint = cfg.endpoint;
      this.endpointIndex = undefined;
      this.armKeepalive(existing);
      return id;
    }
    const peer: Peer = {
      id, cfg, endpoint: cfg.endpoint, cert: undefined, current: undefined, previous: undefined, next: undefined, pending: undefined,
      queue: [], lastInitTs: 0, lastSentMs: -Infinity, cookie: undefined, retry: undefined, keepalive: undefined,
      mac1Key: mac1Key(cfg.dhKey), cookieKey: cookieKey(cfg.dhKey),
    };
    this.peers.set(id, peer);
    this.endpointIndex = undefined;
    this.armKeepalive(peer);
    return id;
  }

  /** Forgets a peer and its sessions at once (removal, revocation). */
  removePeer(id: string): void {
    const p = this.peers.get(id);
    if (!p) return;
    this.dropSessions(p);
    p.retry?.cancel();
    p.keepalive?.cancel();
    this.peers.delete(id);
    this.endpointIndex = undefined;
  }

  peerIds(): string[] {
    return [...this.peers.keys()];
  }

  peerInfo(id: string): { endpoint: Endpoint | undefined; cert: NodeCertificate | undefined; established: boolean } | undefined {
    const p = this.peers.get(id);
    return p && { endpoint: p.endpoint, cert: p.cert, established: this.usable(p.current) !== undefined };
  }

  /** Sends one datagram's payload (≤ MAX_PAYLOAD bytes) to a peer; handshakes first if needed. */
  send(id: string, payload: Uint8Array): void {
    const p = this.peers.get(id);
    if (!p) throw new RangeError(`unknown peer ${id.slice(0, 16)}`);
    if (payload.length > MAX_PAYLOAD) throw new RangeError(`payload of ${payload.length} bytes is over the ${MAX_PAYLOAD}-byte limit of one datagram`);
    const now = this.deps.clock.now();
    const s = this.usable(p.current, now);
    if (s && p.endpoint) {
      this.sendData(p, s, payload, now);
      if (s.initiator && (now - s.createdMs > REKEY_AFTER_TIME_MS || s.sendCounter > REKEY_AFTER_MESSAGES)) this.initiate(p);
      return;
    }
    if (p.queue.length >= MAX_QUEUED_PER_PEER) p.queue.shift();
    p.queue.push(payload);
    this.initiate(p);
  }

  /**
   * Starts a handshake now (membership uses it to reach a peer at a new or unknown address). With
   * several endpoints the same initiation goes to each; the endpoint that answers becomes the
   * peer's (roaming: only an authenticated response moves it).
   */
  connect(id: string, endpoints?: Endpoint | readonly Endpoint[]): void {
    const p = this.peers.get(id);
    if (!p) throw new RangeError(`unknown peer ${id.slice(0, 16)}`);
    const list = endpoints === undefined ? [] : Array.isArray(endpoints) ? (endpoints as readonly Endpoint[]) : [endpoints as Endpoint];
    if (!p.endpoint && list.length > 0) {
      p.endpoint = list[0];
      this.endpointIndex = undefined;
    }
    const also = list.filter((e) => !p.endpoint || e.host !== p.endpoint.host || e.port !== p.endpoint.port);
    this.initiate(p, true, also);
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.peers.values()) {
      p.retry?.cancel();
      p.keepalive?.cancel();
      this.dropSessions(p);
    }
  }

  // ---------------------------------------------------------------- sending

  private usable(s: Session | undefined, now = this.deps.clock.now()): Session | undefined {
    if (!s) return undefined;
    if (now - s.createdMs > REJECT_AFTER_TIME_MS || s.sendCounter >= REJECT_AFTER_MESSAGES) return undefined;
    return s;
  }

  private sendRaw(p: Peer, bytes: Uint8Array, to = p.endpoint, now = this.deps.clock.now()): void {
    if (this.closed || !to) return;
    this.stats.sent++;
    p.lastSentMs = now;
    this.deps.socket.send(to, bytes);
  }

  /**
   * A zeroed buffer for one datagram, cut from a slab that is never reused (a send the socket
   * queued keeps its part of it alive): on Node a buffer of its own per datagram costs ~1 µs of
   * allocation and garbage collection, a view of a slab a third of that.
   */
  private datagram(n: number): Uint8Array {
    if (this.slabAt + n > this.slab.length) {
      this.slab = new Uint8Array(SLAB_BYTES);
      this.slabAt = 0;
    }
    const b = this.slab.subarray(this.slabAt, this.slabAt + n);
    this.slabAt += n;
    return b;
  }

  /** The hot path of bulk traffic: one buffer per datagram (a view of a slab), sealed in place, no copies. */
  private sendData(p: Peer, s: Session, payload: Uint8Array, now = this.deps.clock.now()): void {
    const buf = this.datagram(DATA_HEADER + payload.length + TAG_BYTES);
    buf[0] = MSG_DATA;
    const counter = s.sendCounter++;
    // Counters stay below REJECT_AFTER_MESSAGES (2^52): two 32-bit halves, no BigInt.
    const lo = counter >>> 0;
    const hi = Math.floor(counter / 2 ** 32);
    // Little-endian by hand: a DataView per datagram is an allocation on the hot path.
    putU32le(buf, 4, s.remoteIndex);
    putU32le(buf, 8, lo);
    putU32le(buf, 12, hi);
    aead.sealInto(s.send, this.dataNonce(lo, hi), payload, buf, DATA_HEADER);
    this.sendRaw(p, buf, p.endpoint, now);
  }

  /** CipherState.nonce(counter), in the transport's one scratch buffer (used at once, never kept). */
  private dataNonce(lo: number, hi: number): Uint8Array {
    this.nonceView.setUint32(4, lo, true);
    this.nonceView.setUint32(8, hi, true);
    return this.nonce;
  }

  private newIndex(): number {
    for (;;) {
      const i = this.deps.rng.below(2 ** 32);
      if (!this.byIndex.has(i)) return i;
    }
  }

  /** Sends an initiation, unless one went out less than REKEY_TIMEOUT ago (then the retry timer covers it). */
  private initiate(p: Peer, force = false, also: readonly Endpoint[] = []): void {
    const now = this.deps.clock.now();
    if (!p.endpoint || this.closed) return;
    if (p.pending && now - p.pending.startedMs < REKEY_TIMEOUT_MS && !force) return;
    const firstAttemptMs = p.pending?.firstAttemptMs ?? now;
    if (p.pending) this.byIndex.delete(p.pending.localIndex);
    if (now - firstAttemptMs > REKEY_ATTEMPT_TIME_MS) {
      // Give up on this round; queued payloads are dropped (reliable delivery retries its own).
      p.pending = undefined;
      p.queue = [];
      return;
    }
    const hs = new IkHandshake({ initiator: true, prologue: PROLOGUE, s: this.opts.staticKey, rs: p.cfg.dhKey, psk: p.cfg.psk, pskPosition: 2, protocolName: PROTOCOL_NAME, rng: this.deps.rng });
    // ts: strictly increasing wall-clock ms, so a replayed initiation is refused (WireGuard's TAI64N).
    this.lastInitTsSent = Math.max(this.lastInitTsSent + 1, Math.floor(this.deps.clock.wallTime()));
    const noise = hs.writeMessage(encodeCanonical({ cert: this.opts.certBytes, ts: this.lastInitTsSent }));
    const localIndex = this.newIndex();
    const { buf, view: v } = header(MSG_INITIATION, INIT_HEADER + noise.length + 2 * MAC_BYTES);
    v.setUint32(4, localIndex, true);
    buf.set(noise, INIT_HEADER);
    const { mac1, withMac2 } = this.writeMacs(buf, p.mac1Key, p.cookie);
    p.pending = { hs, localIndex, startedMs: now, firstAttemptMs, sentMac1: mac1, sentMac2: withMac2 };
    this.byIndex.set(localIndex, { peer: p, kind: 'pending' });
    this.sendRaw(p, buf);
    for (const e of also) {
      this.stats.sent++;
      this.deps.socket.send(e, buf);
    }
    p.retry?.cancel();
    // Retry with jitter (WireGuard: REKEY_TIMEOUT plus up to 333 ms).
    p.retry = this.deps.clock.setTimer(REKEY_TIMEOUT_MS + this.deps.rng.below(334), () => {
      p.retry = undefined;
      if (p.pending && p.pending.localIndex === localIndex) this.initiate(p, true);
    });
  }

  /** Fills mac1 (and mac2 when we hold a fresh cookie) at the end of a handshake message. */
  private writeMacs(buf: Uint8Array, key: Uint8Array, cookie: Peer['cookie']): { mac1: Uint8Array; withMac2: boolean } {
    const m1 = buf.length - 2 * MAC_BYTES;
    const mac1 = mac(key, buf.subarray(0, m1));
    buf.set(mac1, m1);
    const withMac2 = cookie !== undefined && this.deps.clock.now() - cookie.receivedMs < COOKIE_SECRET_MAX_AGE_MS;
    if (withMac2) buf.set(mac(cookie.value, buf.subarray(0, m1 + MAC_BYTES)), m1 + MAC_BYTES);
    return { mac1, withMac2 };
  }

  private armKeepalive(p: Peer): void {
    p.keepalive?.cancel();
    p.keepalive = undefined;
    const every = p.cfg.keepaliveMs ?? 0;
    if (every <= 0 || this.closed) return;
    const tick = (): void => {
      const now = this.deps.clock.now();
      const idle = now - p.lastSentMs;
      const s = this.usable(p.current);
      if (idle >= every && s && p.endpoint) {
        // A session that only carries keepalives still has to be renewed before it expires, or
        // the NAT mapping it holds open would lapse with it: the initiator rekeys on time, and a
        // responder whose initiator went quiet takes over shortly before the session dies.
        const age = now - s.createdMs;
        if (age > (s.initiator ? REKEY_AFTER_TIME_MS : REJECT_AFTER_TIME_MS - 3 * REKEY_TIMEOUT_MS)) this.initiate(p);
        this.sendData(p, s, new Uint8Array(0));
      }
      p.keepalive = this.deps.clock.setTimer(Math.max(every - Math.min(idle, every), every / 4), tick);
    };
    p.keepalive = this.deps.clock.setTimer(every, tick);
  }

  // ---------------------------------------------------------------- receiving

  private drop(reason: DropReason): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + 1;
  }

  /** Every datagram enters here. Nothing in it may throw: bad input is counted and dropped. */
  receive(data: Uint8Array, from: Endpoint): void {
    this.stats.received++;
    try {
      if (data.length < 4) return this.drop('short');
      switch (data[0]) {
        case MSG_DATA:
          return this.onData(data, from);
        case MSG_INITIATION:
          return this.onInitiation(data, from);
        case MSG_RESPONSE:
          return this.onResponse(data, from);
        case MSG_COOKIE:
          return this.onCookie(data, from);
        default:
          return this.drop('type');
      }
    } catch {
      this.drop('handshake');
    }
  }

  private checkMac1(data: Uint8Array): boolean {
    if (data[1] !== 0 || data[2] !== 0 || data[3] !== 0) return false;
    const m1 = data.length - 2 * MAC_BYTES;
    return macEqual(mac(this.myMac1Key, data.subarray(0, m1)), data.subarray(m1, m1 + MAC_BYTES));
  }

  private cookieFor(from: Endpoint): Uint8Array {
    const now = this.deps.clock.now();
    if (now - this.cookieSecret.createdMs > COOKIE_SECRET_MAX_AGE_MS) this.cookieSecret = { value: this.deps.rng.bytes(32), createdMs: now };
    return mac(this.cookieSecret.value, new TextEncoder().encode(formatEndpoint(from)));
  }

  /**
   * Step 3 of receiving (cluster/README.md): whether to spend DH work on this handshake message.
   * Under load: mac2 or the identification budget lets it in; at a peer's last endpoint a cookie
   * reply goes back; anything else is dropped without an answer.
   */
  private passesLoadCheck(data: Uint8Array, from: Endpoint, senderIndex: number, answersOurs: boolean): boolean {
    const m2 = data.length - MAC_BYTES;
    const index = this.peerEndpoints();
    const source = formatEndpoint(from);
    const verdict = this.admission.decide(this.deps.clock.now(), {
      source,
      // Computed lazily would save a MAC per message in normal times; a MAC is ~1 µs.
      mac2Valid: macEqual(mac(this.cookieFor(from), data.subarray(0, m2)), data.subarray(m2)),
      // A response answers an index only our chosen addresses saw; a cookie reply to it would be
      // useless (it names no pending initiation of the responder), so responses skip that rule.
      atMemberEndpoint: !answersOurs && index.endpoints.has(source),
      priority: answersOurs || index.hosts.has(from.host),
    });
    if (verdict === 'read') return true;
    if (verdict === 'cookie') this.sendCookie(data, from, senderIndex);
    this.drop(verdict === 'rate' ? 'rate' : 'mac2');
    return false;
  }

  private sendCookie(data: Uint8Array, from: Endpoint, senderIndex: number): void {
    const m2 = data.length - MAC_BYTES;
    const { buf, view: v } = header(MSG_COOKIE, COOKIE_REPLY_BYTES);
    v.setUint32(4, senderIndex, true);
    const nonce = this.deps.rng.bytes(24);
    buf.set(nonce, 8);
    buf.set(xaead.seal(this.myCookieKey, nonce, this.cookieFor(from), data.subarray(m2 - MAC_BYTES, m2)), 32);
    this.stats.cookiesSent++;
    this.stats.sent++;
    this.deps.socket.send(from, buf);
  }

  private peerEndpoints(): { endpoints: Set<string>; hosts: Set<string> } {
    if (this.endpointIndex) return this.endpointIndex;
    const endpoints = new Set<string>();
    const hosts = new Set<string>();
    for (const p of this.peers.values()) if (p.endpoint) {
      endpoints.add(formatEndpoint(p.endpoint));
      hosts.add(p.endpoint.host);
    }
    this.endpointIndex = { endpoints, hosts };
    return this.endpointIndex;
  }

  private onInitiation(data: Uint8Array, from: Endpoint): void {
    if (data.length < INIT_HEADER + 32 + 48 + TAG_BYTES + 2 * MAC_BYTES || data.length > MAX_DATAGRAM) return this.drop('short');
    if (!this.checkMac1(data)) return this.drop('mac1');
    const senderIndex = view(data).getUint32(4, true);
    if (!this.passesLoadCheck(data, from, senderIndex, false)) return;
    const noise = data.subarray(INIT_HEADER, data.length - 2 * MAC_BYTES);
    // The PSK is mixed only into message 2 (psk2), so message 1 can be read before we know who it is.
    const hs = new IkHandshake({ initiator: false, prologue: PROLOGUE, s: this.opts.staticKey, psk: new Uint8Array(32), pskPosition: 2, protocolName: PROTOCOL_NAME, rng: this.deps.rng });
    let payload: Uint8Array;
    let peer: Peer | undefined;
    let stranger = false;
    try {
      // A stranger is known after the first DH (es, which decrypts the static key): stop there.
      payload = hs.readMessage(noise, (rs) => {
        peer = this.peers.get(toHex(rs));
        stranger = peer === undefined;
        return !stranger;
      });
    } catch {
      return this.drop(stranger ? 'unknown-peer' : 'handshake');
    }
    if (!peer) return this.drop('unknown-peer');
    const parsed = this.parseHello(payload, peer.cfg.dhKey, true);
    if (!parsed) return this.drop('refused');
    // WireGuard's TAI64N rule, with the last accepted value kept across restarts (initiation-ts.ts).
    const floor = Math.max(peer.lastInitTs, this.initiationTs?.load(peer.id) ?? 0);
    if (parsed.ts <= floor) return this.drop('replayed-init');
    peer.lastInitTs = nextInitiationFloor(parsed.ts, floor, this.deps.clock.wallTime());
    this.initiationTs?.save(peer.id, peer.lastInitTs);
    // Now the PSK of this pair is known: finish message 2 with it.
    hs.setPsk(peer.cfg.psk);
    const reply = hs.writeMessage(encodeCanonical({ cert: this.opts.certBytes }));
    const [toUs, toThem] = hs.split();
    const localIndex = this.newIndex();
    const { buf, view: v } = header(MSG_RESPONSE, RESP_HEADER + reply.length + 2 * MAC_BYTES);
    v.setUint32(4, localIndex, true);
    v.setUint32(8, senderIndex, true);
    buf.set(reply, RESP_HEADER);
    this.writeMacs(buf, peer.mac1Key, peer.cookie);
    if (peer.next) this.byIndex.delete(peer.next.localIndex);
    peer.next = { send: aead.prepare(toThem.key()), recv: aead.prepare(toUs.key()), localIndex, remoteIndex: senderIndex, sendCounter: 0, replay: new ReplayWindow(), createdMs: this.deps.clock.now(), initiator: false };
    this.byIndex.set(localIndex, { peer, kind: 'session' });
    this.setCert(peer, parsed.cert);
    this.stats.handshakes++;
    // The answer goes where the initiation came from, but the peer's endpoint stays: it moves
    // when the initiator's first data packet in this session arrives from there (onData).
    this.sendRaw(peer, buf, from);
  }

  private onResponse(data: Uint8Array, from: Endpoint): void {
    if (data.length < RESP_HEADER + 32 + TAG_BYTES + 2 * MAC_BYTES || data.length > MAX_DATAGRAM) return this.drop('short');
    if (!this.checkMac1(data)) return this.drop('mac1');
    const v = view(data);
    const senderIndex = v.getUint32(4, true);
    const entry = this.byIndex.get(v.getUint32(8, true));
    if (!entry || entry.kind !== 'pending' || !entry.peer.pending) return this.drop('index');
    if (!this.passesLoadCheck(data, from, senderIndex, true)) return;
    const p = entry.peer;
    const pending = p.pending!;
    // readMessage leaves the state untouched when it fails: a forged response spoils nothing.
    let payload: Uint8Array;
    const hs = pending.hs;
    try {
      payload = hs.readMessage(data.subarray(RESP_HEADER, data.length - 2 * MAC_BYTES));
    } catch {
      return this.drop('handshake');
    }
    const parsed = this.parseHello(payload, p.cfg.dhKey, false);
    if (!parsed) return this.drop('refused');
    const [toThem, toUs] = hs.split();
    this.byIndex.delete(pending.localIndex);
    p.pending = undefined;
    p.retry?.cancel();
    const hadQueued = p.queue.length > 0;
    const session: Session = { send: aead.prepare(toThem.key()), recv: aead.prepare(toUs.key()), localIndex: pending.localIndex, remoteIndex: senderIndex, sendCounter: 0, replay: new ReplayWindow(), createdMs: this.deps.clock.now(), initiator: true };
    // An authenticated answer to our own fresh ephemeral cannot be a replay: it moves the
    // endpoint, and the queued payloads (sent by rotate) go there, in the new session.
    this.updateEndpoint(p, from, () => this.rotate(p, session));
    this.setCert(p, parsed.cert);
    this.stats.handshakes++;
    // Key confirmation: the responder uses the session only after our first data packet.
    if (!hadQueued) this.sendData(p, session, new Uint8Array(0));
  }

  private onCookie(data: Uint8Array, from: Endpoint): void {
    if (data.length !== COOKIE_REPLY_BYTES) return this.drop('short');
    const entry = this.byIndex.get(view(data).getUint32(4, true));
    if (!entry || entry.kind !== 'pending' || !entry.peer.pending) return this.drop('index');
    const p = entry.peer;
    const pending = p.pending!;
    const cookie = xaead.open(p.cookieKey, data.subarray(8, 32), data.subarray(32), pending.sentMac1);
    if (!cookie) return this.drop('cookie');
    p.cookie = { value: cookie, receivedMs: this.deps.clock.now() };
    // The responder is under load and dropped our initiation: send it again now, with mac2, rather
    // than after REKEY_TIMEOUT. Once per initiation that had no mac2, so cookies cannot drive it.
    if (pending.sentMac2) return;
    const also = p.endpoint && (p.endpoint.host !== from.host || p.endpoint.port !== from.port) ? [from] : [];
    this.initiate(p, true, also);
  }

  private onData(data: Uint8Array, from: Endpoint): void {
    if (data.length < DATA_HEADER + TAG_BYTES || data.length > MAX_DATAGRAM) return this.drop('short');
    if (data[1] !== 0 || data[2] !== 0 || data[3] !== 0) return this.drop('type');
    const index = getU32le(data, 4);
    const entry = this.byIndex.get(index);
    if (!entry || entry.kind !== 'session') return this.drop('index');
    const p = entry.peer;
    const s = p.current?.localIndex === index ? p.current : p.next?.localIndex === index ? p.next : p.previous?.localIndex === index ? p.previous : undefined;
    if (!s) return this.drop('index');
    if (this.deps.clock.now() - s.createdMs > REJECT_AFTER_TIME_MS) return this.drop('expired');
    const lo = getU32le(data, 8);
    const hi = getU32le(data, 12);
    // Above REJECT_AFTER_MESSAGES (2^52) the counter is refused anyway: -1 keeps it a safe integer.
    const counter = hi >= 2 ** 20 ? -1 : hi * 2 ** 32 + lo;
    if (!s.replay.canAccept(counter) || counter >= REJECT_AFTER_MESSAGES) return this.drop('counter');
    // Opened over the datagram itself (the socket's buffer, ours alone): no buffer per datagram.
    const plain = aead.openOver(s.recv, this.dataNonce(lo, hi), data.subarray(DATA_HEADER));
    if (!plain) return this.drop('decrypt');
    if (!s.replay.accept(counter)) return this.drop('counter');
    // Key confirmed by the initiator's first packet: "next" becomes "current". The endpoint moves
    // first, so that payloads queued for the peer go to where it is now; the event comes after,
    // so that what its handler sends goes in the new session.
    this.updateEndpoint(p, from, s === p.next ? () => this.rotate(p, s) : undefined);
    if (plain.length === 0) return; // keepalive
    this.stats.delivered++;
    this.deps.events?.message?.(p.id, plain);
  }

  private rotate(p: Peer, s: Session): void {
    if (p.previous) this.byIndex.delete(p.previous.localIndex);
    if (p.next === s) p.next = undefined;
    p.previous = p.current;
    p.current = s;
    this.byIndex.set(s.localIndex, { peer: p, kind: 'session' });
    const queued = p.queue;
    p.queue = [];
    for (const q of queued) this.sendData(p, s, q);
  }

  private dropSessions(p: Peer): void {
    for (const s of [p.current, p.previous, p.next]) if (s) {
      s.send.bytes.fill(0);
      s.recv.bytes.fill(0);
      this.byIndex.delete(s.localIndex);
    }
    if (p.pending) this.byIndex.delete(p.pending.localIndex);
    p.current = p.previous = p.next = p.pending = undefined;
    p.queue = [];
  }

  /** Roaming: the endpoint follows the source of the latest data packet that opened, or of a response to our initiation. */
  private updateEndpoint(p: Peer, from: Endpoint, beforeEvent?: () => void): void {
    const prev = p.endpoint;
    const moved = !prev || prev.host !== from.host || prev.port !== from.port;
    if (moved) {
      p.endpoint = { host: from.host, port: from.port };
      this.endpointIndex = undefined;
    }
    beforeEvent?.();
    if (moved) this.deps.events?.endpoint?.(p.id, p.endpoint!, prev);
  }

  private setCert(p: Peer, cert: NodeCertificate): void {
    p.cert = cert;
    this.deps.events?.session?.(p.id, cert);
  }

  /** The handshake payload: a certificate for exactly this static key, allowed by the cluster. */
  private parseHello(payload: Uint8Array, staticKey: Uint8Array, withTs: boolean): { cert: NodeCertificate; ts: number } | undefined {
    try {
      const v = decodeCanonical(payload) as Record<string, unknown>;
      const certBytes = v['cert'];
      if (!(certBytes instanceof Uint8Array)) return undefined;
      const key = Buffer.from(certBytes).toString('base64');
      let cert = this.certCache.get(key);
      if (!cert) {
        cert = verifyCertificate(certBytes);
        if (this.certCache.size >= 256) this.certCache.delete(this.certCache.keys().next().value!);
        this.certCache.set(key, cert);
      }
      if (!bytesEqual(cert.dhKey, staticKey)) return undefined;
      if (this.opts.isAllowed && !this.opts.isAllowed(cert)) return undefined;
      const ts = v['ts'];
      if (withTs && (typeof ts !== 'number' || !Number.isSafeInteger(ts))) return undefined;
      return { cert, ts: withTs ? (ts as number) : 0 };
    } catch {
      return undefined;
    }
  }
}

function putU32le(b: Uint8Array, at: number, v: number): void {
  b[at] = v & 0xff;
  b[at + 1] = (v >>> 8) & 0xff;
  b[at + 2] = (v >>> 16) & 0xff;
  b[at + 3] = v >>> 24;
}

const getU32le = (b: Uint8Array, at: number): number => (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
