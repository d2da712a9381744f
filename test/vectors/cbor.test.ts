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

// The decoder is this module's own walk since branch h14-fast; before, cbor-x decoded (after the
// check) and a pass copied its Buffers into plain Uint8Arrays and bigints into numbers where safe.
// That reference, kept here: the walk must give the same values for every canonical input.
import '../../core/cbor-env.js';
import { Decoder } from 'cbor-x';
import fc from 'fast-check';
const reference = new Decoder({ useRecords: false, mapsAsObjects: true } as ConstructorParameters<typeof Decoder>[0]);
function normalizeRef(v: unknown): unknown {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (typeof v === 'bigint') return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  if (Array.isArray(v)) return v.map(normalizeRef);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.keys(v).map((k) => [k, normalizeRef((v as Record<string, unknown>)[k])]));
  return v;
}
/** Same values, same types (number vs bigint, plain Uint8Array), same key order. */
function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array || b instanceof Uint8Array) return a instanceof Uint8Array && b instanceof Uint8Array && a.constructor === Uint8Array && b.constructor === Uint8Array && Buffer.from(a).equals(Buffer.from(b));
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameValue(x, b[i]));
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    const kb = Object.keys(b);
    return ka.join('\0') === kb.join('\0') && ka.every((k) => sameValue((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return typeof a === typeof b && Object.is(a, b);
}

t.test('the walk decodes what cbor-x + normalize decoded: edge cases and random values', async (t) => {
  const edge: unknown[] = [
    0, 23, 24, 255, 256, 65535, 65536, 0xffffffff, 0x100000000, Number.MAX_SAFE_INTEGER, 2n ** 53n, 2n ** 64n - 1n,
    -1, -24, -25, -256, -257, -65536, -65537, -0x100000000, -0x100000001, -(2 ** 53 - 2), -Number.MAX_SAFE_INTEGER, -(2n ** 53n), -(2n ** 63n),
    '', 'a', 'é', '\u{1F600}', 'x'.repeat(64), 'x'.repeat(65), 'é'.repeat(40), '\uFEFF' + 'short', '\uFEFF' + 'y'.repeat(70), 'z'.repeat(5000), '\0\u007f',
    new Uint8Array(0), new Uint8Array(32).fill(7), new Uint8Array(33).fill(9), new Uint8Array(70000).fill(1),
    [], {}, { a: 1, b: [true, false, null], '0': 'k', '10': 'n', c: { d: new Uint8Array([1, 2]) } },
  ];
  const limits = { maxBytes: 1 << 20, maxDepth: 16, maxItems: 1 << 16 };
  for (const v of edge) {
    const bytes = encodeCanonical(v);
    // cbor-x drops a leading U+FEFF from text over 64 bytes; the walk keeps it (below).
    if (typeof v === 'string' && v.startsWith('\uFEFF') && bytes.length > 66) continue;
    t.ok(sameValue(decodeCanonical(bytes, limits), normalizeRef(reference.decode(Buffer.from(bytes)))), `same value for ${toHex(bytes).slice(0, 40)}`);
  }
  for (const v of ['\uFEFF', '\uFEFF' + 'short', '\uFEFF' + 'y'.repeat(70), { k: '\uFEFF' + 'é'.repeat(60) }]) {
    t.ok(sameValue(decodeCanonical(encodeCanonical(v), limits), v), `a leading U+FEFF is kept: ${JSON.stringify(v).slice(0, 24)}`);
  }
  const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    v: fc.oneof({ depthSize: 'small' }, fc.integer(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }), fc.string({ unit: 'binary' }).filter((s) => !s.startsWith('\uFEFF')), fc.uint8Array(), fc.boolean(), fc.constant(null), fc.array(tie('v'), { maxLength: 5 }), fc.dictionary(fc.string().filter((k) => k !== '__proto__'), tie('v'), { maxKeys: 5 })),
  })).v;
  fc.assert(fc.property(value, (v) => {
    const bytes = encodeCanonical(v);
    // A view into a larger Buffer, as items come off the wire.
    const wire = Buffer.alloc(bytes.length + 7);
    wire.set(bytes, 3);
    const view = wire.subarray(3, 3 + bytes.length);
    const limits = { maxBytes: 1 << 20, maxDepth: 64, maxItems: 1 << 16 };
    const got = decodeCanonical(view, limits);
    const want = normalizeRef(reference.decode(Buffer.from(bytes)));
    wire.fill(0xee); // values never share the input's memory
    return sameValue(got, want);
  }), { numRuns: 2000 });
});

t.test('views: byte strings over the input, the same values as copies', async (t) => {
  const bytes = encodeCanonical({ a: new Uint8Array([1, 2, 3]), b: [new Uint8Array(40).fill(9), 'x'], c: new Uint8Array(0) });
  const input = new Uint8Array(bytes.length + 5);
  input.set(bytes, 5);
  const at = input.subarray(5); // an offset into a larger buffer
  const copied = decodeCanonical(at) as Record<string, unknown>;
  const viewed = decodeCanonical(at, { maxBytes: 1024, maxDepth: 4, maxItems: 16, views: true }) as Record<string, unknown>;
  t.same(viewed, copied);
  const a = viewed['a'] as Uint8Array;
  t.equal(a.buffer, input.buffer, 'a view of the input');
  t.equal(Object.getPrototypeOf(a), Uint8Array.prototype, 'a plain Uint8Array');
  t.notOk((copied['a'] as Uint8Array).buffer === input.buffer, 'without views: a copy');
  input[5 + bytes.indexOf(1)] = 7;
  t.equal(a[0], 7, 'it shares the input\'s memory');
  // The next decode without the option copies again (the option does not stick).
  t.notOk(((decodeCanonical(at) as Record<string, unknown>)['a'] as Uint8Array).buffer === input.buffer);
});
