// Randomness as an input. Real code uses the OS generator; simulations use a seeded stream made
// from SHA-256(seed || counter), so that a failing run replays from its seed.
import { randomBytes } from 'node:crypto';
import { sha256 } from '@noble/hashes/sha2.js';

export interface Rng {
  bytes(n: number): Uint8Array;
  /** A uniform integer in [0, n). */
  below(n: number): number;
}

function belowFrom(bytes: (n: number) => Uint8Array, n: number): number {
  if (!Number.isInteger(n) || n <= 0 || n > 2 ** 32) throw new RangeError(`below(n) needs an integer 1..2^32, got ${n}`);
  // Rejection sampling on 32-bit values keeps the result exactly uniform.
  const limit = 2 ** 32 - (2 ** 32 % n);
  for (;;) {
    const b = bytes(4);
    const v = ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
    if (v < limit) return v % n;
  }
}

export const cryptoRng: Rng = {
  bytes: (n) => new Uint8Array(randomBytes(n)),
  below(n) {
    return belowFrom(this.bytes, n);
  },
};

/** Deterministic stream: block i is SHA-256(utf8(seed) || u64be(i)). Not for keys. */
export class SeededRng implements Rng {
  private counter = 0n;
  private buf = new Uint8Array(0);
  private pos = 0;
  readonly seed: string;

  constructor(seed: string | number) {
    this.seed = String(seed);
  }

  bytes(n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (this.pos >= this.buf.length) this.refill();
      out[i] = this.buf[this.pos++]!;
    }
    return out;
  }

  below(n: number): number {
    return belowFrom((k) => this.bytes(k), n);
  }

  /** A float in [0, 1), for jitter and loss decisions in simulations. */
  float(): number {
    return this.below(2 ** 32) / 2 ** 32;
  }

  private refill(): void {
    const seedBytes = new TextEncoder().encode(this.seed);
    const input = new Uint8Array(seedBytes.length + 8);
    input.set(seedBytes);
    new DataView(input.buffer).setBigUint64(seedBytes.length, this.counter++);
    this.buf = sha256(input);
    this.pos = 0;
  }
}
