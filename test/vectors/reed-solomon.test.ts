// Reed-Solomon (archive/reed-solomon.ts): the Backblaze JavaReedSolomon known answers
// (test/vectors/data/reed-solomon/backblaze-kat.json: GF(2^8) arithmetic, matrix multiply and
// invert, the 5+5 encode), then parity bytes cross-checked against a second, independent
// implementation — the Rust reed-solomon-erasure crate (a port of Backblaze/klauspost) compiled
// to WebAssembly, npm @digitaldefiance/reed-solomon-erasure.wasm, a devDependency used only here —
// over seeded random shapes, and a committed fixture of its output (wasm-crosscheck.json), then
// reconstruction from every k-subset for small codes.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { ReedSolomonErasure } from '@digitaldefiance/reed-solomon-erasure.wasm';
import { ReedSolomon, gf, matInvert, matMul } from '../../archive/reed-solomon.js';
import { SeededRng } from '../../core/rng.js';
import { toHex } from '../../core/hex.js';
import { readJsonVector } from '../helpers/vectors.js';

interface Kat {
  galois: { multiply: { a: number; b: number; result: number }[]; exp: { a: number; n: number; result: number }[] };
  matrix: { multiply: { a: number[][]; b: number[][]; result: number[][] }[]; invert: { m: number[][]; result: number[][] }[] };
  encode: { name: string; data_shards: number; parity_shards: number; data: number[][]; parity: number[][] }[];
}
interface Cross { k: number; m: number; seed: string; shardBytes: number; data: string[]; parity: string[] }

const kat = readJsonVector<Kat>('reed-solomon/backblaze-kat.json');

t.test('Backblaze: GF(2^8) multiply and exp', async (t) => {
  for (const v of kat.galois.multiply) t.equal(gf.mul(v.a, v.b), v.result, `${v.a}·${v.b}`);
  for (const v of kat.galois.exp) t.equal(gf.exp(v.a, v.n), v.result, `${v.a}^${v.n}`);
  for (let a = 1; a < 256; a++) t.equal(gf.mul(a, gf.div(1, a)), 1);
});

t.test('Backblaze: matrix multiply and invert', async (t) => {
  for (const v of kat.matrix.multiply) t.same(matMul(v.a, v.b), v.result);
  for (const v of kat.matrix.invert) t.same(matInvert(v.m), v.result);
  t.throws(() => matInvert([[1, 1], [1, 1]]), RangeError);
});

t.test('Backblaze: testOneEncode parity bytes', async (t) => {
  for (const v of kat.encode) {
    const rs = new ReedSolomon(v.data_shards, v.parity_shards);
    const parity = rs.encode(v.data.map((d) => Uint8Array.from(d)));
    t.same(parity.map((p) => [...p]), v.parity, v.name);
  }
});

function randomShards(rng: SeededRng, k: number, size: number): Uint8Array[] {
  return Array.from({ length: k }, () => rng.bytes(size));
}

t.test('independent implementation (Rust reed-solomon-erasure, wasm): same parity bytes', async (t) => {
  const wasm = ReedSolomonErasure.fromBytes(fs.readFileSync(path.join(path.dirname(createRequire(import.meta.url).resolve('@digitaldefiance/reed-solomon-erasure.wasm')), 'reed_solomon_erasure_bg.wasm')));
  const rng = new SeededRng('rs-crosscheck');
  // Word passes with a byte tail (sizes not a multiple of 4), and inputs at odd offsets (copied to an aligned buffer first).
  const shapes = [[1, 1], [2, 1], [2, 2], [3, 2], [4, 2], [5, 5], [6, 3], [10, 4], [17, 3], [32, 8], [2, 2, 65_536], [4, 2, 40_001], [6, 3, 16_384]];
  for (const [k, m, big] of shapes) {
    const size = big ?? 1 + rng.below(3000);
    const data = big === 40_001 ? randomShards(rng, k!, size + 1).map((d) => d.subarray(1)) : randomShards(rng, k!, size); // odd offsets too
    const buf = new Uint8Array(size * (k! + m!));
    data.forEach((d, i) => buf.set(d, i * size));
    t.equal(wasm.encode(buf, k!, m!), ReedSolomonErasure.RESULT_OK);
    const ours = new ReedSolomon(k!, m!).encode(data);
    const theirs = Array.from({ length: m! }, (_, i) => buf.subarray((k! + i) * size, (k! + i + 1) * size));
    t.ok(ours.every((p, i) => toHex(p) === toHex(theirs[i]!)), `k=${k} m=${m} size=${size}: parity identical`);
  }
});

t.test('committed fixture from the independent implementation', async (t) => {
  for (const c of readJsonVector<Cross[]>('reed-solomon/wasm-crosscheck.json')) {
    const parity = new ReedSolomon(c.k, c.m).encode(c.data.map((d) => Uint8Array.from(Buffer.from(d, 'hex'))));
    t.same(parity.map(toHex), c.parity, `k=${c.k} m=${c.m} (${c.seed})`);
  }
});

function subsets(n: number, k: number): number[][] {
  if (k === 0) return [[]];
  if (n < k) return [];
  return [...subsets(n - 1, k), ...subsets(n - 1, k - 1).map((s) => [...s, n - 1])];
}

t.test('reconstruct from every k-subset of shards (k=4 m=2, k=3 m=3, k=2 m=1)', async (t) => {
  const rng = new SeededRng('rs-reconstruct');
  for (const [k, m] of [[4, 2], [3, 3], [2, 1]]) {
    const rs = new ReedSolomon(k!, m!);
    const data = randomShards(rng, k!, 257);
    const all = [...data, ...rs.encode(data)];
    for (const keep of subsets(k! + m!, k!)) {
      const slots = all.map((s, i) => (keep.includes(i) ? s : undefined));
      const rebuilt = rs.reconstruct(slots);
      if (!rebuilt.every((s, i) => toHex(s) === toHex(all[i]!))) t.fail(`k=${k} m=${m} keep ${keep}`);
    }
    t.pass(`k=${k} m=${m}: all ${subsets(k! + m!, k!).length} subsets rebuild every shard`);
    t.throws(() => rs.reconstruct(all.map((s, i) => (i < k! - 1 ? s : undefined))), RangeError, 'k-1 shards are not enough');
  }
  t.throws(() => new ReedSolomon(200, 57), RangeError);
  t.throws(() => new ReedSolomon(0, 2), RangeError);
  t.throws(() => new ReedSolomon(2, 1).encode([new Uint8Array(3), new Uint8Array(4)]), RangeError);
});
