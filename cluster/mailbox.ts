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
import { toHex } from '../core/hex.js';
import type { Rng } from '../core/rng.js';
import { prefixEnd, type KvStore } from '../core/store.js';
import { sha256 } from '@noble/hashes/sha2.js';
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
}

interface Usage {
  bytes: number;
  blobs: number;
}

const pad = (n: number) => String(n).padStart(16, '0');
/** Expiry runs at most this often (lazily, from a request): a TTL of days needs no finer grain. */
const EXPIRE_EVERY_MS = MINUTE;

export class MailboxRelay {
  readonly stats = { pushed: 0, duplicates: 0, merged: 0, deleted: 0, expired: 0, refused: {} as Record<string, number> };
  private incarnation = '';
  private head = 0;
  private readonly groups = new Map<string, Usage>();
  private readonly friends = new Map<string, Usage>();
  /** Per recipient node: what waits for it (not yet acknowledged by it). */
  private readonly waiting = new Map<string, Usage>();
  private total: Usage = { bytes: 0, blobs: 0 };
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();
  /** Per recipient: the lowest cursor it may still lose (set when a blob it had not acked went away). */
  private readonly lostUpTo = new Map<string, number>();
  private readonly o: MailboxLimits;
  /** Requests run one at a time: two pushes or a push and an ack never interleave on a blob. */
  private queue: Promise<unknown> = Promise.resolve();
  private expiredAtMs = -Infinity;

  constructor(private readonly deps: MailboxDeps, limits: Partial<MailboxLimits> = {}) {
    this.o = { ...DEFAULT_MAILBOX, ...limits };
  }

  /** Loads (or creates) the incarnation and the accounting from the store. */
  async start(): Promise<void> {
    const meta = await this.deps.store.get('mbox/meta');
    if (meta) {
      const m = decodeCanonical(meta) as Record<string, CborValue>;
      this.incarnation = toHex(m['inc'] as Uint8Array);
      this.head = m['head'] as number;
    } else {
      this.incarnation = toHex(this.deps.rng.bytes(8));
      await this.saveMeta();
    }
    for await (const [, v] of this.deps.store.range({ gte: 'mbox/b/', lt: prefixEnd('mbox/b/') })) this.account(decodeBlob(v), +1);
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
    return run;
  }

  private async handleNow(member: string, body: Uint8Array): Promise<Uint8Array> {
    const req = parseRequest(body);
    let answer: MailboxAnswer;
    if ('error' in req) answer = { t: 'err', code: 'MAILBOX_BAD_REQUEST', why: req.error };
    else if (this.deps.userOf(member) === undefined) answer = { t: 'err', code: 'MAILBOX_REFUSED', why: 'not a member' };
    else answer = await this.answer(member, req);
    if (answer.t === 'err') this.stats.refused[answer.code] = (this.stats.refused[answer.code] ?? 0) + 1;
    return encodeAnswer(answer);
  }

  private async answer(member: string, r: MailboxRequest): Promise<MailboxAnswer> {
    switch (r.t) {
      case 'hello':
        return { t: 'welcome', inc: this.incarnation, head: this.head, waiting: await this.waitingFor(member, r.inc === this.incarnation ? r.after : 0), hh: this.deps.household ?? '' };
      case 'push':
        return this.push(member, r);
      case 'pull':
        return this.pull(member, r);
      case 'ack':
        return this.ack(member, r);
    }
  }

  private async push(member: string, r: Extract<MailboxRequest, { t: 'push' }>): Promise<MailboxAnswer> {
    const user = this.deps.userOf(member)!;
    if (r.blob.length > this.o.maxBlobBytes) return { t: 'err', code: 'MAILBOX_TOO_LARGE', why: `blob of ${r.blob.length} bytes is over ${this.o.maxBlobBytes}` };
    // Only for recipients this relay can serve (its members): never stored for a stranger.
    const to = [...new Set(r.to)].filter((x) => x !== member && this.deps.userOf(x) !== undefined);
    if (to.length === 0) return { t: 'err', code: 'MAILBOX_REFUSED', why: 'no recipient is a member of this relay' };
    if (!this.takeToken(member)) return { t: 'err', code: 'RATE_LIMITED', why: `more than ${this.o.pushesPerMinute} pushes a minute` };
    const hash = toHex(sha256(r.blob));
    const dup = await this.deps.store.get(`mbox/h/${hash}`);
    if (dup) return this.merge(Number(new TextDecoder().decode(dup)), hash, to);
    const size = r.blob.length;
    const g = this.groups.get(r.group) ?? { bytes: 0, blobs: 0 };
    const f = this.friends.get(user) ?? { bytes: 0, blobs: 0 };
    if (g.bytes + size > this.o.perGroupBytes || f.bytes + size > this.o.perFriendBytes || this.total.bytes + size > this.o.totalBytes) {
      return { t: 'err', code: 'STORAGE_FULL', why: g.bytes + size > this.o.perGroupBytes ? 'the group\'s quota is full' : f.bytes + size > this.o.perFriendBytes ? 'your quota on this relay is full' : 'this relay is full' };
    }
    const cursor = ++this.head;
    const blob: StoredBlob = { cursor, group: r.group, sender: r.sender, seq: r.seq, hash, from: user, atMs: Math.floor(this.deps.clock.wallTime()), to, acked: [], blob: r.blob };
    await this.deps.store.batch([
      { type: 'put', key: `mbox/b/${pad(cursor)}`, value: encodeBlob(blob) },
      { type: 'put', key: `mbox/h/${hash}`, value: new TextEncoder().encode(String(cursor)) },
      ...to.map((x) => ({ type: 'put' as const, key: `mbox/r/${x}/${pad(cursor)}`, value: EMPTY })),
      { type: 'put', key: 'mbox/meta', value: this.metaBytes() },
    ]);
    this.account(blob, +1);
    this.stats.pushed++;
    this.notifyAll(to, cursor);
    return { t: 'pushed', inc: this.incarnation, cursor, hash, to };
  }

  /** The same blob again: stored once; recipients it did not name before are added (and told). */
  private async merge(cursor: number, hash: string, to: string[]): Promise<MailboxAnswer> {
    this.stats.duplicates++;
    const key = `mbox/b/${pad(cursor)}`;
    const v = await this.deps.store.get(key);
    if (!v) return { t: 'pushed', inc: this.incarnation, cursor, hash, to: [] };
    const b = decodeBlob(v);
    const added = to.filter((x) => !b.to.includes(x));
    if (added.length > 0) {
      b.to.push(...added);
      await this.deps.store.batch([{ type: 'put', key, value: encodeBlob(b) }, ...added.map((x) => ({ type: 'put' as const, key: `mbox/r/${x}/${pad(cursor)}`, value: EMPTY }))]);
      for (const x of added) this.use(this.waiting, x, b.blob.length, +1);
      this.stats.merged++;
      this.notifyAll(added, cursor);
    }
    return { t: 'pushed', inc: this.incarnation, cursor, hash, to: to.filter((x) => !b.acked.includes(x)) };
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
    const items: StoredBlob[] = [];
    let bytes = 0;
    let hasMore = false;
    const base = `mbox/r/${member}/`;
    for await (const [k] of this.deps.store.range({ gte: base + pad(after + 1), lt: prefixEnd(base) })) {
      const v = await this.deps.store.get(`mbox/b/${k.slice(base.length)}`);
      if (!v) continue;
      const b = decodeBlob(v);
      if (items.length === limit || (items.length > 0 && bytes + b.blob.length > this.o.maxPullBytes)) {
        hasMore = true;
        break;
      }
      items.push(b);
      bytes += b.blob.length;
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
    for await (const [k] of this.deps.store.range({ gte: base, lt: base + pad(r.upTo + 1) })) keys.push(k);
    for (const k of keys) {
      const key = `mbox/b/${k.slice(base.length)}`;
      const v = await this.deps.store.get(key);
      if (!v) {
        await this.deps.store.del(k);
        continue;
      }
      const b = decodeBlob(v);
      if (!b.acked.includes(member)) b.acked.push(member);
      this.use(this.waiting, member, b.blob.length, -1);
      if (b.to.every((x) => b.acked.includes(x))) {
        await this.remove(key, b);
        deleted++;
      } else await this.deps.store.batch([{ type: 'put', key, value: encodeBlob(b) }, { type: 'del', key: k }]);
    }
    return { t: 'acked', inc: this.incarnation, deleted };
  }

  private async expireSometimes(): Promise<void> {
    if (this.deps.clock.now() - this.expiredAtMs < EXPIRE_EVERY_MS) return;
    this.expiredAtMs = this.deps.clock.now();
    await this.expire();
  }

  /**
   * Drops blobs past the TTL; their unacknowledged recipients will see a gap. Cursors are given in
   * arrival order, so the scan stops at the first blob still young (a wall clock set back can
   * keep an old one a little longer, never drop a young one).
   */
  async expire(): Promise<number> {
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

  private async remove(key: string, b: StoredBlob): Promise<void> {
    const open = b.to.filter((x) => !b.acked.includes(x));
    await this.deps.store.batch([{ type: 'del', key }, { type: 'del', key: `mbox/h/${b.hash}` }, ...open.map((x) => ({ type: 'del' as const, key: `mbox/r/${x}/${pad(b.cursor)}` }))]);
    this.account(b, -1);
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

  private use(m: Map<string, Usage>, k: string, bytes: number, sign: 1 | -1): void {
    const u = m.get(k) ?? { bytes: 0, blobs: 0 };
    u.bytes += sign * bytes;
    u.blobs += sign;
    if (u.blobs <= 0) m.delete(k);
    else m.set(k, u);
  }

  private account(b: StoredBlob, sign: 1 | -1): void {
    this.use(this.groups, b.group, b.blob.length, sign);
    this.use(this.friends, b.from, b.blob.length, sign);
    for (const x of b.to) if (!b.acked.includes(x)) this.use(this.waiting, x, b.blob.length, sign);
    this.total = { bytes: this.total.bytes + sign * b.blob.length, blobs: this.total.blobs + sign };
  }

  private metaBytes(): Uint8Array {
    return encodeCanonical({ inc: hexBytes(this.incarnation), head: this.head });
  }

  private async saveMeta(): Promise<void> {
    await this.deps.store.put('mbox/meta', this.metaBytes());
  }
}

const EMPTY = new Uint8Array(0);
const hexBytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

function encodeBlob(b: StoredBlob): Uint8Array {
  return encodeCanonical(b as unknown as CborValue);
}

function decodeBlob(v: Uint8Array): StoredBlob {
  return decodeCanonical(v, { maxBytes: 1024 * 1024, maxDepth: 4, maxItems: 1024 }) as unknown as StoredBlob;
}
