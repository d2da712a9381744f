// The relay against bad and concurrent input: strangers (as requesters and as recipients), forged
// acks, floods past the rate, oversized and malformed requests and random bytes are refused with
// their codes and counted, never a crash, and nothing already accepted is lost. Requests that run
// at once (pushes and acks of the same blob) are handled one at a time; a re-push with new
// recipients adds them; a pull answer stops at maxPullBytes.
import t from 'tap';
import { VirtualClock, MINUTE } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { decodeCanonical, encodeCanonical, type CborValue } from '../../core/cbor.js';
import { MailboxRelay, type MailboxLimits } from '../../cluster/mailbox.js';
import { MailboxClient } from '../../cluster/mailbox-client.js';
import { isKithError } from '../../core/errors.js';

const A = 'a1'.repeat(32); // alice's laptop (sender)
const B = 'b1'.repeat(32); // bob's laptop
const B2 = 'b2'.repeat(32); // bob's phone
const X = 'ee'.repeat(32); // a stranger: no member of the relay
const G = '99'.repeat(32);
const hex = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

function setup(limits: Partial<MailboxLimits> = {}) {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const store = new MemoryStore();
  const r = new MailboxRelay({ store, clock, rng: new SeededRng('relay-input'), userOf: (m) => (m === A ? 'alice' : m === B || m === B2 ? 'bob' : undefined), notify: () => undefined, isOnline: () => false }, limits);
  const client = (member: string) => new MailboxClient({ store: new MemoryStore(), request: (_relay, body) => r.handle(member, body) });
  const raw = async (member: string, req: Record<string, CborValue>) => decodeCanonical(await r.handle(member, encodeCanonical(req))) as Record<string, CborValue>;
  return { r, clock, store, client, raw };
}

const blob = (i: number, size = 64) => new Uint8Array(size).map((_, k) => (k < 4 ? (i >> (8 * k)) & 0xff : 3));
const code = async (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (isKithError(e) ? e.code : `crash: ${(e as Error).message}`));

t.test('strangers: refused as requesters, dropped as recipients (never stored for them)', async (t) => {
  const { r, raw, client } = setup();
  await r.start();
  for (const req of <Record<string, CborValue>[]>[{ t: 'hello', inc: new Uint8Array(0), after: 0 }, { t: 'pull', inc: new Uint8Array(0), after: 0, limit: 5 }, { t: 'push', group: hex(G), sender: hex(X), seq: 1, to: [hex(B)], blob: blob(1) }]) {
    t.same((await raw(X, req))['code'], 'MAILBOX_REFUSED', `${String(req['t'])} from a stranger`);
  }
  t.equal(await code(client(A).push('relay', { group: G, sender: A, seq: 1, to: [X], blob: blob(1) })), 'MAILBOX_REFUSED', 'a push only for a stranger');
  const p = await client(A).push('relay', { group: G, sender: A, seq: 2, to: [X, B], blob: blob(2) });
  t.same(p.to, [B], 'a push for a stranger and bob: kept for bob only');
  t.same(Object.keys(r.status().recipients), [B]);
  t.equal(r.stats.refused['MAILBOX_REFUSED'], 4, 'every refusal counted');
});

t.test('a forged ack (from a node the blob is not for, or of another incarnation) deletes nothing', async (t) => {
  const { r, raw, client } = setup();
  await r.start();
  await client(A).push('relay', { group: G, sender: A, seq: 1, to: [B], blob: blob(1) });
  const inc = hex(r.incarnationId);
  t.same((await raw(A, { t: 'ack', inc, upTo: 1 }))['deleted'], 0, 'alice acks bob\'s blob: nothing');
  t.same((await raw(B, { t: 'ack', inc: hex('00'.repeat(8)), upTo: 1 }))['code'], 'MAILBOX_STALE');
  t.equal(r.status().blobs, 1, 'still held');
  const got: number[] = [];
  await client(B).catchUp('relay', (b) => void got.push(b.seq));
  t.same(got, [1], 'bob still gets it');
});

t.test('a flood past the rate: refused and counted, what was accepted before is all there', async (t) => {
  const { r, client, clock } = setup({ pushesPerMinute: 10 });
  await r.start();
  const alice = client(A);
  const answers: string[] = [];
  for (let i = 1; i <= 40; i++) answers.push(await code(alice.push('relay', { group: G, sender: A, seq: i, to: [B], blob: blob(i) })));
  t.equal(answers.filter((a) => a === 'ok').length, 10, 'the bucket holds 10');
  t.equal(answers.filter((a) => a === 'RATE_LIMITED').length, 30);
  t.equal(r.stats.refused['RATE_LIMITED'], 30);
  clock.advance(MINUTE);
  t.equal(await code(alice.push('relay', { group: G, sender: A, seq: 41, to: [B], blob: blob(41) })), 'ok', 'a minute later it takes again');
  const got: number[] = [];
  await client(B).catchUp('relay', (b) => void got.push(b.seq));
  t.same(got, [...Array.from({ length: 10 }, (_, i) => i + 1), 41], 'everything accepted, once, in order');
});

t.test('malformed, oversized and random requests: answered with a code, never a crash', async (t) => {
  const { r, client } = setup({ maxBlobBytes: 1000 });
  await r.start();
  await client(A).push('relay', { group: G, sender: A, seq: 1, to: [B], blob: blob(1) });
  const rng = new SeededRng('fuzz');
  const bodies: Uint8Array[] = [
    new Uint8Array(0), new Uint8Array(200 * 1024), encodeCanonical({ t: 'push', group: hex(G), sender: hex(A), seq: 2, to: [hex(B)], blob: new Uint8Array(1001) }),
    encodeCanonical({ t: 'push', group: hex(G), sender: hex(A), seq: 2, to: Array.from({ length: 300 }, () => hex(B)), blob: blob(2) }),
    encodeCanonical({ t: 'ack', inc: new Uint8Array(0), upTo: 5 }), encodeCanonical({ t: 'pull', inc: new Uint8Array(8), after: 0, limit: 0 }),
    ...Array.from({ length: 200 }, (_, i) => rng.bytes(1 + (i % 50) * 7)),
  ];
  for (const b of bodies) {
    const a = decodeCanonical(await r.handle(A, b)) as Record<string, CborValue>;
    if (a['t'] !== 'err') t.fail(`a bad request was answered ${String(a['t'])}`);
  }
  t.ok((r.stats.refused['MAILBOX_BAD_REQUEST'] ?? 0) >= 200, `counted: ${JSON.stringify(r.stats.refused)}`);
  t.equal(r.stats.refused['MAILBOX_TOO_LARGE'], 1, 'the oversized blob');
  const got: number[] = [];
  await client(B).catchUp('relay', (b) => void got.push(b.seq));
  t.same(got, [1], 'what was accepted is still there');
});

t.test('requests at once are handled one at a time: concurrent pushes and acks lose nothing', async (t) => {
  const { r, client } = setup({ pushesPerMinute: 10_000 });
  await r.start();
  const alice = client(A);
  const bob = client(B);
  const got = new Set<number>();
  const pushes = Array.from({ length: 100 }, (_, i) => alice.push('relay', { group: G, sender: A, seq: i + 1, to: [B, B2], blob: blob(i + 1) }));
  const again = Array.from({ length: 100 }, (_, i) => alice.push('relay', { group: G, sender: A, seq: i + 1, to: [B, B2], blob: blob(i + 1) }));
  const pulls = Array.from({ length: 5 }, () => bob.pullFrom('relay', (b) => void got.add(b.seq)));
  await Promise.all([...pushes, ...again, ...pulls]);
  await bob.pullFrom('relay', (b) => void got.add(b.seq));
  t.equal(got.size, 100, 'bob has every blob');
  t.equal(r.status().blobs, 100, 'each stored once (the re-pushes are duplicates), still held for the phone');
  t.same(r.status().recipients[B], undefined, 'nothing waits for bob');
  t.equal(r.status().recipients[B2]?.blobs, 100, '100 wait for the phone');
});

t.test('a re-push of the same blob with new recipients adds them', async (t) => {
  const { r, client } = setup();
  await r.start();
  await client(A).push('relay', { group: G, sender: A, seq: 1, to: [B], blob: blob(1) });
  const again = await client(A).push('relay', { group: G, sender: A, seq: 1, to: [B, B2], blob: blob(1) });
  t.same(again.to.sort(), [B, B2].sort(), 'held for both now');
  t.equal(r.stats.merged, 1);
  const got: number[] = [];
  await client(B2).catchUp('relay', (b) => void got.push(b.seq));
  t.same(got, [1], 'the phone gets it');
  await client(B).catchUp('relay', () => undefined);
  t.equal(r.status().blobs, 0, 'both acknowledged: deleted');
});

t.test('a pull answer stops at maxPullBytes (one blob always goes)', async (t) => {
  const { r, client, raw } = setup({ maxPullBytes: 10_000, pushesPerMinute: 1000 });
  await r.start();
  for (let i = 1; i <= 10; i++) await client(A).push('relay', { group: G, sender: A, seq: i, to: [B], blob: blob(i, 3000) });
  const page = await raw(B, { t: 'pull', inc: hex(r.incarnationId), after: 0, limit: 256 });
  t.equal((page['items'] as unknown[]).length, 3, '3 blobs of 3000 bytes fit in 10,000');
  t.equal(page['hasMore'], true);
  const got: number[] = [];
  const c = await client(B).catchUp('relay', (b) => void got.push(b.seq));
  t.same([c.blobs, got], [10, Array.from({ length: 10 }, (_, i) => i + 1)], 'all of them over several pages');
  const big = setup({ maxPullBytes: 100, maxBlobBytes: 5000 });
  await big.r.start();
  await big.client(A).push('relay', { group: G, sender: A, seq: 1, to: [B], blob: blob(1, 4000) });
  t.equal(((await big.raw(B, { t: 'pull', inc: hex(big.r.incarnationId), after: 0, limit: 5 }))['items'] as unknown[]).length, 1, 'a blob larger than the cap still goes alone');
});
