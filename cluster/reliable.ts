// Reliable delivery over the datagram transport: messages of any size up to a limit, split into
// fragments that fit one datagram, acknowledged per fragment, retransmitted (fast, from selective
// acks, or on timeout with backoff), de-duplicated, and reassembled with bounded memory;
// request/response on top.
//
// Sending is paced by a LEDBAT-like congestion window (RFC 6817): the window grows while the
// queueing delay (the lowest of the last few RTTs, above the lowest RTT of the last ten minutes)
// is under TARGET_DELAY_MS and shrinks in proportion when it is above, with slow start until
// delay first builds up. A round trip is congestion when it lost more than LOSS_TOLERANCE of its
// fragments, or ended with the queue at over twice the target (someone else is filling it). A
// few losses on a path whose queue is ours and short (radio, a lossy last mile) are just
// retransmitted; loss-driven AIMD would collapse to a few percent of such a link. Congestion cuts
// the window to CONGESTION_BETA of itself, once per RTT.
//
// Frames ride inside transport data payloads (cluster/README.md, "Reliable delivery"):
//   DATA  type 1 | flags u8 (1 = request, 2 = response, 4 = stream) | msgId u32 | reqId u32 | index u16 | count u16 | bytes
//   ACK   type 2 | n u8 | n × (msgId u32 | index u16)
import type { Clock, Timer } from '../core/clock.js';
import { SECOND } from '../core/clock.js';
import type { Rng } from '../core/rng.js';
import { KithError } from '../core/errors.js';
import { MAX_PAYLOAD } from './transport.js';

export const FRAME_DATA = 1;
export const FRAME_ACK = 2;
export const DATA_FRAME_HEADER = 14;
export const MAX_FRAGMENT = MAX_PAYLOAD - DATA_FRAME_HEADER;
const FLAG_REQUEST = 1;
const FLAG_RESPONSE = 2;
/** A message of a stream (cluster/stream.ts): it goes to the stream handler, not onMessage. */
const FLAG_STREAM = 4;
const MAX_ACKS_PER_FRAME = Math.floor((MAX_PAYLOAD - 2) / 6);
/** Queueing delay the window aims for: low enough not to hurt interactive traffic on the link. */
export const TARGET_DELAY_MS = 25;
const MIN_CWND = 2;
const INITIAL_CWND = 4;
/** Slow start stops here at the latest (≈ 300 kB in flight). */
const INITIAL_SSTHRESH = 256;
/** Acknowledgements repeated from earlier ACK frames in each new one. */
const REPEATED_ACKS = 8;
/** Fraction of a round trip's fragments that may be lost before the loss counts as congestion. */
export const LOSS_TOLERANCE = 0.05;
/** The window after a congestion signal, as a fraction of itself (CUBIC's β; RFC 6817 uses 0.5). */
export const CONGESTION_BETA = 0.7;
/** RTT samples in the "current delay" filter (RFC 6817 §3.4.2: the minimum of the last few). */
const CURRENT_DELAY_SAMPLES = 4;
/** The base RTT is the minimum over this many one-minute buckets (RFC 6817's BASE_HISTORY). */
const BASE_HISTORY_MINUTES = 10;

export interface ReliableOptions {
  /** Largest message, in bytes. */
  maxMessageBytes: number;
  /** Bytes of unacknowledged messages per peer before send() refuses (SEND_BACKPRESSURE). */
  maxInFlightBytes: number;
  /** Bytes of partly received messages kept per peer; beyond it the oldest are dropped. */
  maxReassemblyBytes: number;
  /** Retransmissions of one fragment before the message fails. */
  maxRetries: number;
  initialRtoMs: number;
  minRtoMs: number;
  maxRtoMs: number;
  /** Completed message ids remembered per peer, to drop duplicates. */
  dedupeWindow: number;
}

export const DEFAULT_RELIABLE: ReliableOptions = {
  maxMessageBytes: 4 * 1024 * 1024,
  maxInFlightBytes: 8 * 1024 * 1024,
  maxReassemblyBytes: 8 * 1024 * 1024,
  maxRetries: 10,
  initialRtoMs: 1 * SECOND,
  minRtoMs: 200,
  maxRtoMs: 30 * SECOND,
  dedupeWindow: 4096,
};

/** What reliable delivery needs from the transport beneath it. */
export interface DatagramLink {
  send(peer: string, payload: Uint8Array): void;
}

interface OutFragment {
  index: number;
  bytes: Uint8Array;
  acked: boolean;
  sentAtMs: number;
  retries: number;
  timer: Timer | undefined;
  queued: boolean;
  /** Order of the latest transmission (for loss detection from later acks). */
  sendSeq: number;
}

interface OutMessage {
  id: number;
  size: number;
  frags: OutFragment[];
  unacked: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface InMessage {
  count: number;
  flags: number;
  reqId: number;
  parts: (Uint8Array | undefined)[];
  received: number;
  bytes: number;
}

interface PeerState {
  nextId: number;
  out: Map<number, OutMessage>;
  sendQueue: { msg: OutMessage; frag: OutFragment }[];
  inFlight: number;
  inFlightBytes: number;
  cwnd: number;
  ssthresh: number;
  srttMs: number | undefined;
  rttvarMs: number;
  rtoMs: number;
  incoming: Map<number, InMessage>;
  reassemblyBytes: number;
  done: Set<number>;
  doneOrder: number[];
  pendingAcks: [number, number][];
  /** The last acknowledgements sent, repeated in the next ACK frame (a lost ACK is not a loss). */
  recentAcks: [number, number][];
  ackTimer: Timer | undefined;
  sendSeq: number;
  /** Fragments in flight, in transmission order. */
  flight: { msg: OutMessage; frag: OutFragment }[];
  lastCutMs: number;
  /** Lowest RTT per minute, newest last (at most BASE_HISTORY_MINUTES). */
  baseHistory: { minute: number; minMs: number }[];
  baseRttMs: number;
  recentRtts: number[];
  queueDelayMs: number;
  slowStart: boolean;
  lastAckMs: number;
  /** The current round trip: it ends when a fragment sent at or after roundEndSeq is acknowledged. */
  roundEndSeq: number;
  roundAcked: number;
  roundLost: number;
}

/** What a peer's state knows about its path; a new peer and a roamed one start from this. */
function freshPath(initialRtoMs: number): Pick<PeerState, 'cwnd' | 'ssthresh' | 'slowStart' | 'srttMs' | 'rttvarMs' | 'rtoMs' | 'baseHistory' | 'baseRttMs' | 'recentRtts' | 'queueDelayMs' | 'lastCutMs'> {
  return {
    cwnd: INITIAL_CWND, ssthresh: INITIAL_SSTHRESH, slowStart: true, srttMs: undefined, rttvarMs: 0, rtoMs: initialRtoMs,
    baseHistory: [], baseRttMs: Infinity, recentRtts: [], queueDelayMs: 0, lastCutMs: -Infinity,
  };
}

export type MessageHandler = (peer: string, payload: Uint8Array, respond: ((response: Uint8Array) => Promise<void>) | undefined) => void;

export class Reliable {
  readonly stats = { sent: 0, retransmits: 0, delivered: 0, duplicates: 0, dropped: 0 };
  private readonly peers = new Map<string, PeerState>();
  private readonly requests = new Map<string, { resolve: (b: Uint8Array) => void; reject: (e: Error) => void; timer: Timer }>();
  private handler: MessageHandler | undefined;
  private streamHandler: ((peer: string, payload: Uint8Array) => void) | undefined;
  private readonly o: ReliableOptions;

  constructor(private readonly deps: { clock: Clock; rng: Rng; link: DatagramLink }, opts: Partial<ReliableOptions> = {}) {
    this.o = { ...DEFAULT_RELIABLE, ...opts };
  }

  onMessage(fn: MessageHandler): void {
    this.handler = fn;
  }

  /** Messages of streams go here instead of onMessage (cluster/stream.ts sets it). */
  onStreamMessage(fn: (peer: string, payload: Uint8Array) => void): void {
    this.streamHandler = fn;
  }

  /** Sends a message of a stream (flag 4); resolves once every fragment is acknowledged. */
  sendStreamMessage(peer: string, payload: Uint8Array): Promise<void> {
    return this.enqueue(peer, payload, FLAG_STREAM, 0).done;
  }

  /** Sends a message; resolves once every fragment is acknowledged. */
  send(peer: string, payload: Uint8Array): Promise<void> {
    return this.enqueue(peer, payload, 0, 0).done;
  }

  /** Sends a request and resolves with the response (REQUEST_TIMEOUT after timeoutMs). */
  request(peer: string, payload: Uint8Array, timeoutMs = 10 * SECOND): Promise<Uint8Array> {
    const { id, done } = this.enqueue(peer, payload, FLAG_REQUEST, 0);
    const key = `${peer}/${id}`;
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = this.deps.clock.setTimer(timeoutMs, () => {
        this.requests.delete(key);
        reject(new KithError('REQUEST_TIMEOUT', `no response from ${peer.slice(0, 12)} within ${timeoutMs} ms`));
      });
      this.requests.set(key, { resolve, reject, timer });
      done.catch((e: Error) => {
        const r = this.requests.get(key);
        if (!r) return;
        r.timer.cancel();
        this.requests.delete(key);
        reject(e);
      });
    });
  }

  /** The congestion state towards a peer (diagnostics and benchmarks); undefined before any traffic. */
  pathInfo(peer: string): { cwnd: number; inFlight: number; srttMs: number | undefined; baseRttMs: number; queueDelayMs: number; slowStart: boolean } | undefined {
    const s = this.peers.get(peer);
    return s && { cwnd: s.cwnd, inFlight: s.inFlight, srttMs: s.srttMs, baseRttMs: s.baseRttMs, queueDelayMs: s.queueDelayMs, slowStart: s.slowStart };
  }

  /**
   * The peer's path changed (it roamed): what was learnt about the old path (lowest RTT, RTT
   * estimate, window) says nothing about the new one, so start again as on a new path.
   */
  pathChanged(peer: string): void {
    const s = this.peers.get(peer);
    if (s) Object.assign(s, freshPath(this.o.initialRtoMs));
  }

  /** Forgets a peer: pending sends and requests fail with DELIVERY_FAILED. */
  dropPeer(peer: string): void {
    const s = this.peers.get(peer);
    if (!s) return;
    for (const m of s.out.values()) this.fail(s, m, `peer ${peer.slice(0, 12)} was removed`);
    s.ackTimer?.cancel();
    this.peers.delete(peer);
  }

  private state(peer: string): PeerState {
    let s = this.peers.get(peer);
    if (!s) {
      s = {
        ...freshPath(this.o.initialRtoMs),
        nextId: this.deps.rng.below(2 ** 32), out: new Map(), sendQueue: [], inFlight: 0, inFlightBytes: 0, incoming: new Map(), reassemblyBytes: 0,
        done: new Set(), doneOrder: [], pendingAcks: [], recentAcks: [], ackTimer: undefined, sendSeq: 0, flight: [],
        lastAckMs: this.deps.clock.now(), roundEndSeq: 0, roundAcked: 0, roundLost: 0,
      };
      this.peers.set(peer, s);
    }
    return s;
  }

  private enqueue(peer: string, payload: Uint8Array, flags: number, reqId: number): { id: number; done: Promise<void> } {
    if (payload.length > this.o.maxMessageBytes) {
      return { id: 0, done: Promise.reject(new KithError('MESSAGE_TOO_LARGE', `a message of ${payload.length} bytes is over the ${this.o.maxMessageBytes}-byte limit`)) };
    }
    const s = this.state(peer);
    if (s.inFlightBytes + payload.length > this.o.maxInFlightBytes) {
      return { id: 0, done: Promise.reject(new KithError('SEND_BACKPRESSURE', `${s.inFlightBytes} bytes are already in flight to ${peer.slice(0, 12)}`)) };
    }
    const id = s.nextId;
    s.nextId = (s.nextId + 1) >>> 0;
    const count = Math.max(1, Math.ceil(payload.length / MAX_FRAGMENT));
    if (count > 0xffff) throw new RangeError('message needs more than 65535 fragments');
    const frags: OutFragment[] = [];
    for (let i = 0; i < count; i++) {
      const part = payload.subarray(i * MAX_FRAGMENT, Math.min(payload.length, (i + 1) * MAX_FRAGMENT));
      const bytes = new Uint8Array(DATA_FRAME_HEADER + part.length);
      const v = new DataView(bytes.buffer);
      bytes[0] = FRAME_DATA;
      bytes[1] = flags;
      v.setUint32(2, id);
      v.setUint32(6, reqId);
      v.setUint16(10, i);
      v.setUint16(12, count);
      bytes.set(part, DATA_FRAME_HEADER);
      frags.push({ index: i, bytes, acked: false, sentAtMs: 0, retries: 0, timer: undefined, queued: true, sendSeq: -1 });
    }
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const msg: OutMessage = { id, size: payload.length, frags, unacked: count, resolve, reject };
    s.out.set(id, msg);
    s.inFlightBytes += payload.length;
    for (const f of frags) s.sendQueue.push({ msg, frag: f });
    this.pump(peer, s);
    return { id, done };
  }

  /** Sends queued fragments while the congestion window has room. */
  private pump(peer: string, s: PeerState): void {
    while (s.inFlight < Math.floor(s.cwnd) && s.sendQueue.length > 0) {
      const { msg, frag } = s.sendQueue.shift()!;
      frag.queued = false;
      if (frag.acked || !s.out.has(msg.id)) continue;
      this.transmit(peer, s, msg, frag);
    }
  }

  private transmit(peer: string, s: PeerState, msg: OutMessage, frag: OutFragment): void {
    frag.sentAtMs = this.deps.clock.now();
    frag.sendSeq = s.sendSeq++;
    s.flight.push({ msg, frag });
    s.inFlight++;
    this.stats.sent++;
    this.deps.link.send(peer, frag.bytes);
    const rto = Math.min(this.o.maxRtoMs, s.rtoMs * 2 ** frag.retries);
    frag.timer = this.deps.clock.setTimer(rto, () => this.onTimeout(peer, s, msg, frag));
  }

  private onTimeout(peer: string, s: PeerState, msg: OutMessage, frag: OutFragment): void {
    frag.timer = undefined;
    if (frag.acked || !s.out.has(msg.id)) return;
    s.inFlight--;
    this.removeFromFlight(s, frag);
    s.roundLost++; // counted towards the round's loss rate (countRound)
    // Nothing acknowledged for two timeouts: the path stalled or changed; start again small.
    if (this.deps.clock.now() - s.lastAckMs > 2 * s.rtoMs) {
      s.cwnd = MIN_CWND;
      s.slowStart = true;
    }
    if (this.requeue(peer, s, msg, frag)) this.pump(peer, s);
  }

  /** Queues a lost fragment for retransmission (first in line), or fails its message after too many. */
  private requeue(peer: string, s: PeerState, msg: OutMessage, frag: OutFragment): boolean {
    if (++frag.retries > this.o.maxRetries) {
      this.fail(s, msg, `fragment ${frag.index} of message ${msg.id} to ${peer.slice(0, 12)} unacknowledged after ${this.o.maxRetries} retransmissions`);
      return false;
    }
    this.stats.retransmits++;
    // Retransmissions go first: they block the message's completion.
    s.sendQueue.unshift({ msg, frag });
    frag.queued = true;
    return true;
  }

  /** Shrinks the window to CONGESTION_BETA of itself and ends slow start, at most once per RTT. */
  private congestion(s: PeerState): void {
    s.slowStart = false;
    const now = this.deps.clock.now();
    if (now - s.lastCutMs < (s.srttMs ?? this.o.initialRtoMs)) return;
    s.lastCutMs = now;
    s.ssthresh = Math.max(MIN_CWND, Math.floor(s.cwnd * CONGESTION_BETA));
    s.cwnd = s.ssthresh;
  }

  /**
   * Counts an acknowledged fragment towards its round. At the round's end, a round that lost more
   * than LOSS_TOLERANCE of its fragments, or ended with the queue at over twice the target (a
   * queue someone else keeps full, which the additive decrease would take many RTTs to leave), is
   * congestion.
   */
  private countRound(s: PeerState, sendSeq: number): void {
    s.roundAcked++;
    if (sendSeq < s.roundEndSeq) return;
    const lost = s.roundLost;
    // Three losses at least: at a 1% random loss rate a window of 30 loses two in 4% of its
    // round trips, three in 0.4%.
    if ((lost >= 3 && lost > LOSS_TOLERANCE * (s.roundAcked + lost)) || s.queueDelayMs > 2 * TARGET_DELAY_MS) this.congestion(s);
    s.roundEndSeq = s.sendSeq;
    s.roundAcked = 0;
    s.roundLost = 0;
  }

  /** Takes an RTT sample into the base history (per minute) and the current-delay filter. */
  private sampleDelay(s: PeerState, rttMs: number): void {
    const minute = Math.floor(this.deps.clock.now() / 60_000);
    const last = s.baseHistory[s.baseHistory.length - 1];
    if (last && last.minute === minute) last.minMs = Math.min(last.minMs, rttMs);
    else s.baseHistory.push({ minute, minMs: rttMs });
    // Recomputed over the buckets only when the oldest minute leaves (once a minute at most).
    if (s.baseHistory.length > BASE_HISTORY_MINUTES) {
      s.baseHistory.shift();
      s.baseRttMs = Math.min(...s.baseHistory.map((b) => b.minMs));
    } else s.baseRttMs = Math.min(s.baseRttMs, rttMs);
    s.recentRtts.push(rttMs);
    if (s.recentRtts.length > CURRENT_DELAY_SAMPLES) s.recentRtts.shift();
    s.queueDelayMs = Math.min(...s.recentRtts) - s.baseRttMs;
  }

  /** LEDBAT-style window update for one acknowledged fragment with an RTT sample (or none). */
  private grow(s: PeerState, rttMs: number | undefined): void {
    if (rttMs !== undefined) this.sampleDelay(s, rttMs);
    if (s.slowStart && s.queueDelayMs < TARGET_DELAY_MS / 2 && s.cwnd < s.ssthresh) {
      s.cwnd += 1;
      return;
    }
    s.slowStart = false;
    const offTarget = (TARGET_DELAY_MS - s.queueDelayMs) / TARGET_DELAY_MS;
    s.cwnd = Math.max(MIN_CWND, s.cwnd + Math.max(-1, offTarget) / s.cwnd);
  }

  private removeFromFlight(s: PeerState, frag: OutFragment): void {
    const i = s.flight.findIndex((x) => x.frag === frag);
    if (i >= 0) s.flight.splice(i, 1);
  }

  /**
   * Fast retransmit from selective acks: a fragment still unacknowledged while three fragments
   * sent after it have been acknowledged is taken as lost and sent again at once.
   */
  private detectLosses(peer: string, s: PeerState, ackedSeq: number): void {
    const lost = s.flight.filter((x) => !x.frag.acked && x.frag.sendSeq < ackedSeq - 3);
    if (lost.length === 0) return;
    s.roundLost += lost.length;
    for (const { msg, frag } of lost) {
      frag.timer?.cancel();
      frag.timer = undefined;
      s.inFlight--;
      this.removeFromFlight(s, frag);
      // A message already failed by an earlier fragment of this batch is gone from s.out.
      if (s.out.has(msg.id)) this.requeue(peer, s, msg, frag);
    }
  }

  private fail(s: PeerState, msg: OutMessage, why: string): void {
    for (const f of msg.frags) {
      if (f.timer) {
        f.timer.cancel();
        f.timer = undefined;
        if (!f.acked) s.inFlight--;
      }
    }
    s.out.delete(msg.id);
    s.inFlightBytes -= msg.size;
    s.sendQueue = s.sendQueue.filter((q) => q.msg !== msg);
    s.flight = s.flight.filter((q) => q.msg !== msg);
    msg.reject(new KithError('DELIVERY_FAILED', why));
  }

  private onAck(peer: string, s: PeerState, id: number, index: number): void {
    const msg = s.out.get(id);
    const frag = msg?.frags[index];
    if (!msg || !frag || frag.acked) return;
    frag.acked = true;
    s.lastAckMs = this.deps.clock.now();
    let sample: number | undefined;
    if (frag.timer) {
      frag.timer.cancel();
      frag.timer = undefined;
      s.inFlight--;
      // RFC 6298 RTT estimate, from fragments sent once only (Karn's rule).
      if (frag.retries === 0) {
        const r = this.deps.clock.now() - frag.sentAtMs;
        sample = r;
        if (s.srttMs === undefined) {
          s.srttMs = r;
          s.rttvarMs = r / 2;
        } else {
          s.rttvarMs = 0.75 * s.rttvarMs + 0.25 * Math.abs(s.srttMs - r);
          s.srttMs = 0.875 * s.srttMs + 0.125 * r;
        }
        s.rtoMs = Math.min(this.o.maxRtoMs, Math.max(this.o.minRtoMs, s.srttMs + 4 * s.rttvarMs));
      }
    }
    this.removeFromFlight(s, frag);
    this.detectLosses(peer, s, frag.sendSeq);
    this.countRound(s, frag.sendSeq);
    this.grow(s, sample);
    if (--msg.unacked === 0) {
      s.out.delete(id);
      s.inFlightBytes -= msg.size;
      msg.resolve();
    }
    this.pump(peer, s);
  }

  /** Feed every transport payload from `peer` here. Malformed frames are dropped and counted. */
  receive(peer: string, frame: Uint8Array): void {
    if (frame.length < 2) {
      this.stats.dropped++;
      return;
    }
    const s = this.state(peer);
    const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    if (frame[0] === FRAME_ACK) {
      const n = frame[1]!;
      if (frame.length !== 2 + n * 6) {
        this.stats.dropped++;
        return;
      }
      for (let i = 0; i < n; i++) this.onAck(peer, s, v.getUint32(2 + i * 6), v.getUint16(6 + i * 6));
      return;
    }
    if (frame[0] !== FRAME_DATA || frame.length < DATA_FRAME_HEADER) {
      this.stats.dropped++;
      return;
    }
    const flags = frame[1]!;
    const id = v.getUint32(2);
    const reqId = v.getUint32(6);
    const index = v.getUint16(10);
    const count = v.getUint16(12);
    const part = frame.subarray(DATA_FRAME_HEADER);
    if (count === 0 || index >= count || count * MAX_FRAGMENT > this.o.maxMessageBytes + MAX_FRAGMENT || (index < count - 1 && part.length !== MAX_FRAGMENT)) {
      this.stats.dropped++;
      return;
    }
    this.queueAck(peer, s, id, index);
    if (s.done.has(id)) {
      this.stats.duplicates++;
      return;
    }
    let m = s.incoming.get(id);
    if (!m) {
      m = { count, flags, reqId, parts: new Array(count), received: 0, bytes: 0 };
      s.incoming.set(id, m);
    }
    if (m.count !== count || m.parts[index] !== undefined) {
      this.stats.duplicates++;
      return;
    }
    m.parts[index] = new Uint8Array(part);
    m.received++;
    m.bytes += part.length;
    s.reassemblyBytes += part.length;
    // Bounded memory: drop the oldest partial messages (their senders will retransmit).
    for (const [oid, om] of s.incoming) {
      if (s.reassemblyBytes <= this.o.maxReassemblyBytes || oid === id) break;
      s.incoming.delete(oid);
      s.reassemblyBytes -= om.bytes;
      this.stats.dropped++;
    }
    if (m.received < m.count) return;
    s.incoming.delete(id);
    s.reassemblyBytes -= m.bytes;
    this.remember(s, id);
    const payload = concatParts(m.parts as Uint8Array[], m.bytes);
    this.stats.delivered++;
    if (m.flags & FLAG_STREAM) {
      try {
        this.streamHandler?.(peer, payload);
      } catch {
        /* as below */
      }
      return;
    }
    if (m.flags & FLAG_RESPONSE) {
      const key = `${peer}/${m.reqId}`;
      const r = this.requests.get(key);
      if (r) {
        r.timer.cancel();
        this.requests.delete(key);
        r.resolve(payload);
      }
      return;
    }
    const respond = m.flags & FLAG_REQUEST ? (resp: Uint8Array) => this.enqueue(peer, resp, FLAG_RESPONSE, id).done : undefined;
    try {
      this.handler?.(peer, payload, respond);
    } catch {
      /* the application's exceptions never reach the network path */
    }
  }

  private remember(s: PeerState, id: number): void {
    s.done.add(id);
    s.doneOrder.push(id);
    if (s.doneOrder.length > this.o.dedupeWindow) s.done.delete(s.doneOrder.shift()!);
  }

  /**
   * Acks are batched: every ack of this turn of the event loop goes in one frame, after the
   * last REPEATED_ACKS acks already sent. The repeats come first, so that a sender whose previous
   * ACK frame was lost takes them before the newer acks that would make it count those
   * fragments as lost.
   */
  private queueAck(peer: string, s: PeerState, id: number, index: number): void {
    s.pendingAcks.push([id, index]);
    if (s.ackTimer) return;
    s.ackTimer = this.deps.clock.setTimer(0, () => {
      s.ackTimer = undefined;
      while (s.pendingAcks.length > 0) {
        const fresh = s.pendingAcks.splice(0, MAX_ACKS_PER_FRAME - REPEATED_ACKS);
        const batch = [...s.recentAcks, ...fresh];
        s.recentAcks = batch.slice(-REPEATED_ACKS);
        const f = new Uint8Array(2 + batch.length * 6);
        const v = new DataView(f.buffer);
        f[0] = FRAME_ACK;
        f[1] = batch.length;
        batch.forEach(([mid, idx], i) => {
          v.setUint32(2 + i * 6, mid);
          v.setUint16(6 + i * 6, idx);
        });
        this.deps.link.send(peer, f);
      }
    });
  }
}

function concatParts(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
