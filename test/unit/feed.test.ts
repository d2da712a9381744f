// The application delivery log (consensus/feed.ts): every accepted message gets one local number,
// once, across duplicate deliveries and restarts; `after` pages by cursor; `wait` long-polls.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { MemoryStore } from '../../core/store.js';
import { Feed } from '../../consensus/feed.js';
import type { Message } from '../../consensus/records.js';

const msg = (i: number): Message => ({
  hash: i.toString(16).padStart(64, '0'), conv: 'c'.repeat(64), author: new Uint8Array(32), authorHex: 'a'.repeat(64),
  chain: 'b'.repeat(64), seq: i, prev: '', atMs: 1_000 * i, kind: 'text', data: { text: `hello ${i}` }, bytes: new Uint8Array([i]),
});

t.test('a message delivered twice, and again after a restart, is recorded once', async (t) => {
  const map = new Map<string, Uint8Array>();
  const clock = new VirtualClock();
  const feed = new Feed({ store: new MemoryStore(map), clock });
  t.same(await Promise.all([feed.add(msg(1)), feed.add(msg(1)), feed.add(msg(2))]), [1, 1, 2], 'a duplicate at the same moment gets the first number');
  const restarted = new Feed({ store: new MemoryStore(map), clock });
  t.equal(await restarted.add(msg(2)), 2, 'the duplicate after a restart: its old number');
  t.equal(await restarted.add(msg(3)), 3, 'numbering goes on where it stopped');
  const all = await restarted.all();
  t.same(all.map((e) => [e.n, e.seq, e.data['text']]), [[1, 1, 'hello 1'], [2, 2, 'hello 2'], [3, 3, 'hello 3']]);
  t.equal(await restarted.last(), 3);
});

t.test('after pages by cursor; next is the cursor to ask with', async (t) => {
  const feed = new Feed({ store: new MemoryStore(), clock: new VirtualClock() });
  t.same(await feed.after(0), { entries: [], next: 0 }, 'empty');
  for (let i = 1; i <= 12; i++) await feed.add(msg(i));
  const p1 = await feed.after(0, 5);
  t.same([p1.entries.map((e) => e.n), p1.next], [[1, 2, 3, 4, 5], 5]);
  const p2 = await feed.after(p1.next, 100);
  t.same([p2.entries.length, p2.next], [7, 12]);
  t.same(await feed.after(12), { entries: [], next: 12 }, 'at the end: the same cursor');
});

t.test('wait returns as soon as an entry arrives, or empty at its timeout', async (t) => {
  const clock = new VirtualClock();
  const feed = new Feed({ store: new MemoryStore(), clock });
  let got: number[] | undefined;
  const waiting = feed.wait(0, 5_000).then((p) => (got = p.entries.map((e) => e.n)));
  await new Promise((r) => setImmediate(r));
  t.equal(got, undefined, 'nothing yet');
  await feed.add(msg(1));
  await waiting;
  t.same(got, [1], 'woken by the new entry');
  let timedOut: number | undefined;
  const idle = feed.wait(1, 5_000).then((p) => (timedOut = p.entries.length));
  await new Promise((r) => setImmediate(r));
  clock.advance(5_000);
  await idle;
  t.equal(timedOut, 0, 'empty after the timeout');
});
