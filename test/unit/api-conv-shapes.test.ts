// The conversation routes' answers, made by the real conversation operations (agent/conv-ops.ts over
// consensus/conversations.ts), fit the shapes declared in agent/api-shapes.ts: a list with open,
// closed and damaged entries, a created summary, and a shown conversation with its messages, the
// method's current state and its closing record.
import t, { type Test } from 'tap';
import { Value } from '@sinclair/typebox/value';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { Conversations } from '../../consensus/conversations.js';
import { localConvOps } from '../../agent/conv-ops.js';
import { ConvListed, ConvShown, ConvSummary } from '../../agent/api-shapes.js';
import { testUser } from '../helpers/users.js';

const [alice, bob] = ['alice', 'bob'].map(testUser) as [ReturnType<typeof testUser>, ReturnType<typeof testUser>];

function setup() {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1, 12) });
  const store = new MemoryStore();
  const as = (u: typeof alice) => new Conversations({ store, clock, rng: new SeededRng(u.name), signer: u });
  const users = () => [{ userKey: alice.hex, name: 'alice' }, { userKey: bob.hex, name: 'bob' }];
  return { store, a: localConvOps(as(alice), as(alice), { users } as never), b: localConvOps(as(bob), as(bob), { users } as never) };
}

function fits(t: Test, shape: Parameters<typeof Value.Check>[0], v: unknown, what: string): void {
  const errors = [...Value.Errors(shape, v)].slice(0, 3).map((e) => `${e.path}: ${e.message}`);
  t.same(errors, [], `${what} fits its declared shape`);
}

t.test('create, list, show and close: every answer fits its shape', async (t) => {
  const { a, b } = setup();
  const poll = await a.create({ topic: 'Saturday?', with: [bob.hex], pattern: 'poll', options: ['lake', 'pub', 'museum'], ballot: 'ranking', method: 'irv' });
  fits(t, ConvSummary, poll, 'a created IRV poll');
  const chat = await a.create({ topic: 'hello', with: [bob.hex], pattern: 'discussion' });
  fits(t, ConvSummary, chat, 'a created discussion');
  const proposal = await a.create({ topic: 'paint the shed', with: [bob.hex], pattern: 'proposal', method: 'consent' });
  await a.post(chat.id, 'hi bob');
  await a.vote(poll.id, { rank: ['pub', 'lake', 'museum'] });
  await b.vote(poll.id, { rank: ['lake', 'pub', 'museum'] });
  await b.vote(proposal.id, { choice: 'agree', reason: 'fine' });

  const list = await a.list();
  t.equal(list.length, 3);
  for (const c of list) fits(t, ConvListed, c, `list entry ${c.state}`);
  for (const id of [poll.id, chat.id, proposal.id]) {
    const shown = await a.show(id);
    fits(t, ConvShown, shown, `conversation ${shown.pattern['name'] as string}`);
  }
  const closed = (await a.list()).find((c) => c.id === poll.id);
  t.equal(closed?.state, 'closed', 'both ranked: the IRV poll is decided');
  const shown = await a.show(poll.id);
  t.ok(shown.closing, 'the shown poll carries its closing record');
  t.same(shown.names, { [alice.hex]: 'alice', [bob.hex]: 'bob' });
});

t.test('a conversation that cannot be read is listed as damaged, in its declared shape', async (t) => {
  const { a, store } = setup();
  await a.create({ topic: 'x', with: [bob.hex], pattern: 'discussion' });
  // An index entry whose header is missing (a torn write, a damaged disk): the list still answers.
  const lost = 'ab'.repeat(32);
  await store.put(`convidx/${lost}`, new Uint8Array(0));
  const list = await a.list();
  t.equal(list.length, 2);
  t.equal(list.find((x) => x.id === lost)?.state, 'damaged');
  for (const x of list) fits(t, ConvListed, x, `list entry ${x.state}`);
});
