// Conversations in a store: patterns accept and reject with reasons, closing is deterministic
// whatever the arrival order, closing records are verified by re-evaluation, and a closed
// conversation takes no more messages.
import t from 'tap';
import { VirtualClock, MINUTE } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { isKithError } from '../../core/errors.js';
import { Conversations, verifyClosing, preferClosing } from '../../consensus/conversations.js';
import { openClosing, signClosing, type Conversation } from '../../consensus/records.js';
import { testUser, type TestUser } from '../helpers/users.js';
import { toHex } from '../../core/hex.js';
import { verifyCertificate } from '../../identity/certificate.js';

const [alice, bob, carol, dave] = ['alice', 'bob', 'carol', 'dave'].map(testUser) as [TestUser, TestUser, TestUser, TestUser];
const START = Date.UTC(2026, 5, 1, 12);

function node(user: TestUser, clock = new VirtualClock({ wallStartMs: START }), store = new MemoryStore()) {
  return { clock, store, convs: new Conversations({ store, clock, rng: new SeededRng(`rng:${user.name}`), signer: user }) };
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return isKithError(e) ? `${e.code}: ${e.message}` : `crash: ${(e as Error).stack}`;
  }
}

t.test('a ranked-choice poll: ballots, the IRV decision when everyone has voted, then closed', async (t) => {
  const a = node(alice);
  const conv = await a.convs.create({ topic: 'Where do we go on Saturday?', with: [bob.userKey, carol.userKey], pattern: 'poll', options: ['lake', 'museum', 'pub'], ballot: 'ranking', method: { kind: 'builtin', name: 'irv', params: {} } });
  // The other users post through their own Conversations over the same store (one node's view).
  const b = new Conversations({ store: a.store, clock: a.clock, rng: new SeededRng('b'), signer: bob });
  const c = new Conversations({ store: a.store, clock: a.clock, rng: new SeededRng('c'), signer: carol });
  await a.convs.post(conv.id, 'ballot', { ranking: ['lake', 'pub'] });
  a.clock.advance(MINUTE);
  t.equal((await b.post(conv.id, 'ballot', { ranking: ['pub', 'museum'] })).closing, undefined);
  a.clock.advance(MINUTE);
  t.equal((await b.post(conv.id, 'ballot', { ranking: ['museum', 'lake'] })).closing, undefined, 'a replaced ballot: still 2 of 3 voters');
  a.clock.advance(MINUTE);
  const last = await c.post(conv.id.slice(0, 10), 'ballot', { ranking: ['museum', 'lake'] });
  t.ok(last.closing, 'the third voter closes it');
  const v = await a.convs.view(conv.id);
  t.same(v.current.outcome.winners, ['museum']);
  t.same((v.closing!.outcome as { winners: string[] }).winners, ['museum']);
  t.equal(v.closing!.messages.length, 4);
  t.match(await code(a.convs.post(conv.id, 'text', { text: 'late' })), /^CONV_CLOSED/);
  t.match(await code(a.convs.post(conv.id, 'ballot', { ranking: ['nowhere'] })), /^CONV_CLOSED/);
  const cursor = await a.convs.messagesAfter(conv.id, toHex(verifyCertificate(bob.certBytes).signKey), 1);
  t.same(cursor.map((m) => m.seq), [2], 'everything of bob after seq 1');
});

t.test('the same messages in any arrival order give the same closing content', async (t) => {
  const src = node(alice);
  const conv = await src.convs.create({ topic: 'pick a date', with: [bob.userKey, carol.userKey, dave.userKey], pattern: 'poll', options: ['fri', 'sat', 'sun'], ballot: 'choice', method: { kind: 'builtin', name: 'majority', params: { of: 'all' } } });
  const users = [alice, bob, carol, dave];
  const choices = ['sun', 'sat', 'sat', 'fri', 'sat']; // alice's second ballot replaces her first
  let i = 0;
  for (const choice of choices) {
    const u = users[i++ % users.length]!;
    const cv = new Conversations({ store: src.store, clock: src.clock, rng: new SeededRng(u.name), signer: u });
    src.clock.advance(1000 + i * 7);
    try {
      await cv.post(conv.id, 'ballot', { choice });
    } catch (e) {
      if (!isKithError(e, 'CONV_CLOSED')) throw e;
    }
  }
  const head = (await src.store.get(`conv/${conv.id}/head`))!;
  const msgs = await src.convs.messages(conv.id);
  const expected = (await src.convs.closing(conv))!;
  t.ok(expected, 'the source closed it');
  const rng = new SeededRng('shuffle');
  for (let round = 0; round < 12; round++) {
    const order = [...msgs];
    for (let k = order.length - 1; k > 0; k--) {
      const j = rng.below(k + 1);
      [order[k], order[j]] = [order[j]!, order[k]!];
    }
    const closer = users[round % users.length]!;
    const n = node(closer, new VirtualClock({ wallStartMs: START + 10 * MINUTE }));
    await n.convs.receiveConversation(head);
    for (const m of order) {
      // A message can arrive before its predecessor in the author's chain: deliver again later.
      if ((await n.convs.receive(m.bytes)).status === 'gap') order.push(m);
      if (order.length > 200) throw new Error('delivery did not converge');
    }
    const got = (await n.convs.closeIfReached(conv))!;
    t.same([got.messages, got.evaluatedAtMs, got.outcome], [expected.messages, expected.evaluatedAtMs, expected.outcome], `order ${round}, closed by ${closer.name}`);
  }
  t.same((expected.outcome as { winners: string[] }).winners, ['sat']);
});

t.test('closing records are verified by re-evaluation; two valid ones resolve the same way', async (t) => {
  const a = node(alice);
  const conv = await a.convs.create({ topic: 'ok?', with: [bob.userKey], pattern: 'proposal', method: { kind: 'builtin', name: 'consent', params: {} } });
  const b = new Conversations({ store: a.store, clock: a.clock, rng: new SeededRng('b'), signer: bob });
  await a.convs.post(conv.id, 'position', { stance: 'agree', reason: '' });
  a.clock.advance(1000);
  const { closing } = await b.post(conv.id, 'position', { stance: 'agree', reason: 'fine' });
  const known = new Map((await a.convs.messages(conv.id)).map((m) => [m.hash, m]));
  t.same(verifyClosing(conv, closing!, known), { valid: true });
  const forged = openClosing(signClosing({ conv: conv.id, messages: closing!.messages, evaluatedAtMs: closing!.evaluatedAtMs, outcome: { winners: [] } }, bob));
  t.match(verifyClosing(conv, forged, known).reason, /outcome differs/);
  const partial = openClosing(signClosing({ conv: conv.id, messages: closing!.messages.slice(0, 1), evaluatedAtMs: closing!.evaluatedAtMs, outcome: closing!.outcome }, bob));
  t.match(verifyClosing(conv, partial, known).reason, /not reached/);
  const unknown = openClosing(signClosing({ conv: conv.id, messages: ['00'.repeat(32)], evaluatedAtMs: 1, outcome: {} }, bob));
  t.match(verifyClosing(conv, unknown, known).reason, /does not have/);
  const byBob = openClosing(signClosing({ conv: conv.id, messages: closing!.messages, evaluatedAtMs: closing!.evaluatedAtMs, outcome: closing!.outcome }, bob));
  const byAlice = openClosing(signClosing({ conv: conv.id, messages: closing!.messages, evaluatedAtMs: closing!.evaluatedAtMs, outcome: closing!.outcome }, alice));
  t.equal(preferClosing(byBob, byAlice).hash, preferClosing(byAlice, byBob).hash, 'the rule does not depend on argument order');
});

t.test('pattern rules: each violation is refused with its reason and nothing is stored', async (t) => {
  const a = node(alice);
  const as = (u: TestUser) => new Conversations({ store: a.store, clock: a.clock, rng: new SeededRng(u.name), signer: u });
  const builtin = (name: string) => ({ kind: 'builtin' as const, name, params: {} });
  const ann = await a.convs.create({ topic: 'new wifi password', with: [bob.userKey], pattern: 'announcement', method: builtin('acknowledge') });
  t.match(await code(as(bob).post(ann.id, 'text', { text: 'me too' })), /only the author posts/);
  t.equal(await code(as(bob).post(ann.id, 'ack', {})), 'ok');
  const annView = await a.convs.view(ann.id);
  t.ok(annView.closing, 'acknowledged by all: closed');

  const inv = await a.convs.create({ topic: 'dinner', with: [bob.userKey, carol.userKey], pattern: 'invitation', method: { kind: 'builtin', name: 'rsvp', params: { min: 2 } }, deadlineMs: START + 60 * MINUTE });
  t.match(await code(a.convs.post(inv.id, 'rsvp', { answer: 'yes' })), /may not post rsvp/, 'the host does not RSVP');
  t.match(await code(as(bob).post(inv.id, 'rsvp', { answer: 'perhaps' })), /yes, no or maybe/);
  t.equal(await code(as(bob).post(inv.id, 'rsvp', { answer: 'maybe' })), 'ok');
  t.equal(await code(as(bob).post(inv.id, 'rsvp', { answer: 'yes' })), 'ok', 'an answer may change');
  a.clock.advance(61 * MINUTE);
  t.match(await code(as(carol).post(inv.id, 'rsvp', { answer: 'yes' })), /after the deadline/);
  const invClosed = await a.convs.closeIfReached(inv);
  t.ok(invClosed, 'closed at the deadline');
  t.equal(invClosed!.evaluatedAtMs, START + 60 * MINUTE + 1);
  t.equal((invClosed!.outcome as { enough: boolean }).enough, false, 'one yes of two needed');

  const prop = await a.convs.create({ topic: 'new fence', with: [bob.userKey], pattern: 'proposal', method: builtin('consent') });
  t.match(await code(as(bob).post(prop.id, 'position', { stance: 'block', reason: ' ' })), /block needs a reason/);
  t.match(await code(as(bob).post(prop.id, 'ballot', { choice: 'x' })), /takes text, position messages/);
  t.match(await code(as(dave).post(prop.id, 'text', { text: 'hi' })), /not a participant/);

  const deb = await a.convs.create({ topic: 'cats or dogs', with: [bob.userKey, carol.userKey], pattern: 'debate', rounds: 1, sides: [{ name: 'cats', members: [alice.userKey] }, { name: 'dogs', members: [bob.userKey] }], method: builtin('majority') });
  t.match(await code(as(bob).post(deb.id, 'argument', { side: 'dogs', round: 1, text: 'loyal' })), /next turn is round 1, side "cats"/);
  t.match(await code(as(carol).post(deb.id, 'ballot', { choice: 'cats' })), /voting opens after the last argument/);
  t.equal(await code(a.convs.post(deb.id, 'argument', { side: 'cats', round: 1, text: 'independent' })), 'ok');
  t.match(await code(as(carol).post(deb.id, 'argument', { side: 'dogs', round: 1, text: 'x' })), /not on side "dogs"/);
  t.equal(await code(as(bob).post(deb.id, 'argument', { side: 'dogs', round: 1, text: 'loyal' })), 'ok');
  t.match(await code(as(bob).post(deb.id, 'argument', { side: 'cats', round: 2, text: 'x' })), /rounds of arguments are done/);
  t.equal(await code(as(carol).post(deb.id, 'ballot', { choice: 'dogs' })), 'ok');

  const poll = await a.convs.create({ topic: 'colour', with: [bob.userKey], pattern: 'poll', options: ['red', 'blue'], ballot: 'approve', method: builtin('approval') });
  t.match(await code(as(bob).post(poll.id, 'ballot', { choice: 'red' })), /shape "approve"/);
  t.match(await code(as(bob).post(poll.id, 'ballot', { approve: ['green'] })), /not one of the options/);
  t.equal((await a.convs.messages(poll.id)).length, 0, 'nothing stored');
});

t.test('creating: every problem at once; unknown methods and bad CEL refused', async (t) => {
  const a = node(alice);
  const e = await code(a.convs.create({ topic: ' ', with: [], pattern: 'poll', options: ['x'], method: { kind: 'builtin', name: 'irv', params: {} } }));
  t.match(e, /^CONV_INVALID: cannot create the conversation: 3 problems/);
  t.match(await code(a.convs.create({ topic: 'x', with: [bob.userKey], pattern: 'discussion', method: { kind: 'builtin', name: 'borda', params: {} } })), /^METHOD_UNKNOWN/);
  t.match(await code(a.convs.create({ topic: 'x', with: [bob.userKey], pattern: 'discussion', method: { kind: 'cel', reached: 'cast >' } })), /^CEL_INVALID/);
  t.match(await code(a.convs.resolve('zz')), /^CONV_NOT_FOUND/);
});

t.test('a CEL method closes a poll: two thirds of all participants', async (t) => {
  const a = node(alice);
  const conv: Conversation = await a.convs.create({ topic: 'buy a boat?', with: [bob.userKey, carol.userKey], pattern: 'poll', options: ['yes', 'no'], ballot: 'choice', method: { kind: 'cel', reached: 'tallies["yes"] * 3 >= participants * 2', outcome: '"yes"' } });
  const b = new Conversations({ store: a.store, clock: a.clock, rng: new SeededRng('b'), signer: bob });
  t.notOk((await a.convs.post(conv.id, 'ballot', { choice: 'yes' })).closing);
  const { closing } = await b.post(conv.id, 'ballot', { choice: 'yes' });
  t.same(closing!.outcome, { winners: ['yes'] });
});
