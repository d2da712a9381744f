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

/** (msgId, fragment index) pairs acknowledged. */
export interface AckFrame {
  type: typeof FRAME_ACK;
  acks: [number, number][];
}

/** Splits a message into DATA frames of at most MAX_FRAGMENT bytes each (an empty one is one frame). */
export function encodeDataFrames(payload: Uint8Array, msgId: number, flags: number, reqId: number): Uint8Array[] {
  const count = Math.max(1, Math.ceil(payload.length / MAX_FRAGMENT));
  if (count > 0xffff) throw new RangeError('message needs more than 65535 fragments');
  const frames: Uint8Array[] = [];
  for (let i = 0; i < count; i++) {
    const part = payload.subarray(i * MAX_FRAGMENT, Math.min(payload.length, (i + 1) * MAX_FRAGMENT));
    const bytes = new Uint8Array(DATA_FRAME_HEADER + part.length);
    const v = new DataView(bytes.buffer);
    bytes[0] = FRAME_DATA;
    bytes[1] = flags;
    v.setUint32(2, msgId);
    v.setUint32(6, reqId);
    v.setUint16(10, i);
    v.setUint16(12, count);
    bytes.set(part, DATA_FRAME_HEADER);
    frames.push(bytes);
  }
  return frames;
}

/** One ACK frame; the caller keeps acks.length ≤ MAX_ACKS_PER_FRAME. */
export function encodeAckFrame(acks: readonly [number, number][]): Uint8Array {
  const f = new Uint8Array(2 + acks.length * 6);
  const v = new DataView(f.buffer);
  f[0] = FRAME_ACK;
  f[1] = acks.length;
  acks.forEach(([msgId, index], i) => {
    v.setUint32(2 + i * 6, msgId);
    v.setUint16(6 + i * 6, index);
  });
  return f;
}

/**
 * Parses a frame; undefined for anything malformed: a wrong length, an index past the count, a
 * count that could not fit maxMessageBytes, or a fragment other than the last that is not full.
 */
export function decodeFrame(frame: Uint8Array, maxMessageBytes: number): DataFrame | AckFrame | undefined {
  if (frame.length < 2) return undefined;
  const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (frame[0] === FRAME_ACK) {
    const n = frame[1]!;
    if (frame.length !== 2 + n * 6) return undefined;
    const acks: [number, number][] = [];
    for (let i = 0; i < n; i++) acks.push([v.getUint32(2 + i * 6), v.getUint16(6 + i * 6)]);
    return { type: FRAME_ACK, acks };
  }
  if (frame[0] !== FRAME_DATA || frame.length < DATA_FRAME_HEADER) return undefined;
  const index = v.getUint16(10);
  const count = v.getUint16(12);
  const part = frame.subarray(DATA_FRAME_HEADER);
  if (count === 0 || index >= count || count * MAX_FRAGMENT > maxMessageBytes + MAX_FRAGMENT || (index < count - 1 && part.length !== MAX_FRAGMENT)) return undefined;
  return { type: FRAME_DATA, flags: frame[1]!, msgId: v.getUint32(2), reqId: v.getUint32(6), index, count, part };
}
