// Conversations that make sense (issue 14): checked when created, honest summaries, consent that
// does not count the silence of someone who never had the proposal, and closing outcomes that
// encode exactly (no floating-point text to agree on).
import t from 'tap';
import { VirtualClock, MINUTE } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { encodeCanonical } from '../../core/cbor.js';
import { isKithError, type KithError } from '../../core/errors.js';
import { toHex } from '../../core/hex.js';
import { Conversations, verifyClosing } from '../../consensus/conversations.js';
import { exactFraction, outcomeValue } from '../../consensus/outcome.js';
import type { MethodSpec } from '../../consensus/method-spec.js';
import { testUser } from '../helpers/users.js';
import { signObject } from '../../core/signed.js';
import { hashHex } from '../../consensus/records.js';

const [alice, bob, carol] = ['alice', 'bob', 'carol'].map(testUser) as [ReturnType<typeof testUser>, ReturnType<typeof testUser>, ReturnType<typeof testUser>];
const START = Date.UTC(2026, 5, 1, 12);
const builtin = (name: string, params = {}): MethodSpec => ({ kind: 'builtin', name, params });

function setup(isFriend?: (k: Uint8Array) => boolean) {
  const clock = new VirtualClock({ wallStartMs: START });
  const store = new MemoryStore();
  const as = (u: typeof alice) => new Conversations({ store, clock, rng: new SeededRng(u.name), signer: u, ...(isFriend ? { isFriend } : {}) });
  return { clock, store, a: as(alice), as };
}

async function problems(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    if (!isKithError(e)) throw e;
    return `${e.code}: ${((e as KithError).details as string[] | undefined)?.join(' | ') ?? e.message}`;
  }
}

t.test('patterns and methods that do not fit are refused, each with its reason', async (t) => {
  const { a } = setup();
  const poll = { topic: 'x', with: [bob.userKey], pattern: 'poll' as const, options: ['a', 'b'] };
  t.match(await problems(a.create({ ...poll, method: builtin('consent') })), /^CONV_INVALID: a poll is decided by unanimity, majority, .*not consent/);
  t.match(await problems(a.create({ topic: 'x', with: [bob.userKey], pattern: 'proposal', method: builtin('irv') })), /a proposal is decided by consent, not irv/);
  t.match(await problems(a.create({ ...poll, method: builtin('supermajority', { k: 5, n: 3 }) })), /k\/n must be at most 1, got 5\/3/);
  t.match(await problems(a.create({ ...poll, method: builtin('supermajority', { k: 1, n: 3 }) })), /more than half/);
  t.match(await problems(a.create({ ...poll, method: builtin('supermajority', { quorum: 5 }) })), /quorum must be a whole number up to the 2 voters/);
  t.match(await problems(a.create({ ...poll, method: builtin('score') })), /score counts scores ballots, not choice/);
  t.match(await problems(a.create({ ...poll, ballot: 'scores', method: builtin('score', { min: 5, max: 5 }) })), /min must be below max/);
  t.match(await problems(a.create({ ...poll, ballot: 'ranking', method: builtin('approval') })), /approval counts approve or choice ballots/);
  t.match(await problems(a.create({ topic: 'x', with: [bob.userKey], pattern: 'proposal', method: builtin('consent', { minAgree: 3 }) })), /minAgree 3 is more than the 2 participants/);
  t.match(await problems(a.create({ topic: 'x', with: [bob.userKey], pattern: 'discussion', method: builtin('majority') })), /a discussion has no votes/);
  t.match(await problems(a.create({ topic: 'x', with: [bob.userKey], pattern: 'discussion', options: ['a', 'b'] })), /only a poll has options/);
  t.match(await problems(a.create({ ...poll, options: ['a', 'abstain'], method: builtin('majority') })), /not "abstain"/);
  t.equal(await problems(a.create({ ...poll, ballot: 'scores', method: builtin('score', { min: 1, max: 5 }) })), 'ok', 'a score poll with score ballots is fine');
  t.equal(await problems(a.create({ topic: 'chat', with: [bob.userKey], pattern: 'discussion' })), 'ok', 'a discussion needs no method');
  t.equal(await problems(a.create({ ...poll, method: { kind: 'cel', reached: 'allVoted' } })), 'ok', 'a CEL method fits any pattern');
});

t.test('participants must be friends when the node knows its friends', async (t) => {
  const { a } = setup((k) => toHex(k) === bob.hex);
  t.equal(await problems(a.create({ topic: 'x', with: [bob.userKey], pattern: 'discussion' })), 'ok');
  t.match(await problems(a.create({ topic: 'x', with: [bob.userKey, carol.userKey], pattern: 'discussion' })), new RegExp(`^CONV_INVALID: ${carol.hex.slice(0, 12)} is not a friend`));
});

t.test('no ballots: no winner is announced (IRV said "so far thai wins after 3 rounds")', async (t) => {
  const { a } = setup();
  for (const [method, ballot] of [['irv', 'ranking'], ['schulze', 'ranking'], ['score', 'scores'], ['approval', 'approve']] as const) {
    const c = await a.create({ topic: 'dinner', with: [bob.userKey], pattern: 'poll', options: ['thai', 'pizza', 'sushi'], ballot, method: builtin(method) });
    const v = await a.view(c.id);
    t.equal(v.current.explanation.summary, 'no ballots yet', method);
    t.same([v.current.reached, v.current.outcome.winners], [false, []], method);
  }
});

t.test('consent at a deadline: silence counts only from participants who provably received it', async (t) => {
  for (const bobReceived of [false, true]) {
    const { a, as, clock } = setup();
    const c = await a.create({ topic: 'paint the fence', with: [bob.userKey, carol.userKey], pattern: 'proposal', method: builtin('consent'), deadlineMs: START + 60 * MINUTE });
    await a.post(c.id, 'position', { stance: 'agree', reason: 'fine' });
    await as(carol).post(c.id, 'position', { stance: 'abstain', reason: '' });
    if (bobReceived) {
      t.ok(await as(bob).postReceipt(c.id), 'bob\'s node acknowledges receipt');
      t.equal(await as(bob).postReceipt(c.id), undefined, 'only once');
      t.equal(await as(carol).postReceipt(c.id), undefined, 'carol answered: no receipt needed');
    }
    clock.advance(61 * MINUTE);
    const closing = (await a.closeIfReached(c))!;
    const outcome = closing.outcome as { consented: boolean; unaware: number };
    t.same([outcome.consented, outcome.unaware], bobReceived ? [true, 0] : [false, 1], bobReceived ? 'bob had it and stayed silent: adopted' : 'bob never had it: not adopted');
    if (!bobReceived) t.match((await a.view(c.id)).current.explanation.summary, /1 participant never provably received the proposal/);
  }
});

t.test('closing outcomes are canonical CBOR with integers only: another implementation compares bytes', async (t) => {
  const { a, as } = setup();
  const c = await a.create({ topic: 'films', with: [bob.userKey, carol.userKey], pattern: 'poll', options: ['alien', 'heat'], ballot: 'scores', method: builtin('score') });
  await a.post(c.id, 'ballot', { scores: { alien: 7, heat: 3 } });
  await as(bob).post(c.id, 'ballot', { scores: { alien: 2, heat: 9 } });
  const { closing } = await as(carol).post(c.id, 'ballot', { scores: { alien: 8 } });
  t.same(closing!.outcome, { winners: ['alien'], sum: { alien: 17, heat: 12 }, scored: { alien: 3, heat: 3 }, median: { alien: 7, heat: 3 } }, 'means are sum / scored: 17/3 is not a float anywhere');
  const known = new Map((await a.messages(c.id)).map((m) => [m.hash, m]));
  t.same(verifyClosing(c, closing!, known), { valid: true });
  t.match(await problems(as(bob).post(c.id, 'ballot', { scores: { alien: 2.5 } })), /CONV_CLOSED|whole number/);
  t.same(exactFraction(0.5), [1n, 2n]);
  t.same(exactFraction(-0.375), [-3n, 8n]);
  t.same(exactFraction(0.1), [3602879701896397n, 36028797018963968n], '0.1 is 3602879701896397 / 2^55 exactly');
  t.same(outcomeValue({ winners: ['x'], mean: 17 / 3, n: 3 }), { winners: ['x'], mean: [6380099472108203, 1125899906842624], n: 3 }, 'Python: (17/3).as_integer_ratio()');
  t.equal(Buffer.from(encodeCanonical(outcomeValue({ winners: [], r: 0.5 }))).toString('hex'), 'a261728201026777696e6e65727380', 'the bytes: {"r": [1, 2], "winners": []}');
});

t.test('one damaged conversation does not hide the others from the listing', async (t) => {
  const { a, store } = setup();
  const good = await a.create({ topic: 'good', with: [bob.userKey], pattern: 'discussion' });
  const bad = await a.create({ topic: 'bad', with: [bob.userKey], pattern: 'discussion' });
  const fresh = new Conversations({ store, clock: new VirtualClock({ wallStartMs: START }), rng: new SeededRng('f'), signer: alice });
  const head = (await store.get(`conv/${bad.id}/head`))!;
  head[head.length - 3]! ^= 0xff;
  await store.put(`conv/${bad.id}/head`, head);
  const r = await fresh.listReport();
  t.same(r.conversations.map((c) => c.id), [good.id]);
  t.equal(r.damaged.length, 1);
  t.match(r.damaged[0]!.reason, /^MESSAGE_REJECTED/);
});

t.test('a store written before messages v2 (a certificate in every message, author-keyed) still reads', async (t) => {
  const { a, store } = setup();
  const c = await a.create({ topic: 'old store', with: [bob.userKey], pattern: 'discussion' });
  const v1 = (seq: number, prev: string, text: string) => signObject('kith/conv-msg', { v: 1, conv: Buffer.from(c.id, 'hex'), author: alice.userKey, seq, prev: prev === '' ? new Uint8Array(0) : Buffer.from(prev, 'hex'), at: START + seq, kind: 'text', data: { text }, cert: alice.certBytes }, alice.signSecret);
  const one = v1(1, '', 'first');
  const two = v1(2, hashHex(one), 'second');
  await store.put(`conv/${c.id}/m/${alice.hex}/0000000001`, one);
  await store.put(`conv/${c.id}/m/${alice.hex}/0000000002`, two);
  const fresh = new Conversations({ store, clock: new VirtualClock({ wallStartMs: START }), rng: new SeededRng('f'), signer: alice });
  const v = await fresh.view(c.id);
  t.same(v.messages.map((m) => m.data['text']), ['first', 'second']);
  t.equal(v.state.rejected.length, 0);
  t.equal((await fresh.post(c.id, 'text', { text: 'third, v2' })).message.seq, 3, 'the chain goes on in v2');
  const copy = new MemoryStore(); // a restart: nothing loaded yet
  for await (const [k, v] of store.range({})) await copy.put(k, v);
  const reopened = new Conversations({ store: copy, clock: new VirtualClock({ wallStartMs: START }), rng: new SeededRng('g'), signer: alice });
  t.same((await reopened.view(c.id)).messages.map((m) => m.data['text']), ['first', 'second', 'third, v2'], 'and reads back, v1 and v2 together');
});
