// Enrolling a user's new machine through pairing, message by message (seeded): the offering
// node gives the index, the new node certifies itself with the phrase and gets the welcome. A
// node of another user, an offerer that cannot enroll, a certificate for another index, a wrong
// code and a tampered welcome all fail; and the roster records refuse forgeries.
import t from 'tap';
import fc from 'fast-check';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { bytesEqual } from '../../core/hex.js';
import { isKithError } from '../../core/errors.js';
import { verifyCertificate } from '../../identity/certificate.js';
import { certifyNode, revokeNode } from '../../identity/create.js';
import { generatePhrase } from '../../identity/phrase.js';
import type { NodeCard } from '../../cluster/card.js';
import { makeFriendCard } from '../../cluster/pairing/friend-card.js';
import { newCode, type PairCode } from '../../cluster/pairing/code.js';
import { PairInitiator, PairOffer, PairResponder, type EnrollSelf, type PairSelf, type Step } from '../../cluster/pairing/protocol.js';
import { decodeRosterMessage, encodeRosterMessage, makeFriendRecord, makeWelcome, openFriendRecord, openRosterRecord, openWelcome } from '../../cluster/roster.js';

const clock = new VirtualClock();
const rng = (s: string) => new SeededRng(`enroll:${s}`);
const phraseOf = (user: string) => generatePhrase(new SeededRng(`phrase:${user}`));

function node(user: string, index: number): { card: NodeCard; signSecret: Uint8Array; userKey: Uint8Array } {
  const n = certifyNode(clock, { phrase: phraseOf(user), nodeIndex: index, generation: 0, roles: ['access'], label: `${user}-${index}` });
  return { card: { cert: verifyCertificate(n.certBytes), certBytes: n.certBytes, endpoints: [{ kind: 'lan', host: `10.0.0.${10 + index}`, port: 5484 }] }, signSecret: n.keys.sign.secretKey, userKey: n.userKey };
}

const alice0 = node('alice', 0);
const bob0 = node('bob', 0);
const revokedBob = revokeNode(clock, { phrase: phraseOf('bob'), nodeIndex: 7, generation: 0, reason: 'lost' });
const friendRec = makeFriendRecord({ certBytes: alice0.card.certBytes, signSecret: alice0.signSecret }, { user: bob0.userKey, name: 'bob', nodes: [bob0.card], secret: new Uint8Array(32).fill(9), state: 'friend', atMs: 1000 });

/** Alice's node 0 as an offerer; `enroll: false` stands for a node whose key file has no own secret. */
function offerer(opts: { enroll?: boolean; index?: number } = {}): PairSelf & { given: NodeCard[] } {
  const given: NodeCard[] = [];
  return {
    given,
    userKey: alice0.userKey,
    friendCard: makeFriendCard('alice', [alice0.card], alice0.signSecret),
    isBlocked: () => false,
    ...(opts.enroll === false ? {} : {
      enroll: {
        nextIndex: () => opts.index ?? 1,
        welcome: (n: NodeCard) => {
          given.push(n);
          return makeWelcome({ card: makeFriendCard('alice', [alice0.card, n], alice0.signSecret), friends: [friendRec], revoked: [revokedBob] });
        },
      },
    }),
  };
}

/** A new machine with `user`'s phrase; certifies whatever index it is given (or `lie` instead). */
function newMachine(user: string, lie?: number): EnrollSelf {
  return {
    userKey: node(user, 0).userKey,
    certify: (i) => {
      const n = node(user, lie ?? i);
      return makeFriendCard(user, [n.card], n.signSecret);
    },
  };
}

function drive(j: PairInitiator, r: PairResponder): { j: Step; r: Step; count: number } {
  let toR: Uint8Array | undefined = j.start();
  let jEnd: Step = {};
  let rEnd: Step = {};
  let count = 0;
  for (let i = 0; i < 6 && toR; i++) {
    count++;
    const rs = r.receive(toR);
    toR = undefined;
    if (rs.error || rs.enrolled || rs.result) rEnd = rs;
    if (!rs.send) break;
    count++;
    const js = j.receive(rs.send);
    if (js.error || js.welcome || js.result) jEnd = js;
    toR = js.send;
    if (js.error && js.send) {
      count++;
      rEnd = r.receive(js.send);
      break;
    }
  }
  return { j: jEnd, r: rEnd, count };
}

t.test('a new machine enrolls: index from the offerer, its own certificate, the welcome', async (t) => {
  const code = newCode(rng('c1'));
  const me = offerer({ index: 4 });
  const offer = new PairOffer(code, 600_000, me, rng('o1'), new Map());
  const r = offer.accept('10.0.0.5', 0) as PairResponder;
  const { j, r: rEnd, count } = drive(new PairInitiator(code, newMachine('alice'), rng('j1')), r);
  t.equal(count, 6, 'hello, share, enroll, index, card, welcome');
  t.equal(j.welcome?.nodeIndex, 4, 'the new node took the index it was given');
  t.equal(rEnd.enrolled?.cert.nodeIndex, 4, 'the offerer enrolled node 4');
  t.ok(bytesEqual(rEnd.enrolled!.cert.userKey, alice0.userKey), 'of the same user');
  const w = j.welcome!.welcome;
  t.same(w.own.nodes.map((n) => n.cert.nodeIndex), [0, 4], 'the welcome lists the user\'s nodes');
  t.equal(w.friends.length, 1, 'and the friends');
  t.ok(bytesEqual(w.friends[0]!.secret!, new Uint8Array(32).fill(9)), 'with their pair secrets');
  t.equal(w.revocations[0]?.revocation.nodeIndex, 7, 'and the revocations it knows');
  t.equal(r.outcome, 'success');
  offer.settle(r, '10.0.0.5', 1);
  t.notOk(offer.isOpen, 'the offer is used');
});

t.test('enrolment refusals and failures', async (t) => {
  const cases: { name: string; self: PairSelf; joiner: EnrollSelf; code?: (c: PairCode) => PairCode; j: string; r: string }[] = [
    { name: 'a machine of another user', self: offerer(), joiner: newMachine('bob'), j: 'PAIR_REFUSED', r: 'PAIR_REFUSED' },
    { name: 'an offerer without an own secret', self: offerer({ enroll: false }), joiner: newMachine('alice'), j: 'PAIR_REFUSED', r: 'PAIR_REFUSED' },
    { name: 'a certificate for another index', self: offerer({ index: 2 }), joiner: newMachine('alice', 3), j: 'PAIR_FAILED', r: 'PAIR_FAILED' },
    { name: 'a wrong code', self: offerer(), joiner: newMachine('alice'), code: (c) => ({ ...c, words: [c.words[1], c.words[0]], text: 'x' }), j: 'PAIR_WRONG_CODE', r: 'PAIR_WRONG_CODE' },
  ];
  for (const c of cases) {
    const code = newCode(rng(c.name));
    const offer = new PairOffer(code, 600_000, c.self, rng(`o-${c.name}`), new Map());
    const r = offer.accept('10.0.0.6', 0) as PairResponder;
    const end = drive(new PairInitiator(c.code ? c.code(code) : code, c.joiner, rng(`j-${c.name}`)), r);
    t.equal(end.j.error?.code, c.j, `${c.name}: the new machine fails with ${c.j}`);
    t.equal(end.r.error?.code, c.r, `${c.name}: the offerer fails with ${c.r}`);
    t.notOk(end.j.welcome || end.r.enrolled, `${c.name}: nothing is handed over`);
    offer.settle(r, '10.0.0.6', 1);
    t.notOk(offer.isOpen, `${c.name}: the offer is spent`);
  }
});

t.test('a tampered welcome or index is refused', async (t) => {
  const code = newCode(rng('c3'));
  const r = new PairOffer(code, 600_000, offerer(), rng('o3'), new Map()).accept('10.0.0.7', 0) as PairResponder;
  const j = new PairInitiator(code, newMachine('alice'), rng('j3'));
  const share = r.receive(j.start()).send!;
  const enroll = j.receive(share).send!;
  const index = r.receive(enroll).send!;
  const card = j.receive(index).send!;
  const welcome = r.receive(card).send!;
  const bad = welcome.slice();
  bad[bad.length - 3]! ^= 1;
  t.equal(j.receive(bad).error?.code, 'PAIR_FAILED', 'a flipped bit in the welcome box');
});

t.test('welcomes and friend records of the wrong user, forged or malformed, are refused', async (t) => {
  const card = makeFriendCard('bob', [bob0.card], bob0.signSecret);
  t.throws(() => openWelcome(makeWelcome({ card, friends: [], revoked: [] }), alice0.userKey), /another user/, 'a welcome with another user\'s card');
  const bobsRecord = makeFriendRecord({ certBytes: bob0.card.certBytes, signSecret: bob0.signSecret }, { user: alice0.userKey, name: 'alice', nodes: [alice0.card], secret: new Uint8Array(32), state: 'friend', atMs: 1 });
  t.throws(() => openWelcome(makeWelcome({ card: makeFriendCard('alice', [alice0.card], alice0.signSecret), friends: [bobsRecord], revoked: [] }), alice0.userKey), /another user/, 'a friend record signed by another user\'s node');
  // forged: alice's cert in `by`, bob's signature
  const forged = makeFriendRecord({ certBytes: alice0.card.certBytes, signSecret: bob0.signSecret }, { user: bob0.userKey, name: 'bob', nodes: [bob0.card], secret: new Uint8Array(32), state: 'friend', atMs: 1 });
  t.throws(() => openFriendRecord(forged), { code: 'ROSTER_INVALID' }, 'a record not signed by its `by` node');
  t.throws(() => makeFriendRecord({ certBytes: alice0.card.certBytes, signSecret: alice0.signSecret }, { user: bob0.userKey, name: 'bob', nodes: [], state: 'removed', secret: new Uint8Array(32), atMs: 1 }), RangeError, 'a removal carries no secret');
  const wrongNodes = makeFriendRecord({ certBytes: alice0.card.certBytes, signSecret: alice0.signSecret }, { user: bob0.userKey, name: 'bob', nodes: [alice0.card], secret: new Uint8Array(32), state: 'friend', atMs: 1 });
  t.throws(() => openFriendRecord(wrongNodes), /another user/, 'a friend record listing someone else\'s node');
  t.equal(openRosterRecord(friendRec).kind, 'friend');
  t.equal(openRosterRecord(revokedBob).kind, 'revocation');
  t.equal(openRosterRecord(card).kind, 'nodes');
  t.same(decodeRosterMessage(encodeRosterMessage([friendRec, revokedBob])).length, 2, 'a roster message round-trips');
});

t.test('hostile roster messages: only ROSTER_INVALID, never a crash', async (t) => {
  const good = encodeRosterMessage([friendRec, revokedBob]);
  let other = 0;
  fc.assert(fc.property(fc.oneof(fc.uint8Array({ maxLength: 600 }), fc.tuple(fc.nat(good.length - 1), fc.integer({ min: 1, max: 255 })).map(([i, x]) => {
    const b = good.slice();
    b[i]! ^= x;
    return b;
  })), (bytes) => {
    try {
      for (const r of decodeRosterMessage(bytes)) openRosterRecord(r);
    } catch (e) {
      if (!isKithError(e, 'ROSTER_INVALID')) other++;
    }
  }), { numRuns: 400, seed: 7 });
  t.equal(other, 0, 'every failure is ROSTER_INVALID');
});
