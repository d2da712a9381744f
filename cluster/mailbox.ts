// The mailbox relay: a node that stores and forwards ciphertext blobs for members who are not
// reachable (cluster/README.md, "Mailbox"). Sync Relay semantics made peer to peer: HELLO/WELCOME
// with the relay's incarnation and head cursor, PUSH/PUSH_ACK, PULL after a cursor with a limit
// and has_more, NOTIFY to online recipients, ACK then DELETE once every recipient acknowledged,
// a TTL, a blob size limit, quotas per group and per friend, a message rate per member. Cursors
// are this relay's own counter, prefixed by its incarnation (random, new when its store is
// empty), so a client that holds a cursor of a lost store notices and pulls everything again.
// Wall-clock time is never a cursor; it only ages blobs out.
import type { Clock } from '../core/clock.js';
import { HOUR, MINUTE } from '../core/clock.js';

const DAY = 24 * HOUR;
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { hexBytes, toHex } from '../core/hex.js';
import type { Rng } from '../core/rng.js';
import { prefixEnd, type BatchOp, type KvStore } from '../core/store.js';
import { createHash } from 'node:crypto';
import { encodeAnswer, parseRequest, type MailboxAnswer, type MailboxRequest, type StoredBlob } from './mailbox-wire.js';

export interface MailboxLimits {
  /** Largest blob, bytes: one sealed conversation record (64 KiB) with its envelope, rounded up. */
  maxBlobBytes: number;
  /** Blobs older than this are dropped, acknowledged or not. */
  ttlMs: number;
  /** Bytes held for one group (conversation). */
  perGroupBytes: number;
  /** Bytes held for one friend (the user whose node pushed). */
  perFriendBytes: number;
  /** Bytes held in all. */
  totalBytes: number;
  /** Pushes per member per minute (a token bucket of this size, refilled per minute). */
  pushesPerMinute: number;
  /** Most blobs in one PULL answer. */
  maxPull: number;
  /** Most blob bytes in one PULL answer (one blob always goes): well under the reliable message limit. */
  maxPullBytes: number;
}

/** Defaults and why: consensus/README.md and cluster/README.md ("Mailbox", "Defaults"). */
export const DEFAULT_MAILBOX: MailboxLimits = {
  maxBlobBytes: 80 * 1024,
  ttlMs: 30 * DAY,
  perGroupBytes: 64 * 1024 * 1024,
  perFriendBytes: 256 * 1024 * 1024,
  totalBytes: 1024 * 1024 * 1024,
  pushesPerMinute: 120,
  maxPull: 256,
  maxPullBytes: 1024 * 1024,
};

export interface MailboxDeps {
  store: KvStore;
  clock: Clock;
  rng: Rng;
  /** The user (hex) a member node belongs to: quotas are per friend, not per machine. Undefined: a stranger. */
  userOf(member: string): string | undefined;
  /** Tells an online recipient that something is waiting (NOTIFY); may fail silently. */
  notify(member: string, body: Uint8Array): void;
  isOnline(member: string): boolean;
  /** This relay's household (WELCOME `hh`): its user, unless the node's config names another. */
  household?: string;
  /** Start-up notes (a rebuild of the counts from the records, and why). */
  log?(line: string): void;
}

interface Usage {
  bytes: number;
  blobs: number;
}

/** The counts kept on disk: per group (`g`), per pushing friend (`f`), per waiting recipient node (`w`). */
type Kind = 'g' | 'f' | 'w';
/**
 * The version of the counts under mbox/u/ that mbox/meta vouches for (its `v`). A meta without it
 * (written by a version that counted at start-up) or with another one makes start-up count again.
 */
const COUNTS_VERSION = 2;

const pad = (n: number) => String(n).padStart(16, '0');
/** Expiry runs at most this often (lazily, from a request): a TTL of days needs no finer grain. */
const EXPIRE_EVERY_MS = MINUTE;

export class MailboxRelay {
  /**
   * `duplicates`: pushes of a blob already held, bytes and all (the bandwidth the outbox's single
   * pusher saves); `byHash`: pushes by hash, `unknown` of them for a blob not held.
   */
  readonly stats = { pushed: 0, duplicates: 0, byHash: 0, unknown: 0, merged: 0, deleted: 0, expired: 0, refused: {} as Record<string, number> };
  private incarnation = '';
  private head = 0;
  private readonly groups = new Map<string, Usage>();
  private readonly friends = new Map<string, Usage>();
  /** Per recipient node: what waits for it (not yet acknowledged by it). */
  private readonly waiting = new Map<string, Usage>();
  private readonly usage: Record<Kind, Map<string, Usage>> = { g: this.groups, f: this.friends, w: this.waiting };
  private total: Usage = { bytes: 0, blobs: 0 };
  /** Counts changed in memory since they were last put in a batch ("g/<group>", …): the next batch writes them. */
  private readonly touched = new Set<string>();
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();
  /** Per recipient: the lowest cursor it may still lose (set when a blob it had not acked went away). */
  private readonly lostUpTo = new Map<string, number>();
  private readonly o: MailboxLimits;
  /** Requests run one at a time: two pushes or a push and an ack never interleave on a blob. */
  private queue: Promise<unknown> = Promise.resolve();
  private expiredAtMs = -Infinity;
  /**
   * Per recipient: the highest cursor it acknowledged (in memory). Its index holds nothing at or
   * below it (the ack deleted those, and new entries always take a new cursor), so the next ack
   * ranges from above it instead of over the store's deleted entries.
   */
  private readonly ackFloor = new Map<string, number>();
  /**
   * Group commit: the writes of pushes that came while a write was under way go to disk together
   * in the next batch (one LevelDB write for many pushes). A push is answered once its batch is
   * written; every other request waits for the writes before it (it reads the store).
   */
  private open: { ops: BatchOp[]; blobs: StoredBlob[]; done: Promise<void> } | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** Hashes of pushed blobs whose batch is not written yet (a duplicate of one waits for it). */
  private readonly unwritten = new Set<string>();
  /**
   * How many held blobs have a hash starting with these 28 bits: a push whose prefix is not here
   * is no duplicate, without a store read (about 4 MB for 100,000 blobs; bench/mailbox.ts).
   * Undefined after a start from the counts on disk (they hold no hashes): every push then reads
   * mbox/h/<hash>, which LevelDB's bloom filter answers for an absent key without a block read.
   */
  private hashPrefixes: Map<number, number> | undefined;

  constructor(private readonly deps: MailboxDeps, limits: Partial<MailboxLimits> = {}) {
    this.o = { ...DEFAULT_MAILBOX, ...limits };
  }

  /**
   * Loads (or creates) the incarnation and the counts. The counts are read from mbox/meta and
   * mbox/u/ (written in the same batch as every change to the blobs, so they match the records
   * after any crash); the records are read only when those are missing, damaged or of another
   * version (logged), and the counts are then written for the next start. No blob is dropped.
   */
  async start(): Promise<void> {
    const raw = await this.deps.store.get('mbox/meta');
    let meta: { inc: string; head: number; v: number | undefined } | undefined;
    try {
      meta = raw ? readMeta(raw) : undefined;
    } catch {
      meta = undefined;
    }
    if (meta) {
      this.incarnation = meta.inc;
      this.head = meta.head;
    }
    const why = !raw ? undefined : !meta ? 'mbox/meta is damaged' : meta.v !== COUNTS_VERSION ? `mbox/meta has counts of version ${meta.v ?? 1}, not ${COUNTS_VERSION}` : await this.loadCounts();
    if (raw && !why) {
      if (this.total.blobs === 0) this.hashPrefixes = new Map(); // nothing held: the (empty) prefix counts are complete
      return;
    }
    await this.recount(raw !== undefined, why);
  }

  /** Reads the counts under mbox/u/; a reason to count again when they are damaged or do not add up, else undefined. */
  private async loadCounts(): Promise<string | undefined> {
    try {
      for await (const [k, v] of this.deps.store.range({ gte: 'mbox/u/', lt: prefixEnd('mbox/u/') })) {
        const kind = k.slice(7, 8) as Kind;
        const u = decodeCanonical(v, { maxBytes: 64, maxDepth: 2, maxItems: 4 }) as CborValue[];
        if (!(kind in this.usage) || k[8] !== '/' || !Array.isArray(u) || u.length !== 2 || !u.every((x) => typeof x === 'number' && Number.isSafeInteger(x) && x >= 0) || u[1] === 0) throw new Error(k);
        this.usage[kind].set(k.slice(9), { bytes: u[0] as number, blobs: u[1] as number });
      }
    } catch (e) {
      this.clearCounts();
      return `a count under mbox/u/ is damaged (${(e as Error).message.slice(0, 80)})`;
    }
    const sum = (m: Map<string, Usage>) => [...m.values()].reduce((a, u) => ({ bytes: a.bytes + u.bytes, blobs: a.blobs + u.blobs }), { bytes: 0, blobs: 0 });
    const [g, f] = [sum(this.groups), sum(this.friends)];
    if (g.bytes !== f.bytes || g.blobs !== f.blobs) {
      this.clearCounts();
      return 'the counts per group and per friend do not add up to the same total';
    }
    this.total = g;
    return undefined;
  }

  private clearCounts(): void {
    for (const m of Object.values(this.usage)) m.clear();
    this.total = { bytes: 0, blobs: 0 };
  }

  /**
   * Counts every record again (an older version's store, damaged or missing counts) and writes
   * the counts, replacing whatever mbox/u/ held. A store without mbox/meta, or with a damaged one,
   * gets a new incarnation (clients pull it from the start); the head stays past every cursor held.
   */
  private async recount(hadMeta: boolean, why: string | undefined): Promise<void> {
    this.clearCounts();
    this.hashPrefixes = new Map();
    const stale: string[] = [];
    for await (const [k] of this.deps.store.range({ gte: 'mbox/u/', lt: prefixEnd('mbox/u/') })) stale.push(k);
    let last = 0;
    for await (const [, v] of this.deps.store.range({ gte: 'mbox/b/', lt: prefixEnd('mbox/b/') })) {
      const b = decodeBlob(v);
      this.account(b, +1);
      last = Math.max(last, b.cursor);
    }
    if (!this.incarnation) this.incarnation = toHex(this.deps.rng.bytes(8));
    this.head = Math.max(this.head, last);
    if (hadMeta || this.total.blobs > 0) this.deps.log?.(`mailbox: counted ${this.total.blobs} stored blob${this.total.blobs === 1 ? '' : 's'} again (${why ?? 'mbox/meta is missing: a new incarnation'}); the counts are kept in mbox/meta from now on`);
    await this.deps.store.batch([...stale.map((key) => ({ type: 'del' as const, key })), ...this.countOps()]);
  }

  get incarnationId(): string {
    return this.incarnation;
  }

  get limits(): MailboxLimits {
    return this.o;
  }

  /** What this relay holds, for whom, against which quota (`kith mailbox status`). */
  status() {
    return {
      incarnation: this.incarnation, head: this.head, blobs: this.total.blobs, bytes: this.total.bytes, limits: this.o,
      groups: Object.fromEntries(this.groups), friends: Object.fromEntries(this.friends), recipients: Object.fromEntries(this.waiting), stats: this.stats,
    };
  }

  /** Handles one request body from a member; returns the answer body. Never throws on bad input. */
  handle(member: string, body: Uint8Array): Promise<Uint8Array> {
    const run = this.queue.then(() => this.handleNow(member, body));
    this.queue = run.catch(() => undefined);
    return run.then(async (a) => {
      await a.written;
      return a.bytes;
    });
  }

  /** The answer, and the write it waits for (a push's batch): the next request runs meanwhile. */
  private async handleNow(member: string, body: Uint8Array): Promise<{ bytes: Uint8Array; written?: Promise<void> }> {
    const req = parseRequest(body);
    let answer: MailboxAnswer;
    let written: Promise<void> | undefined;
    if ('error' in req) answer = { t: 'err', code: 'MAILBOX_BAD_REQUEST', why: req.error };
    else if (this.deps.userOf(member) === undefined) answer = { t: 'err', code: 'MAILBOX_REFUSED', why: 'not a member' };
    else if (req.t === 'push') ({ answer, written } = await this.push(member, req));
    else answer = await this.answer(member, req);
    if (answer.t === 'err') this.stats.refused[answer.code] = (this.stats.refused[answer.code] ?? 0) + 1;
    return { bytes: encodeAnswer(answer), written };
  }

  /**
   * Adds a pushed blob's writes to the batch that goes to disk next; resolves when it is written.
   * The blob is counted already (the next push sees the quota it leaves); the batch also writes
   * the counts as they are when it closes (every push counted so far is in it or in one before),
   * and a batch that fails uncounts its blobs, so memory and disk keep agreeing.
   */
  private commit(ops: BatchOp[], blob: StoredBlob): Promise<void> {
    let b = this.open;
    if (!b) {
      const batch: { ops: BatchOp[]; blobs: StoredBlob[]; done: Promise<void> } = { ops: [], blobs: [], done: Promise.resolve() };
      batch.done = this.writing.then(async () => {
        if (this.open === batch) this.open = undefined; // later pushes go to the next batch
        try {
          await this.deps.store.batch([...batch.ops, ...this.countOps()]);
        } catch (e) {
          for (const x of batch.blobs) this.account(x, -1);
          throw e;
        } finally {
          for (const x of batch.blobs) this.unwritten.delete(x.hash);
        }
      });
      this.writing = batch.done.catch(() => undefined);
      b = this.open = batch;
    }
    b.ops.push(...ops);
    b.blobs.push(blob);
    this.unwritten.add(blob.hash);
    return b.done;
  }

  /**
   * Writes `ops` with the counts changed since the last write, in one batch. The caller changed
   * the counts in memory first; `undo` puts them back when the write fails. Runs with no push
   * batch open (after flushed(), in the request queue), so only its own changes are unwritten.
   */
  private async write(ops: BatchOp[], undo: () => void): Promise<void> {
    try {
      await this.deps.store.batch([...ops, ...this.countOps()]);
    } catch (e) {
      undo();
      throw e;
    }
  }

  /** Every push accepted so far is on disk (or its write failed). */
  private async flushed(): Promise<void> {
    await (this.open?.done.catch(() => undefined) ?? this.writing);
  }

  private async answer(member: string, r: Exclude<MailboxRequest, { t: 'push' }>): Promise<MailboxAnswer> {
    await this.flushed();
    switch (r.t) {
      case 'hello':
        return { t: 'welcome', inc: this.incarnation, head: this.head, waiting: await this.waitingFor(member, r.inc === this.incarnation ? r.after : 0), hh: this.deps.household ?? '' };
      case 'pull':
        return this.pull(member, r);
      case 'ack':
        return this.ack(member, r);
    }
  }

  private async push(member: string, r: Extract<MailboxRequest, { t: 'push' }>): Promise<{ answer: MailboxAnswer; written?: Promise<void> }> {
    const user = this.deps.userOf(member)!;
    if (r.blob === undefined) return { answer: await this.pushByHash(member, r) };
    if (r.blob.length > this.o.maxBlobBytes) return { answer: { t: 'err', code: 'MAILBOX_TOO_LARGE', why: `blob of ${r.blob.length} bytes is over ${this.o.maxBlobBytes}` } };
    // Only for recipients this relay can serve (its members): never stored for a stranger.
    const to = [...new Set(r.to)].filter((x) => x !== member && this.deps.userOf(x) !== undefined);
    if (to.length === 0) return { answer: { t: 'err', code: 'MAILBOX_REFUSED', why: 'no recipient is a member of this relay' } };
    if (!this.takeToken(member)) return { answer: { t: 'err', code: 'RATE_LIMITED', why: `more than ${this.o.pushesPerMinute} pushes a minute` } };
    const hash = createHash('sha256').update(r.blob).digest('hex'); // native: a relay hashes every blob pushed
    const dup = await this.heldAt(hash);
    if (dup !== undefined) {
      this.stats.duplicates++;
      return { answer: (await this.merge(dup, hash, to))! }; // undefined only for a named mismatch
    }
    const size = r.blob.length;
    const g = this.groups.get(r.group) ?? { bytes: 0, blobs: 0 };
    const f = this.friends.get(user) ?? { bytes: 0, blobs: 0 };
    if (g.bytes + size > this.o.perGroupBytes || f.bytes + size > this.o.perFriendBytes || this.total.bytes + size > this.o.totalBytes) {
      return { answer: { t: 'err', code: 'STORAGE_FULL', why: g.bytes + size > this.o.perGroupBytes ? 'the group\'s quota is full' : f.bytes + size > this.o.perFriendBytes ? 'your quota on this relay is full' : 'this relay is full' } };
    }
    const cursor = ++this.head;
    const blob: StoredBlob = { cursor, group: r.group, sender: r.sender, seq: r.seq, hash, from: user, atMs: Math.floor(this.deps.clock.wallTime()), to, acked: [], size };
    // Counted now, so the next push in the same batch sees the quota it leaves (a failed write
    // answers an error and uncounts it).
    this.account(blob, +1);
    const written = this.commit([
      { type: 'put', key: `mbox/b/${pad(cursor)}`, value: encodeBlob(blob) },
      { type: 'put', key: `mbox/d/${hash}`, value: r.blob },
      { type: 'put', key: `mbox/h/${hash}`, value: new TextEncoder().encode(String(cursor)) },
      ...to.map((x) => ({ type: 'put' as const, key: `mbox/r/${x}/${pad(cursor)}`, value: EMPTY })),
    ], blob).then(() => {
      this.stats.pushed++;
      this.notifyAll(to, cursor);
    });
    return { answer: { t: 'pushed', inc: this.incarnation, cursor, hash, to }, written };
  }

  /**
   * A push by hash: the blob's bytes are not sent, because the pusher expects the relay to hold
   * them already (another node of the group pushed it). Held: the same as a push of the same blob
   * (recipients added, `pushed`). Not held: MAILBOX_UNKNOWN, and the pusher sends the bytes.
   */
  private async pushByHash(member: string, r: Extract<MailboxRequest, { hash: string }>): Promise<MailboxAnswer> {
    this.stats.byHash++;
    const to = [...new Set(r.to)].filter((x) => x !== member && this.deps.userOf(x) !== undefined);
    if (to.length === 0) return { t: 'err', code: 'MAILBOX_REFUSED', why: 'no recipient is a member of this relay' };
    if (!this.takeToken(member)) return { t: 'err', code: 'RATE_LIMITED', why: `more than ${this.o.pushesPerMinute} pushes a minute` };
    const held = await this.heldAt(r.hash);
    // A hash alone proves nothing (it is also the envelope's id in sync): the blob held must be the
    // one named, same group, sender and seq, and a mismatch answers exactly as "not held", so a
    // member cannot add itself to another group's blob nor learn that this relay holds it.
    const answer = held !== undefined ? await this.merge(held, r.hash, to, r) : undefined;
    if (!answer) {
      this.stats.unknown++;
      return { t: 'err', code: 'MAILBOX_UNKNOWN', why: 'no blob with this hash here: push its bytes' };
    }
    return answer;
  }

  /** The cursor of the blob held under this hash, if any (after the batch that may still be writing it). */
  private async heldAt(hash: string): Promise<number | undefined> {
    if (this.unwritten.has(hash)) await this.flushed(); // the same blob in a batch not written yet
    const v = this.hashPrefixes?.has(prefixOf(hash)) !== false ? await this.deps.store.get(`mbox/h/${hash}`) : undefined;
    return v ? Number(new TextDecoder().decode(v)) : undefined;
  }

  /**
   * The same blob again: stored once. Recipients it did not name before are added, and the blob
   * moves to a new cursor (its TTL restarts): a new recipient's cursor may already be past the old
   * one, and cursors stay in arrival order. Every recipient still waiting for it is notified: one
   * that pulled it under the old cursor and acknowledges later gets it once more (dropped by hash).
   */
  private async merge(cursor: number, hash: string, to: string[], named?: { group: string; sender: string; seq: number }): Promise<MailboxAnswer | undefined> {
    await this.flushed(); // its writes (the head in mbox/meta) must land after every batch before it
    const key = `mbox/b/${pad(cursor)}`;
    const v = await this.deps.store.get(key);
    if (!v) return named ? undefined : { t: 'pushed', inc: this.incarnation, cursor, hash, to: [] };
    const b = decodeBlob(v);
    if (named && (b.group !== named.group || b.sender !== named.sender || b.seq !== named.seq)) return undefined;
    const added = to.filter((x) => !b.to.includes(x));
    if (added.length === 0) return { t: 'pushed', inc: this.incarnation, cursor, hash, to: to.filter((x) => !b.acked.includes(x)) };
    const open = b.to.filter((x) => !b.acked.includes(x));
    const moved: StoredBlob = { ...b, cursor: ++this.head, atMs: Math.floor(this.deps.clock.wallTime()), to: [...b.to, ...added] };
    const waiting = [...open, ...added];
    this.account(b, -1);
    this.account(moved, +1);
    await this.write([
      { type: 'del', key }, ...open.map((x) => ({ type: 'del' as const, key: `mbox/r/${x}/${pad(cursor)}` })),
      { type: 'put', key: `mbox/b/${pad(moved.cursor)}`, value: encodeBlob(moved) },
      { type: 'put', key: `mbox/h/${hash}`, value: new TextEncoder().encode(String(moved.cursor)) },
      ...waiting.map((x) => ({ type: 'put' as const, key: `mbox/r/${x}/${pad(moved.cursor)}`, value: EMPTY })),
    ], () => (this.account(moved, -1), this.account(b, +1)));
    this.stats.merged++;
    this.notifyAll(waiting, moved.cursor); // the earlier recipients too: theirs moved past a pull they may not have acknowledged yet
    return { t: 'pushed', inc: this.incarnation, cursor: moved.cursor, hash, to: to.filter((x) => !moved.acked.includes(x)) };
  }

  private notifyAll(to: string[], cursor: number): void {
    const note = encodeCanonical({ t: 'notify', inc: hexBytes(this.incarnation), cursor });
    for (const x of to) if (this.deps.isOnline(x)) this.deps.notify(x, note);
  }

  /**
   * Blobs for `member` after `after`, from its own index (mbox/r/<member>/), at most `limit` and
   * at most maxPullBytes of blobs (one always, so a page moves); complete = nothing it was owed
   * went away unseen.
   */
  private async pull(member: string, r: Extract<MailboxRequest, { t: 'pull' }>): Promise<MailboxAnswer> {
    await this.expireSometimes();
    const stale = r.inc !== this.incarnation;
    const after = stale ? 0 : r.after;
    const limit = Math.min(r.limit, this.o.maxPull);
    const items: (StoredBlob & { blob: Uint8Array })[] = [];
    let bytes = 0;
    let hasMore = false;
    const base = `mbox/r/${member}/`;
    for await (const [k] of this.deps.store.range({ gte: base + pad(after + 1), lt: prefixEnd(base) })) {
      const v = await this.deps.store.get(`mbox/b/${k.slice(base.length)}`);
      if (!v) continue;
      const b = decodeBlob(v);
      if (items.length === limit || (items.length > 0 && bytes + b.size > this.o.maxPullBytes)) {
        hasMore = true;
        break;
      }
      const data = b.blob ?? (await this.deps.store.get(`mbox/d/${b.hash}`)); // read only for the page
      if (!data) continue;
      items.push({ ...b, blob: data });
      bytes += b.size;
    }
    // A gap: the client's cursor is from another incarnation (the relay lost its store), or
    // blobs addressed to it after its cursor expired or were dropped before it acknowledged them.
    const gap = stale || (this.lostUpTo.get(member) ?? 0) > after;
    return { t: 'blobs', inc: this.incarnation, items: items.map((b) => ({ cursor: b.cursor, group: b.group, sender: b.sender, seq: b.seq, hash: b.hash, blob: b.blob })), hasMore, complete: !gap };
  }

  /** The recipient has every blob up to `upTo`: blobs every recipient acknowledged are deleted. */
  private async ack(member: string, r: Extract<MailboxRequest, { t: 'ack' }>): Promise<MailboxAnswer> {
    if (r.inc !== this.incarnation) return { t: 'err', code: 'MAILBOX_STALE', why: 'cursor of another incarnation: pull again' };
    let deleted = 0;
    const base = `mbox/r/${member}/`;
    const keys: string[] = [];
    const floor = this.ackFloor.get(member) ?? 0;
    for await (const [k] of this.deps.store.range({ gte: base + pad(floor < r.upTo ? floor + 1 : 0), lt: base + pad(r.upTo + 1) })) keys.push(k);
    for (const k of keys) {
      const key = `mbox/b/${k.slice(base.length)}`;
      const v = await this.deps.store.get(key);
      if (!v) {
        await this.deps.store.del(k);
        continue;
      }
      const b = decodeBlob(v);
      const owed = !b.acked.includes(member);
      const acked = owed ? [...b.acked, member] : b.acked;
      if (b.to.every((x) => acked.includes(x))) {
        await this.remove(key, b, k); // uncounted as it was: still waiting for this member, if owed
        deleted++;
      } else {
        if (owed) this.use('w', member, b.size, -1);
        await this.write([{ type: 'put', key, value: encodeBlob({ ...b, acked }) }, { type: 'del', key: k }], () => owed && this.use('w', member, b.size, +1));
      }
    }
    this.ackFloor.set(member, Math.max(floor, Math.min(r.upTo, this.head))); // an ack beyond the head cannot hide later blobs
    return { t: 'acked', inc: this.incarnation, deleted };
  }

  private async expireSometimes(): Promise<void> {
    if (this.deps.clock.now() - this.expiredAtMs < EXPIRE_EVERY_MS) return;
    this.expiredAtMs = this.deps.clock.now();
    await this.expireNow();
  }

  /** Drops blobs past the TTL now (in the request queue, after the writes before it); returns how many. */
  expire(): Promise<number> {
    const run = this.queue.then(async () => {
      await this.flushed();
      return this.expireNow();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Drops blobs past the TTL; their unacknowledged recipients will see a gap. Cursors are given in
   * arrival order, so the scan stops at the first blob still young (a wall clock set back can
   * keep an old one a little longer, never drop a young one).
   */
  private async expireNow(): Promise<number> {
    const cutoff = this.deps.clock.wallTime() - this.o.ttlMs;
    let n = 0;
    for await (const [k, v] of this.deps.store.range({ gte: 'mbox/b/', lt: prefixEnd('mbox/b/') })) {
      const b = decodeBlob(v);
      if (b.atMs > cutoff) break;
      for (const to of b.to) if (!b.acked.includes(to)) this.lostUpTo.set(to, Math.max(this.lostUpTo.get(to) ?? 0, b.cursor));
      await this.remove(k, b);
      this.stats.expired++;
      n++;
    }
    return n;
  }

  private async waitingFor(member: string, after: number): Promise<number> {
    let n = 0;
    const base = `mbox/r/${member}/`;
    for await (const _ of this.deps.store.range({ gte: base + pad(after + 1), lt: prefixEnd(base) })) n++;
    return n;
  }

  /** Deletes a blob: its record, bytes, hash and the index entries of recipients still owed it (and `ackedIndex`, the acknowledging one's). */
  private async remove(key: string, b: StoredBlob, ackedIndex?: string): Promise<void> {
    const open = b.to.filter((x) => !b.acked.includes(x));
    this.account(b, -1);
    await this.write([
      { type: 'del', key }, { type: 'del', key: `mbox/d/${b.hash}` }, { type: 'del', key: `mbox/h/${b.hash}` },
      ...open.map((x) => ({ type: 'del' as const, key: `mbox/r/${x}/${pad(b.cursor)}` })),
      ...(ackedIndex === undefined ? [] : [{ type: 'del' as const, key: ackedIndex }]),
    ], () => this.account(b, +1));
    this.stats.deleted++;
  }

  private takeToken(member: string): boolean {
    const now = this.deps.clock.now();
    const b = this.buckets.get(member) ?? { tokens: this.o.pushesPerMinute, atMs: now };
    b.tokens = Math.min(this.o.pushesPerMinute, b.tokens + ((now - b.atMs) * this.o.pushesPerMinute) / MINUTE);
    b.atMs = now;
    this.buckets.set(member, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  private use(kind: Kind, k: string, bytes: number, sign: 1 | -1): void {
    const m = this.usage[kind];
    const u = m.get(k) ?? { bytes: 0, blobs: 0 };
    u.bytes += sign * bytes;
    u.blobs += sign;
    if (u.blobs <= 0) m.delete(k);
    else m.set(k, u);
    this.touched.add(`${kind}/${k}`);
  }

  private account(b: StoredBlob, sign: 1 | -1): void {
    if (this.hashPrefixes) {
      const p = prefixOf(b.hash);
      const n = (this.hashPrefixes.get(p) ?? 0) + sign;
      if (n > 0) this.hashPrefixes.set(p, n);
      else this.hashPrefixes.delete(p);
    }
    this.use('g', b.group, b.size, sign);
    this.use('f', b.from, b.size, sign);
    for (const x of b.to) if (!b.acked.includes(x)) this.use('w', x, b.size, sign);
    this.total = { bytes: this.total.bytes + sign * b.size, blobs: this.total.blobs + sign };
  }

  /** The writes of the counts changed since the last batch (an emptied count is deleted), and mbox/meta. */
  private countOps(): BatchOp[] {
    const ops: BatchOp[] = [];
    for (const t of this.touched) {
      const u = this.usage[t[0] as Kind].get(t.slice(2));
      ops.push(u ? { type: 'put', key: `mbox/u/${t}`, value: encodeCanonical([u.bytes, u.blobs]) } : { type: 'del', key: `mbox/u/${t}` });
    }
    this.touched.clear();
    ops.push({ type: 'put', key: 'mbox/meta', value: encodeCanonical({ inc: hexBytes(this.incarnation), head: this.head, v: COUNTS_VERSION }) });
    return ops;
  }
}

/** mbox/meta: the incarnation, the head, and `v` when the counts under mbox/u/ are kept (throws when damaged). */
function readMeta(v: Uint8Array): { inc: string; head: number; v: number | undefined } {
  const m = decodeCanonical(v, { maxBytes: 256, maxDepth: 1, maxItems: 8 }) as Record<string, CborValue>;
  const inc = m['inc'];
  const head = m['head'];
  if (!(inc instanceof Uint8Array) || inc.length === 0 || typeof head !== 'number' || !Number.isSafeInteger(head) || head < 0) throw new Error('mbox/meta is damaged');
  return { inc: toHex(inc), head, v: typeof m['v'] === 'number' ? m['v'] : undefined };
}

const EMPTY = new Uint8Array(0);
const prefixOf = (hash: string) => parseInt(hash.slice(0, 7), 16);

/** Node keys, group ids and hashes go to disk as bytes (half a hex string); anything else (a test's user name) as is. */
const packHex = (h: string): CborValue => (HEX.test(h) ? hexBytes(h) : h);
const unpackHex = (v: unknown): string => (v instanceof Uint8Array ? toHex(v) : (v as string));
const HEX = /^(?:[0-9a-f]{2})+$/;

function encodeBlob(b: StoredBlob): Uint8Array {
  return encodeCanonical({ ...b, group: packHex(b.group), sender: packHex(b.sender), hash: packHex(b.hash), from: packHex(b.from), to: b.to.map(packHex), acked: b.acked.map(packHex) } as unknown as CborValue);
}

/**
 * A record from mbox/b/. One written before the bytes moved to mbox/d/<hash> holds them inline
 * (`blob`, no `size`) and its ids as hex strings: its size is their length, and it keeps the
 * bytes inline when rewritten (merge, ack), so it is served, counted and deleted as before.
 */
function decodeBlob(v: Uint8Array): StoredBlob {
  const r = decodeCanonical(v, { maxBytes: 1024 * 1024, maxDepth: 4, maxItems: 1024 }) as unknown as Record<keyof StoredBlob, unknown>;
  const b = { ...r, group: unpackHex(r.group), sender: unpackHex(r.sender), hash: unpackHex(r.hash), from: unpackHex(r.from), to: (r.to as unknown[]).map(unpackHex), acked: (r.acked as unknown[]).map(unpackHex) } as StoredBlob;
  if (b.blob !== undefined) b.size = b.blob.length;
  return b;
}
