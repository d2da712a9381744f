// Issue 18, break 3: concurrent posts to one conversation. Each post read the author's chain,
// took the next seq and wrote it: parallel posts took the same seq, overwrote each other (acknowledged
// messages lost) and the next post built on a hash that was gone (every later post refused with
// "breaks hash chain"). Posts are serialized per conversation, a stored message is never
// overwritten, and a chain that is already broken in a store does not wedge the conversation.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore, type KvStore } from '../../core/store.js';
import { Conversations } from '../../consensus/conversations.js';
import { testUser } from '../helpers/users.js';
import { toHex } from '../../core/hex.js';
import { verifyCertificate } from '../../identity/certificate.js';
import { hashHex, signMessage } from '../../consensus/records.js';

const alice = testUser('alice');
const bob = testUser('bob');
const START = Date.UTC(2026, 5, 1, 12);

/** A store whose reads and writes take turns with other work, as LevelDB's do. */
function slowStore(): KvStore {
  const inner = new MemoryStore();
  const tick = () => new Promise<void>((r) => setImmediate(r));
  return {
    get: async (k) => (await tick(), inner.get(k)),
    put: async (k, v) => (await tick(), inner.put(k, v)),
    del: async (k) => (await tick(), inner.del(k)),
    batch: async (ops) => (await tick(), inner.batch(ops)),
    range: (o) => inner.range(o),
    close: () => inner.close(),
  };
}

t.test('20 parallel posts, 10 at a time: all 20 stored, the chain intact, later posts fine', async (t) => {
  const clock = new VirtualClock({ wallStartMs: START });
  const store = slowStore();
  const convs = new Conversations({ store, clock, rng: new SeededRng('a'), signer: alice });
  const conv = await convs.create({ topic: 'chatter', with: [bob.userKey], pattern: 'discussion' });
  const acked: string[] = [];
  for (let wave = 0; wave < 2; wave++) {
    const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => convs.post(conv.id, 'text', { text: `post ${wave * 10 + i}` })));
    for (const r of results) if (r.status === 'fulfilled') acked.push(r.value.message.hash);
  }
  t.equal(acked.length, 20, 'every post answered');
  const v = await convs.view(conv.id);
  t.equal(v.state.rejected.length, 0, 'nothing breaks the chain');
  t.same(v.messages.map((m) => m.hash).sort(), [...acked].sort(), 'every acknowledged post is stored');
  t.same(v.messages.map((m) => m.seq).sort((a, b) => a - b), Array.from({ length: 20 }, (_, i) => i + 1));
  t.ok((await convs.post(conv.id, 'text', { text: 'after' })).message, 'the next post is accepted');
});

t.test('a second Conversations over the same store (CLI next to the agent) cannot overwrite a message', async (t) => {
  const clock = new VirtualClock({ wallStartMs: START });
  const store = slowStore();
  const one = new Conversations({ store, clock, rng: new SeededRng('a'), signer: alice });
  const two = new Conversations({ store, clock, rng: new SeededRng('b'), signer: alice });
  const conv = await one.create({ topic: 'x', with: [bob.userKey], pattern: 'discussion' });
  const r = await Promise.allSettled([one.post(conv.id, 'text', { text: 'one' }), two.post(conv.id, 'text', { text: 'two' })]);
  const ok = r.filter((x) => x.status === 'fulfilled').map((x) => (x as PromiseFulfilledResult<{ message: { hash: string } }>).value.message.hash);
  const stored = (await one.messages(conv.id)).map((m) => m.hash);
  for (const h of ok) t.ok(stored.includes(h), 'an acknowledged post is stored');
  const after = await one.post(conv.id, 'text', { text: 'three' });
  t.ok(after.message, 'not wedged');
  t.equal((await one.view(conv.id)).state.rejected.length, 0);
});

t.test('a chain already broken in the store (written before the fix) does not wedge the conversation', async (t) => {
  const clock = new VirtualClock({ wallStartMs: START });
  const store = new MemoryStore();
  const convs = new Conversations({ store, clock, rng: new SeededRng('a'), signer: alice });
  const conv = await convs.create({ topic: 'x', with: [bob.userKey], pattern: 'discussion' });
  const chain = toHex(verifyCertificate(alice.certBytes).signKey);
  for (let i = 1; i <= 6; i++) await convs.post(conv.id, 'text', { text: `m${i}` });
  const six = (await convs.messages(conv.id)).find((m) => m.seq === 6)!;
  // What the old code did: a second seq 6 overwrote the first, and seq 7 was built on the lost one.
  const lost = signMessage({ conv: conv.id, seq: 6, prev: six.prev, atMs: six.atMs, kind: 'text', data: { text: 'lost' } }, alice);
  const seven = signMessage({ conv: conv.id, seq: 7, prev: hashHex(lost), atMs: six.atMs + 1, kind: 'text', data: { text: 'm7' } }, alice);
  await store.put(`conv/${conv.id}/m/${chain}/0000000007`, seven);
  const fresh = new Conversations({ store: await copy(store), clock, rng: new SeededRng('b'), signer: alice });
  const r = await fresh.post(conv.id, 'text', { text: 'after the wedge' });
  t.equal(r.message.seq, 7, 'the next post takes the slot of the broken message');
  const v = await fresh.view(conv.id);
  t.equal(v.state.rejected.length, 0, 'the broken message is set aside');
  t.equal(v.messages.length, 7);
});

async function copy(from: MemoryStore): Promise<MemoryStore> {
  const to = new MemoryStore();
  for await (const [k, v] of from.range({})) await to.put(k, v);
  return to;
}
