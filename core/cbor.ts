// Canonical CBOR for everything kith signs, hashes, stores or sends.
//
// The data model is deliberately small (RFC 8949 §4.2.1 "core deterministic encoding" over it):
//   integers from -2^63 to 2^64-1 (safe integers decode as number, others as bigint),
//   byte strings (Uint8Array), text strings (UTF-8), arrays, maps with text keys (not "__proto__"),
//   false, true, null.
// Not allowed anywhere: floats, tags, undefined, other simple values, indefinite lengths.
// Maps are ordered by their encoded keys (shorter first, then bytewise), with no duplicates,
// and every length or integer uses its shortest form. Anything else is CBOR_INVALID, so there is
// exactly one encoding of each value: the bytes that are signed are the bytes that are checked.
//
// cbor-x does the encoding and decoding; this module shapes its input (sorted Maps, bigints for
// values over 32 bits, which it would otherwise write as floats) and checks the bytes it is
// given before cbor-x sees them, with limits on size, depth and item count.
import './cbor-env.js';
import { Encoder } from 'cbor-x';
import { KithError } from './errors.js';

export type CborValue =
  | number
  | bigint
  | string
  | boolean
  | null
  | Uint8Array
  | CborValue[]
  | { [key: string]: CborValue };

export interface DecodeLimits {
  /** Largest input accepted, in bytes. */
  maxBytes: number;
  /** Deepest nesting of arrays and maps. */
  maxDepth: number;
  /** Most data items (every value, key and element counts one). */
  maxItems: number;
}

/** Defaults sized for one protocol message or record; bulk data passes its own. */
export const DEFAULT_LIMITS: DecodeLimits = { maxBytes: 64 * 1024, maxDepth: 16, maxItems: 4096 };

const encoder = new Encoder({
  useRecords: false,
  mapsAsObjects: true,
  variableMapSize: true,
  tagUint8Array: false,
  pack: false,
  useTag259ForMaps: false,
  largeBigIntToFloat: false,
} as ConstructorParameters<typeof Encoder>[0]);

const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

const ASCII = /^[\x00-\x7f]*$/;

function compareKeys(a: string, b: string): number {
  // ASCII keys (nearly all): UTF-8 bytes are the code units, so no encoding is needed.
  if (ASCII.test(a) && ASCII.test(b)) return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
  const ea = utf8.encode(a);
  const eb = utf8.encode(b);
  if (ea.length !== eb.length) return ea.length - eb.length;
  for (let i = 0; i < ea.length; i++) if (ea[i] !== eb[i]) return ea[i]! - eb[i]!;
  return 0;
}

const U64_MAX = (1n << 64n) - 1n;
const I64_MIN = -(1n << 63n);

/** Turns a value into what cbor-x encodes canonically: sorted Maps, bigints above 32 bits. */
function shape(v: unknown, depth: number): unknown {
  if (depth > 64) throw new RangeError('value nests deeper than 64 levels');
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v)) throw new TypeError(`canonical CBOR takes safe integers only, got ${v}`);
    return v > 0xffffffff || v < -0x100000000 ? BigInt(v) : v;
  }
  if (typeof v === 'bigint') {
    if (v > U64_MAX || v < I64_MIN) throw new RangeError(`integer out of the 64-bit CBOR range: ${v}`);
    if (v >= -0x100000000n && v <= 0xffffffffn) return Number(v);
    return v;
  }
  if (v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return v.map((x) => shape(x, depth + 1));
  const proto = typeof v === 'object' ? Object.getPrototypeOf(v) : undefined;
  if (proto === Object.prototype || proto === null) {
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort(compareKeys);
    if (keys.includes('__proto__')) throw new TypeError('a map key "__proto__" is not allowed');
    return new Map(keys.map((k) => [k, shape(obj[k], depth + 1)]));
  }
  throw new TypeError(`canonical CBOR cannot encode ${v === undefined ? 'undefined' : Object.prototype.toString.call(v)}`);
}

/** Encodes a value in kith's canonical CBOR. Object keys whose value is undefined are left out. */
export function encodeCanonical(value: unknown): Uint8Array {
  const out = encoder.encode(shape(value, 0));
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Checks that bytes are exactly one canonical CBOR item of the data model above, within limits.
 * Returns nothing; throws CBOR_INVALID saying what is wrong and where.
 */
export function checkCanonical(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_LIMITS): void {
  if (bytes.length > limits.maxBytes) invalid(`${bytes.length} bytes is over the limit of ${limits.maxBytes}`);
  let pos = 0;
  let items = 0;

  // Arguments as numbers: exact up to 2^53, and an 8-byte argument is only compared with 2^32
  // (shortest form), 2^63 (its high word) and lengths left (far below 2^32).
  let hi = 0; // the high 32 bits of the last 8-byte argument
  const head = (): { major: number; arg: number; info: number } => {
    if (pos >= bytes.length) invalid(`truncated at byte ${pos}`);
    const ib = bytes[pos++]!;
    const major = ib >> 5;
    const info = ib & 0x1f;
    hi = 0;
    if (info < 24) return { major, arg: info, info };
    const size = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
    if (size === 0) {
      invalid(info === 31 ? `indefinite length at byte ${pos - 1} is not allowed` : `reserved additional info ${info} at byte ${pos - 1}`);
    }
    if (pos + size > bytes.length) invalid(`truncated at byte ${pos}`);
    let arg = 0;
    if (size === 8) {
      hi = ((bytes[pos]! << 24) | (bytes[pos + 1]! << 16) | (bytes[pos + 2]! << 8) | bytes[pos + 3]!) >>> 0;
      pos += 4;
    }
    for (let i = 0; i < Math.min(size, 4); i++) arg = arg * 256 + bytes[pos++]!;
    // Shortest form: the argument must not fit in a smaller encoding.
    const small = size === 8 ? hi === 0 : arg < (size === 1 ? 24 : size === 2 ? 0x100 : 0x10000);
    if (major !== 7 && small) invalid(`non-shortest length or integer at byte ${pos - size - 1}`);
    return { major, arg: hi * 0x100000000 + arg, info };
  };

  const item = (depth: number): void => {
    if (++items > limits.maxItems) invalid(`more than ${limits.maxItems} items`);
    if (depth > limits.maxDepth) invalid(`nested deeper than ${limits.maxDepth}`);
    const start = pos;
    const { major, arg, info } = head();
    switch (major) {
      case 0:
        return;
      case 1:
        // -1 - arg must fit in a signed 64-bit integer (JS and most CBOR libraries agree there).
        if (hi >= 0x80000000) invalid(`negative integer at byte ${start} is below -2^63`);
        return;
      case 2:
      case 3: {
        if (arg > bytes.length - pos) invalid(`string at byte ${start} runs past the end`);
        if (major === 3 && !isAscii(bytes, pos, pos + arg)) {
          try {
            strictUtf8.decode(bytes.subarray(pos, pos + arg));
          } catch {
            invalid(`text string at byte ${start} is not valid UTF-8`);
          }
        }
        pos += arg;
        return;
      }
      case 4: {
        if (arg > bytes.length - pos) invalid(`array at byte ${start} claims more elements than bytes left`);
        for (let i = 0; i < arg; i++) item(depth + 1);
        return;
      }
      case 5: {
        if (arg * 2 > bytes.length - pos) invalid(`map at byte ${start} claims more entries than bytes left`);
        let prev: Uint8Array | undefined;
        for (let i = 0; i < arg; i++) {
          const keyStart = pos;
          if (pos >= bytes.length) invalid(`truncated at byte ${pos}`);
          if (bytes[pos]! >> 5 !== 3) invalid(`map key at byte ${pos} is not a text string`);
          item(depth + 1);
          const key = bytes.subarray(keyStart, pos);
          if (isProtoKey(key)) invalid(`map key "__proto__" at byte ${keyStart} is not allowed`);
          if (prev !== undefined && compareBytes(prev, key) >= 0) invalid(`map keys at byte ${keyStart} are duplicated or out of canonical order`);
          prev = key;
          item(depth + 1);
        }
        return;
      }
      case 6:
        invalid(`tag at byte ${start} is not allowed`);
      // falls through (invalid never returns)
      default:
        if (info === 20 || info === 21 || info === 22) return; // false, true, null
        invalid(`simple value or float 0x${bytes[start]!.toString(16)} at byte ${start} is not allowed`);
    }
  };

  item(0);
  if (pos !== bytes.length) invalid(`${bytes.length - pos} bytes after the end of the item`);
}

/** True when bytes[from..to) are all below 0x80 (ASCII is valid UTF-8: no decoder call). */
function isAscii(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}

const PROTO_KEY = new Uint8Array([0x69, ...new TextEncoder().encode('__proto__')]);
function isProtoKey(key: Uint8Array): boolean {
  return compareBytes(key, PROTO_KEY) === 0;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

function invalid(why: string): never {
  throw new KithError('CBOR_INVALID', `invalid CBOR: ${why}`);
}

/** Brings cbor-x's output to the data model: plain Uint8Arrays, numbers where safe. */
function normalize(v: unknown): CborValue {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  if (Array.isArray(v)) return v.map(normalize);
  if (v !== null && typeof v === 'object') {
    const out: Record<string, CborValue> = {};
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      // defineProperty, not assignment, for "__proto__" (checkCanonical refuses that key anyway):
      // it stays a plain key. Every other key is assigned (a defineProperty each was 5 % of a catch-up).
      if (k === '__proto__') Object.defineProperty(out, k, { value: normalize(o[k]), enumerable: true, writable: true, configurable: true });
      else out[k] = normalize(o[k]);
    }
    return out;
  }
  return v as CborValue;
}

/** Decodes bytes that must be canonical CBOR within limits; anything else is CBOR_INVALID. */
export function decodeCanonical(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_LIMITS): CborValue {
  checkCanonical(bytes, limits);
  try {
    return normalize(encoder.decode(bytes));
  } catch (cause) {
    throw new KithError('CBOR_INVALID', `invalid CBOR: ${(cause as Error).message}`, { cause });
  }
}
