// Reliable delivery over the datagram transport: messages of any size up to a limit, split into
// fragments that fit one datagram, acknowledged per fragment, retransmitted (fast, from selective
// acks, or on timeout with backoff), de-duplicated, and reassembled with bounded memory;
// request/response on top. This file is the sender's state machine and the dispatch of what
// arrives; the parts it is made of are each in their own file:
//   reliable-wire.ts   the DATA and ACK frames (cluster/README.md, "Reliable delivery")
//   rtt.ts             the RTT estimate and retransmission timeout (RFC 6298)
//   congestion.ts      the LEDBAT-like congestion window (RFC 6817)
//   loss-detection.ts  fragments in flight and fast-retransmit loss detection
//   reassembly.ts      reassembly and duplicate suppression on the receiving side
import type { Clock, Timer } from '../core/clock.js';
import { SECOND, deferOn } from '../core/clock.js';
import type { Rng } from '../core/rng.js';
import { KithError } from '../core/errors.js';
import { CongestionWindow } from './congestion.js';
import { Flight } from './loss-detection.js';
import { Reassembly } from './reassembly.js';
import {
  FLAG_REQUEST, FLAG_RESPONSE, FLAG_STREAM, FRAME_ACK, MAX_ACKS_PER_FRAME, decodeFrame, encodeAckFrame, encodeDataFrames,
  type DataFrame,
} from './reliable-wire.js';
import { RttEstimator } from './rtt.js';

export { DATA_FRAME_HEADER, FRAME_ACK, FRAME_DATA, MAX_FRAGMENT } from './reliable-wire.js';
export { CONGESTION_BETA, LOSS_TOLERANCE, TARGET_DELAY_MS } from './congestion.js';

/** Acknowledgements repeated from earlier ACK frames in each new one. */
const REPEATED_ACKS = 8;
/**
 * A bulk stream's in-order fragments, once more than this many came in a row, are acknowledged
 * this many at a time (or after ACK_DELAY_MS), not every turn: each ACK frame costs a datagram
 * each way, a system call and a wakeup on both sides, which on loopback was a fifth of a
 * fragment's cost (0.13–0.29 ACK frames per fragment before, with a turn's few fragments each).
 * Everything else is acknowledged at the end of the turn, as before (mayWait).
 */
export const ACK_EVERY = 16;
/** The longest a delayed acknowledgement waits (the real clock's timers fire after at least 1 ms). */
export const ACK_DELAY_MS = 2;

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
  /** Sent and neither acknowledged nor taken as lost since (counted in PeerState.inFlight). */
  inFlight: boolean;
  /** When this transmission times out (its RTO from sentAtMs). */
  deadlineMs: number;
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

type Sending = { msg: OutMessage; frag: OutFragment };

/** Everything about one peer: the sender's messages and path, and the receiver's reassembly. */
interface PeerState {
  nextId: number;
  out: Map<number, OutMessage>;
  sendQueue: Sending[];
  inFlight: number;
  inFlightBytes: number;
  rtt: RttEstimator;
  window: CongestionWindow;
  /** Fragments in flight, in transmission order. */
  flight: Flight<Sending>;
  lastAckMs: number;
  /**
   * One retransmission timer per peer, not one per fragment: it is due at (or before) the
   * earliest deadline in flight and, when it fires, times out every fragment whose deadline has
   * passed, in transmission order, then waits for the next deadline.
   */
  rtoTimer: Timer | undefined;
  rtoTimerAtMs: number;
  inbox: Reassembly;
  /** Acks not sent yet, flat (msgId, index, msgId, index, …): no array per fragment. */
  pendingAcks: number[];
  /** The last acknowledgements sent, repeated in the next ACK frame (a lost ACK is not a loss). */
  recentAcks: number[];
  /** Sends the pending acks: at the end of this turn (ackSoon), or ACK_DELAY_MS after the first delayed one. */
  ackTimer: Timer | undefined;
  ackSoon: boolean;
  /** The last DATA fragment that arrived (message id, index, whether it was its message's last): whether the next one is in order. */
  lastRxMsg: number;
  lastRxIndex: number;
  lastRxEnded: boolean;
  /** Stream fragments that came in order in a row (mayWait). */
  inOrderRow: number;
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

  /**
   * Sends a message of a stream (flag 4), `head` ‖ `payload` (the stream's frame header, then its
   * bytes, without a copy to join them); resolves once every fragment is acknowledged.
   */
  sendStreamMessage(peer: string, payload: Uint8Array, head?: Uint8Array): Promise<void> {
    return this.enqueue(peer, payload, FLAG_STREAM, 0, head).done;
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
    return s && { cwnd: s.window.cwnd, inFlight: s.inFlight, srttMs: s.rtt.srttMs, baseRttMs: s.window.baseRttMs, queueDelayMs: s.window.queueDelayMs, slowStart: s.window.slowStart };
  }

  /**
   * The peer's path changed (it roamed): what was learnt about the old path (lowest RTT, RTT
   * estimate, window) says nothing about the new one, so start again as on a new path.
   */
  pathChanged(peer: string): void {
    const s = this.peers.get(peer);
    if (!s) return;
    s.rtt.reset();
    s.window.resetPath();
  }

  /**
   * The peer is reachable again (membership saw it come alive: back from suspect or dead, a
   * restart included). What was sent while it was away carries timeouts doubled up to
   * maxRtoMs, and new messages would wait behind it in a window the timeouts cut to its minimum:
   * up to maxRtoMs of silence towards a peer that is there. So everything in flight is sent
   * again now, first in line, with its backoff forgotten (the retry count starts again: the
   * earlier ones went to nobody). Back from dead (a restart, perhaps elsewhere) it is also a new
   * path: a fresh RTT estimate and window. Back from suspect, the path is kept.
   */
  peerReturned(peer: string, fromDead: boolean): void {
    const s = this.peers.get(peer);
    if (!s) return;
    if (fromDead) {
      s.rtt.reset();
      s.window.resetPath();
    }
    const back = [...s.flight.entries()];
    for (const e of back) {
      this.outOfFlight(s, e.frag);
      e.frag.queued = true;
    }
    for (const m of s.out.values()) for (const f of m.frags) f.retries = 0;
    s.sendQueue.unshift(...back);
    s.lastAckMs = this.deps.clock.now();
    s.rtoTimer?.cancel();
    s.rtoTimer = undefined;
    s.rtoTimerAtMs = Infinity;
    this.pump(peer, s);
  }

  /** Forgets a peer: pending sends and requests fail with DELIVERY_FAILED. */
  dropPeer(peer: string): void {
    const s = this.peers.get(peer);
    if (!s) return;
    for (const m of s.out.values()) this.fail(s, m, `peer ${peer.slice(0, 12)} was removed`);
    s.ackTimer?.cancel();
    s.rtoTimer?.cancel();
    this.peers.delete(peer);
  }

  private state(peer: string): PeerState {
    let s = this.peers.get(peer);
    if (!s) {
      s = {
        nextId: this.deps.rng.below(2 ** 32), out: new Map(), sendQueue: [], inFlight: 0, inFlightBytes: 0,
        rtt: new RttEstimator(this.o), window: new CongestionWindow(), flight: new Flight(), lastAckMs: this.deps.clock.now(),
        rtoTimer: undefined, rtoTimerAtMs: Infinity,
        inbox: new Reassembly(this.o), pendingAcks: [], recentAcks: [], ackTimer: undefined, ackSoon: false, lastRxMsg: -1, lastRxIndex: -1, lastRxEnded: false, inOrderRow: 0,
      };
      this.peers.set(peer, s);
    }
    return s;
  }

  // ------------------------------------------------------------------ sending

  private enqueue(peer: string, payload: Uint8Array, flags: number, reqId: number, head?: Uint8Array): { id: number; done: Promise<void> } {
    const size = payload.length + (head?.length ?? 0);
    if (size > this.o.maxMessageBytes) {
      return { id: 0, done: Promise.reject(new KithError('MESSAGE_TOO_LARGE', `a message of ${size} bytes is over the ${this.o.maxMessageBytes}-byte limit`)) };
    }
    const s = this.state(peer);
    if (s.inFlightBytes + size > this.o.maxInFlightBytes) {
      return { id: 0, done: Promise.reject(new KithError('SEND_BACKPRESSURE', `${s.inFlightBytes} bytes are already in flight to ${peer.slice(0, 12)}`)) };
    }
    const id = s.nextId;
    s.nextId = (s.nextId + 1) >>> 0;
    const frags: OutFragment[] = encodeDataFrames(payload, id, flags, reqId, head).map((bytes, index) => (
      { index, bytes, acked: false, sentAtMs: 0, retries: 0, inFlight: false, deadlineMs: 0, queued: true, sendSeq: -1 }
    ));
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const done = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const msg: OutMessage = { id, size, frags, unacked: frags.length, resolve, reject };
    s.out.set(id, msg);
    s.inFlightBytes += size;
    // One entry per fragment, for the queue and the flight, each time it is (re)sent.
    for (const f of frags) s.sendQueue.push({ msg, frag: f });
    this.pump(peer, s);
    return { id, done };
  }

  /** Sends queued fragments while the congestion window has room. */
  private pump(peer: string, s: PeerState): void {
    while (s.inFlight < Math.floor(s.window.cwnd) && s.sendQueue.length > 0) {
      const e = s.sendQueue.shift()!;
      e.frag.queued = false;
      if (e.frag.acked || !s.out.has(e.msg.id)) continue;
      this.transmit(peer, s, e);
    }
  }

  private transmit(peer: string, s: PeerState, e: Sending): void {
    const frag = e.frag;
    frag.sentAtMs = this.deps.clock.now();
    s.flight.sent(e);
    s.inFlight++;
    this.stats.sent++;
    this.deps.link.send(peer, frag.bytes);
    frag.inFlight = true;
    frag.deadlineMs = frag.sentAtMs + Math.min(this.o.maxRtoMs, s.rtt.rtoMs * 2 ** frag.retries);
    if (frag.deadlineMs < s.rtoTimerAtMs) this.armRto(peer, s, frag.deadlineMs);
  }

  private armRto(peer: string, s: PeerState, atMs: number): void {
    s.rtoTimer?.cancel();
    s.rtoTimerAtMs = atMs;
    s.rtoTimer = this.deps.clock.setTimer(atMs - this.deps.clock.now(), () => this.onRtoTimer(peer, s));
  }

  /** Times out what is due (as a timer per fragment would have, in the order they were sent). */
  private onRtoTimer(peer: string, s: PeerState): void {
    s.rtoTimer = undefined;
    s.rtoTimerAtMs = Infinity;
    const now = this.deps.clock.now();
    const due: Sending[] = [];
    for (const e of s.flight.entries()) if (e.frag.deadlineMs <= now) due.push(e);
    for (const e of due) this.onTimeout(peer, s, e);
    if (this.peers.get(peer) !== s) return;
    let next = Infinity;
    for (const e of s.flight.entries()) if (e.frag.deadlineMs < next) next = e.frag.deadlineMs;
    if (next < s.rtoTimerAtMs) this.armRto(peer, s, next);
  }

  private onTimeout(peer: string, s: PeerState, e: Sending): void {
    const { msg, frag } = e;
    if (!frag.inFlight || frag.acked || !s.out.has(msg.id)) return;
    this.outOfFlight(s, frag);
    s.window.lost(1);
    if (this.deps.clock.now() - s.lastAckMs > 2 * s.rtt.rtoMs) s.window.stalled();
    if (this.requeue(peer, s, e)) this.pump(peer, s);
  }

  /** A transmission taken as lost (timed out, by the reordering rule, or sent to a peer that was away). */
  private outOfFlight(s: PeerState, frag: OutFragment): void {
    frag.inFlight = false;
    s.inFlight--;
    s.flight.remove(frag);
  }

  /** Queues a lost fragment for retransmission (first in line), or fails its message after too many. */
  private requeue(peer: string, s: PeerState, e: Sending): boolean {
    const { msg, frag } = e;
    if (++frag.retries > this.o.maxRetries) {
      this.fail(s, msg, `fragment ${frag.index} of message ${msg.id} to ${peer.slice(0, 12)} unacknowledged after ${this.o.maxRetries} retransmissions`);
      return false;
    }
    this.stats.retransmits++;
    // Retransmissions go first: they block the message's completion.
    s.sendQueue.unshift(e);
    frag.queued = true;
    return true;
  }

  /** Fast retransmit: fragments the flight takes as lost once `ackedSeq` was acknowledged. */
  private detectLosses(peer: string, s: PeerState, ackedSeq: number): void {
    const lost = s.flight.lostBefore(ackedSeq);
    if (lost.length === 0) return;
    s.window.lost(lost.length);
    for (const e of lost) {
      this.outOfFlight(s, e.frag);
      // A message already failed by an earlier fragment of this batch is gone from s.out.
      if (s.out.has(e.msg.id)) this.requeue(peer, s, e);
    }
  }

  private fail(s: PeerState, msg: OutMessage, why: string): void {
    for (const f of msg.frags) {
      if (f.inFlight) {
        f.inFlight = false;
        s.inFlight--;
      }
    }
    s.out.delete(msg.id);
    s.inFlightBytes -= msg.size;
    s.sendQueue = s.sendQueue.filter((q) => q.msg !== msg);
    s.flight.removeWhere((q) => q.msg === msg);
    msg.reject(new KithError('DELIVERY_FAILED', why));
  }

  private onAck(peer: string, s: PeerState, id: number, index: number): void {
    const msg = s.out.get(id);
    const frag = msg?.frags[index];
    if (!msg || !frag || frag.acked) return;
    frag.acked = true;
    const now = this.deps.clock.now();
    s.lastAckMs = now;
    let sample: number | undefined;
    if (frag.inFlight) {
      frag.inFlight = false;
      s.inFlight--;
      // RTT samples from fragments sent once only (Karn's rule).
      if (frag.retries === 0) {
        sample = now - frag.sentAtMs;
        s.rtt.sample(sample);
      }
    }
    s.flight.remove(frag);
    this.detectLosses(peer, s, frag.sendSeq);
    s.window.acked(now, frag.sendSeq, s.flight.nextSeq, sample, s.rtt.srttMs ?? this.o.initialRtoMs);
    if (--msg.unacked === 0) {
      s.out.delete(id);
      s.inFlightBytes -= msg.size;
      msg.resolve();
    }
    this.pump(peer, s);
  }

  // ------------------------------------------------------------------ receiving

  /** Feed every transport payload from `peer` here. Malformed frames are dropped and counted. */
  receive(peer: string, frame: Uint8Array): void {
    if (frame.length < 2) {
      this.stats.dropped++;
      return;
    }
    const s = this.state(peer);
    const f = decodeFrame(frame, this.o.maxMessageBytes);
    if (!f) {
      this.stats.dropped++;
      return;
    }
    if (f.type === FRAME_ACK) {
      const acks = f.acks;
      for (let i = 0; i + 1 < acks.length; i += 2) this.onAck(peer, s, acks[i]!, acks[i + 1]!);
      return;
    }
    this.queueAck(peer, s, f.msgId, f.index, this.mayWait(s, f));
    this.arrive(peer, s, f);
  }

  private arrive(peer: string, s: PeerState, f: DataFrame): void {
    const a = s.inbox.accept(f);
    if (a.kind === 'duplicate') {
      this.stats.duplicates++;
      return;
    }
    this.stats.dropped += a.evicted;
    if (a.kind === 'partial') return;
    this.stats.delivered++;
    if (a.flags & FLAG_STREAM) {
      try {
        this.streamHandler?.(peer, a.payload);
      } catch {
        /* as below */
      }
      return;
    }
    if (a.flags & FLAG_RESPONSE) {
      const key = `${peer}/${a.reqId}`;
      const r = this.requests.get(key);
      if (r) {
        r.timer.cancel();
        this.requests.delete(key);
        r.resolve(a.payload);
      }
      return;
    }
    const respond = a.flags & FLAG_REQUEST ? (resp: Uint8Array) => this.enqueue(peer, resp, FLAG_RESPONSE, f.msgId).done : undefined;
    try {
      this.handler?.(peer, a.payload, respond);
    } catch {
      /* the application's exceptions never reach the network path */
    }
  }

  /**
   * Whether this fragment's acknowledgement may wait (queueAck): a stream message's fragment, not
   * its message's last, that comes right after the one before it (the next index of the same
   * message, or index 0 of the next message id after a message's last fragment), once more than
   * ACK_EVERY have come so in a row. Anything else starts the row again: a gap (which the sender
   * must hear of at once: it takes a fragment as lost once 3 sent after it are acknowledged, and
   * the row's next ACK_EVERY acknowledgements go at the end of their turn), a retransmission, a
   * message of another kind. A delayed acknowledgement that had to wait for ACK_DELAY_MS means the
   * sender's window is below ACK_EVERY (slow start, a cut): the row starts again then too, so a
   * small window waits at most once for the timer.
   */
  private mayWait(s: PeerState, f: DataFrame): boolean {
    const next = f.msgId === s.lastRxMsg ? f.index === s.lastRxIndex + 1 : f.index === 0 && s.lastRxEnded && f.msgId === ((s.lastRxMsg + 1) >>> 0);
    s.lastRxMsg = f.msgId;
    s.lastRxIndex = f.index;
    s.lastRxEnded = f.index + 1 === f.count;
    if (!next || (f.flags & FLAG_STREAM) === 0) {
      s.inOrderRow = 0;
      return false;
    }
    s.inOrderRow++;
    return s.inOrderRow > ACK_EVERY && !s.lastRxEnded;
  }

  /**
   * Acks are batched: the pending ones go in one frame, after the last REPEATED_ACKS acks already
   * sent. The repeats come first, so that a sender whose previous ACK frame was lost takes them
   * before the newer acks that would make it count those fragments as lost. An ack that may not
   * wait goes once the turn is done (clock.defer: setImmediate), not after setTimer(0), which is
   * at least 1 ms on Node and Bun: that millisecond was most of a loopback round trip, and the
   * sender's window sat idle for it. A delayed one (`mayWait`) goes with the next that may not, or
   * once ACK_EVERY are pending, or ACK_DELAY_MS after the first of them.
   */
  private queueAck(peer: string, s: PeerState, id: number, index: number, mayWait: boolean): void {
    s.pendingAcks.push(id, index);
    if (s.ackSoon) return;
    if (mayWait && s.pendingAcks.length < 2 * ACK_EVERY) {
      s.ackTimer ??= this.deps.clock.setTimer(ACK_DELAY_MS, () => {
        s.inOrderRow = 0;
        this.sendAcks(peer, s);
      });
      return;
    }
    s.ackTimer?.cancel();
    s.ackSoon = true;
    s.ackTimer = deferOn(this.deps.clock, () => this.sendAcks(peer, s));
  }

  private sendAcks(peer: string, s: PeerState): void {
    s.ackTimer = undefined;
    s.ackSoon = false;
    // Pairs, flat: twice as many numbers as acks.
    while (s.pendingAcks.length > 0) {
      const fresh = s.pendingAcks.splice(0, 2 * (MAX_ACKS_PER_FRAME - REPEATED_ACKS));
      this.deps.link.send(peer, encodeAckFrame(s.recentAcks, fresh));
      s.recentAcks = s.recentAcks.concat(fresh).slice(-2 * REPEATED_ACKS);
    }
  }
}
