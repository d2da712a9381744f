// The application delivery log of one node: every conversation message this node accepts (posted
// here, or received and verified) gets the next local number, once. `kith conv watch`, the web
// UI and the simulations read it with `after(cursor)`; the number is local to this node and
// means nothing elsewhere (never a wall-clock time).
//
// Store keys (core/store.ts), values canonical CBOR:
//   feed/next          uint   the number the next entry gets (absent: 1)
//   feed/n/<n, 16 digits> { n, conv, hash, author (hex), chain (hex), seq, kind, data, atMs, addedAtMs }
//   feed/h/<hash>      uint   the number a message hash got (the exactly-once guard)
// The three are written in one batch, so a restart finds either all or none of an entry, and a
// message delivered twice (a duplicate, a replay after restart) is recorded once.
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import type { Clock, Timer } from '../core/clock.js';
import type { KvStore } from '../core/store.js';
import type { Message } from './records.js';

export interface FeedEntry {
  n: number;
  conv: string;
  hash: string;
  author: string;
  chain: string;
  seq: number;
  kind: string;
  data: Record<string, CborValue>;
  atMs: number;
  addedAtMs: number;
}

/** At most this many entries per `after` answer. */
export const FEED_PAGE_MAX = 500;

const nKey = (n: number) => `feed/n/${String(n).padStart(16, '0')}`;

export class Feed {
  private next = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly waiters = new Set<() => void>();

  constructor(private readonly deps: { store: KvStore; clock: Clock }) {}

  /** Records a message once (by hash); returns its number, the old one for a duplicate. */
  add(m: Message): Promise<number> {
    return this.serial(async () => {
      const held = await this.deps.store.get(`feed/h/${m.hash}`);
      if (held) return decodeCanonical(held) as number;
      const n = await this.nextNumber();
      const entry: FeedEntry = { n, conv: m.conv, hash: m.hash, author: m.authorHex, chain: m.chain, seq: m.seq, kind: m.kind, data: m.data, atMs: m.atMs, addedAtMs: Math.floor(this.deps.clock.wallTime()) };
      await this.deps.store.batch([
        { type: 'put', key: nKey(n), value: encodeCanonical(entry) },
        { type: 'put', key: `feed/h/${m.hash}`, value: encodeCanonical(n) },
        { type: 'put', key: 'feed/next', value: encodeCanonical(n + 1) },
      ]);
      this.next = n + 1;
      for (const w of [...this.waiters]) w();
      return n;
    });
  }

  /** Entries numbered above `cursor` (at most `limit`), and the cursor to ask with next. */
  async after(cursor: number, limit = FEED_PAGE_MAX): Promise<{ entries: FeedEntry[]; next: number }> {
    const entries: FeedEntry[] = [];
    const from = Math.max(0, Math.floor(cursor)) + 1;
    for await (const [, v] of this.deps.store.range({ gte: nKey(from), lt: 'feed/n0', limit: Math.min(Math.max(1, limit), FEED_PAGE_MAX) })) {
      entries.push(decodeCanonical(v) as unknown as FeedEntry);
    }
    return { entries, next: entries.length > 0 ? entries[entries.length - 1]!.n : Math.max(0, Math.floor(cursor)) };
  }

  /** As `after`, but waits up to `timeoutMs` for an entry when there is none yet (long poll). */
  async wait(cursor: number, timeoutMs: number, limit = FEED_PAGE_MAX): Promise<{ entries: FeedEntry[]; next: number }> {
    const now = await this.after(cursor, limit);
    if (now.entries.length > 0 || timeoutMs <= 0) return now;
    await new Promise<void>((resolve) => {
      let timer: Timer | undefined = undefined;
      const done = () => {
        this.waiters.delete(done);
        timer?.cancel();
        resolve();
      };
      this.waiters.add(done);
      timer = this.deps.clock.setTimer(timeoutMs, done);
    });
    return this.after(cursor, limit);
  }

  /** The number of the latest entry (0: none yet). */
  async last(): Promise<number> {
    return (await this.serial(() => this.nextNumber())) - 1;
  }

  /** Every entry, in order (tests and the simulations' exactly-once check). */
  async all(): Promise<FeedEntry[]> {
    const out: FeedEntry[] = [];
    for (let cursor = 0; ; ) {
      const page = await this.after(cursor);
      out.push(...page.entries);
      if (page.entries.length === 0) return out;
      cursor = page.next;
    }
  }

  private async nextNumber(): Promise<number> {
    if (this.next === 0) {
      const v = await this.deps.store.get('feed/next');
      this.next = v ? (decodeCanonical(v) as number) : 1;
    }
    return this.next;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }
}
