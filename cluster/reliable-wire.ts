// Reliable delivery's frames (cluster/README.md, "Reliable delivery"): they ride inside
// transport data payloads, and their first byte tells them from other channels.
//   DATA  type 1 | flags u8 (1 = request, 2 = response, 4 = stream) | msgId u32 | reqId u32 | index u16 | count u16 | bytes
//   ACK   type 2 | n u8 | n × (msgId u32 | index u16)
// All integers big-endian. Encoding and checking only; what the frames mean is cluster/reliable.ts.
import { MAX_PAYLOAD } from './transport.js';

export const FRAME_DATA = 1;
export const FRAME_ACK = 2;
export const DATA_FRAME_HEADER = 14;
export const MAX_FRAGMENT = MAX_PAYLOAD - DATA_FRAME_HEADER;
export const FLAG_REQUEST = 1;
export const FLAG_RESPONSE = 2;
/** A message of a stream (cluster/stream.ts): it goes to the stream handler, not onMessage. */
export const FLAG_STREAM = 4;
/** Acknowledgements that fit one ACK frame in one transport payload. */
export const MAX_ACKS_PER_FRAME = Math.floor((MAX_PAYLOAD - 2) / 6);

/** One fragment of a message, as it arrived. */
export interface DataFrame {
  type: typeof FRAME_DATA;
  flags: number;
  msgId: number;
  reqId: number;
  index: number;
  count: number;
  part: Uint8Array;
}

/** (msgId, fragment index) pairs acknowledged, flat: msgId, index, msgId, index, … (no array per ack). */
export interface AckFrame {
  type: typeof FRAME_ACK;
  acks: number[];
}

/**
 * Splits a message, `head` ‖ `payload`, into DATA frames of at most MAX_FRAGMENT bytes each (an
 * empty message is one frame). `head` spares the caller a copy of the whole message to put a few
 * bytes before it (a stream's frame header). The frames are views of one buffer allocated for all
 * of them: one allocation per message, not one per fragment.
 */
export function encodeDataFrames(payload: Uint8Array, msgId: number, flags: number, reqId: number, head: Uint8Array = NO_BYTES): Uint8Array[] {
  const total = head.length + payload.length;
  const count = Math.max(1, Math.ceil(total / MAX_FRAGMENT));
  if (count > 0xffff) throw new RangeError('message needs more than 65535 fragments');
  const all = new Uint8Array(count * DATA_FRAME_HEADER + total);
  const frames: Uint8Array[] = new Array(count);
  let at = 0;
  for (let i = 0; i < count; i++) {
    const from = i * MAX_FRAGMENT;
    const to = Math.min(total, from + MAX_FRAGMENT);
    const f = all.subarray(at, at + DATA_FRAME_HEADER + (to - from));
    at += f.length;
    f[0] = FRAME_DATA;
    f[1] = flags;
    putU32(f, 2, msgId);
    putU32(f, 6, reqId);
    f[10] = i >>> 8;
    f[11] = i & 0xff;
    f[12] = count >>> 8;
    f[13] = count & 0xff;
    // The fragment's bytes: the part of head, then the part of payload, that fall in [from, to).
    let o = DATA_FRAME_HEADER;
    if (from < head.length) {
      const h = head.subarray(from, Math.min(head.length, to));
      f.set(h, o);
      o += h.length;
    }
    if (to > head.length) f.set(payload.subarray(Math.max(0, from - head.length), to - head.length), o);
    frames[i] = f;
  }
  return frames;
}

const NO_BYTES = new Uint8Array(0);

function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = (v >>> 16) & 0xff;
  b[at + 2] = (v >>> 8) & 0xff;
  b[at + 3] = v & 0xff;
}

/**
 * One ACK frame of the (msgId, index) pairs in `acks`, then those in `more` (both flat: msgId,
 * index, …); the caller keeps the pairs ≤ MAX_ACKS_PER_FRAME.
 */
export function encodeAckFrame(acks: readonly number[], more: readonly number[] = []): Uint8Array {
  const n = (acks.length + more.length) >> 1;
  const f = new Uint8Array(2 + n * 6);
  f[0] = FRAME_ACK;
  f[1] = n;
  let at = 2;
  for (const list of [acks, more]) {
    for (let i = 0; i + 1 < list.length; i += 2) {
      putU32(f, at, list[i]!);
      f[at + 4] = list[i + 1]! >>> 8;
      f[at + 5] = list[i + 1]! & 0xff;
      at += 6;
    }
  }
  return f;
}

/**
 * Parses a frame; undefined for anything malformed: a wrong length, an index past the count, a
 * count that could not fit maxMessageBytes, or a fragment other than the last that is not full.
 */
export function decodeFrame(frame: Uint8Array, maxMessageBytes: number): DataFrame | AckFrame | undefined {
  if (frame.length < 2) return undefined;
  if (frame[0] === FRAME_ACK) {
    const n = frame[1]!;
    if (frame.length !== 2 + n * 6) return undefined;
    const acks: number[] = new Array(2 * n);
    for (let i = 0; i < n; i++) {
      acks[2 * i] = getU32(frame, 2 + i * 6);
      acks[2 * i + 1] = getU16(frame, 6 + i * 6);
    }
    return { type: FRAME_ACK, acks };
  }
  if (frame[0] !== FRAME_DATA || frame.length < DATA_FRAME_HEADER) return undefined;
  const index = getU16(frame, 10);
  const count = getU16(frame, 12);
  const part = frame.subarray(DATA_FRAME_HEADER);
  if (count === 0 || index >= count || count * MAX_FRAGMENT > maxMessageBytes + MAX_FRAGMENT || (index < count - 1 && part.length !== MAX_FRAGMENT)) return undefined;
  return { type: FRAME_DATA, flags: frame[1]!, msgId: getU32(frame, 2), reqId: getU32(frame, 6), index, count, part };
}

// Big-endian integers read and written by hand: a DataView per frame is an allocation per fragment.
const getU16 = (b: Uint8Array, at: number): number => (b[at]! << 8) | b[at + 1]!;
const getU32 = (b: Uint8Array, at: number): number => ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
