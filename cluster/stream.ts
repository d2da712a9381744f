// Bulk streams over reliable delivery: an object of any size, read from an (async) iterable on
// one side and consumed as an async iterable on the other, in order, with bounded memory on both.
// The sender cuts the object into chunks of up to `chunkBytes`, each one reliable message (so each
// rides the congestion window of cluster/reliable.ts), and keeps at most `window` chunks that the
// receiving application has not consumed yet: the receiver grants credit as its consumer reads.
// A slow consumer therefore holds the sender back instead of filling the receiver's memory.
//
// Each chunk is a reliable message with flag 4 (stream) whose payload is a frame
// (cluster/README.md, "Streams"):
//   stream id u32 | seq u32 | type u8 | service u8 | kind u8 | bytes
//   sender → receiver: type 0 DATA (seq = chunk number), 1 END (seq = number of chunks),
//                      2 ABORT (bytes = [reason])
//   receiver → sender: type 3 CREDIT (seq = chunks consumed; number of chunks + 1 once END was
//                      read), 4 CANCEL (bytes = [reason])
// `service` (cluster/services.ts) and `kind` (that service's numbering) say who takes the stream:
// a stream of a service or kind nobody registered is refused and counted.
import type { Clock, Timer } from '../core/clock.js';
import { SECOND } from '../core/clock.js';
import type { Rng } from '../core/rng.js';
import { KithError } from '../core/errors.js';
import type { Reliable } from './reliable.js';

export const STREAM_HEADER = 11;
const TYPE_DATA = 0;
const TYPE_END = 1;
const TYPE_ABORT = 2;
const TYPE_CREDIT = 3;
const TYPE_CANCEL = 4;
/** Ids of streams that ended here, remembered per Streams so that stragglers start nothing. */
const CLOSED_MEMORY = 256;
/** Why a stream was aborted (the byte an ABORT frame carries). */
export const ABORT_REASON = { cancelled: 0, refused: 1, protocol: 2, stalled: 3, failed: 4 } as const;
type AbortReason = (typeof ABORT_REASON)[keyof typeof ABORT_REASON];
const REASON_TEXT: Record<number, string> = {
  0: 'the other side cancelled it',
  1: 'the other side takes no more streams (no handler for its service and kind, or too many at once)',
  2: 'the other side broke the stream protocol',
  3: 'the other side saw no progress in time',
  4: 'the sender could not read what it was sending',
};

export interface StreamOptions {
  /** Bytes per chunk (one reliable message). */
  chunkBytes: number;
  /** Chunks sent but not yet consumed by the receiving application. */
  window: number;
  /** A stream with no progress for this long fails with STREAM_STALLED on the side that waits. */
  idleMs: number;
  /** Incoming streams open at once per peer; more are refused. */
  maxIncomingPerPeer: number;
}

export const DEFAULT_STREAM: StreamOptions = { chunkBytes: 256 * 1024, window: 4, idleMs: 60 * SECOND, maxIncomingPerPeer: 8 };

export type StreamHandler = (peer: string, stream: IncomingStream) => void;

/** Whose stream it is: a service byte (cluster/services.ts) and that service's stream kind. */
export interface StreamRoute {
  service: number;
  kind: number;
}

interface Outgoing {
  consumed: number;
  error: Error | undefined;
  wake: (() => void) | undefined;
}

function frame(id: number, seq: number, type: number, route: StreamRoute, bytes: Uint8Array = new Uint8Array(0)): Uint8Array {
  const f = new Uint8Array(STREAM_HEADER + bytes.length);
  const v = new DataView(f.buffer);
  v.setUint32(0, id);
  v.setUint32(4, seq);
  f[8] = type;
  f[9] = route.service;
  f[10] = route.kind;
  f.set(bytes, STREAM_HEADER);
  return f;
}

/** A DATA frame's header alone: reliable delivery puts it before the chunk (no copy of the chunk to join them). */
const dataHeader = (id: number, seq: number, route: StreamRoute): Uint8Array => frame(id, seq, TYPE_DATA, route);

const routeKey = (r: StreamRoute): number => (r.service << 8) | r.kind;

export class Streams {
  private readonly o: StreamOptions;
  private readonly outgoing = new Map<string, Outgoing>();
  private readonly incoming = new Map<string, IncomingStream>();
  private readonly closed = new Set<string>();
  private readonly handlers = new Map<number, StreamHandler>();
  /** Refused: streams of a service and kind that nobody handles. */
  readonly stats = { unknownKind: 0 };

  constructor(private readonly deps: { clock: Clock; rng: Rng; reliable: Reliable }, opts: Partial<StreamOptions> = {}) {
    this.o = { ...DEFAULT_STREAM, ...opts };
    deps.reliable.onStreamMessage((peer, payload) => this.receive(peer, payload));
  }

  /** Takes incoming streams of one service and kind (cluster/services.ts registers them); others are refused. */
  handle(service: number, kind: number, fn: StreamHandler): void {
    const key = routeKey({ service, kind });
    if (this.handlers.has(key)) throw new RangeError(`stream kind ${kind} of service 0x${service.toString(16)} has a handler already`);
    this.handlers.set(key, fn);
  }

  /**
   * Sends everything `source` yields as one stream; resolves with the byte count once the
   * receiving application has read all of it. Fails with STREAM_REFUSED, STREAM_ABORTED,
   * STREAM_STALLED or DELIVERY_FAILED; a source that throws aborts the stream and rejects with
   * that error. `onProgress` hears the bytes sent so far, after each chunk.
   */
  async send(peer: string, route: StreamRoute, source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, onProgress?: (sentBytes: number) => void): Promise<number> {
    let id = this.deps.rng.below(2 ** 32);
    while (this.outgoing.has(`${peer}/${id}`)) id = (id + 1) >>> 0;
    const key = `${peer}/${id}`;
    const out: Outgoing = { consumed: 0, error: undefined, wake: undefined };
    this.outgoing.set(key, out);
    const put = (f: Uint8Array, head?: Uint8Array) => {
      this.deps.reliable.sendStreamMessage(peer, f, head).catch((e: Error) => {
        out.error ??= e;
        out.wake?.();
      });
    };
    let seq = 0;
    let bytes = 0;
    try {
      for await (const piece of source) {
        for (let off = 0; off < piece.length; off += this.o.chunkBytes) {
          await this.until(out, () => seq - out.consumed < this.o.window);
          const chunk = piece.subarray(off, Math.min(piece.length, off + this.o.chunkBytes));
          put(chunk, dataHeader(id, seq++, route));
          bytes += chunk.length;
          onProgress?.(bytes);
        }
      }
      put(frame(id, seq, TYPE_END, route));
      await this.until(out, () => out.consumed > seq);
      return bytes;
    } catch (e) {
      // until() throws the stream's own error; anything else came from the source.
      if (e !== out.error) {
        if (out.error) throw out.error;
        put(frame(id, seq, TYPE_ABORT, route, Uint8Array.of(ABORT_REASON.failed)));
      } else if (e instanceof KithError && e.code === 'STREAM_STALLED') put(frame(id, seq, TYPE_ABORT, route, Uint8Array.of(ABORT_REASON.stalled)));
      throw e;
    } finally {
      this.outgoing.delete(key);
    }
  }

  /** Waits until `ready()`, the stream fails, or idleMs pass with no credit. */
  private async until(out: Outgoing, ready: () => boolean): Promise<void> {
    while (!ready()) {
      if (out.error) throw out.error;
      await new Promise<void>((resolve) => {
        const timer = this.deps.clock.setTimer(this.o.idleMs, () => {
          out.error ??= new KithError('STREAM_STALLED', `the receiver consumed nothing for ${this.o.idleMs} ms`);
          resolve();
        });
        out.wake = () => {
          timer.cancel();
          resolve();
        };
      });
      out.wake = undefined;
    }
    if (out.error) throw out.error;
  }

  /** Incoming streams from this peer fail with STREAM_ABORTED (the peer was removed). */
  dropPeer(peer: string): void {
    for (const s of [...this.incoming.values()]) if (s.peer === peer) s.fail(new KithError('STREAM_ABORTED', `stream from ${peer.slice(0, 12)} ended: the peer was removed`));
  }

  private receive(peer: string, f: Uint8Array): void {
    if (f.length < STREAM_HEADER) return;
    const v = new DataView(f.buffer, f.byteOffset, f.byteLength);
    const id = v.getUint32(0);
    const seq = v.getUint32(4);
    const type = f[8]!;
    const route: StreamRoute = { service: f[9]!, kind: f[10]! };
    const key = `${peer}/${id}`;
    if (type === TYPE_CREDIT || type === TYPE_CANCEL) {
      const out = this.outgoing.get(key);
      if (!out) return;
      if (type === TYPE_CREDIT) out.consumed = Math.max(out.consumed, seq);
      else {
        const reason = f[STREAM_HEADER] ?? ABORT_REASON.cancelled;
        out.error ??= new KithError(reason === ABORT_REASON.refused ? 'STREAM_REFUSED' : 'STREAM_ABORTED', `stream to ${peer.slice(0, 12)}: ${REASON_TEXT[reason] ?? 'aborted'}`);
      }
      out.wake?.();
      return;
    }
    let s = this.incoming.get(key);
    if (type === TYPE_ABORT) {
      s?.fail(new KithError('STREAM_ABORTED', `stream from ${peer.slice(0, 12)}: ${REASON_TEXT[f[STREAM_HEADER] ?? 0] ?? 'aborted'}`));
      return;
    }
    if ((type !== TYPE_DATA && type !== TYPE_END) || this.closed.has(key)) return; // stragglers of a cancelled stream
    if (!s) {
      if (seq > this.o.window) {
        this.abort(peer, id, route, ABORT_REASON.protocol);
        return;
      }
      const handler = this.handlers.get(routeKey(route));
      if (!handler) this.stats.unknownKind++;
      const open = [...this.incoming.values()].filter((x) => x.peer === peer).length;
      if (!handler || open >= this.o.maxIncomingPerPeer) {
        this.abort(peer, id, route, ABORT_REASON.refused);
        this.remember(key); // its other chunks in flight are stragglers
        return;
      }
      s = new IncomingStream(peer, id, route, this.o, {
        clock: this.deps.clock,
        credit: (n) => void this.deps.reliable.sendStreamMessage(peer, frame(id, n, TYPE_CREDIT, route)).catch(() => {}),
        abort: (reason) => this.abort(peer, id, route, reason),
        closed: () => {
          this.incoming.delete(key);
          this.remember(key);
        },
      });
      this.incoming.set(key, s);
      try {
        handler(peer, s);
      } catch {
        /* the application's exceptions never reach the network path */
      }
    }
    if (type === TYPE_END) s.end(seq);
    else s.chunk(seq, f.subarray(STREAM_HEADER));
  }

  private remember(key: string): void {
    this.closed.add(key);
    if (this.closed.size > CLOSED_MEMORY) this.closed.delete(this.closed.values().next().value!);
  }

  /** Tells a sender that its stream ends here (refused, cancelled, stalled, broken). */
  private abort(peer: string, id: number, route: StreamRoute, reason: AbortReason): void {
    void this.deps.reliable.sendStreamMessage(peer, frame(id, 0, TYPE_CANCEL, route, Uint8Array.of(reason))).catch(() => {});
  }
}

/**
 * One incoming stream: iterate it (once) to read the chunks in order. Breaking out of the loop
 * (or cancel()) aborts it at the sender. Fails with STREAM_ABORTED or STREAM_STALLED.
 */
export class IncomingStream implements AsyncIterable<Uint8Array> {
  /** Bytes handed to the consumer so far. */
  bytes = 0;
  private readonly buffered = new Map<number, Uint8Array>();
  private next = 0;
  private total: number | undefined;
  private error: Error | undefined;
  private wake: (() => void) | undefined;
  private finished = false;
  private iterating = false;

  constructor(
    readonly peer: string,
    readonly id: number,
    /** The service and kind the sender named (its handler was chosen by them). */
    readonly route: StreamRoute,
    private readonly o: StreamOptions,
    private readonly link: { clock: Clock; credit(n: number): void; abort(reason: AbortReason): void; closed(): void },
  ) {}

  /** Bytes received but not yet read (at most window × chunkBytes). */
  get bufferedBytes(): number {
    let n = 0;
    for (const b of this.buffered.values()) n += b.length;
    return n;
  }

  chunk(seq: number, bytes: Uint8Array): void {
    if (this.finished) return;
    // Credit bounds what a sender may have sent: anything past it breaks the protocol.
    if (seq < this.next || seq >= this.next + this.o.window || this.buffered.has(seq) || bytes.length > this.o.chunkBytes || (this.total !== undefined && seq >= this.total)) {
      this.protocolError(`chunk ${seq} is outside the window (${this.next} … ${this.next + this.o.window - 1})`);
      return;
    }
    // Ours to keep: reliable delivery put the message together in a buffer of its own.
    this.buffered.set(seq, bytes);
    this.wake?.();
  }

  end(total: number): void {
    if (this.finished) return;
    if (total < this.next || total > this.next + this.o.window || [...this.buffered.keys()].some((seq) => seq >= total)) {
      this.protocolError(`end after ${total} chunks, with ${this.next} read`);
      return;
    }
    this.total = total;
    this.wake?.();
  }

  fail(e: Error): void {
    if (this.finished) return;
    this.error ??= e;
    this.close();
    this.wake?.();
  }

  /** Stops reading: the sender's send() fails with STREAM_ABORTED. */
  cancel(): void {
    if (this.finished) return;
    this.link.abort(ABORT_REASON.cancelled);
    this.fail(new KithError('STREAM_ABORTED', 'the stream was cancelled here'));
  }

  private protocolError(why: string): void {
    this.link.abort(ABORT_REASON.protocol);
    this.fail(new KithError('STREAM_ABORTED', `stream from ${this.peer.slice(0, 12)} broke the protocol: ${why}`));
  }

  private close(): void {
    this.finished = true;
    this.buffered.clear();
    this.link.closed();
  }

  private async read(): Promise<IteratorResult<Uint8Array>> {
    for (;;) {
      if (this.error) throw this.error;
      const b = this.buffered.get(this.next);
      if (b) {
        this.buffered.delete(this.next);
        this.next++;
        this.bytes += b.length;
        this.link.credit(this.next);
        return { value: b, done: false };
      }
      if (this.total !== undefined && this.next === this.total) {
        this.link.credit(this.total + 1);
        this.close();
        return { value: undefined, done: true };
      }
      if (this.finished) return { value: undefined, done: true };
      await new Promise<void>((resolve) => {
        const timer = this.link.clock.setTimer(this.o.idleMs, () => {
          if (!this.finished) {
            this.link.abort(ABORT_REASON.stalled);
            this.fail(new KithError('STREAM_STALLED', `no chunk from ${this.peer.slice(0, 12)} for ${this.o.idleMs} ms`));
          }
          resolve();
        });
        this.wake = () => {
          timer.cancel();
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.iterating) throw new RangeError('a stream can be read once');
    this.iterating = true;
    return {
      next: () => this.read(),
      return: async () => {
        this.cancel();
        return { value: undefined, done: true };
      },
    };
  }
}
