// A chain slot (conv/<id>/m/<chain>/<seq>) is checked in memory, from the keys the load read and
// the writes since (no store read per message): a message in the next slot that the chain does
// not reach (what an overwrite before posts were serialized left) still makes a received
// successor a refusal, and still gets set aside under orphan/ when its author posts again.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore, type KvStore } from '../../core/store.js';
import { isKithError } from '../../core/errors.js';
import { Conversations } from '../../consensus/conversations.js';
import { hashHex, signMessage, type Message } from '../../consensus/records.js';
import { testUser } from '../helpers/users.js';

const [alice, bob] = ['alice', 'bob'].map(testUser) as [ReturnType<typeof testUser>, ReturnType<typeof testUser>];
const START = Date.UTC(2026, 5, 1, 12);

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return isKithError(e) ? `${e.code}: ${e.message}` : `crash: ${(e as Error).stack}`;
  }
}

t.test('a stray message in the next slot: the received successor is refused, the author\'s post moves the stray aside', async (t) => {
  const clock = new VirtualClock({ wallStartMs: START });
  const rng = new SeededRng('slots');
  const src = new Conversations({ store: new MemoryStore(), clock, rng, signer: alice });
  const conv = await src.create({ topic: 'slots', with: [bob.userKey], pattern: 'discussion' });
  clock.advance(1000);
  const m1 = (await src.post(conv.id, 'text', { text: 'one' })).message;
  clock.advance(1000);
  const m2 = (await src.post(conv.id, 'text', { text: 'two' })).message;

  const store = new MemoryStore();
  await store.put(`conv/${conv.id}/head`, (await src.headerBytes(conv.id))!);
  await store.put(`convidx/${conv.id}`, new Uint8Array(0));
  const slot = (seq: number) => `conv/${conv.id}/m/${m1.chain}/${String(seq).padStart(10, '0')}`;
  await store.put(slot(1), m1.bytes);
  const stray = signMessage({ conv: conv.id, seq: 2, prev: 'ab'.repeat(32), atMs: m1.atMs + 1, kind: 'text', data: { text: 'stray' } }, alice);
  await store.put(slot(2), stray);

  const b = new Conversations({ store, clock, rng, signer: bob });
  t.match(await code(b.receive(m2.bytes)), /^MESSAGE_REJECTED: .*seq 2 of this chain is already taken/, 'the slot is taken');
  t.same(await store.get(slot(2)), stray, 'the stray was not overwritten');

  const a = new Conversations({ store, clock, rng, signer: alice });
  clock.advance(1000);
  const again = await a.post(conv.id, 'text', { text: 'two, again' });
  t.equal(again.message.seq, 2, 'the post takes seq 2');
  t.same(await store.get(slot(2)), again.message.bytes, 'in the slot');
  t.same(await store.get(`conv/${conv.id}/orphan/${hashHex(stray)}`), stray, 'the stray is kept under orphan/');
  t.equal((await a.chainTips(conv.id)).get(m1.chain)?.seq, 2, 'the chain reaches seq 2');
  t.equal((await b.messages(conv.id)).length, 2, 'm1 and the new seq 2, the stray out of the set');
});

t.test('writeTogether: received messages are applied at once and written in one batch when it ends (also after a throw)', async (t) => {
  const clock = new VirtualClock({ wallStartMs: START });
  const rng = new SeededRng('together');
  const src = new Conversations({ store: new MemoryStore(), clock, rng, signer: alice });
  const conv = await src.create({ topic: 'together', with: [bob.userKey], pattern: 'discussion' });
  const sent: Message[] = [];
  for (let i = 0; i < 3; i++) {
    clock.advance(1000);
    sent.push((await src.post(conv.id, 'text', { text: `m${i}` })).message);
  }
  const store = new MemoryStore();
  const writes: string[] = [];
  const counted: KvStore = {
    get: (k) => store.get(k),
    put: (k, v) => (writes.push(`put ${k.split('/').at(-1)}`), store.put(k, v)),
    del: (k) => store.del(k),
    batch: (ops) => (writes.push(`batch ${ops.length}`), store.batch(ops)),
    range: (o) => store.range(o),
    close: () => store.close(),
  };
  const bobs = new Conversations({ store: counted, clock, rng, signer: bob });
  await bobs.receiveConversation((await src.headerBytes(conv.id))!);
  writes.length = 0;
  await bobs.writeTogether(async () => {
    for (const m of sent.slice(0, 2)) t.equal((await bobs.receive(m.bytes)).status, 'accepted');
    await bobs.writeTogether(async () => t.equal((await bobs.receive(sent[2]!.bytes)).status, 'accepted')); // nested: the outer one writes
    t.equal((await bobs.messages(conv.id)).length, 3, 'applied in memory before the write');
    t.same(writes, [], 'nothing written yet');
  });
  t.same(writes, ['batch 3'], 'one batch for the three');
  t.equal((await new Conversations({ store, clock, rng, signer: bob }).messages(conv.id)).length, 3, 'a load from the store itself (not the counting view) has them');

  clock.advance(1000);
  const next = (await src.post(conv.id, 'text', { text: 'after' })).message;
  writes.length = 0;
  await t.rejects(bobs.writeTogether(async () => {
    await bobs.receive(next.bytes);
    throw new Error('stop');
  }), /stop/, 'the error goes on');
  t.same(writes, ['batch 1'], 'what was applied before it is written');
});
