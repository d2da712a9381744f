// The mailbox relay's rules, request by request: cursors with the relay's incarnation, pulls with
// limit / has_more / complete, delete once every recipient acknowledged, TTL with a gap, quotas
// (STORAGE_FULL), rates (RATE_LIMITED), size limits, duplicates and malformed requests.
import t from 'tap';
import { VirtualClock, HOUR } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { decodeCanonical, encodeCanonical, type CborValue } from '../../core/cbor.js';
import { MailboxRelay, type MailboxLimits } from '../../cluster/mailbox.js';
import { MailboxClient } from '../../cluster/mailbox-client.js';
import { isKithError } from '../../core/errors.js';
import { createHash } from 'node:crypto';

const A = 'a1'.repeat(32); // sender node (alice)
const B = 'b1'.repeat(32); // recipient node (bob's laptop)
const B2 = 'b2'.repeat(32); // recipient node (bob's phone)
const G = '99'.repeat(32);

function relay(limits: Partial<MailboxLimits> = {}, store = new MemoryStore(), clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) })) {
  const notes: string[] = [];
  const r = new MailboxRelay({ store, clock, rng: new SeededRng(`relay:${Math.random()}`), userOf: (m) => (m === A ? 'alice' : m.startsWith('b') ? 'bob' : undefined), notify: (m) => notes.push(m), isOnline: (m) => m === B2 }, limits);
  const client = (member: string, cstore = new MemoryStore()) => new MailboxClient({ store: cstore, request: (_relay, body) => r.handle(member, body) });
  return { r, notes, clock, store, client };
}

const blob = (i: number, size = 100) => new Uint8Array(size).map((_, k) => (k === 0 ? i & 0xff : k === 1 ? i >> 8 : 7));

async function err(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return isKithError(e) ? e.code : `crash: ${(e as Error).message}`;
  }
}

t.test('push, pull in pages, acknowledge: deleted once every recipient node has it', async (t) => {
  const { r, notes, client } = relay({ pushesPerMinute: 1000 });
  await r.start();
  const alice = client(A);
  for (let i = 1; i <= 300; i++) await alice.push('relay', { group: G, sender: A, seq: i, to: [B, B2], blob: blob(i) });
  t.equal(notes.filter((n) => n === B2).length, 300, 'NOTIFY to the online recipient only');
  const got: number[] = [];
  const bob = client(B);
  const c = await bob.catchUp('relay', (b) => void got.push(b.seq));
  t.match(c, { blobs: 300, reset: false, complete: true });
  t.same(got, Array.from({ length: 300 }, (_, i) => i + 1), 'in cursor order, over three pages');
  t.equal(r.status().blobs, 300, 'still held: bob\'s phone has not acknowledged');
  t.match(await bob.catchUp('relay', () => undefined), { blobs: 0, reset: false, complete: true }, 'nothing again after the cursor');
  await client(B2).catchUp('relay', () => undefined);
  t.equal(r.status().blobs, 0, 'every recipient acknowledged: deleted');
  t.equal(r.stats.deleted, 300);
});

t.test('a relay that lost its store has a new incarnation: the client pulls from the start', async (t) => {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const one = relay({}, new MemoryStore(), clock);
  await one.r.start();
  const bobStore = new MemoryStore();
  await one.client(A).push('relay', { group: G, sender: A, seq: 1, to: [B], blob: blob(1) });
  t.match(await one.client(B, bobStore).catchUp('relay', () => undefined), { blobs: 1, reset: false, complete: true });
  // Disk wiped: a new relay on an empty store, then alice pushes again (seq 2 and a re-push of 1).
  const two = relay({}, new MemoryStore(), clock);
  await two.r.start();
  t.not(two.r.incarnationId, one.r.incarnationId);
  await two.client(A).push('relay', { group: G, sender: A, seq: 2, to: [B], blob: blob(2) });
  const got: number[] = [];
  const c = await two.client(B, bobStore).catchUp('relay', (b) => void got.push(b.seq));
  t.same([c.reset, c.blobs, got], [true, 1, [2]], 'the old cursor (1) is not trusted: cursor 1 of the new store is seq 2, and it is pulled');
  // The same relay restarted with its store keeps its incarnation and cursors.
  const again = relay({}, two.store, clock);
  await again.r.start();
  t.equal(again.r.incarnationId, two.r.incarnationId);
});

t.test('TTL: blobs age out; a recipient that had not pulled them is told its pull has a gap', async (t) => {
  const { r, clock, client } = relay({ ttlMs: 10 * HOUR });
  await r.start();
  await client(A).push('relay', { group: G, sender: A, seq: 1, to: [B], blob: blob(1) });
  clock.advance(11 * HOUR);
  await client(A).push('relay', { group: G, sender: A, seq: 2, to: [B], blob: blob(2) });
  const got: number[] = [];
  const c = await client(B).catchUp('relay', (b) => void got.push(b.seq));
  t.same([got, c.complete], [[2], false], 'seq 1 expired unseen: not complete');
  t.equal(r.stats.expired, 1);
});

t.test('quotas, rates and sizes are refused with their codes; duplicates are stored once', async (t) => {
  const { r, client } = relay({ perGroupBytes: 1000, pushesPerMinute: 20, maxBlobBytes: 500 });
  await r.start();
  const alice = client(A);
  for (let i = 1; i <= 9; i++) await alice.push('relay', { group: G, sender: A, seq: i, to: [B], blob: blob(i, 100) });
  t.equal(await err(alice.push('relay', { group: G, sender: A, seq: 10, to: [B], blob: blob(10, 101) })), 'STORAGE_FULL', 'the group quota');
  t.equal(await err(alice.push('relay', { group: '88'.repeat(32), sender: A, seq: 1, to: [B], blob: blob(1, 501) })), 'MAILBOX_REFUSED', 'over the blob size');
  const before = r.status().blobs;
  await alice.push('relay', { group: G, sender: A, seq: 1, to: [B], blob: blob(1, 100) });
  t.equal(r.status().blobs, before, 'the same blob again is a duplicate');
  let limited = 0;
  for (let i = 0; i < 30; i++) if ((await err(alice.push('relay', { group: '77'.repeat(32), sender: A, seq: i + 1, to: [B], blob: blob(i, 10) }))) === 'RATE_LIMITED') limited++;
  t.ok(limited >= 15, `a flood past the rate is refused (${limited} of 30)`);
  t.equal(await err(client('cc'.repeat(32)).push('relay', { group: G, sender: A, seq: 1, to: [B], blob: blob(1) })), 'MAILBOX_REFUSED', 'a node that is no member\'s is refused');
});

t.test('malformed requests are answered with MAILBOX_BAD_REQUEST, never a crash', async (t) => {
  const { r } = relay();
  await r.start();
  const bad: Uint8Array[] = [new Uint8Array([0xff]), encodeCanonical([1, 2]), encodeCanonical({ t: 'push' }), encodeCanonical({ t: 'pull', inc: new Uint8Array(8), after: -1, limit: 5 }),
    encodeCanonical({ t: 'push', group: new Uint8Array(32), sender: new Uint8Array(32), seq: 1, to: [], blob: new Uint8Array(1) }), encodeCanonical({ t: 'zap' })];
  for (const b of bad) {
    const a = decodeCanonical(await r.handle(A, b)) as Record<string, CborValue>;
    t.same([a['t'], a['code']], ['err', 'MAILBOX_BAD_REQUEST']);
  }
});

/** A store that records every key read (get and range), to see what start-up touches. */
class WatchedStore extends MemoryStore {
  read: string[] = [];
  override async get(key: string): Promise<Uint8Array | undefined> {
    this.read.push(key);
    return super.get(key);
  }
  override async *range(opts: Parameters<MemoryStore['range']>[0]): AsyncIterable<[string, Uint8Array]> {
    for await (const kv of super.range(opts)) {
      this.read.push(kv[0]);
      yield kv;
    }
  }
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const mboxKeys = (disk: Map<string, Uint8Array>) => [...disk.keys()].filter((k) => k.startsWith('mbox/') && k !== 'mbox/meta').sort();

t.test('a blob\'s bytes are kept apart from its record: start-up reads records only, a pull reads the bytes, the last ack deletes both', async (t) => {
  const disk = new Map<string, Uint8Array>();
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const one = relay({}, new MemoryStore(disk), clock);
  await one.r.start();
  const bytes = blob(1, 500);
  const hash = sha256(bytes);
  await one.client(A).push('relay', { group: G, sender: A, seq: 1, to: [B, B2], blob: bytes });
  const record = decodeCanonical(disk.get(`mbox/b/${'1'.padStart(16, '0')}`)!) as Record<string, CborValue>;
  t.equal(record['size'], 500, 'the record holds the size');
  t.notOk('blob' in record, 'and not the bytes');
  t.same([record['hash'], record['group'], (record['to'] as CborValue[])[0]], [Buffer.from(hash, 'hex'), Buffer.from(G, 'hex'), Buffer.from(B, 'hex')].map((x) => new Uint8Array(x)), 'ids as bytes, not hex');
  t.same(disk.get(`mbox/d/${hash}`), bytes, 'the bytes are under mbox/d/<hash>');

  const watched = new WatchedStore(disk);
  const again = relay({}, watched, clock);
  await again.r.start();
  t.match(again.r.status(), { blobs: 1, bytes: 500, recipients: { [B]: { blobs: 1, bytes: 500 }, [B2]: { blobs: 1, bytes: 500 } } }, 'the counts again, from mbox/meta and mbox/u/');
  t.same(watched.read.filter((k) => k.startsWith('mbox/d/') || k.startsWith('mbox/b/')), [], 'start-up reads neither blob bytes nor records');

  const got: Uint8Array[] = [];
  await again.client(B).catchUp('relay', (b) => void got.push(b.blob));
  t.same(got, [bytes], 'a pull serves the bytes');
  t.ok(disk.has(`mbox/d/${hash}`), 'still held for bob\'s phone');
  await again.client(B2).catchUp('relay', () => undefined);
  t.same(mboxKeys(disk), [], 'every recipient acknowledged: record, bytes, hash and index are gone');
  t.match(again.r.status(), { blobs: 0, bytes: 0 });
});

t.test('the TTL deletes a blob\'s bytes with its record', async (t) => {
  const disk = new Map<string, Uint8Array>();
  const { r, clock, client } = relay({ ttlMs: 10 * HOUR }, new MemoryStore(disk));
  await r.start();
  await client(A).push('relay', { group: G, sender: A, seq: 1, to: [B], blob: blob(1) });
  t.equal(mboxKeys(disk).filter((k) => k.startsWith('mbox/d/')).length, 1);
  clock.advance(11 * HOUR);
  t.equal(await r.expire(), 1);
  t.same(mboxKeys(disk), [], 'nothing of it left');
});

/** What the relay wrote before the bytes moved apart: the blob inline in its record, no size. */
function legacyDisk(bytes: Uint8Array, to: string[], atMs: number): Map<string, Uint8Array> {
  const disk = new Map<string, Uint8Array>();
  const cursor = '1'.padStart(16, '0');
  const hash = sha256(bytes);
  disk.set('mbox/meta', encodeCanonical({ inc: new Uint8Array(8).fill(3), head: 1 }));
  disk.set(`mbox/b/${cursor}`, encodeCanonical({ cursor: 1, group: G, sender: A, seq: 1, hash, from: 'alice', atMs, to, acked: [], blob: bytes }));
  disk.set(`mbox/h/${hash}`, new TextEncoder().encode('1'));
  for (const x of to) disk.set(`mbox/r/${x}/${cursor}`, new Uint8Array(0));
  return disk;
}

t.test('a record written by the previous version (bytes inline) is counted, served, kept through a partial ack and deleted', async (t) => {
  const bytes = blob(9, 300);
  const disk = legacyDisk(bytes, [B, B2], Date.UTC(2026, 5, 1));
  const { r, client } = relay({}, new MemoryStore(disk));
  await r.start();
  t.match(r.status(), { blobs: 1, bytes: 300, recipients: { [B]: { blobs: 1, bytes: 300 } } }, 'counted with the inline bytes\' length');
  const got: Uint8Array[] = [];
  t.match(await client(B).catchUp('relay', (b) => void got.push(b.blob)), { blobs: 1, complete: true });
  t.same(got, [bytes], 'served from the record');
  t.match(r.status(), { blobs: 1, recipients: { [B2]: { blobs: 1, bytes: 300 } } }, 'still held for the phone');
  t.notOk(r.status().recipients[B], 'the laptop has it');
  const got2: Uint8Array[] = [];
  await client(B2).catchUp('relay', (b) => void got2.push(b.blob));
  t.same(got2, [bytes], 'the rewritten record still serves its inline bytes');
  t.same(mboxKeys(disk), [], 'deleted once both acknowledged');
  t.match(r.status(), { blobs: 0, bytes: 0 });
});

t.test('a record of the previous version ages out by the TTL, and its blob pushed again is stored once', async (t) => {
  const bytes = blob(5, 200);
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const disk = legacyDisk(bytes, [B], Date.UTC(2026, 5, 1));
  const { r, client } = relay({ ttlMs: 10 * HOUR }, new MemoryStore(disk), clock);
  await r.start();
  await client(A).push('relay', { group: G, sender: A, seq: 1, to: [B, B2], blob: bytes });
  t.match(r.status(), { blobs: 1, bytes: 200 }, 'a duplicate of the legacy blob: merged, not stored twice');
  const got: Uint8Array[] = [];
  await client(B2).catchUp('relay', (b) => void got.push(b.blob));
  t.same(got, [bytes], 'the merged legacy record serves the new recipient');
  clock.advance(11 * HOUR);
  t.equal(await r.expire(), 1);
  t.same(mboxKeys(disk), [], 'expired: nothing of it left');
});

/** What status() says of the counts, without the stats (which are per process). */
const counts = (r: MailboxRelay) => {
  const { incarnation, head, blobs, bytes, groups, friends, recipients } = r.status();
  return { incarnation, head, blobs, bytes, groups, friends, recipients };
};

/** The counts a relay makes by reading every record (mbox/meta of the previous version: {inc, head}). */
async function recounted(disk: Map<string, Uint8Array>, clock: VirtualClock): Promise<ReturnType<typeof counts>> {
  const copy = new Map(disk);
  const m = decodeCanonical(copy.get('mbox/meta')!) as Record<string, CborValue>;
  copy.set('mbox/meta', encodeCanonical({ inc: m['inc']!, head: m['head']! }));
  const lines: string[] = [];
  const r = new MailboxRelay({ store: new MemoryStore(copy), clock, rng: new SeededRng('recount'), userOf: () => 'x', notify: () => undefined, isOnline: () => false, log: (l) => lines.push(l) });
  await r.start();
  if (!lines.some((l) => l.includes('counted'))) throw new Error('no recount');
  return counts(r);
}

t.test('the counts are kept in mbox/meta and mbox/u/ in the same batch as each change: a start reads no record, and they match a count of the records', async (t) => {
  const disk = new Map<string, Uint8Array>();
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const one = relay({ pushesPerMinute: 10_000, ttlMs: 10 * HOUR }, new MemoryStore(disk), clock);
  await one.r.start();
  const alice = one.client(A);
  const G2 = '98'.repeat(32);
  for (let i = 1; i <= 40; i++) await alice.push('relay', { group: i % 3 ? G : G2, sender: A, seq: i, to: i % 2 ? [B] : [B, B2], blob: blob(i, 50 + i) });
  await one.client('b3'.repeat(32)).push('relay', { group: G, sender: A, seq: 1, to: [B], blob: blob(1, 51) }); // bob's third machine: a friend of its own quota
  await Promise.all([5, 6, 7].map((i) => alice.push('relay', { group: G, sender: A, seq: i, to: [B, B2, 'b4'.repeat(32)], blob: blob(i, 50 + i) }))); // merged: moved, one more recipient
  clock.advance(11 * HOUR);
  for (let i = 100; i < 110; i++) await alice.push('relay', { group: i % 2 ? G : G2, sender: A, seq: i, to: i % 3 ? [B, B2] : [B2], blob: blob(i, 70 + i) });
  t.ok((await one.r.expire()) > 0, 'the TTL dropped blobs');
  await one.client(B2).catchUp('relay', () => undefined); // partial acks and deletes
  const before = counts(one.r);
  t.ok(before.blobs > 0 && Object.keys(before.recipients).length > 0);
  t.same(before, await recounted(disk, clock), 'what was kept equals a count of the records');

  const watched = new WatchedStore(disk);
  const lines: string[] = [];
  const again = new MailboxRelay({ store: watched, clock, rng: new SeededRng('again'), userOf: () => 'x', notify: () => undefined, isOnline: () => false, log: (l) => lines.push(l) });
  await again.start();
  t.same(counts(again), before, 'a start gives the same counts');
  t.same(watched.read.filter((k) => !k.startsWith('mbox/u/') && k !== 'mbox/meta'), [], 'from mbox/meta and mbox/u/ only');
  t.same(lines, [], 'and says nothing');
  t.ok([...disk.keys()].filter((k) => k.startsWith('mbox/u/')).length <= 3 + 2 + 4, 'one count per group, friend and waiting recipient, no more');
});

t.test('counts of an older version, missing or damaged: the records are counted once (logged), nothing is lost, then the counts are kept', async (t) => {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const make = async () => {
    const disk = new Map<string, Uint8Array>();
    const one = relay({ pushesPerMinute: 10_000 }, new MemoryStore(disk), clock);
    await one.r.start();
    for (let i = 1; i <= 5; i++) await one.client(A).push('relay', { group: G, sender: A, seq: i, to: [B, B2], blob: blob(i, 100) });
    return { disk, before: counts(one.r) };
  };
  const start = async (disk: Map<string, Uint8Array>) => {
    const lines: string[] = [];
    const r = new MailboxRelay({ store: new MemoryStore(disk), clock, rng: new SeededRng(`s${Math.random()}`), userOf: (m) => (m === A ? 'alice' : 'bob'), notify: () => undefined, isOnline: () => false, log: (l) => lines.push(l) });
    await r.start();
    return { r, lines };
  };
  const cases: [string, (d: Map<string, Uint8Array>) => void, RegExp, boolean][] = [
    ['the previous version\'s meta ({inc, head})', (d) => d.set('mbox/meta', encodeCanonical({ inc: decodeCanonical(d.get('mbox/meta')!) && (decodeCanonical(d.get('mbox/meta')!) as Record<string, CborValue>)['inc']!, head: 5 })), /version 1, not 2/, true],
    ['a damaged meta', (d) => d.set('mbox/meta', new Uint8Array([0xa1, 0x63])), /mbox\/meta is damaged/, false],
    ['a missing meta', (d) => d.delete('mbox/meta'), /mbox\/meta is missing/, false],
    ['a damaged count', (d) => d.set(`mbox/u/g/${G}`, new Uint8Array([0xff])), /damaged/, true],
    ['counts that do not add up', (d) => d.set(`mbox/u/f/alice`, encodeCanonical([1, 1])), /do not add up/, true],
  ];
  for (const [what, spoil, why, sameInc] of cases) {
    const { disk, before } = await make();
    spoil(disk);
    const { r, lines } = await start(disk);
    t.equal(lines.length, 1, `${what}: one line`);
    t.match(lines[0], why, `${what}: says why`);
    t.match(lines[0], /counted 5 stored blobs again/);
    const now = counts(r);
    t.same({ ...now, incarnation: '' }, { ...before, incarnation: '' }, `${what}: the same counts`);
    t.equal(now.incarnation === before.incarnation, sameInc, sameInc ? 'the incarnation is kept' : 'a new incarnation (the old one is unknown): clients pull from the start');
    t.ok(now.head >= 5, 'the head stays past every cursor held (no cursor is given twice)');
    const got: number[] = [];
    const bob = new MailboxClient({ store: new MemoryStore(), request: (_relay, body) => r.handle(B, body) });
    t.match(await bob.catchUp('relay', (b) => void got.push(b.seq)), { blobs: 5 });
    t.same(got, [1, 2, 3, 4, 5], 'every blob is still served');
    await r.handle(A, encodeCanonical({ t: 'push', group: hexB(G), sender: hexB(A), seq: 6, to: [hexB(B2)], blob: blob(6, 100) }));
    const third = await start(disk);
    t.same(third.lines, [], 'the next start reads the counts again');
    t.same(counts(third.r), counts(r));
  }
});

t.test('a batch that fails uncounts its blobs: memory and disk keep agreeing', async (t) => {
  const disk = new Map<string, Uint8Array>();
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const store = new FailingStore(disk);
  const { r, client } = relay({ pushesPerMinute: 10_000 }, store, clock);
  await r.start();
  const alice = client(A);
  await alice.push('relay', { group: G, sender: A, seq: 1, to: [B], blob: blob(1) });
  store.failing = true;
  t.match(await err(alice.push('relay', { group: G, sender: A, seq: 2, to: [B, B2], blob: blob(2) })), /disk full/, 'the push fails');
  store.failing = false;
  t.match(counts(r), { blobs: 1, bytes: 100, recipients: { [B]: { blobs: 1 } } }, 'the failed blob is not counted');
  t.notOk(counts(r).recipients[B2]);
  await client(B).catchUp('relay', () => undefined);
  store.failing = true;
  await alice.push('relay', { group: G, sender: A, seq: 3, to: [B2], blob: blob(3) }).catch(() => undefined);
  store.failing = false;
  await alice.push('relay', { group: G, sender: A, seq: 4, to: [B2], blob: blob(4) });
  t.same(counts(r), await recounted(disk, clock), 'after failed writes the counts still equal a count of the records');
});

const hexB = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

/** A store whose batches fail while `failing` (a full disk). */
class FailingStore extends MemoryStore {
  failing = false;
  override async batch(ops: Parameters<MemoryStore['batch']>[0]): Promise<void> {
    if (this.failing) throw new Error('disk full');
    return super.batch(ops);
  }
}

t.test('a push by hash: held, the recipients are added without the bytes; not held, MAILBOX_UNKNOWN (the pusher sends the bytes)', async (t) => {
  const { r, client } = relay();
  await r.start();
  const bytes = blob(3, 400);
  const byHash = (to: string[], hash = sha256(bytes)) => r.handle(A, encodeCanonical({ t: 'push', group: hexB(G), sender: hexB(A), seq: 3, to: to.map(hexB), hash: hexB(hash) })).then((a) => decodeCanonical(a) as Record<string, CborValue>);
  t.match(await byHash([B]), { t: 'err', code: 'MAILBOX_UNKNOWN' }, 'nothing held: unknown');
  await client(A).push('relay', { group: G, sender: A, seq: 3, to: [B], blob: bytes });
  const a = await byHash([B, B2]);
  t.equal(a['t'], 'pushed');
  t.same((a['to'] as Uint8Array[]).map((x) => Buffer.from(x).toString('hex')).sort(), [B, B2].sort(), 'held for both now');
  t.match(r.status(), { blobs: 1, bytes: 400, recipients: { [B]: { blobs: 1 }, [B2]: { blobs: 1 } } }, 'stored once, counted once');
  t.match(r.stats, { pushed: 1, duplicates: 0, byHash: 2, unknown: 1 });
  const got: Uint8Array[] = [];
  await client(B2).catchUp('relay', (b) => void got.push(b.blob));
  t.same(got, [bytes], 'the added recipient pulls the bytes');
  // A hash alone proves nothing: naming another group, sender or seq than the blob held is answered as "not held".
  const other = (m: Record<string, unknown>) => r.handle(A, encodeCanonical({ t: 'push', group: hexB(G), sender: hexB(A), seq: 3, to: [hexB(B2)], hash: hexB(sha256(bytes)), ...m } as never)).then((a) => decodeCanonical(a) as Record<string, CborValue>);
  for (const [what, m] of [['group', { group: hexB('77'.repeat(32)) }], ['sender', { sender: hexB(B) }], ['seq', { seq: 4 }]] as const) {
    t.match(await other(m), { t: 'err', code: 'MAILBOX_UNKNOWN' }, `another ${what} than the held blob's: unknown, nothing added`);
  }
  t.equal(r.stats.merged, 1, 'only the matching push by hash merged');
  const bad = decodeCanonical(await r.handle(A, encodeCanonical({ t: 'push', group: hexB(G), sender: hexB(A), seq: 3, to: [hexB(B)], hash: new Uint8Array(31) }))) as Record<string, CborValue>;
  t.equal(bad['code'], 'MAILBOX_BAD_REQUEST', 'a hash of the wrong length');
});
