// Systematic Reed-Solomon erasure coding over GF(2^8) (DESIGN.md §7), the Backblaze
// JavaReedSolomon / klauspost/reedsolomon construction, so shards interoperate with theirs:
// field polynomial 0x11d, generator 2; encoding matrix = V · inverse(top k×k of V) with the
// Vandermonde V[r][c] = r^c over k + m rows. The top k rows are then the identity (data shards
// are the data), row k + i makes parity shard i, and any k shards rebuild the rest.
// Table-driven: one 64 KiB product table, and per matrix coefficient a 4 KiB table that
// multiplies a 32-bit word (four bytes) in 4 lookups; one pass per (output, input) pair.

const FIELD = 256;
const POLY = 0x11d;

/** exp[i] = 2^i for i in 0..509 (doubled so log sums need no modulo); log[2^i] = i. */
const EXP = new Uint8Array(2 * FIELD);
const LOG = new Uint8Array(FIELD);
{
  let x = 1;
  for (let i = 0; i < FIELD - 1; i++) {
    EXP[i] = x;
    LOG[x] = i;
    x <<= 1;
    if (x & FIELD) x ^= POLY;
  }
  for (let i = FIELD - 1; i < 2 * FIELD; i++) EXP[i] = EXP[i - (FIELD - 1)]!;
}

/** MUL[a * 256 + b] = a · b in GF(2^8). */
const MUL = new Uint8Array(FIELD * FIELD);
for (let a = 1; a < FIELD; a++) for (let b = 1; b < FIELD; b++) MUL[a * FIELD + b] = EXP[LOG[a]! + LOG[b]!]!;

export const gf = {
  mul: (a: number, b: number): number => MUL[a * FIELD + b]!,
  div(a: number, b: number): number {
    if (b === 0) throw new RangeError('GF(2^8) division by zero');
    return a === 0 ? 0 : EXP[LOG[a]! + 255 - LOG[b]!]!;
  },
  /** a multiplied by itself n times; exp(a, 0) = 1, also for a = 0 (Backblaze's convention). */
  exp(a: number, n: number): number {
    if (n === 0) return 1;
    if (a === 0) return 0;
    return EXP[(LOG[a]! * n) % 255]!;
  },
};

export type Matrix = number[][];

export function matMul(a: Matrix, b: Matrix): Matrix {
  return a.map((row) => b[0]!.map((_, c) => row.reduce((acc, x, k) => acc ^ gf.mul(x, b[k]![c]!), 0)));
}

/** Gauss-Jordan inverse; throws RangeError for a singular matrix. */
export function matInvert(m: Matrix): Matrix {
  const n = m.length;
  const w = m.map((row, r) => [...row, ...Array.from({ length: n }, (_, c) => (c === r ? 1 : 0))]);
  for (let c = 0; c < n; c++) {
    const p = w.findIndex((row, r) => r >= c && row[c] !== 0);
    if (p < 0) throw new RangeError('matrix is singular');
    [w[c], w[p]] = [w[p]!, w[c]!];
    const inv = gf.div(1, w[c]![c]!);
    w[c] = w[c]!.map((x) => gf.mul(x, inv));
    for (let r = 0; r < n; r++) {
      const f = w[r]![c]!;
      if (r !== c && f !== 0) w[r] = w[r]!.map((x, i) => x ^ gf.mul(f, w[c]![i]!));
    }
  }
  return w.map((row) => row.slice(n));
}

export function encodingMatrix(dataShards: number, totalShards: number): Matrix {
  const v = Array.from({ length: totalShards }, (_, r) => Array.from({ length: dataShards }, (_, c) => gf.exp(r, c)));
  return matMul(v, matInvert(v.slice(0, dataShards)));
}

/**
 * Per coefficient c, four tables of 256 int32: WORDS[c][j·256 + b] = (c · b) << 8j. One 32-bit
 * word of input is then 4 lookups ORed together, byte positions kept, so the byte order of the
 * platform does not matter. 4 KiB per coefficient, built once (lazily: at most 255 of them, 1 MiB)
 * and small enough to stay in L1 next to the shard blocks. Measured against the previous 16-bit
 * pair table (128 KiB, rebuilt for every pass): faster on Node and on Bun (bench/README.md, h15-pipe).
 */
const WORDS: (Int32Array | undefined)[] = new Array(FIELD).fill(undefined);

function wordTable(coef: number): Int32Array {
  let t = WORDS[coef];
  if (!t) {
    t = new Int32Array(4 * FIELD);
    for (let b = 0; b < FIELD; b++) {
      const p = MUL[coef * FIELD + b]!;
      t[b] = p;
      t[FIELD + b] = p << 8;
      t[2 * FIELD + b] = p << 16;
      t[3 * FIELD + b] = p << 24;
    }
    WORDS[coef] = t;
  }
  return t;
}

/** out[from, to) = (or ^=, unless first) coef · input[from, to), over 32-bit words. */
function mulAddWords(t: Int32Array, input: Int32Array, out: Int32Array, from: number, to: number, first: boolean): void {
  if (first) {
    for (let i = from; i < to; i++) {
      const w = input[i]!;
      out[i] = t[w & 0xff]! | t[256 + ((w >>> 8) & 0xff)]! | t[512 + ((w >>> 16) & 0xff)]! | t[768 + (w >>> 24)]!;
    }
  } else {
    for (let i = from; i < to; i++) {
      const w = input[i]!;
      out[i]! ^= t[w & 0xff]! | t[256 + ((w >>> 8) & 0xff)]! | t[512 + ((w >>> 16) & 0xff)]! | t[768 + (w >>> 24)]!;
    }
  }
}

/** out[from, to) = (or ^=) coef · input[from, to), byte by byte (tails, unaligned buffers). */
function mulAddBytes(coef: number, input: Uint8Array, out: Uint8Array, from: number, to: number, first: boolean): void {
  const base = coef * FIELD;
  if (first) for (let i = from; i < to; i++) out[i] = MUL[base + input[i]!]!;
  else for (let i = from; i < to; i++) out[i]! ^= MUL[base + input[i]!]!;
}

/** A 4-aligned Int32Array view of bytes (a copy when its offset is not aligned). */
function words(bytes: Uint8Array): Int32Array {
  const n = bytes.length >> 2;
  if ((bytes.byteOffset & 3) === 0) return new Int32Array(bytes.buffer, bytes.byteOffset, n);
  const copy = new Uint8Array(n << 2);
  copy.set(bytes.subarray(0, n << 2));
  return new Int32Array(copy.buffer, 0, n);
}

/** outputs[o] = Σ_i rows[o][i] · inputs[i] over GF(2^8); outputs are fresh, equal-length buffers. */
function combine(rows: Matrix, inputs: Uint8Array[], outputs: Uint8Array[]): void {
  const n = inputs[0]!.length;
  const whole = n & ~3;
  const in32 = inputs.map(words);
  for (let o = 0; o < rows.length; o++) {
    const out = outputs[o]!;
    const out32 = words(out);
    if (out32.buffer !== out.buffer) throw new RangeError('combine needs 4-aligned outputs');
    // One pass over the whole output per input: splitting into L1-sized blocks, every input's
    // contribution per block, measured slower on Bun (more, shorter calls) and no faster on Node.
    for (let i = 0; i < inputs.length; i++) mulAddWords(wordTable(rows[o]![i]!), in32[i]!, out32, 0, whole >> 2, i === 0);
    for (let i = 0; i < inputs.length; i++) mulAddBytes(rows[o]![i]!, inputs[i]!, out, whole, n, i === 0);
  }
}

export class ReedSolomon {
  readonly dataShards: number;
  readonly parityShards: number;
  readonly matrix: Matrix;
  private readonly inverses = new Map<string, Matrix>();

  constructor(dataShards: number, parityShards: number) {
    if (!Number.isInteger(dataShards) || !Number.isInteger(parityShards) || dataShards < 1 || parityShards < 0 || dataShards + parityShards > FIELD) {
      throw new RangeError(`Reed-Solomon needs 1 ≤ k and 0 ≤ m with k + m ≤ 256, got k=${dataShards} m=${parityShards}`);
    }
    this.dataShards = dataShards;
    this.parityShards = parityShards;
    this.matrix = encodingMatrix(dataShards, dataShards + parityShards);
  }

  get totalShards(): number {
    return this.dataShards + this.parityShards;
  }

  /** The m parity shards of k equal-length data shards. */
  encode(data: readonly Uint8Array[]): Uint8Array[] {
    this.checkShape(data, this.dataShards);
    const parity = Array.from({ length: this.parityShards }, () => new Uint8Array(data[0]!.length));
    combine(this.matrix.slice(this.dataShards), data as Uint8Array[], parity);
    return parity;
  }

  /**
   * All k + m shards from any k present ones (undefined = missing). Throws RangeError with fewer
   * than k present. Present shards are returned as given (they are not checked: integrity is the
   * AEAD's and the Merkle roots' job).
   */
  reconstruct(shards: readonly (Uint8Array | undefined)[]): Uint8Array[] {
    if (shards.length !== this.totalShards) throw new RangeError(`expected ${this.totalShards} shard slots, got ${shards.length}`);
    const present = shards.flatMap((s, i) => (s ? [i] : [])).slice(0, this.dataShards);
    if (present.length < this.dataShards) throw new RangeError(`need ${this.dataShards} shards to rebuild, have ${present.length}`);
    const inputs = present.map((i) => shards[i]!);
    this.checkShape(inputs, this.dataShards);
    const size = inputs[0]!.length;
    const out = shards.slice() as (Uint8Array | undefined)[];
    const missingData = Array.from({ length: this.dataShards }, (_, i) => i).filter((i) => !out[i]);
    if (missingData.length > 0) {
      const inv = this.decodeMatrix(present);
      const bufs = missingData.map(() => new Uint8Array(size));
      combine(missingData.map((i) => inv[i]!), inputs, bufs);
      missingData.forEach((i, j) => (out[i] = bufs[j]));
    }
    const missingParity = Array.from({ length: this.parityShards }, (_, i) => this.dataShards + i).filter((i) => !out[i]);
    if (missingParity.length > 0) {
      const bufs = missingParity.map(() => new Uint8Array(size));
      combine(missingParity.map((i) => this.matrix[i]!), out.slice(0, this.dataShards) as Uint8Array[], bufs);
      missingParity.forEach((i, j) => (out[i] = bufs[j]));
    }
    return out as Uint8Array[];
  }

  private decodeMatrix(present: number[]): Matrix {
    const key = present.join(',');
    let inv = this.inverses.get(key);
    if (!inv) {
      inv = matInvert(present.map((i) => this.matrix[i]!));
      if (this.inverses.size > 64) this.inverses.clear();
      this.inverses.set(key, inv);
    }
    return inv;
  }

  private checkShape(shards: readonly Uint8Array[], n: number): void {
    if (shards.length !== n) throw new RangeError(`expected ${n} shards, got ${shards.length}`);
    const len = shards[0]!.length;
    if (shards.some((s) => s.length !== len)) throw new RangeError('shards must all have the same length');
  }
}
