// A method's outcome as it is recorded in a closing record: a canonical CBOR value (integers,
// text, booleans, null, lists, maps), so that any implementation can re-evaluate a closing and
// compare bytes, without depending on how a language prints floating-point numbers. The built-in
// methods produce integers only; a non-integer number (a CEL outcome can compute one) is recorded
// as [numerator, denominator], the exact value of the IEEE-754 double (denominator a power of 2).
import type { CborValue } from '../core/cbor.js';
import { KithError } from '../core/errors.js';

const MAX_DENOMINATOR = 2n ** 63n;

/** The exact fraction of a finite double: num / den, den a power of two, reduced. */
export function exactFraction(x: number): [bigint, bigint] {
  let den = 1;
  let scaled = x;
  while (!Number.isInteger(scaled)) {
    den *= 2;
    scaled = x * den; // exact: multiplying by a power of two only changes the exponent
    if (den > 2 ** 63) throw new KithError('CEL_EVAL', `the outcome holds a number too small to record exactly (${x})`);
  }
  const num = BigInt(scaled);
  const d = BigInt(den);
  if (d > MAX_DENOMINATOR || num > 2n ** 63n || num < -(2n ** 63n)) throw new KithError('CEL_EVAL', 'the outcome holds a number too large to record exactly');
  return [num, d];
}

/** The recorded form of an outcome (see the file comment). */
export function outcomeValue(v: unknown, depth = 0): CborValue {
  if (depth > 12) throw new KithError('CEL_EVAL', 'the outcome nests too deeply to record');
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v)) return v;
    if (!Number.isFinite(v)) return String(v);
    if (Number.isInteger(v)) return BigInt(v);
    return exactFraction(v).map((x) => (x >= BigInt(Number.MIN_SAFE_INTEGER) && x <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(x) : x));
  }
  if (Array.isArray(v)) return v.map((x) => outcomeValue(x, depth + 1));
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'object') {
    const out: Record<string, CborValue> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== undefined) Object.defineProperty(out, k, { value: outcomeValue(x, depth + 1), enumerable: true, writable: true, configurable: true });
    return out;
  }
  return null;
}

/** Plain JSON for people and the API (bigints as numbers when safe, else text). */
export function outcomeJson(v: CborValue): unknown {
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (Array.isArray(v)) return v.map(outcomeJson);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, outcomeJson(x)]));
  return v;
}
