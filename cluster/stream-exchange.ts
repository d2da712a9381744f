// Request and response over bulk streams (cluster/README.md, "Exchanges over streams"), for a
// service whose messages can be megabytes (archive shards): the request is a stream of kind 1,
// the answer a stream of kind 2 back, both starting with the same 8-byte token the requester
// drew. Streams bring what one reliable message of that size lacks: the receiver's credit paces
// the sender (backpressure instead of SEND_BACKPRESSURE or reassembly eviction), memory stays
// bounded on both sides, and there is no 4 MiB message limit.
//
// The time limit covers the answerer's work, not the transfer: it starts once the request was
// read whole, and stops when the answer stream starts. While the request is sent, the same limit
// applies to progress: a request that moves no byte for that long (the answerer was killed or
// unplugged, and membership does not know yet) fails with REQUEST_TIMEOUT instead of holding the
// caller for the stream's own stall limit (STREAM_STALLED, 60 s). Anything oversized or unasked-for is cancelled and counted.
import type { Clock, Timer } from '../core/clock.js';
import { KithError } from '../core/errors.js';
import { toHex } from '../core/hex.js';
import type { Rng } from '../core/rng.js';
import type { ServicePort } from './services.js';
import type { IncomingStream, StreamHandler } from './stream.js';
import { concatBytes } from '../core/bytes.js';

/** Stream kinds of an exchange, in the numbering of the service that uses it. */
export const KIND_EXCHANGE_REQUEST = 1;
export const KIND_EXCHANGE_RESPONSE = 2;
export const EXCHANGE_TOKEN_BYTES = 8;

export interface ExchangeOptions {
  /** Largest request or answer, token excluded: a longer stream is cancelled. */
  maxBytes: number;
  /** From the request read whole to the answer's start. */
  timeoutMs: number;
}

interface Waiting {
  resolve: (b: Uint8Array) => void;
  reject: (e: Error) => void;
  timer: Timer | undefined;
}

export class StreamExchange {
  readonly stats = { oversize: 0, unasked: 0, answerFailed: 0 };
  private port: ServicePort | undefined;
  private readonly waiting = new Map<string, Waiting>();

  constructor(
    private readonly deps: { clock: Clock; rng: Rng; answer: (peer: string, request: Uint8Array) => Promise<Uint8Array> },
    private readonly o: ExchangeOptions,
  ) {}

  /** The stream handlers to register with the service; then attach() the port register() returned. */
  get streams(): Record<number, StreamHandler> {
    return {
      [KIND_EXCHANGE_REQUEST]: (peer, s) => void this.onRequest(peer, s),
      [KIND_EXCHANGE_RESPONSE]: (peer, s) => void this.onAnswer(peer, s),
    };
  }

  attach(port: ServicePort): void {
    this.port = port;
  }

  /** Sends `body` as a request stream; resolves with the answer. Fails as the streams do, or REQUEST_TIMEOUT. */
  async request(peer: string, body: Uint8Array): Promise<Uint8Array> {
    if (!this.port) throw new RangeError('StreamExchange.request before attach()');
    if (body.length > this.o.maxBytes) throw new KithError('MESSAGE_TOO_LARGE', `a request of ${body.length} bytes is over the ${this.o.maxBytes}-byte limit`);
    const token = this.deps.rng.bytes(EXCHANGE_TOKEN_BYTES);
    const key = `${peer}/${toHex(token)}`;
    const answer = new Promise<Uint8Array>((resolve, reject) => this.waiting.set(key, { resolve, reject, timer: undefined }));
    // The answer can start, and fail (STREAM_ABORTED), while the request is still being sent; if
    // the send then fails too, nobody awaits `answer`, and its rejection must not be unhandled
    // (Node ends the process on one). The caller still gets the rejection through `return answer`.
    answer.catch(() => undefined);
    // A peer that went away mid-send (killed, unplugged) must not hold the requester for the
    // stream's own stall limit: no progress of the request for timeoutMs fails it here, so the
    // caller moves on to another holder (the stream itself still ends on its own).
    let watchdog: Timer | undefined;
    let fail: (e: Error) => void = () => undefined;
    const stalled = new Promise<never>((_, reject) => (fail = reject));
    const arm = () => {
      watchdog?.cancel();
      watchdog = this.deps.clock.setTimer(this.o.timeoutMs, () => fail(new KithError('REQUEST_TIMEOUT', `the request to ${peer.slice(0, 12)} made no progress for ${this.o.timeoutMs} ms`)));
    };
    arm();
    try {
      const sending = this.port.stream(peer, KIND_EXCHANGE_REQUEST, [token, body], arm);
      sending.catch(() => undefined); // after a watchdog failure the stream still ends with its own error
      await Promise.race([sending, stalled]);
    } catch (e) {
      this.waiting.delete(key);
      throw e;
    } finally {
      watchdog?.cancel();
    }
    const w = this.waiting.get(key); // gone already if the answer started before the last credit came
    if (w) w.timer = this.deps.clock.setTimer(this.o.timeoutMs, () => {
      this.waiting.delete(key);
      w.reject(new KithError('REQUEST_TIMEOUT', `no answer from ${peer.slice(0, 12)} within ${this.o.timeoutMs} ms`));
    });
    return answer;
  }

  private async onRequest(peer: string, s: IncomingStream): Promise<void> {
    const bytes = await this.readAll(s).catch(() => undefined);
    if (!bytes || bytes.length < EXCHANGE_TOKEN_BYTES) return;
    try {
      const answer = await this.deps.answer(peer, bytes.subarray(EXCHANGE_TOKEN_BYTES));
      await this.port!.stream(peer, KIND_EXCHANGE_RESPONSE, [bytes.subarray(0, EXCHANGE_TOKEN_BYTES), answer]);
    } catch {
      this.stats.answerFailed++; // the requester times out or sees its own stream error
    }
  }

  private async onAnswer(peer: string, s: IncomingStream): Promise<void> {
    const it = s[Symbol.asyncIterator]();
    let head: Uint8Array = new Uint8Array(0);
    try {
      while (head.length < EXCHANGE_TOKEN_BYTES) {
        const r = await it.next();
        if (r.done) return;
        head = concatBytes(head, r.value);
      }
    } catch {
      return;
    }
    const key = `${peer}/${toHex(head.subarray(0, EXCHANGE_TOKEN_BYTES))}`;
    const w = this.waiting.get(key);
    if (!w) {
      this.stats.unasked++;
      s.cancel();
      return;
    }
    this.waiting.delete(key);
    w.timer?.cancel();
    try {
      const rest = await this.readAll({ [Symbol.asyncIterator]: () => it, cancel: () => s.cancel() }, head.length - EXCHANGE_TOKEN_BYTES);
      if (!rest) throw new KithError('MESSAGE_TOO_LARGE', `the answer from ${peer.slice(0, 12)} is over ${this.o.maxBytes} bytes`);
      w.resolve(concatBytes(head.subarray(EXCHANGE_TOKEN_BYTES), rest));
    } catch (e) {
      w.reject(e as Error);
    }
  }

  /** The whole stream, or undefined (and the stream cancelled) past maxBytes + the token. */
  private async readAll(s: AsyncIterable<Uint8Array> & { cancel(): void }, already = 0): Promise<Uint8Array | undefined> {
    const parts: Uint8Array[] = [];
    let n = already;
    for await (const c of s) {
      n += c.length;
      if (n > this.o.maxBytes + EXCHANGE_TOKEN_BYTES) {
        this.stats.oversize++;
        s.cancel();
        return undefined;
      }
      parts.push(c);
    }
    return concatBytes(...parts);
  }
}
