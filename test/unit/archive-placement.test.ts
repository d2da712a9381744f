// choosePlacement: named situations from the main seed and larger clusters, impossible cases
// with their errors, and a seeded sweep showing the greedy is never worse than any placement.
import t from 'tap';
import { SeededRng } from '../../core/rng.js';
import { choosePlacement, defaultCode, survivesHouseholdLoss } from '../../archive/placement.js';
import { expectCode } from './archive-helpers.js';

const GB = 1024 ** 3;

function cluster(nodes: Record<string, string>, quota: Record<string, number>) {
  return { ids: Object.keys(nodes), households: new Map(Object.entries(nodes)), free: new Map(Object.entries(quota)) };
}

function householdsOf(holders: string[], households: Map<string, string>): string[] {
  return holders.map((h) => households.get(h)!);
}

t.test('main seed, base case: Alice (router, laptop) and Bob (NAS), three devices, two people', async (t) => {
  const c = cluster({ 'alice-router': 'alice', 'alice-laptop': 'alice', 'bob-nas': 'bob' }, { 'alice-router': 10 * GB, 'alice-laptop': 10 * GB, 'bob-nas': 10 * GB });
  const code = defaultCode(2);
  t.same(code, { k: 2, m: 2 });
  const p = choosePlacement(c.ids, c.households, c.free, { ...code, shardBytes: 1024 ** 2 });
  t.same(p.perHousehold, { alice: 2, bob: 2 });
  t.equal(p.holders.filter((h) => h === 'alice-router').length, 1, "Alice's two shards are on two machines");
  t.equal(p.holders.filter((h) => h === 'bob-nas').length, 2);
  t.ok(survivesHouseholdLoss(householdsOf(p.holders, c.households), code.k));
  // Any single machine lost: still ≥ k; Alice's whole home lost: Bob's NAS alone has k.
  for (const lost of c.ids) t.ok(p.holders.filter((h) => h !== lost).length >= code.k, `without ${lost}`);
});

t.test('three households (Alice, Bob, Carol): 4 + 2, two shards each', async (t) => {
  const c = cluster({ 'alice-router': 'alice', 'bob-nas': 'bob', 'carol-router': 'carol', 'carol-laptop': 'carol' }, { 'alice-router': GB, 'bob-nas': GB, 'carol-router': GB, 'carol-laptop': GB });
  const code = defaultCode(3);
  const p = choosePlacement(c.ids, c.households, c.free, { ...code, shardBytes: 1024 });
  t.same(p.perHousehold, { alice: 2, bob: 2, carol: 2 });
  t.ok(survivesHouseholdLoss(householdsOf(p.holders, c.households), code.k));
});

t.test('larger cluster: six users, fifteen nodes, 6 + 3, at most three per household, spread over machines', async (t) => {
  const nodes: Record<string, string> = {};
  const quota: Record<string, number> = {};
  const sizes = [3, 3, 3, 2, 2, 2];
  sizes.forEach((n, u) => {
    for (let i = 0; i < n; i++) (nodes[`u${u}-n${i}`] = `u${u}`), (quota[`u${u}-n${i}`] = 5 * GB);
  });
  const c = cluster(nodes, quota);
  t.equal(c.ids.length, 15);
  const code = defaultCode(6);
  t.same(code, { k: 6, m: 3 });
  const p = choosePlacement(c.ids, c.households, c.free, { ...code, shardBytes: 1024 ** 2 });
  t.ok(Object.values(p.perHousehold).every((n) => n <= 3));
  t.equal(new Set(p.holders).size, 9, 'nine shards on nine different machines');
  t.ok(survivesHouseholdLoss(householdsOf(p.holders, c.households), code.k));
});

t.test('quota steers shards: a nearly full friend gets fewer, a roomy one takes two', async (t) => {
  const c = cluster({ 'alice-router': 'alice', 'bob-nas': 'bob', 'carol-router': 'carol' }, { 'alice-router': 10, 'bob-nas': 1, 'carol-router': 10 });
  const p = choosePlacement(c.ids, c.households, c.free, { k: 2, m: 2, shardBytes: 1 });
  t.same(p.perHousehold, { alice: 2, bob: 1, carol: 1 });
  t.ok(survivesHouseholdLoss(householdsOf(p.holders, c.households), 2));
});

t.test('impossible: one household only, no room, too little room', async (t) => {
  const one = cluster({ 'alice-router': 'alice', 'alice-laptop': 'alice' }, { 'alice-router': GB, 'alice-laptop': GB });
  expectCode(t, () => choosePlacement(one.ids, one.households, one.free, { k: 1, m: 1, shardBytes: 1 }), 'ARCHIVE_PLACEMENT_IMPOSSIBLE', 'one household');
  expectCode(t, () => defaultCode(1), 'ARCHIVE_PLACEMENT_IMPOSSIBLE', 'defaultCode of one household');
  const full = cluster({ 'alice-router': 'alice', 'bob-nas': 'bob' }, { 'alice-router': GB, 'bob-nas': 0 });
  try {
    choosePlacement(full.ids, full.households, full.free, { k: 2, m: 2, shardBytes: 1024 });
    t.fail('placed with a full friend');
  } catch (e) {
    t.match(String((e as Error).message), /placed 2 of 4 shards.*bob \(0 of 2, no room left\)/);
    t.match((e as { hint: string }).hint, /raise the quota they give you by 2048 bytes/);
  }
  const none = cluster({}, {});
  expectCode(t, () => choosePlacement(none.ids, none.households, none.free, { k: 2, m: 2, shardBytes: 1 }), 'ARCHIVE_PLACEMENT_IMPOSSIBLE', 'no candidates');
  t.throws(() => choosePlacement(['x'], new Map(), new Map(), { k: 1, m: 1, shardBytes: 1 }), RangeError, 'a candidate without a household is a programming error');
});

t.test('seeded sweep: whenever some placement exists the greedy finds one, and it always holds the invariant', async (t) => {
  const rng = new SeededRng('placement-sweep');
  let placed = 0;
  for (let round = 0; round < 400; round++) {
    const hs = 1 + rng.below(5);
    const nodes: Record<string, string> = {};
    const quota: Record<string, number> = {};
    for (let h = 0; h < hs; h++) for (let i = 0, n = 1 + rng.below(3); i < n; i++) (nodes[`h${h}n${i}`] = `h${h}`), (quota[`h${h}n${i}`] = rng.below(4));
    const k = 1 + rng.below(5), m = 1 + rng.below(3);
    const c = cluster(nodes, quota);
    const roomBy = new Map<string, number>();
    for (const id of c.ids) roomBy.set(nodes[id]!, (roomBy.get(nodes[id]!) ?? 0) + quota[id]!);
    const feasible = [...roomBy.values()].reduce((n, r) => n + Math.min(m, r), 0) >= k + m;
    try {
      const p = choosePlacement(c.ids, c.households, c.free, { k, m, shardBytes: 1 });
      placed++;
      if (!feasible) t.fail(`round ${round}: placed an infeasible case`);
      if (!survivesHouseholdLoss(householdsOf(p.holders, c.households), k)) t.fail(`round ${round}: invariant broken`);
      for (const id of c.ids) if (p.holders.filter((x) => x === id).length > quota[id]!) t.fail(`round ${round}: ${id} over quota`);
    } catch (e) {
      if (feasible) t.fail(`round ${round}: feasible but refused: ${(e as Error).message}`);
    }
  }
  t.ok(placed > 50 && placed < 400, `${placed} of 400 random clusters placed`);
});
