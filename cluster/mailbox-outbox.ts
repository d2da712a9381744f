// What a node holds for recipients that are away, until mailboxes hold it for them
// (cluster/README.md, "Mailbox", "Placement"). Each queued blob names its recipient nodes; it is
// pushed to relays in a stable order per blob (a hash of blob and relay), only where it adds a
// household for a recipient that has fewer than two, and it stays queued (in the store, across
// restarts) until every recipient has it in two households, is reachable again (sync then gives
// it directly), or the TTL passed. Every node that stores a group's item queues it, but only the
// item's own node (its sender) pushes the bytes at once; the others wait a standby time, then
// push by hash (no bytes): a relay that holds the blob takes it like a push, one that does not
// says so and gets the bytes. So each holder still makes sure of two households, and the bytes
// go once. STORAGE_FULL and RATE_LIMITED answers are kept per relay for `kith mailbox status` and
// logged; the blob goes on to other relays and is tried again later.
import { sha256 } from '@noble/hashes/sha2.js';
import type { Clock, Timer } from '../core/clock.js';
import { SECOND } from '../core/clock.js';
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { isKithError } from '../core/errors.js';
import { hexBytes, toHex } from '../core/hex.js';
import { prefixEnd, type KvStore } from '../core/store.js';
import type { MailboxClient } from './mailbox-client.js';

export interface OutboxOptions {
  /** Households per recipient before a blob leaves the queue. */
  copies: number;
  /** Queued blobs are tried again this often (and whenever a relay becomes reachable). */
  retryMs: number;
  /** A blob no relay took within this long is dropped (the relays' TTL: nobody would keep it longer). */
  ttlMs: number;
  /** Most blobs queued; beyond it the oldest is dropped (logged). */
  maxEntries: number;
  /**
   * A blob another node sent waits this long, plus up to as long again (spread by a hash of blob
   * and this node, so the holders do not all ask at once), before this node places it: its sender
   * pushes it at once, and by then the relays hold it.
   */
  standbyMs: number;
}

export const DEFAULT_OUTBOX: OutboxOptions = { copies: 2, retryMs: 30 * SECOND, ttlMs: 30 * 24 * 3600 * SECOND, maxEntries: 10_000, standbyMs: 30 * SECOND };

export interface OutboxRelay {
  id: string;
  household: string;
}

export interface OutboxDeps {
  store: KvStore;
  /**
   * This node's signing key (hex), the `sender` of the items it makes: a blob it sent is pushed at
   * once, one another node sent waits (standbyMs). Undefined: every blob at once.
   */
  self?: string;
  clock: Clock;
  client: MailboxClient;
  /** Relays reachable now, with their households (a user is a household unless its config names another). */
  relays(): OutboxRelay[];
  /** A recipient reachable now: sync delivers to it directly, the mailbox is not needed for it. */
  isAlive(node: string): boolean;
  log?(level: 'debug' | 'warn', line: string): void;
}

export interface OutboxItem {
  group: string;
  sender: string;
  seq: number;
  blob: Uint8Array;
}

interface Entry extends OutboxItem {
  hash: string;
  atMs: number;
  /** Recipient node → households that hold the blob for it. */
  placed: Map<string, string[]>;
  /** Wall time before which this node does not place it (another node sent it: that node pushes first); 0 for its own. */
  notBeforeMs: number;
  /** Relays that answered a push by hash of it with MAILBOX_UNKNOWN: they get the bytes next time (in memory only). */
  unknownAt?: Set<string>;
}

/** A refusal a relay gave (STORAGE_FULL, RATE_LIMITED, …), for the user. */
export interface RelayProblem {
  code: string;
  message: string;
  atMs: number;
}

/** A relay that cannot serve a recipient (not its member) is not asked again for it this long. */
const CANNOT_SERVE_MS = 10 * 60 * SECOND;
/** The order relays are tried in for a blob: the same on every sender, spread across blobs. */
export const placementRank = (blobHash: string, relay: string): string => toHex(sha256(hexBytes(blobHash + relay)));

/** Relays in the order a blob tries them: by placementRank (computed once per relay). */
export function placementOrder<R extends { id: string }>(blobHash: string, relays: readonly R[]): R[] {
  return relays.map((r) => [placementRank(blobHash, r.id), r] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}

export class MailboxOutbox {
  /** `placed`: pushes with the bytes (`bytes` of them in all); `byHash`: placed by hash (no bytes), `unknown`: pushes by hash the relay could not take (the bytes followed). */
  readonly stats = { queued: 0, placed: 0, bytes: 0, byHash: 0, unknown: 0, done: 0, dropped: 0, refused: {} as Record<string, number> };
  /** The last refusal per relay (cleared when it takes a blob again). */
  readonly problems = new Map<string, RelayProblem>();
  private readonly entries = new Map<string, Entry>();
  /** `relay/recipient` → when the relay said it cannot serve that recipient (not its member). */
  private readonly cannotServe = new Map<string, number>();
  /** Relays that refused for room or rate in this pass: not asked again until the next. */
  private readonly busy = new Set<string>();
  private readonly o: OutboxOptions;
  private timer: Timer | undefined;
  /** A pass when the next waiting blob's standby ends (sooner than the retry timer would). */
  private wake: Timer | undefined;
  private flushing: Promise<void> | undefined;
  private again = false;
  private closed = false;

  constructor(private readonly deps: OutboxDeps, opts: Partial<OutboxOptions> = {}) {
    this.o = { ...DEFAULT_OUTBOX, ...opts };
  }

  async start(): Promise<void> {
    for await (const [, v] of this.deps.store.range({ gte: 'mboxq/', lt: prefixEnd('mboxq/') })) {
      const e = decodeEntry(v);
      if (e) this.entries.set(e.hash, { ...e, notBeforeMs: this.notBefore(e) });
    }
    this.arm();
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.wake?.cancel();
  }

  /** Queues a blob for recipients that are away (merged with what is queued for the same blob). */
  async enqueue(item: OutboxItem, to: string[]): Promise<void> {
    const hash = toHex(sha256(item.blob));
    const fresh = { ...item, hash, atMs: this.deps.clock.wallTime(), placed: new Map<string, string[]>() };
    const e = this.entries.get(hash) ?? { ...fresh, notBeforeMs: this.notBefore(fresh) };
    let added = false;
    for (const r of to) if (!e.placed.has(r)) (e.placed.set(r, []), (added = true));
    if (!added) return;
    if (!this.entries.has(hash)) this.stats.queued++;
    this.entries.set(hash, e);
    await this.deps.store.put(`mboxq/${hash}`, encodeEntry(e));
    await this.trim();
    this.kick();
  }

  /** What is queued: per blob its group, and per recipient the households holding it so far. */
  queued(): { hash: string; group: string; sender: string; seq: number; bytes: number; queuedAtMs: number; recipients: Record<string, string[]> }[] {
    return [...this.entries.values()].map((e) => ({ hash: e.hash, group: e.group, sender: e.sender, seq: e.seq, bytes: e.blob.length, queuedAtMs: e.atMs, recipients: Object.fromEntries(e.placed) }));
  }

  /** Tries every queued blob now (a relay became reachable); one pass at a time. */
  kick(): void {
    if (this.flushing) {
      this.again = true;
      return;
    }
    this.flushing = (async () => {
      try {
        do {
          this.again = false;
          await this.flush();
        } while (this.again && !this.closed);
      } catch (e) {
        this.deps.log?.('warn', `mailbox outbox: ${(e as Error).message}`);
      } finally {
        this.flushing = undefined;
      }
    })();
  }

  /** Resolves once the current pass (if any) is over: for tests and status. */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /** When this node may place a blob: at once if it is the blob's sender, else after the standby (spread per node). */
  private notBefore(e: { hash: string; sender: string; atMs: number }): number {
    if (this.deps.self === undefined || e.sender === this.deps.self) return 0;
    const spread = parseInt(placementRank(e.hash, this.deps.self).slice(0, 8), 16) / 2 ** 32;
    return e.atMs + this.o.standbyMs * (1 + spread);
  }

  private arm(): void {
    if (this.closed) return;
    this.timer = this.deps.clock.setTimer(this.o.retryMs, () => {
      if (this.entries.size > 0) this.kick();
      this.arm();
    });
  }

  private async flush(): Promise<void> {
    const relays = this.deps.relays();
    this.busy.clear();
    const now = this.deps.clock.now();
    for (const [k, at] of this.cannotServe) if (now - at > CANNOT_SERVE_MS) this.cannotServe.delete(k);
    for (const e of [...this.entries.values()]) {
      if (this.closed) return;
      const open = [...e.placed].filter(([r, hh]) => hh.length < this.o.copies && !this.deps.isAlive(r)).map(([r]) => r);
      if (open.length === 0 || this.deps.clock.wallTime() - e.atMs > this.o.ttlMs) {
        await this.finish(e, open.length === 0 ? 'done' : 'dropped');
        continue;
      }
      if (this.deps.clock.wallTime() < e.notBeforeMs) continue; // its sender places it first
      for (const relay of placementOrder(e.hash, relays)) {
        if (this.busy.has(relay.id)) continue;
        const need = open.filter((r) => r !== relay.id && e.placed.get(r)!.length < this.o.copies && !e.placed.get(r)!.includes(relay.household) && !this.cannotServe.has(`${relay.id}/${r}`));
        if (need.length > 0 && (await this.pushTo(relay, e, need, e.notBeforeMs > 0))) await this.deps.store.put(`mboxq/${e.hash}`, encodeEntry(e));
      }
      if (open.every((r) => e.placed.get(r)!.length >= this.o.copies)) await this.finish(e, 'done');
    }
    this.wakeForStandby();
  }

  /** Sets a pass for when the first blob waiting out its standby may be placed (the holders' standbys are spread, so the first one's push lands before the next one asks). */
  private wakeForStandby(): void {
    const now = this.deps.clock.wallTime();
    let next = Infinity;
    for (const e of this.entries.values()) if (e.notBeforeMs > now && e.notBeforeMs < next) next = e.notBeforeMs;
    this.wake?.cancel();
    this.wake = undefined;
    if (next === Infinity || this.closed) return;
    this.wake = this.deps.clock.setTimer(next - now, () => {
      this.wake = undefined;
      this.kick();
    });
  }

  /** Pushes a blob to a relay for `need`; `byHash`: first without the bytes (another node sent it, the relay likely holds it). */
  private async pushTo(relay: OutboxRelay, e: Entry, need: string[], byHash: boolean): Promise<boolean> {
    try {
      const p = { group: e.group, sender: e.sender, seq: e.seq, to: need };
      const tryHash = byHash && !e.unknownAt?.has(relay.id);
      let r = tryHash ? await this.deps.client.pushByHash(relay.id, { ...p, hash: e.hash }) : undefined;
      if (r) this.stats.byHash++;
      else {
        if (tryHash) (this.stats.unknown++, (e.unknownAt ??= new Set()).add(relay.id));
        r = await this.deps.client.push(relay.id, { ...p, blob: e.blob });
        this.stats.placed++;
        this.stats.bytes += e.blob.length;
      }
      this.problems.delete(relay.id);
      for (const x of r.to) if (need.includes(x)) e.placed.get(x)!.push(relay.household);
      for (const x of need) if (!r.to.includes(x)) this.cannotServe.set(`${relay.id}/${x}`, this.deps.clock.now());
      return r.to.length > 0;
    } catch (err) {
      const code = isKithError(err) ? err.code : 'INTERNAL';
      this.stats.refused[code] = (this.stats.refused[code] ?? 0) + 1;
      const message = (err as Error).message;
      const forUser = code === 'STORAGE_FULL' || code === 'RATE_LIMITED';
      if (forUser) {
        this.problems.set(relay.id, { code, message, atMs: this.deps.clock.wallTime() });
        this.busy.add(relay.id);
      } else if (code === 'MAILBOX_REFUSED') for (const x of need) this.cannotServe.set(`${relay.id}/${x}`, this.deps.clock.now());
      this.deps.log?.(forUser ? 'warn' : 'debug', `mailbox: ${relay.id.slice(0, 12)} did not take a blob of ${e.group.slice(0, 12)}: [${code}] ${message}`);
      return false;
    }
  }

  private async finish(e: Entry, why: 'done' | 'dropped'): Promise<void> {
    this.entries.delete(e.hash);
    await this.deps.store.del(`mboxq/${e.hash}`);
    this.stats[why]++;
    if (why === 'dropped') this.deps.log?.('warn', `mailbox: a blob of ${e.group.slice(0, 12)} found no relay in ${Math.round(this.o.ttlMs / 86_400_000)} days: dropped from the queue`);
  }

  private async trim(): Promise<void> {
    while (this.entries.size > this.o.maxEntries) {
      const oldest = [...this.entries.values()].reduce((a, b) => (b.atMs < a.atMs ? b : a));
      await this.finish(oldest, 'dropped');
    }
  }
}

function encodeEntry(e: Entry): Uint8Array {
  return encodeCanonical({
    g: hexBytes(e.group), s: hexBytes(e.sender), q: e.seq, b: e.blob, at: Math.floor(e.atMs),
    p: [...e.placed].sort(([a], [b]) => (a < b ? -1 : 1)).map(([r, hh]) => [hexBytes(r), hh]),
  });
}

function decodeEntry(v: Uint8Array): Omit<Entry, 'notBeforeMs'> | undefined {
  try {
    const m = decodeCanonical(v, { maxBytes: 256 * 1024, maxDepth: 4, maxItems: 2048 }) as Record<string, CborValue>;
    const blob = m['b'] as Uint8Array;
    const placed = new Map((m['p'] as [Uint8Array, string[]][]).map(([r, hh]) => [toHex(r), [...hh]]));
    return { group: toHex(m['g'] as Uint8Array), sender: toHex(m['s'] as Uint8Array), seq: m['q'] as number, blob, hash: toHex(sha256(blob)), atMs: m['at'] as number, placed };
  } catch {
    return undefined; // a damaged entry: the blob is still in sync's store, digests carry it
  }
}
