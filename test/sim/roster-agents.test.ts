// The roster scenarios of test/proc/roster.test.ts as a seeded simulation of whole agents
// (test/helpers/sim-agents.ts: runAgent on one virtual clock, SimNet, in-memory TCP for pairing):
// alice's node 0 enrolls node 1 (`kith node add`); alice pairs with frank and node 1 learns the
// friendship; node 1 enrolls node 2, which gets the friend in its welcome; node 2 is revoked while
// node 1 is down, and node 1 learns it on its return; node 2 stays out after a restart; a friend
// removed while node 1 is down reaches it when it is back. Then one run twice with one seed gives
// equal byte-level trace hashes. A failure prints the seed and every agent's log.
import t from 'tap';
import { revokeNode } from '../../identity/create.js';
import { simAgents, type SimAgents } from '../helpers/sim-agents.js';

const SEED = process.env['KITH_SIM_SEED'] ?? 'roster-agents-1';

function reportOnFailure(t: { teardown(fn: () => void): void; passing(): boolean; comment(...m: unknown[]): void }, sim: SimAgents): void {
  t.teardown(() => {
    if (!t.passing()) t.comment(`seed ${sim.seed} (replay: KITH_SIM_SEED=${sim.seed})\n${sim.dump()}`);
  });
}

t.test(`node add, a friendship spreading, revocation with a node down, catching up after a restart (seed ${SEED})`, async (t) => {
  const startedMs = performance.now();
  const sim = await simAgents({ seed: SEED, dir: t.testdir(), agents: [{ name: 'alice0', user: 'alice' }, { name: 'frank', user: 'frank' }] });
  t.teardown(() => sim.close());
  t.teardown(() => t.comment(`${sim.clock.now()} virtual ms of 4 agents in ${Math.round(performance.now() - startedMs)} ms`));
  reportOnFailure(t, sim);
  const alice = sim.get('alice0').agent!.identity.cert;
  const frankUser = sim.get('frank').agent!.identity.cert;
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const alive = (a: string, b: string) => sim.stateOf(a, b) === 'alive' && sim.stateOf(b, a) === 'alive';

  // ---- node add: a new machine of alice's, with the phrase and node 0's offer
  const add1 = await sim.addNode('alice0', 'alice1');
  t.equal(add1.added.nodeIndex, 1, 'the first added machine is node 1');
  t.equal(add1.added.userKey, hex(alice.userKey), 'of alice');
  t.match(add1.offered, { kind: 'node', nodeIndex: 1, label: 'alice1' }, 'the offering node reports the enrolled node');
  const met1 = await sim.until(() => alive('alice0', 'alice1'), 10_000);
  t.ok(met1 !== undefined, `node 0 and node 1 reach each other (${met1} virtual ms)`);

  // ---- a friendship made on node 0 reaches node 1 in a record signed by node 0
  const pair = await sim.pair('alice0', 'frank');
  t.equal(pair.joined.safetyNumber, pair.offered.safetyNumber, 'same safety number');
  t.equal(pair.joined.nodes, 2, 'frank got both of alice\'s nodes in her friend card');
  const spread = await sim.until(() => alive('alice1', 'frank'), 10_000);
  t.ok(spread !== undefined, `node 1 learned of frank and they are connected (${spread} virtual ms after pairing)`);
  t.same(sim.get('alice1').agent!.roster.friends().map((f) => f.userKey), [hex(frankUser.userKey)], 'node 1 lists frank as a friend');

  // ---- node 2 enrolls through node 1: friends come in the welcome; frank learns of node 2
  const add2 = await sim.addNode('alice1', 'alice2');
  t.equal(add2.added.nodeIndex, 2, 'the next free index is 2');
  t.equal(add2.added.friends, 1, 'the welcome carries the friend');
  t.equal(add2.added.ownNodes, 2, 'and both other nodes');
  const met2 = await sim.until(() => alive('alice2', 'alice0') && alive('alice2', 'alice1') && alive('alice2', 'frank'), 15_000);
  t.ok(met2 !== undefined, `node 2 is connected to nodes 0 and 1 and to frank (${met2} virtual ms after start)`);
  const list = (await sim.api('alice0', 'GET', '/api/nodes')).body.nodes as { nodeIndex: number; state: string; label: string }[];
  t.same(list.map((n) => [n.nodeIndex, n.state, n.label]), [[0, 'this node', 'alice0'], [1, 'alive', 'alice1'], [2, 'alive', 'alice2']], 'GET /api/nodes on node 0');

  // ---- revocation: refused with another user's phrase or for itself; then node 2, with node 1 down
  const revocation = (user: string, nodeIndex: number) => Buffer.from(revokeNode(sim.clock, { phrase: sim.phrase(user), nodeIndex, generation: 0, reason: 'sold' })).toString('base64');
  const wrong = await sim.api('alice0', 'POST', '/api/nodes/revoke', { revocation: revocation('frank', 2) });
  t.equal(wrong.body.error?.code, 'REVOCATION_INVALID', 'another user\'s phrase cannot revoke');
  const self = await sim.api('alice0', 'POST', '/api/nodes/revoke', { revocation: revocation('alice', 0) });
  t.equal(self.body.error?.code, 'NODE_UNKNOWN', 'a node does not revoke itself');
  await sim.stop('alice1');
  const t0 = sim.clock.now();
  const rv = await sim.api('alice0', 'POST', '/api/nodes/revoke', { revocation: revocation('alice', 2) });
  t.equal(rv.status, 200, JSON.stringify(rv.body));
  t.equal(rv.body.result.toldRevokedNode, true, 'the revoked node acknowledged being told');
  const gone = await sim.until(() => sim.stateOf('frank', 'alice2') === 'revoked' && sim.stateOf('alice0', 'alice2') === 'revoked', 5000);
  t.ok(gone !== undefined, `frank and node 0 show node 2 revoked (${sim.clock.now() - t0} virtual ms after the request)`);
  const a2 = sim.get('alice2').agent!;
  t.ok(await sim.until(() => a2.roster.selfRevoked && a2.cluster.peers().length === 0, 5000) !== undefined, 'node 2 knows it was revoked and has left: no members');
  t.ok(sim.get('alice2').logs.some((l) => l.level === 'error' && /was revoked/.test(l.msg)), 'and says so in its log');
  const frankSees = new Map(sim.get('frank').agent!.cluster.peers().filter((p) => p.userKey === hex(alice.userKey)).map((p) => [p.nodeIndex, p.state]));
  t.equal(frankSees.get(0), 'alive', 'frank still has alice\'s node 0');
  t.ok(frankSees.has(1) && frankSees.get(1) !== 'revoked', 'and node 1 (down just now), not revoked');
  t.equal(frankSees.get(2), 'revoked', 'and shows node 2 revoked');

  // ---- node 1, down during the revocation, learns it when it is back; node 2 restarted stays out
  await sim.start('alice1');
  const caught = await sim.until(() => sim.get('alice1').agent!.roster.nodes().find((n) => n.nodeIndex === 2)?.state === 'revoked' && alive('alice0', 'alice1'), 15_000);
  t.ok(caught !== undefined, `node 1 shows node 2 revoked after its restart (${caught} virtual ms)`);
  await sim.stop('alice2');
  await sim.start('alice2');
  await sim.run(3000);
  t.same(sim.get('alice2').agent!.cluster.peers(), [], 'restarted, the revoked node has no members: it contacts nobody');
  t.ok(sim.get('alice2').agent!.roster.selfRevoked, 'and still knows it was revoked');
  t.notOk(sim.get('alice1').agent!.cluster.peers().some((p) => p.nodeIndex === 2 && p.userKey === hex(alice.userKey) && p.state !== 'revoked'), 'node 1 does not take node 2 back');

  // ---- removing a friend on node 0 while node 1 is off: node 1 catches up when it is back
  await sim.stop('alice1');
  const removed = await sim.api('alice0', 'DELETE', `/api/friends/${hex(frankUser.userKey).slice(0, 12)}`);
  t.equal(removed.status, 200, JSON.stringify(removed.body));
  await sim.run(2000);
  await sim.start('alice1');
  const unfriended = await sim.until(() => alive('alice0', 'alice1') && !sim.get('alice1').agent!.cluster.peers().some((p) => p.userKey === hex(frankUser.userKey)), 15_000);
  t.ok(unfriended !== undefined, `node 1, away during the removal, drops frank's nodes once it meets node 0 again (${unfriended} virtual ms)`);
  t.same(sim.get('alice1').agent!.roster.friends(), [], 'and no longer lists him');
});

/** A short full-agent run: two users, a pairing, an enrollment, 10 s of heartbeats. */
async function shortRun(seed: string): Promise<{ hash: string; delivered: number }> {
  const sim = await simAgents({ seed, agents: [{ name: 'alice0', user: 'alice' }, { name: 'frank', user: 'frank' }], pairs: [['alice0', 'frank']] });
  try {
    await sim.addNode('alice0', 'alice1');
    await sim.run(10_000);
    return { hash: sim.traceHash(), delivered: sim.net.delivered };
  } finally {
    await sim.close();
  }
}

t.test('one full-agent run twice with one seed: equal byte-level trace hashes; another seed differs', async (t) => {
  const a = await shortRun('replay-1');
  const b = await shortRun('replay-1');
  const c = await shortRun('replay-2');
  t.ok(a.delivered > 100, `the run delivered ${a.delivered} datagrams`);
  t.equal(b.hash, a.hash, `same seed, same datagrams and pairing bytes in the same order at the same virtual times (seed replay-1, ${a.hash.slice(0, 16)})`);
  t.not(c.hash, a.hash, 'another seed gives another trace');
});
