// The pairing state machines driven message by message, seeded: success, a wrong code, an expired
// or used offer, replayed and reordered messages, a guesser on the LAN, a relay in the middle
// (without the code it fails; with an overheard code the safety numbers differ), a blocked user,
// hostile bytes, and a verifying joiner on whole simulated agents ("no" or no answer changes
// neither side, also when re-pairing a friend; "yes" pairs both), and a verifying offerer (its
// "no" or no answer changes neither side, also when both verify; "yes" pairs both).
import t from 'tap';
import fc from 'fast-check';
import { SeededRng } from '../../core/rng.js';
import { VirtualClock } from '../../core/clock.js';
import { PairingService, type PairingDeps } from '../../cluster/pairing/pairing-service.js';
import { bytesEqual } from '../../core/hex.js';
import { isKithError, type KithError } from '../../core/errors.js';
import { verifyCertificate } from '../../identity/certificate.js';
import { makeFriendCard } from '../../cluster/pairing/friend-card.js';
import { newCode, parseCode, safetyNumber, type PairCode } from '../../cluster/pairing/code.js';
import { PairInitiator, PairOffer, PairResponder, type PairSelf, type Step } from '../../cluster/pairing/protocol.js';
import { testUser } from '../helpers/users.js';
import { simAgents } from '../helpers/sim-agents.js';

function self(name: string, blocked: Uint8Array[] = []): PairSelf & { name: string } {
  const u = testUser(name);
  const card = { cert: verifyCertificate(u.certBytes), certBytes: u.certBytes, endpoints: [{ kind: 'lan' as const, host: '10.0.0.2', port: 5484 }] };
  return { name, userKey: u.userKey, friendCard: makeFriendCard(name, [card], u.signSecret), isBlocked: (k) => blocked.some((b) => bytesEqual(b, k)) };
}

/** Runs a joiner against a responder until both stop; returns each side's end and the messages. */
function run(j: PairInitiator, r: PairResponder) {
  const wire: Uint8Array[] = [];
  let toR: Uint8Array | undefined = j.start();
  let jEnd: Step = {};
  let rEnd: Step = {};
  for (let i = 0; i < 8 && toR; i++) {
    wire.push(toR);
    const rs = r.receive(toR);
    toR = undefined;
    if (rs.result || rs.error) rEnd = rs;
    if (!rs.send) break;
    wire.push(rs.send);
    const js = j.receive(rs.send);
    if (js.result || js.error) jEnd = js;
    toR = js.send;
    if (js.send && (js.error || js.result)) {
      wire.push(js.send);
      const last = r.receive(js.send);
      if (last.result || last.error) rEnd = last;
      break;
    }
  }
  return { jEnd, rEnd, wire };
}

const rng = (s: string) => new SeededRng(`pair:${s}`);
/** The same code with its two words swapped: a plausible mistyping, and a wrong code. */
const swappedWords = (code: PairCode): PairCode => ({ ...code, words: [code.words[1], code.words[0]], text: `${code.offer}-${code.words[1]}-${code.words[0]}` });
const alice = self('alice');
const bob = self('bob');

t.test('success: both get the other\'s card, the same secret and the same safety number', async (t) => {
  const code = newCode(rng('code-1'));
  t.match(code.text, /^\d{4}-[a-z]+-[a-z]+$/);
  const offer = new PairOffer(code, 600_000, alice, rng('o1'), new Map());
  const r = offer.accept('10.0.0.3', 0) as PairResponder;
  const { jEnd, rEnd } = run(new PairInitiator(parseCode(code.text.toUpperCase().replace(/-/g, ' ')), bob, rng('j1')), r);
  t.ok(jEnd.result && rEnd.result, 'both sides succeed');
  t.ok(bytesEqual(jEnd.result!.friend.userKey, alice.userKey), 'bob learns alice');
  t.ok(bytesEqual(rEnd.result!.friend.userKey, bob.userKey), 'alice learns bob');
  t.equal(jEnd.result!.friend.name, 'alice');
  t.ok(bytesEqual(jEnd.result!.secret, rEnd.result!.secret), 'the same fresh secret');
  t.equal(jEnd.result!.safetyNumber, rEnd.result!.safetyNumber, `the same safety number (${jEnd.result!.safetyNumber})`);
  t.match(jEnd.result!.safetyNumber, /^\d{5} \d{5} \d{5} \d{5}$/);
  offer.settle(r, '10.0.0.3', 1);
  t.notOk(offer.isOpen, 'the offer is single-use');
  const again = offer.accept('10.0.0.4', 2);
  t.ok('refuse' in again && again.error.code === 'PAIR_EXPIRED', 'a second joiner is told it expired');
});

t.test('a wrong code fails on both sides, spends the offer, and teaches nothing', async (t) => {
  const code = newCode(rng('code-2'));
  const failures = new Map<string, number>();
  const offer = new PairOffer(code, 600_000, alice, rng('o2'), failures);
  const r = offer.accept('10.0.0.66', 0) as PairResponder;
  const wrong = swappedWords(code);
  const { jEnd, rEnd, wire } = run(new PairInitiator(wrong, bob, rng('j2')), r);
  t.equal(jEnd.error?.code, 'PAIR_WRONG_CODE', 'the joiner fails');
  t.equal(rEnd.error?.code, 'PAIR_WRONG_CODE', 'the offerer fails');
  t.notOk(jEnd.result || rEnd.result, 'nobody gets a card');
  t.equal(wire.length, 3, 'hello, share, abort: no card ever crosses');
  offer.settle(r, '10.0.0.66', 10);
  t.notOk(offer.isOpen, 'one guess per code: the offer is used up');
  const right = offer.accept('10.0.0.3', 20);
  t.ok('refuse' in right && right.error.code === 'PAIR_EXPIRED', 'even the right code is refused now');
  const next = new PairOffer(newCode(rng('code-2b')), 600_000, alice, rng('o2b'), failures);
  const limited = next.accept('10.0.0.66', 30_000);
  t.ok('refuse' in limited && limited.error.code === 'PAIR_RATE_LIMITED', 'the guesser\'s address is rate-limited on the next offer');
  t.ok(next.isOpen, 'and that refusal does not spend the next offer');
  t.ok(next.accept('10.0.0.66', 61_000) instanceof PairResponder, 'after a minute it may try again');
});

t.test('a joiner that leaves after the share has spent its guess', async (t) => {
  const code = newCode(rng('code-2c'));
  const failures = new Map<string, number>();
  const offer = new PairOffer(code, 600_000, alice, rng('o2c'), failures);
  const r = offer.accept('10.0.0.66', 0) as PairResponder;
  const guess = swappedWords(code);
  t.ok(r.receive(new PairInitiator(guess, bob, rng('j2c')).start()).send, 'the share (with macO, enough to check the guess offline) goes out');
  offer.settle(r, '10.0.0.66', 5); // the connection just closes
  t.notOk(offer.isOpen, 'the offer is spent: disconnecting is no way to guess again');
  t.equal(failures.get('10.0.0.66'), 5, 'and the address is rate-limited');
});

t.test('an expired offer refuses', async (t) => {
  const offer = new PairOffer(newCode(rng('code-3')), 600_000, alice, rng('o3'), new Map());
  const r = offer.accept('10.0.0.3', 600_000);
  t.ok('refuse' in r && r.error.code === 'PAIR_EXPIRED');
});

t.test('replayed and reordered messages', async (t) => {
  const code = newCode(rng('code-4'));
  const o1 = new PairOffer(code, 600_000, alice, rng('o4'), new Map());
  const r1 = o1.accept('10.0.0.3', 0) as PairResponder;
  const { wire } = run(new PairInitiator(code, bob, rng('j4')), r1);
  o1.settle(r1, '10.0.0.3', 1);
  // the recorded hello replayed to the finished offer
  const replay = o1.accept('10.0.0.9', 5);
  t.ok('refuse' in replay && replay.error.code === 'PAIR_EXPIRED', 'a replayed hello finds the offer used');
  // the recorded hello and confirm replayed into a fresh offer with the same code (a new PAKE)
  const o2 = new PairOffer(code, 600_000, alice, rng('o4b'), new Map());
  const r2 = o2.accept('10.0.0.9', 10) as PairResponder;
  const s1 = r2.receive(wire[0]!);
  t.ok(s1.send, 'the replayed hello gets a share (the offerer cannot tell yet)');
  const s2 = r2.receive(wire[2]!);
  t.equal(s2.error?.code, 'PAIR_WRONG_CODE', 'the replayed confirm does not match the new exchange');
  t.notOk(s2.result, 'no card is accepted');
  // reordered: confirm before hello
  const o3 = new PairOffer(code, 600_000, alice, rng('o4c'), new Map());
  const r3 = o3.accept('10.0.0.3', 10) as PairResponder;
  t.equal(r3.receive(wire[2]!).error?.code, 'PAIR_FAILED', 'a confirm before any hello is refused');
  o3.settle(r3, '10.0.0.3', 11);
  t.ok(o3.isOpen, 'and does not spend the offer (no PAKE was reached)');
  // duplicated hello within one exchange
  const r4 = o3.accept('10.0.0.3', 12) as PairResponder;
  const j4 = new PairInitiator(code, bob, rng('j4d'));
  const hello = j4.start();
  t.ok(r4.receive(hello).send);
  t.equal(r4.receive(hello).error?.code, 'PAIR_FAILED', 'a duplicated hello mid-exchange ends it');
  o3.settle(r4, '10.0.0.3', 13);
  t.notOk(o3.isOpen, 'and spends the offer: the PAKE was reached');
});

t.test('a relay in the middle: without the code it fails; with an overheard code the safety numbers differ', async (t) => {
  const mallory = self('mallory');
  const code = newCode(rng('code-5'));
  const guess = newCode(rng('code-5-guess'));
  const mitmCode: PairCode = { ...guess, offer: code.offer, text: `${code.offer}-${guess.words[0]}-${guess.words[1]}` };
  // Mallory answers Bob as if she were Alice's offer, and joins Alice's offer as if she were Bob.
  const toAlice = run(new PairInitiator(mitmCode, mallory, rng('m1')), new PairOffer(code, 600_000, alice, rng('o5'), new Map()).accept('10.0.0.7', 0) as PairResponder);
  const toBob = run(new PairInitiator(code, bob, rng('j5')), new PairOffer(mitmCode, 600_000, mallory, rng('m2'), new Map()).accept('10.0.0.3', 0) as PairResponder);
  t.equal(toAlice.rEnd.error?.code, 'PAIR_WRONG_CODE', 'alice refuses the relay');
  t.equal(toBob.jEnd.error?.code, 'PAIR_WRONG_CODE', 'bob refuses the relay');
  // With the code overheard, Mallory pairs with each; but each sees a number for Mallory's key.
  const a = run(new PairInitiator(code, mallory, rng('m3')), new PairOffer(code, 600_000, alice, rng('o6'), new Map()).accept('10.0.0.7', 0) as PairResponder);
  const b = run(new PairInitiator(code, bob, rng('j6')), new PairOffer(code, 600_000, mallory, rng('m4'), new Map()).accept('10.0.0.3', 0) as PairResponder);
  t.ok(a.rEnd.result && b.jEnd.result, 'with the code, each pairing completes with mallory');
  t.not(a.rEnd.result!.safetyNumber, b.jEnd.result!.safetyNumber, 'alice and bob read different safety numbers aloud');
  t.not(a.rEnd.result!.safetyNumber, safetyNumber(alice.userKey, bob.userKey), 'neither is the alice–bob number');
});

t.test('a blocked user is refused on both sides', async (t) => {
  const blocking = self('alice', [bob.userKey]);
  const code = newCode(rng('code-7'));
  const { jEnd, rEnd } = run(new PairInitiator(code, bob, rng('j7')), new PairOffer(code, 600_000, blocking, rng('o7'), new Map()).accept('10.0.0.3', 0) as PairResponder);
  t.equal(rEnd.error?.code, 'PAIR_REFUSED');
  t.equal(jEnd.error?.code, 'PAIR_REFUSED');
});

t.test('hostile bytes: every step is a clear error, never a throw', async (t) => {
  const code = newCode(rng('code-8'));
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (b, second) => {
      const r = new PairResponder(code, alice, rng('fuzz'));
      if (second) r.receive(new PairInitiator(code, bob, rng('fz')).start());
      const s = r.receive(b);
      if (s.error && !isKithError(s.error)) throw new Error('not a KithError');
      const j = new PairInitiator(code, bob, rng('fz2'));
      j.start();
      const s2 = j.receive(b);
      if (s2.error && !isKithError(s2.error)) throw new Error('not a KithError');
    }),
    { numRuns: 300, seed: 8 },
  );
  t.pass('300 random messages to each side');
});

t.test('an offer whose LAN discovery fails to start is closed and forgotten, and the next offer tries discovery again', async (t) => {
  const clock = new VirtualClock();
  const servers: { port: number; closed: boolean }[] = [];
  const tcp = {
    listen: async () => {
      const s = { port: 40_000 + servers.length, closed: false, close: () => void (s.closed = true) };
      servers.push(s);
      return s;
    },
    connect: () => Promise.reject(new Error('not in this test')),
  };
  let serveCalls = 0;
  const discovery = {
    serve: async () => {
      if (serveCalls++ === 0) throw new Error('multicast socket: EADDRINUSE');
    },
    stopServing: () => {},
    find: () => Promise.reject(new Error('not in this test')),
  };
  const quiet = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
  const roster = { pairSelf: async () => alice, befriend: async () => { throw new Error('unused'); }, enrolled: async () => { throw new Error('unused'); } };
  const svc = new PairingService({ clock, rng: rng('discovery-fails'), tcp, roster, log: quiet, discovery } as unknown as PairingDeps, { host: '127.0.0.1', advertisedHost: () => '127.0.0.1', defaultTtlMs: 60_000 });
  await t.rejects(svc.offer(), /EADDRINUSE/);
  t.equal(servers[0]!.closed, true, 'its TCP server is closed');
  t.equal(clock.pending, 0, 'no expiry timer left behind');
  const view = await svc.offer();
  t.equal(serveCalls, 2, 'the next offer starts discovery again');
  t.equal(svc.offerState(view.id).state, 'waiting');
  await svc.stop();
});

/** alice0 and frank as whole sim agents, with what the --verify tests read of them. */
async function verifyWorld(t: { testdir(): string; teardown(fn: () => unknown): void }, seed: string) {
  const sim = await simAgents({ seed, dir: t.testdir(), agents: [{ name: 'alice0', user: 'alice' }, { name: 'frank', user: 'frank' }] });
  t.teardown(() => sim.close());
  const roster = (n: string) => sim.get(n).agent!.roster;
  const userHex = (n: string) => Buffer.from(sim.get(n).agent!.identity.cert.userKey).toString('hex');
  /** A friend's pair secret and record time as `n` holds them (the roster keeps them private). */
  const held = (n: string, friend: string) => {
    const rec = (roster(n) as unknown as { friendRecs: Map<string, { secret?: Uint8Array; atMs: number }> }).friendRecs.get(userHex(friend));
    return rec && { secret: rec.secret && Buffer.from(rec.secret).toString('hex'), atMs: rec.atMs };
  };
  const friendsOf = (n: string) => roster(n).friends().map((f) => f.userKey);
  const body = async (n: string, method: string, route: string, b?: unknown) => {
    const r = await sim.api(n, method, route, b);
    return r.body.result ?? r.body;
  };
  return { sim, roster, userHex, held, friendsOf, body };
}

t.test('`kith pair --code … --verify`: the joiner\'s "no" (or no answer) changes neither side; "yes" pairs both', async (t) => {
  const { sim, roster, userHex, held, friendsOf, body } = await verifyWorld(t, 'pair-verify');
  /** An offer on alice0, a verifying join from frank (nothing committed yet), then frank's answer. */
  const verifiedPairing = async (confirm: boolean | undefined) => {
    const offer = await body('alice0', 'POST', '/api/pair/offer', {});
    const joined = await body('frank', 'POST', '/api/pair/join', { target: offer.qr, verify: true });
    const whileAsking = { alice: friendsOf('alice0'), frank: friendsOf('frank'), aliceHeld: held('alice0', 'frank'), frankHeld: held('frank', 'alice0') };
    const answered = confirm === undefined ? undefined : await body('frank', 'POST', `/api/pair/join/${joined.pending}`, { confirm });
    await sim.until(() => sim.get('alice0').agent!.pairing.offerState(offer.id).state !== 'waiting', 3 * 60_000, 200);
    return { joined, whileAsking, answered, offered: sim.get('alice0').agent!.pairing.offerState(offer.id) };
  };

  // ---- a new friend, refused: neither side has them
  const no = await verifiedPairing(false);
  t.match(no.joined, { kind: 'friend', friendUserKey: userHex('alice0'), alreadyFriends: false }, 'the joiner is shown who it would pair with');
  t.match(no.joined.pending, /^[0-9a-f]{16}$/, 'and a pending id to answer');
  t.same(no.whileAsking, { alice: [], frank: [], aliceHeld: undefined, frankHeld: undefined }, 'while the person compares numbers, neither side has committed');
  t.same(no.answered, { refused: true });
  t.equal(no.offered.state, 'failed', 'the offer ends as failed');
  t.equal(no.offered.error?.code, 'PAIR_NOT_CONFIRMED');
  t.same([friendsOf('alice0'), friendsOf('frank')], [[], []], 'after "no" neither side lists the other');

  // ---- "yes": both are friends, with the same secret
  const yes = await verifiedPairing(true);
  t.equal(yes.offered.state, 'paired', `the offer pairs ${JSON.stringify(yes.offered.error)}`);
  t.equal(yes.answered.safetyNumber, (yes.offered.result as { safetyNumber?: string } | undefined)?.safetyNumber, 'the same safety number');
  t.same([friendsOf('alice0'), friendsOf('frank')], [[userHex('frank')], [userHex('alice0')]], 'after "yes" both list the other');
  const before = { alice: held('alice0', 'frank'), frank: held('frank', 'alice0') };
  t.ok(before.alice?.secret && before.alice.secret === before.frank?.secret, 'both hold the same pair secret');

  // ---- re-pairing a friend, refused: both keep the old record and secret
  const again = await verifiedPairing(false);
  t.equal(again.joined.alreadyFriends, true, 'the joiner is told it is a re-pairing');
  t.equal(again.offered.error?.code, 'PAIR_NOT_CONFIRMED');
  t.same({ alice: held('alice0', 'frank'), frank: held('frank', 'alice0') }, before, 'both sides keep the old friend record and secret untouched');

  // ---- no answer: the offerer gives up after 2 minutes, the joiner's late answer is refused
  const silent = await verifiedPairing(undefined);
  t.equal(silent.offered.error?.code, 'PAIR_NOT_CONFIRMED', 'a joiner that never answers is a "no" for the offerer');
  const late = await sim.api('frank', 'POST', `/api/pair/join/${silent.joined.pending}`, { confirm: true });
  t.equal(late.body.error?.code, 'PAIR_EXPIRED', 'a late "yes" is refused on the joiner too');
  t.same({ alice: held('alice0', 'frank'), frank: held('frank', 'alice0') }, before, 'and nothing changed on either side');
});

t.test('`kith pair --verify` offering: the offerer\'s "no" (or no answer) changes neither side; "yes" pairs both', async (t) => {
  const { sim, roster, userHex, held, friendsOf, body } = await verifyWorld(t, 'pair-verify-offer');
  const offerState = (id: string) => sim.get('alice0').agent!.pairing.offerState(id);
  /** A verifying offer on alice0, a join from frank (verifying too with `bothVerify`), then alice's answer. */
  const verifiedOffer = async (confirm: boolean | undefined, bothVerify = false) => {
    const offer = await body('alice0', 'POST', '/api/pair/offer', { verify: true });
    // Frank's side straight on its pairing service: an HTTP call in the sim gives up after 60 s,
    // and a join waits up to 2 min for the offerer's answer.
    const frank = sim.get('frank').agent!.pairing;
    let joined: Record<string, unknown> | undefined;
    const settle = (p: Promise<object>) => p.then((j) => (joined = j as Record<string, unknown>), (e: KithError) => (joined = { error: { code: e.code } }));
    void settle(frank.join(offer.qr, { verify: bothVerify }));
    if (bothVerify) {
      await sim.until(() => joined !== undefined, 60_000, 200);
      void settle(frank.answerJoin(joined!['pending'] as string, true));
    }
    await sim.until(() => offerState(offer.id).state !== 'waiting', 60_000, 200);
    const asking = offerState(offer.id);
    const whileAsking = { alice: friendsOf('alice0'), frank: friendsOf('frank'), aliceHeld: held('alice0', 'frank'), frankHeld: held('frank', 'alice0') };
    const answered = confirm === undefined ? undefined : await body('alice0', 'POST', `/api/pair/offer/${offer.id}/confirm`, { confirm });
    await sim.until(() => offerState(offer.id).state !== 'confirming' && (bothVerify ? joined?.['pending'] === undefined : joined !== undefined), 3 * 60_000, 200);
    return { asking, whileAsking, answered, joined: joined!, offered: offerState(offer.id) };
  };

  // ---- a new friend, refused by the offerer: neither side has them
  const no = await verifiedOffer(false);
  t.equal(no.asking.state, 'confirming', 'the offer waits for its person');
  t.match(no.asking.confirming, { kind: 'friend', friendUserKey: userHex('frank'), alreadyFriends: false, safetyNumber: /\d/ }, 'showing who and the safety number');
  t.same(no.whileAsking, { alice: [], frank: [], aliceHeld: undefined, frankHeld: undefined }, 'while the offerer compares numbers, neither side has committed');
  t.equal(no.answered.state, 'failed');
  t.equal(no.offered.error?.code, 'PAIR_NOT_CONFIRMED');
  t.match(no.joined, { error: { code: 'PAIR_NOT_CONFIRMED' } }, 'the joiner is told the offerer refused');
  t.same([friendsOf('alice0'), friendsOf('frank')], [[], []], 'after "no" neither side lists the other');

  // ---- "yes": both are friends, with the same secret
  const yes = await verifiedOffer(true);
  t.equal(yes.answered.state, 'paired', `the offer pairs ${JSON.stringify(yes.answered.error)}`);
  t.equal(yes.joined['safetyNumber'], yes.asking.confirming?.safetyNumber, 'the joiner pairs, with the same safety number');
  t.same([friendsOf('alice0'), friendsOf('frank')], [[userHex('frank')], [userHex('alice0')]], 'after "yes" both list the other');
  const before = { alice: held('alice0', 'frank'), frank: held('frank', 'alice0') };
  t.ok(before.alice?.secret && before.alice.secret === before.frank?.secret, 'both hold the same pair secret');

  // ---- re-pairing a friend, refused by the offerer: both keep the old record and secret
  const again = await verifiedOffer(false);
  t.equal(again.asking.confirming?.alreadyFriends, true, 'the offerer is told it is a re-pairing');
  t.match(again.joined, { error: { code: 'PAIR_NOT_CONFIRMED' } });
  t.same({ alice: held('alice0', 'frank'), frank: held('frank', 'alice0') }, before, 'both sides keep the old friend record and secret untouched');

  // ---- both verify, the joiner says yes, the offerer no: still nothing changes
  const both = await verifiedOffer(false, true);
  t.match(both.joined, { error: { code: 'PAIR_NOT_CONFIRMED' } }, 'the joiner\'s "yes" waits for the offerer\'s answer');
  t.same({ alice: held('alice0', 'frank'), frank: held('frank', 'alice0') }, before, 'and the offerer\'s "no" leaves both as they were');

  // ---- no answer: the offerer refuses by itself, a late answer is refused
  const silent = await verifiedOffer(undefined);
  t.equal(silent.offered.error?.code, 'PAIR_NOT_CONFIRMED', 'an offerer that never answers is a "no"');
  t.match(silent.joined, { error: { code: 'PAIR_NOT_CONFIRMED' } }, 'and the joiner does not pair');
  const late = await sim.api('alice0', 'POST', `/api/pair/offer/${silent.asking.id}/confirm`, { confirm: true });
  t.equal(late.body.error?.code, 'PAIR_EXPIRED', 'a late "yes" is refused');
  t.same({ alice: held('alice0', 'frank'), frank: held('frank', 'alice0') }, before, 'and nothing changed on either side');

  // ---- both verify and both say yes: paired, with a new secret on both sides
  const twice = await verifiedOffer(true, true);
  t.equal(twice.answered.state, 'paired');
  t.equal(twice.joined['safetyNumber'], twice.asking.confirming?.safetyNumber, 'the joiner commits after the offerer\'s yes');
  const after = { alice: held('alice0', 'frank'), frank: held('frank', 'alice0') };
  t.ok(after.alice?.secret && after.alice.secret === after.frank?.secret && after.alice.secret !== before.alice?.secret, 'both hold the same, new pair secret');
});
