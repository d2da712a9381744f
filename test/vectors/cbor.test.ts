// CBOR: RFC 8949 Appendix A examples (test/vectors/data/cbor/appendix_a.json, cbor/test-vectors).
// Items inside kith's data model must encode to exactly the published bytes and decode back;
// items outside it (floats, tags, undefined, simple values, indefinite lengths) must be refused
// by the strict decoder with CBOR_INVALID, never crash it or be misread.
import t from 'tap';
import { decodeCanonical, encodeCanonical, checkCanonical } from '../../core/cbor.js';
import { toHex } from '../../core/hex.js';
import { isKithError } from '../../core/errors.js';
import { hex, readJsonVector } from '../helpers/vectors.js';

interface Item { hex: string; roundtrip: boolean; decoded?: unknown; diagnostic?: string }
const items = readJsonVector<Item[]>('cbor/appendix_a.json');

function inModel(v: unknown): boolean {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return true;
  if (typeof v === 'number') return Number.isSafeInteger(v) && !Object.is(v, -0);
  if (Array.isArray(v)) return v.every(inModel);
  if (typeof v === 'object') return Object.values(v as object).every(inModel);
  return false;
}

// JSON cannot hold integers past 2^53; these published items are integers in CBOR.
const BIG_INTS: Record<string, bigint> = {
  '1b000000e8d4a51000': 1000000000000n,
  '1bffffffffffffffff': 18446744073709551615n,
};
// -2^64 is valid CBOR but outside kith's model (below -2^63): refused.
const TOO_NEGATIVE = '3bffffffffffffffff';

t.test('items in the data model: encode to the published bytes, decode back', async (t) => {
  let n = 0;
  for (const it of items) {
    if (!it.roundtrip || !('decoded' in it) || !inModel(it.decoded)) continue;
    // Floats that JSON shows as integers (e.g. 0.0 -> 0) have a float head byte: skip as floats.
    if ((parseInt(it.hex.slice(0, 2), 16) >> 5) === 7 && ![0xf4, 0xf5, 0xf6].includes(parseInt(it.hex.slice(0, 2), 16))) continue;
    if (BIG_INTS[it.hex] !== undefined || it.hex === TOO_NEGATIVE) continue;
    t.equal(toHex(encodeCanonical(it.decoded)), it.hex, `encode ${JSON.stringify(it.decoded)}`);
    t.same(decodeCanonical(hex(it.hex)), it.decoded, `decode ${it.hex}`);
    n++;
  }
  t.ok(n >= 30, `${n} items checked`);
});

t.test('64-bit integers', async (t) => {
  for (const [h, v] of Object.entries(BIG_INTS)) {
    const decoded = decodeCanonical(hex(h));
    t.equal(BigInt(decoded as number | bigint), v);
    t.equal(toHex(encodeCanonical(decoded)), h);
  }
  t.equal(decodeCanonical(hex('1b000000e8d4a51000')), 1000000000000, 'safe integers decode as numbers');
  t.ok(isKithError(catchErr(() => decodeCanonical(hex(TOO_NEGATIVE))), 'CBOR_INVALID'), '-2^64 is refused');
  t.equal(toHex(encodeCanonical(-(2n ** 63n))), '3b7fffffffffffffff');
});

t.test('items outside the data model are refused, not misread', async (t) => {
  let n = 0;
  for (const it of items) {
    const first = parseInt(it.hex.slice(0, 2), 16);
    const major = first >> 5;
    const outside = major === 6 || (major === 7 && ![0xf4, 0xf5, 0xf6].includes(first)) || !it.roundtrip;
    if (!outside) continue;
    try {
      checkCanonical(hex(it.hex));
      t.fail(`accepted ${it.hex} (${it.diagnostic ?? JSON.stringify(it.decoded)})`);
    } catch (e) {
      t.ok(isKithError(e, 'CBOR_INVALID'), `refused ${it.hex}`);
    }
    n++;
  }
  t.ok(n >= 30, `${n} items refused`);
});

t.test('map keys are sorted canonically, whatever the object order', async (t) => {
  const a = encodeCanonical({ bb: 1, a: 2, c: 3, aaa: 4 });
  const b = encodeCanonical({ aaa: 4, c: 3, a: 2, bb: 1 });
  t.equal(toHex(a), toHex(b));
  t.same(Object.keys(decodeCanonical(a) as object), ['a', 'c', 'bb', 'aaa']);
  t.equal(toHex(encodeCanonical({ x: undefined, y: 1 })), toHex(encodeCanonical({ y: 1 })), 'undefined fields are left out');
});

t.test('integer heads at the size boundaries (the checker reads 8-byte heads as two 32-bit halves)', async (t) => {
  t.equal(decodeCanonical(hex('18ff')), 255);
  t.equal(decodeCanonical(hex('190100')), 256);
  t.equal(decodeCanonical(hex('1a00010000')), 65536);
  t.equal(decodeCanonical(hex('1b0000000100000000')), 2 ** 32);
  t.equal(decodeCanonical(hex('1b001fffffffffffff')), Number.MAX_SAFE_INTEGER);
  t.equal(decodeCanonical(hex('3b7fffffffffffffff')), -(2n ** 63n));
  t.equal(decodeCanonical(hex('63616263')), 'abc');
  t.equal(decodeCanonical(hex('62c3a9')), 'é');
});

t.test('bad input table', async (t) => {
  const bad: [string, string][] = [
    ['', 'empty'],
    ['a2616101616101', 'duplicate key'],
    ['a2616201616101', 'keys out of order'],
    ['a1010203', 'non-text key'],
    ['1817', 'non-shortest integer'],
    ['5801ff', 'non-shortest length'],
    ['9f01ff', 'indefinite array'],
    ['62c328', 'invalid UTF-8'],
    ['9bffffffffffffffff', 'huge array claim'],
    ['5a7fffffff00', 'huge byte string claim'],
    ['0101', 'trailing bytes'],
    ['83010203ff', 'trailing break'],
    ['fb3ff8000000000000', 'float'],
    ['c11a514b67b0', 'tag'],
    ['1c', 'reserved info'],
    ['82', 'truncated array'],
    ['1900ff', 'non-shortest 2-byte integer'],
    ['1a0000ffff', 'non-shortest 4-byte integer'],
    ['1b00000000ffffffff', 'non-shortest 8-byte integer'],
    ['3b8000000000000000', 'negative integer below -2^63'],
    ['5b0000000100000000', 'byte string claiming 2^32 bytes'],
    ['7a00010000616263', 'text string past the end'],
  ];
  for (const [h, why] of bad) {
    try {
      decodeCanonical(hex(h));
      t.fail(`accepted ${why}`);
    } catch (e) {
      t.ok(isKithError(e, 'CBOR_INVALID'), why);
    }
  }
  const deep = hex('81'.repeat(40) + '00');
  t.ok(isKithError(catchErr(() => decodeCanonical(deep)), 'CBOR_INVALID'), 'too deep');
  const big = encodeCanonical(new Uint8Array(70_000));
  t.ok(isKithError(catchErr(() => decodeCanonical(big)), 'CBOR_INVALID'), 'too large');
  t.ok(decodeCanonical(big, { maxBytes: 80_000, maxDepth: 4, maxItems: 10 }) instanceof Uint8Array, 'limits are per call');
  // cbor-x renames a "__proto__" key; kith refuses it outright on both sides.
  t.ok(isKithError(catchErr(() => decodeCanonical(hex('a1695f5f70726f746f5f5f01'))), 'CBOR_INVALID'), '__proto__ key');
  t.throws(() => encodeCanonical(JSON.parse('{"__proto__":1}')), TypeError);
});

t.test('the encoder refuses what it cannot encode canonically', async (t) => {
  t.throws(() => encodeCanonical(1.5), TypeError);
  t.throws(() => encodeCanonical(undefined), TypeError);
  t.throws(() => encodeCanonical(new Date()), TypeError);
  t.throws(() => encodeCanonical(2n ** 64n), RangeError);
});

function catchErr(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  return undefined;
}
