// The built-in methods on published, named elections and textbook examples. Sources:
//  [TN]  Wikipedia, "Instant-runoff voting" / "Condorcet method" / "Score voting": the Tennessee
//        capital example (42% Memphis, 26% Nashville, 15% Chattanooga, 17% Knoxville; voters
//        rank cities by distance). IRV elects Knoxville, the Condorcet/Schulze winner is
//        Nashville, plurality leader Memphis without a majority; score voting elects Nashville.
//  [SCH] Wikipedia, "Schulze method", Example (45 voters, candidates A–E): the pairwise matrix
//        d, the strongest paths p, and winner E, as printed there (also M. Schulze, 2011).
//  [ME2] Maine's 2nd congressional district, 2018 general election, ranked-choice tabulation
//        (Maine Secretary of State): round 1 Poliquin 134,184, Golden 132,013, Bond 16,552,
//        Hoar 6,875; final round Golden 142,440, Poliquin 138,931 (8,253 exhausted). The ballot
//        table below is built from those published round totals (how Bond's and Hoar's ballots
//        split is chosen to match them); the winner and final totals are the published ones.
//  [EU]  United Kingdom EU membership referendum, 23 June 2016 (Electoral Commission): Leave
//        17,410,742, Remain 16,141,241.
//  [HoC] House of Commons division of 19 April 2017 on an early general election (Fixed-term
//        Parliaments Act 2011 s.2, two-thirds needed): Ayes 522, Noes 13.
import t from 'tap';
import { evaluateMethod } from '../../consensus/methods/index.js';
import { parseMethodInput, type MethodInput } from '../../consensus/ballots.js';
import { schulzeMatrices, instantRunoff } from '../../consensus/methods/ranked.js';
import { isKithError } from '../../core/errors.js';
import { tieOrder } from '../../consensus/tiebreak.js';

const input = (raw: unknown, seed = ''): MethodInput => parseMethodInput(raw, seed);
const TN_OPTIONS = ['Memphis', 'Nashville', 'Chattanooga', 'Knoxville'];
const TN = {
  options: TN_OPTIONS,
  ballots: [
    { ranking: ['Memphis', 'Nashville', 'Chattanooga', 'Knoxville'], count: 42 },
    { ranking: ['Nashville', 'Chattanooga', 'Knoxville', 'Memphis'], count: 26 },
    { ranking: ['Chattanooga', 'Knoxville', 'Nashville', 'Memphis'], count: 15 },
    { ranking: ['Knoxville', 'Chattanooga', 'Nashville', 'Memphis'], count: 17 },
  ],
};

t.test('[TN] IRV elects Knoxville in three rounds, eliminating Chattanooga then Nashville', async (t) => {
  const r = evaluateMethod('irv', input(TN));
  t.equal(r.reached, true);
  t.same(r.outcome.winners, ['Knoxville']);
  const rounds = r.explanation['rounds'] as { tallies: Record<string, number>; eliminated?: string }[];
  t.same(rounds.map((x) => x.eliminated ?? null), ['Chattanooga', 'Nashville', null]);
  t.same(rounds[2]!.tallies, { Memphis: 42, Knoxville: 58 });
});

t.test('[TN] Schulze elects the Condorcet winner Nashville; majority finds no majority', async (t) => {
  t.same(evaluateMethod('schulze', input(TN)).outcome.winners, ['Nashville']);
  const m = evaluateMethod('majority', input(TN));
  t.same(m.outcome.winners, []);
  t.equal(m.reached, false, 'everyone voted, no majority, deadline not passed: not decided');
  const atDeadline = evaluateMethod('majority', input({ ...TN, deadlinePassed: true }));
  t.equal(atDeadline.reached, true);
  t.same(atDeadline.outcome.winners, [], 'decided: no majority');
});

t.test('[TN] score voting (0–10, distance-based scores) elects Nashville; approval of scores ≥ 5 too', async (t) => {
  const sc = (m: number, n: number, c: number, k: number) => ({ Memphis: m, Nashville: n, Chattanooga: c, Knoxville: k });
  const ballots = [
    { scores: sc(10, 4, 2, 0), count: 42 },
    { scores: sc(0, 10, 4, 2), count: 26 },
    { scores: sc(0, 6, 10, 6), count: 15 },
    { scores: sc(0, 5, 7, 10), count: 17 },
  ];
  const r = evaluateMethod('score', input({ options: TN_OPTIONS, ballots }));
  t.same(r.outcome.winners, ['Nashville']);
  t.equal((r.explanation['mean'] as Record<string, number>)['Nashville'], 6.03);
  t.equal((r.explanation['mean'] as Record<string, number>)['Memphis'], 4.2);
  t.same([r.outcome['sum'], r.outcome['scored']].map((x) => (x as Record<string, number>)['Nashville']), [603, 100], 'the outcome is exact: 603 / 100');
  const med = evaluateMethod('score', input({ options: TN_OPTIONS, ballots }), { aggregate: 'median' });
  t.same(med.outcome.winners, ['Nashville'], 'lower median: Nashville 5, Chattanooga 4, Knoxville 2, Memphis 0');
  const approve = ballots.map((b) => ({ approve: Object.entries(b.scores).filter(([, s]) => s >= 5).map(([o]) => o), count: b.count }));
  const a = evaluateMethod('approval', input({ options: TN_OPTIONS, ballots: approve }));
  t.same(a.outcome.winners, ['Nashville']);
  t.same(a.outcome['approvals'], { Memphis: 42, Nashville: 58, Chattanooga: 32, Knoxville: 32 });
});

const SCH = {
  options: ['A', 'B', 'C', 'D', 'E'],
  ballots: [
    ['ACBED', 5], ['ADECB', 5], ['BEDAC', 8], ['CABED', 3], ['CAEBD', 7], ['CBADE', 2], ['DCEBA', 7], ['EBADC', 8],
  ].map(([r, n]) => ({ ranking: (r as string).split(''), count: n as number })),
};

t.test('[SCH] Schulze: the published pairwise and strongest-path matrices, winner E', async (t) => {
  const m = schulzeMatrices(input(SCH));
  t.same(m.d, [
    [0, 20, 26, 30, 22],
    [25, 0, 16, 33, 18],
    [19, 29, 0, 17, 24],
    [15, 12, 28, 0, 14],
    [23, 27, 21, 31, 0],
  ]);
  t.same(m.p, [
    [0, 28, 28, 30, 24],
    [25, 0, 28, 33, 24],
    [25, 29, 0, 29, 24],
    [25, 28, 28, 0, 24],
    [25, 28, 28, 31, 0],
  ]);
  const r = evaluateMethod('schulze', input(SCH));
  t.same(r.outcome.winners, ['E']);
  t.equal(r.reached, true);
});

t.test('[ME2] Maine 2nd district 2018: IRV elects Golden, final round 142,440 to 138,931', async (t) => {
  const me2 = {
    options: ['Poliquin', 'Golden', 'Bond', 'Hoar'],
    ballots: [
      { ranking: ['Poliquin'], count: 134184 },
      { ranking: ['Golden'], count: 132013 },
      { ranking: ['Hoar', 'Golden'], count: 2000 },
      { ranking: ['Hoar', 'Poliquin'], count: 1500 },
      { ranking: ['Hoar'], count: 3375 },
      { ranking: ['Bond', 'Golden'], count: 8427 },
      { ranking: ['Bond', 'Poliquin'], count: 3247 },
      { ranking: ['Bond'], count: 4878 },
    ],
  };
  const { winner, rounds } = instantRunoff(input(me2));
  t.equal(winner, 'Golden');
  t.same(rounds[0]!.tallies, { Poliquin: 134184, Golden: 132013, Bond: 16552, Hoar: 6875 });
  t.same(rounds.at(-1)!.tallies, { Poliquin: 138931, Golden: 142440 });
  t.equal(rounds.at(-1)!.exhausted, 8253);
  t.equal(rounds[0]!.tallies['Poliquin']! > rounds[0]!.tallies['Golden']!, true, 'the round-1 leader lost');
});

t.test('[EU] majority of votes cast: Leave with 51.89%; not a two-thirds supermajority', async (t) => {
  const eu = { options: ['Leave', 'Remain'], ballots: [{ choice: 'Leave', count: 17410742 }, { choice: 'Remain', count: 16141241 }] };
  const m = evaluateMethod('majority', input(eu));
  t.same(m.outcome.winners, ['Leave']);
  t.equal(m.reached, true);
  const s = evaluateMethod('supermajority', input({ ...eu, deadlinePassed: true }), { k: 2, n: 3 });
  t.same(s.outcome.winners, []);
  t.equal(s.reached, true, 'decided at the deadline: no supermajority');
  const u = evaluateMethod('unanimity', input({ ...eu, deadlinePassed: true }));
  t.same(u.outcome.winners, []);
});

t.test('[HoC] 2017 early-election motion: 522 of 535 is at least two thirds, quorum of 434 met', async (t) => {
  const hoc = { options: ['aye', 'no'], participants: 650, ballots: [{ choice: 'aye', count: 522 }, { choice: 'no', count: 13 }], deadlinePassed: true };
  const r = evaluateMethod('supermajority', input(hoc), { k: 2, n: 3, quorum: 434 });
  t.same(r.outcome.winners, ['aye']);
  t.equal(r.outcome['quorumMet'], true);
  // Two thirds of all 650 members (434) is what the Act required: also met, so it is final early.
  const early = evaluateMethod('supermajority', input({ ...hoc, deadlinePassed: false }), { k: 2, n: 3, quorum: 434 });
  t.equal(early.reached, true, '522 ≥ 2/3 of all 650: certain before the deadline');
  const noQuorum = evaluateMethod('supermajority', input({ ...hoc, ballots: [{ choice: 'aye', count: 400 }] }), { quorum: 434 });
  t.equal(noQuorum.outcome['quorumMet'], false);
  t.same(noQuorum.outcome.winners, []);
  t.equal(evaluateMethod('majority', input(hoc), { of: 'all' }).reached, true, '522 > 325: majority of all members');
});

t.test('consent: a block stops it; silence until the deadline does not', async (t) => {
  const base = { participants: 4 };
  const agreeAll = evaluateMethod('consent', input({ ...base, ballots: [{ choice: 'agree', count: 3 }, { choice: 'abstain' }] }));
  t.equal(agreeAll.reached, true);
  t.same(agreeAll.outcome.winners, ['agree']);
  const blocked = evaluateMethod('consent', input({ ...base, ballots: [{ choice: 'agree', count: 3 }, { choice: 'block' }] }));
  t.equal(blocked.reached, false, 'a block can still be withdrawn before the deadline');
  const blockedAtDeadline = evaluateMethod('consent', input({ ...base, ballots: [{ choice: 'agree', count: 3 }, { choice: 'block' }], deadlinePassed: true }));
  t.equal(blockedAtDeadline.reached, true);
  t.equal(blockedAtDeadline.outcome['consented'], false);
  const quiet = evaluateMethod('consent', input({ ...base, ballots: [{ choice: 'agree' }], deadlinePassed: true }));
  t.equal(quiet.outcome['consented'], true, 'no objection by the deadline is consent');
  t.equal(evaluateMethod('consent', input({ ...base, ballots: [{ choice: 'disagree' }], deadlinePassed: true }), { minAgree: 1 }).outcome['consented'], false);
});

t.test('rsvp and acknowledge', async (t) => {
  const r = evaluateMethod('rsvp', input({ participants: 6, ballots: [{ choice: 'yes', count: 3 }, { choice: 'maybe' }], deadlinePassed: true }), { min: 3 });
  t.same([r.reached, r.outcome['enough'], r.outcome['yes']], [true, true, 3]);
  t.equal(evaluateMethod('rsvp', input({ participants: 6, ballots: [{ choice: 'yes', count: 3 }] }), { min: 3 }).reached, false, 'answers can change until the deadline');
  t.equal(evaluateMethod('acknowledge', input({ participants: 3, ballots: [{ choice: 'ack', count: 2 }] })).reached, false);
  t.same(evaluateMethod('acknowledge', input({ participants: 3, ballots: [{ choice: 'ack', count: 3 }] })).outcome.winners, ['ack']);
});

t.test('ties follow the documented rule: smallest SHA-256(seed 0x00 option)', async (t) => {
  const tie = { options: ['x', 'y'], ballots: [{ choice: 'x' }, { choice: 'y' }] };
  for (const seed of ['', 'conv-1', 'conv-2', 'conv-3']) {
    const want = tieOrder(seed, ['x', 'y'])[0];
    t.same(evaluateMethod('approval', input(tie, seed)).outcome.winners, [want], `seed ${JSON.stringify(seed)}`);
    t.same(evaluateMethod('irv', input(tie, seed)).outcome.winners, [want]);
    t.same(evaluateMethod('schulze', input(tie, seed)).outcome.winners, [want]);
  }
  t.not(tieOrder('conv-1', ['x', 'y']).join() + tieOrder('conv-2', ['x', 'y']).join() + tieOrder('conv-3', ['x', 'y']).join(), 'x,yx,yx,y', 'not always alphabetical');
});

t.test('bad input: every problem listed; wrong ballot shapes and params named', async (t) => {
  try {
    parseMethodInput({ options: ['A', 'A'], ballots: [{ choice: 'Z' }, { ranking: ['A', 'A'] }, { count: 0, choice: 'A' }, 5], participants: 1 });
    t.fail('accepted');
  } catch (e) {
    t.ok(isKithError(e, 'METHOD_INPUT'));
    t.ok((e as { details: string[] }).details.length >= 5);
  }
  t.throws(() => evaluateMethod('score', input({ options: ['A'], ballots: [{ choice: 'A' }] })), { code: 'METHOD_INPUT' });
  t.throws(() => evaluateMethod('majority', input({ options: ['A'], ballots: [{ approve: ['A', 'A'].slice(1) }, { scores: { A: 1 } }] })), { code: 'METHOD_INPUT' });
  t.throws(() => evaluateMethod('majority', input({ ballots: [] }), { of: 'some' }), { code: 'METHOD_PARAM' });
  t.throws(() => evaluateMethod('irv', input({ ballots: [] }), { rounds: 3 }), { code: 'METHOD_PARAM' });
  t.throws(() => evaluateMethod('borda', input({ ballots: [] })), { code: 'METHOD_UNKNOWN' });
  t.throws(() => evaluateMethod('score', input({ options: ['A'], ballots: [{ scores: { A: 11 } }] })), { code: 'METHOD_INPUT' });
});
