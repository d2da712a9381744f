// The key-value store every domain module uses, as a small interface. Keys are strings (ordered
// bytewise by UTF-8, as LevelDB orders them), values bytes. agent/level-store.ts implements it on
// LevelDB; MemoryStore here is its in-memory twin for tests and simulations. One conformance
// suite (test/unit/store.test.ts) runs against both.

export type BatchOp = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

export interface RangeOptions {
  gte?: string;
  lt?: string;
  limit?: number;
  reverse?: boolean;
}

export interface KvStore {
  get(key: string): Promise<Uint8Array | undefined>;
  put(key: string, value: Uint8Array): Promise<void>;
  del(key: string): Promise<void>;
  /** Applies every operation or none. */
  batch(ops: BatchOp[]): Promise<void>;
  /** Entries in key order (or reverse) within the range. */
  range(opts: RangeOptions): AsyncIterable<[string, Uint8Array]>;
  close(): Promise<void>;
}

/** The smallest key greater than every key starting with prefix (for `lt` of a prefix scan). */
export function prefixEnd(prefix: string): string {
  return prefix + '\uffff';
}

/**
 * UTF-8 byte order (what LevelDB uses) without encoding: UTF-8 orders by code point, and UTF-16
 * code units order by code point except that surrogates (D800–DFFF, the supplementary planes)
 * must sort after E000–FFFF. So the first differing unit decides, with that one fix-up.
 */
export function compareUtf8(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codePointRank(x) - codePointRank(y);
  }
  return a.length - b.length;
}
const codePointRank = (u: number): number => (u >= 0xe000 ? u - 0x800 : u >= 0xd800 ? u + 0x2000 : u);
const cmp = compareUtf8;

/** The first index in sorted `keys` whose key is not below `key`. */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cmp(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class MemoryStore implements KvStore {
  /**
   * Every key of `map` in key order as of the last range, minus `gone`, plus `fresh`: a range is a
   * binary search and a slice, not a sort of the whole store (the simulations' agents read ranges
   * several times a second; a full scan per range was half of a 28-agent run's CPU). New keys are
   * merged in at the next range, not spliced in one by one (a catch-up of 10,000 messages writes
   * 20,000 keys in a row: splicing each moved the keys after it, a tenth of the catch-up's CPU).
   */
  private keys: string[];
  /** Keys in `map` that `keys` does not list yet. */
  private readonly fresh = new Set<string>();
  /** Keys `keys` lists that are no longer in `map`. */
  private readonly gone = new Set<string>();

  /** `map` holds the entries: pass the one of a closed store to reopen it (a simulated restart). */
  constructor(private readonly map = new Map<string, Uint8Array>()) {
    this.keys = [...map.keys()].sort(cmp);
  }

  private closed = false;

  async get(key: string): Promise<Uint8Array | undefined> {
    this.check();
    const v = this.map.get(key);
    return v === undefined ? undefined : new Uint8Array(v);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    this.check();
    this.set(key, value);
  }

  async del(key: string): Promise<void> {
    this.check();
    this.remove(key);
  }

  async batch(ops: BatchOp[]): Promise<void> {
    this.check();
    for (const op of ops) {
      if (op.type === 'put') this.set(op.key, op.value);
      else this.remove(op.key);
    }
  }

  async *range(opts: RangeOptions): AsyncIterable<[string, Uint8Array]> {
    this.check();
    const index = this.index();
    const from = opts.gte === undefined ? 0 : lowerBound(index, opts.gte);
    const to = opts.lt === undefined ? index.length : lowerBound(index, opts.lt);
    // A snapshot of the keys in range: writes during the iteration do not move it.
    let keys = index.slice(from, Math.max(from, to));
    if (opts.reverse) keys.reverse();
    if (opts.limit !== undefined && opts.limit >= 0) keys = keys.slice(0, opts.limit);
    for (const k of keys) {
      const v = this.map.get(k);
      if (v !== undefined) yield [k, new Uint8Array(v)];
    }
  }

  private set(key: string, value: Uint8Array): void {
    this.resync();
    if (!this.map.has(key)) {
      if (!this.gone.delete(key)) this.fresh.add(key);
    }
    this.map.set(key, new Uint8Array(value));
  }

  private remove(key: string): void {
    this.resync();
    if (this.map.delete(key) && !this.fresh.delete(key)) this.gone.add(key);
  }

  /** The sorted keys, with what was added and removed since the last range merged in. */
  private index(): string[] {
    this.resync();
    if (this.fresh.size === 0 && this.gone.size === 0) return this.keys;
    const add = [...this.fresh].sort(cmp);
    const out: string[] = [];
    let i = 0;
    let j = 0;
    while (i < this.keys.length || j < add.length) {
      if (j >= add.length || (i < this.keys.length && cmp(this.keys[i]!, add[j]!) < 0)) {
        const k = this.keys[i++]!;
        if (!this.gone.has(k)) out.push(k);
      } else out.push(add[j++]!);
    }
    this.keys = out;
    this.fresh.clear();
    this.gone.clear();
    return out;
  }

  /**
   * The map is shared with whoever made it (a simulation keeps a node's "disk" across restarts
   * and may wipe it while the node is down): when its size no longer matches, rebuild the index.
   */
  private resync(): void {
    if (this.keys.length - this.gone.size + this.fresh.size === this.map.size) return;
    this.fresh.clear();
    this.gone.clear();
    this.keys = [...this.map.keys()].sort(cmp);
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private check(): void {
    if (this.closed) throw new Error('store is closed');
  }
}
