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
// cbor-x does the encoding; this module shapes its input (sorted Maps, bigints for values over 32
// bits, which it would otherwise write as floats). Decoding is this module's own: one walk checks
// the bytes, with limits on size, depth and item count, and builds the value as it goes (it gives
// what cbor-x's decoder gave for the same bytes, which it replaced: a copy per byte string, a
// DataView stuck on every input, and a second pass were most of a decode's time and garbage).
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
  /**
   * Byte strings as views of the input (plain Uint8Arrays over its memory) instead of copies: for
   * callers that keep the input unchanged for as long as the value lives (a sealed envelope, a
   * record held with its bytes). Default false.
   */
  views?: boolean;
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
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }); // a leading U+FEFF is text, kept

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
  walk(bytes, limits, false);
}

// The walk's state: module-level, since a walk is synchronous and never re-entered (no callbacks).
let src: Uint8Array = new Uint8Array(0);
let pos = 0;
let items = 0;
let lim: DecodeLimits = DEFAULT_LIMITS;
let views = false;
// The last head read: major type, additional info, argument (a number: exact up to 2^53, and an
// 8-byte argument is only compared with 2^32 (shortest form), 2^63 (its high word) and lengths
// left, far below 2^32), and for an 8-byte argument its high and low 32 bits.
let hMajor = 0;
let hInfo = 0;
let hArg = 0;
let hHi = 0;
let hLo = 0;

/** Checks one item (and builds its value when `build`): the bytes must be exactly one item. */
function walk(bytes: Uint8Array, limits: DecodeLimits, build: boolean): CborValue {
  if (bytes.length > limits.maxBytes) invalid(`${bytes.length} bytes is over the limit of ${limits.maxBytes}`);
  src = bytes;
  pos = 0;
  items = 0;
  lim = limits;
  views = limits.views === true;
  try {
    const v = item(0, build);
    if (pos !== bytes.length) invalid(`${bytes.length - pos} bytes after the end of the item`);
    return v;
  } finally {
    src = EMPTY; // hold no caller's bytes between calls
  }
}
const EMPTY = new Uint8Array(0);

function head(): void {
  if (pos >= src.length) invalid(`truncated at byte ${pos}`);
  const ib = src[pos++]!;
  hMajor = ib >> 5;
  hInfo = ib & 0x1f;
  hHi = 0;
  if (hInfo < 24) {
    hArg = hLo = hInfo;
    return;
  }
  const size = hInfo === 24 ? 1 : hInfo === 25 ? 2 : hInfo === 26 ? 4 : hInfo === 27 ? 8 : 0;
  if (size === 0) {
    invalid(hInfo === 31 ? `indefinite length at byte ${pos - 1} is not allowed` : `reserved additional info ${hInfo} at byte ${pos - 1}`);
  }
  if (pos + size > src.length) invalid(`truncated at byte ${pos}`);
  let arg = 0;
  if (size === 8) {
    hHi = ((src[pos]! << 24) | (src[pos + 1]! << 16) | (src[pos + 2]! << 8) | src[pos + 3]!) >>> 0;
    pos += 4;
  }
  for (let i = 0; i < Math.min(size, 4); i++) arg = arg * 256 + src[pos++]!;
  // Shortest form: the argument must not fit in a smaller encoding.
  const small = size === 8 ? hHi === 0 : arg < (size === 1 ? 24 : size === 2 ? 0x100 : 0x10000);
  if (hMajor !== 7 && small) invalid(`non-shortest length or integer at byte ${pos - size - 1}`);
  hLo = arg;
  hArg = hHi * 0x100000000 + arg;
}

/** Up to 2^53 − 1 (the high word below 2^21) a number, else a bigint, as decoding always gave. */
const SAFE_HI = 0x200000;

function item(depth: number, build: boolean): CborValue {
  if (++items > lim.maxItems) invalid(`more than ${lim.maxItems} items`);
  if (depth > lim.maxDepth) invalid(`nested deeper than ${lim.maxDepth}`);
  const start = pos;
  head();
  const major = hMajor;
  const arg = hArg;
  const info = hInfo;
  const hi = hHi;
  switch (major) {
    case 0:
      if (!build) return null;
      return hi < SAFE_HI ? arg : (BigInt(hi) << 32n) + BigInt(hLo);
    case 1:
      // -1 - arg must fit in a signed 64-bit integer (JS and most CBOR libraries agree there).
      if (hi >= 0x80000000) invalid(`negative integer at byte ${start} is below -2^63`);
      if (!build) return null;
      // −1 − arg is a safe integer for arg ≤ 2^53 − 2.
      return hi < SAFE_HI && arg <= Number.MAX_SAFE_INTEGER - 1 ? -1 - arg : -1n - ((BigInt(hi) << 32n) + BigInt(hLo));
    case 2:
    case 3: {
      if (arg > src.length - pos) invalid(`string at byte ${start} runs past the end`);
      const from = pos;
      pos += arg;
      if (major === 2) return !build ? null : views ? new Uint8Array(src.buffer, src.byteOffset + from, arg) : copyBytes(src, from, arg);
      const ascii = isAscii(src, from, pos);
      if (!ascii) {
        let text: string;
        try {
          text = strictUtf8.decode(new Uint8Array(src.buffer, src.byteOffset + from, arg));
        } catch {
          invalid(`text string at byte ${start} is not valid UTF-8`);
        }
        // A leading U+FEFF is text like any other and kept (ignoreBOM above): decoding gives back
        // the string that was encoded. cbor-x's decoder, which this walk replaced, dropped it from
        // strings over 64 bytes (core/README.md).
        return build ? text : null;
      }
      if (!build) return null;
      if (arg <= SHORT_TEXT && arg > 0) return shortText(from, arg);
      return arg <= 4096 ? String.fromCharCode.apply(null, new Uint8Array(src.buffer, src.byteOffset + from, arg) as unknown as number[]) : latin1.decode(new Uint8Array(src.buffer, src.byteOffset + from, arg));
    }
    case 4: {
      if (arg > src.length - pos) invalid(`array at byte ${start} claims more elements than bytes left`);
      if (!build) {
        for (let i = 0; i < arg; i++) item(depth + 1, false);
        return null;
      }
      const out: CborValue[] = new Array(arg);
      for (let i = 0; i < arg; i++) out[i] = item(depth + 1, true);
      return out;
    }
    case 5: {
      if (arg * 2 > src.length - pos) invalid(`map at byte ${start} claims more entries than bytes left`);
      const out: Record<string, CborValue> | null = build ? {} : null;
      let prevStart = -1;
      let prevEnd = -1;
      for (let i = 0; i < arg; i++) {
        const keyStart = pos;
        if (pos >= src.length) invalid(`truncated at byte ${pos}`);
        if (src[pos]! >> 5 !== 3) invalid(`map key at byte ${pos} is not a text string`);
        const key = item(depth + 1, build);
        if (isProtoKey(src, keyStart, pos)) invalid(`map key "__proto__" at byte ${keyStart} is not allowed`);
        if (prevStart >= 0 && compareRanges(src, prevStart, prevEnd, keyStart, pos) >= 0) invalid(`map keys at byte ${keyStart} are duplicated or out of canonical order`);
        prevStart = keyStart;
        prevEnd = pos;
        const value = item(depth + 1, build);
        if (out) out[key as string] = value; // "__proto__" is refused above: every key is a plain own key
      }
      return out;
    }
    case 6:
      invalid(`tag at byte ${start} is not allowed`);
    // falls through (invalid never returns)
    default:
      if (info === 20) return false;
      if (info === 21) return true;
      if (info === 22) return null;
      invalid(`simple value or float 0x${src[start]!.toString(16)} at byte ${start} is not allowed`);
  }
}

/**
 * Short ASCII text (map keys, type labels, kinds: the same few strings in every record) from a
 * small cache of the last ones decoded, direct-mapped by length and first and last byte, the bytes
 * compared in full: the same string without making and interning a new one for every key.
 */
const SHORT_TEXT = 24;
const TEXT_SLOTS = 256;
const textBytes: (Uint8Array | undefined)[] = new Array(TEXT_SLOTS).fill(undefined);
const textValues: string[] = new Array(TEXT_SLOTS).fill('');
function shortText(from: number, n: number): string {
  const slot = (n * 37 + src[from]! * 7 + src[from + n - 1]!) & (TEXT_SLOTS - 1);
  const seen = textBytes[slot];
  if (seen !== undefined && seen.length === n) {
    let i = 0;
    while (i < n && seen[i] === src[from + i]) i++;
    if (i === n) return textValues[slot]!;
  }
  const view = new Uint8Array(src.buffer, src.byteOffset + from, n);
  const text = String.fromCharCode.apply(null, view as unknown as number[]);
  textBytes[slot] = Uint8Array.from(view);
  textValues[slot] = text;
  return text;
}

/** A plain Uint8Array copy of bytes[from, from + n): decoded values never share the input's memory. */
function copyBytes(bytes: Uint8Array, from: number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  if (n <= 32) for (let i = 0; i < n; i++) out[i] = bytes[from + i]!;
  else out.set(new Uint8Array(bytes.buffer, bytes.byteOffset + from, n));
  return out;
}

/** ASCII text of any length (latin1 and ASCII agree below 0x80). */
const latin1 = new TextDecoder('latin1');

/** True when bytes[from..to) are all below 0x80 (ASCII is valid UTF-8: no decoder call). */
function isAscii(bytes: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (bytes[i]! >= 0x80) return false;
  return true;
}

const PROTO_KEY = new Uint8Array([0x69, ...new TextEncoder().encode('__proto__')]);
function isProtoKey(bytes: Uint8Array, from: number, to: number): boolean {
  if (to - from !== PROTO_KEY.length) return false;
  for (let i = 0; i < PROTO_KEY.length; i++) if (bytes[from + i] !== PROTO_KEY[i]) return false;
  return true;
}

/** Compares bytes[a0, a1) with bytes[b0, b1): bytewise, then shorter first. */
function compareRanges(bytes: Uint8Array, a0: number, a1: number, b0: number, b1: number): number {
  const n = Math.min(a1 - a0, b1 - b0);
  for (let i = 0; i < n; i++) if (bytes[a0 + i] !== bytes[b0 + i]) return bytes[a0 + i]! - bytes[b0 + i]!;
  return a1 - a0 - (b1 - b0);
}

function invalid(why: string): never {
  throw new KithError('CBOR_INVALID', `invalid CBOR: ${why}`);
}

/**
 * Decodes bytes that must be canonical CBOR within limits; anything else is CBOR_INVALID. One walk
 * checks and builds the value (byte strings as plain Uint8Array copies, or views with
 * `limits.views`, integers as numbers
 * where safe, else bigints, maps as plain objects): what cbor-x's decoder gave for the same bytes.
 */
export function decodeCanonical(bytes: Uint8Array, limits: DecodeLimits = DEFAULT_LIMITS): CborValue {
  return walk(bytes, limits, true);
}
