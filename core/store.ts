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

const cmp = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

export class MemoryStore implements KvStore {
  /** `map` holds the entries: pass the one of a closed store to reopen it (a simulated restart). */
  constructor(private readonly map = new Map<string, Uint8Array>()) {}

  private closed = false;

  async get(key: string): Promise<Uint8Array | undefined> {
    this.check();
    const v = this.map.get(key);
    return v === undefined ? undefined : new Uint8Array(v);
  }

  async put(key: string, value: Uint8Array): Promise<void> {
    this.check();
    this.map.set(key, new Uint8Array(value));
  }

  async del(key: string): Promise<void> {
    this.check();
    this.map.delete(key);
  }

  async batch(ops: BatchOp[]): Promise<void> {
    this.check();
    for (const op of ops) {
      if (op.type === 'put') this.map.set(op.key, new Uint8Array(op.value));
      else this.map.delete(op.key);
    }
  }

  async *range(opts: RangeOptions): AsyncIterable<[string, Uint8Array]> {
    this.check();
    let keys = [...this.map.keys()]
      .filter((k) => (opts.gte === undefined || cmp(k, opts.gte) >= 0) && (opts.lt === undefined || cmp(k, opts.lt) < 0))
      .sort(cmp);
    if (opts.reverse) keys.reverse();
    if (opts.limit !== undefined && opts.limit >= 0) keys = keys.slice(0, opts.limit);
    for (const k of keys) {
      const v = this.map.get(k);
      if (v !== undefined) yield [k, new Uint8Array(v)];
    }
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  private check(): void {
    if (this.closed) throw new Error('store is closed');
  }
}
