// Membership on the virtual clock: forming, death detection, rejoining, loss, address changes.
// Every run is seeded; a failing assertion names the seed, and the same seed replays the same run.
import t from 'tap';
import { simCluster, type SimCluster } from '../helpers/cluster-sim.js';
import { TEST_TIMING } from '../../cluster/timing.js';
import { CHANNEL_MEMBERSHIP, decodeMembership } from '../../cluster/membership-wire.js';
import { toHex } from '../../core/hex.js';

const T = TEST_TIMING.probeIntervalMs;
const allAlive = (c: SimCluster, skip = -1) => () =>
  c.nodes.every((a) => a.index === skip || c.nodes.every((b) => a === b || b.index === skip || c.stateOf(a, b) === 'alive'));

t.test('three nodes form a cluster, detect a kill within 3 probe intervals, and take it back after a restart', async (t) => {
  const seed = 'form-3';
  const c = await simCluster({ seed, n: 3, timing: TEST_TIMING });
  const formed = await c.until(allAlive(c), 10_000);
  t.ok(formed !== undefined, `every member alive everywhere (seed ${seed})`);
  t.ok(formed! < 2000, `formed in ${formed} ms`);
  await c.run(5000);
  t.ok(allAlive(c)(), 'still all alive after 5 s');

  c.kill(2);
  const dead = await c.until(() => c.stateOf(c.nodes[0]!, c.nodes[2]!) === 'dead' && c.stateOf(c.nodes[1]!, c.nodes[2]!) === 'dead', 10 * T);
  t.ok(dead !== undefined && dead <= 3 * T, `declared dead everywhere in ${dead} ms (≤ ${3 * T}; seed ${seed})`);
  t.equal(c.stateOf(c.nodes[0]!, c.nodes[1]!), 'alive', 'the others stay alive');

  c.restart(2);
  const back = await c.until(allAlive(c), 20_000);
  t.ok(back !== undefined, `the restarted node rejoins (in ${back} ms)`);
  await c.close();
});

t.test('a member cut off from one node stays alive through indirect probes', async (t) => {
  const c = await simCluster({ seed: 'indirect', n: 3, timing: TEST_TIMING });
  await c.until(allAlive(c), 10_000);
  const [a, , b] = c.nodes;
  c.net.partition([a!.host.address], [b!.host.address]);
  await c.run(20 * T);
  t.ok(a!.changes.every(([, id, s]) => id !== b!.id || s === 'alive'), 'never suspected: node 1 answers for it');
  c.net.heal();
  await c.close();
});

t.test('a suspicion is refuted: a suspect that hears of it raises its incarnation, and nobody is declared dead', async (t) => {
  const seed = 'refute';
  const c = await simCluster({ seed, n: 3, timing: TEST_TIMING });
  await c.until(allAlive(c), 10_000);
  const [a, b, s] = c.nodes;
  const incBefore = c.nodes.map((n) => n.node.membership.incarnation);
  // Silence node 2 for longer than a probe round but shorter than the suspicion time. Both sides
  // suspect each other; which suspect hears the gossip before first-hand packets clear the
  // suspicion depends on the run, so the refutation is looked for on every node.
  c.net.partition([s!.host.address], [a!.host.address, b!.host.address]);
  const suspected = await c.until(() => c.stateOf(a!, s!) === 'suspect' || c.stateOf(b!, s!) === 'suspect', 5 * T, 5);
  t.ok(suspected !== undefined, `node 2 became suspect (seed ${seed})`);
  c.net.heal();
  t.ok((await c.until(allAlive(c), 5 * T)) !== undefined, 'alive again everywhere');
  await c.run(2 * T);
  const refuters = c.nodes.filter((n) => n.node.membership.stats.falseSuspicionsRefuted >= 1);
  t.ok(refuters.length >= 1, `a suspect refuted (nodes ${refuters.map((n) => n.index)}; seed ${seed})`);
  t.ok(refuters.every((n) => n.node.membership.incarnation > incBefore[n.index]!), 'each refuter raised its incarnation');
  t.ok(c.nodes.every((n) => refuters.includes(n) || n.node.membership.incarnation === incBefore[n.index]), 'and nobody else did');
  t.ok(c.nodes.every((n) => n.changes.every(([, , st]) => st !== 'dead')), 'never declared dead');
  await c.close();
});

t.test('nodes behind port-restricted NATs find each other through a public member; a renumbered NAT is reached again', async (t) => {
  const seed = 'nat';
  const c = await simCluster({ seed, n: 4, timing: TEST_TIMING, nat: (i) => (i === 0 ? undefined : 'port-restricted') });
  const formed = await c.until(allAlive(c), 30_000);
  t.ok(formed !== undefined, `all four alive everywhere in ${formed} ms (seed ${seed})`);
  const mover = c.nodes[2]!;
  c.net.renumberNat(mover.nat!, '203.0.113.99');
  const reached = await c.until(() => c.nodes.every((n) => n === mover || (n.node.transport.peerInfo(mover.id)?.endpoint?.host === '203.0.113.99' && c.stateOf(n, mover) === 'alive')), 20_000);
  t.ok(reached !== undefined && reached <= 5000, `every member reaches the renumbered node in ${reached} ms (≤ 5000)`);
  const rec = c.nodes[1]!.node.membership.view().find((v) => v.id === mover.id)!;
  t.ok(rec.endpoints.some((e) => e.kind === 'public' && e.host === '203.0.113.99'), 'its signed record names the new public address');
  await c.close();
});

t.test('an address change reaches every member', async (t) => {
  const c = await simCluster({ seed: 'move', n: 6, timing: TEST_TIMING });
  await c.until(allAlive(c), 10_000);
  await c.run(3000);
  const mover = c.nodes[3]!;
  mover.host.setAddress('192.0.2.77');
  mover.node.membership.setLocalEndpoints('lan', [{ host: '192.0.2.77', port: 5484 }]);
  const reached = await c.until(() => c.nodes.every((n) => n === mover || n.node.transport.peerInfo(mover.id)?.endpoint?.host === '192.0.2.77'), 10_000);
  t.ok(reached !== undefined && reached < 5000, `every member reaches the moved node at its new address in ${reached} ms`);
  t.ok(allAlive(c)(), 'nobody was declared dead');
  await c.close();
});

t.test('the same seed replays the same run', async (t) => {
  const trace = async () => {
    const c = await simCluster({ seed: 'replay', n: 4, timing: TEST_TIMING });
    c.net.defaults = { ...c.net.defaults, loss: 0.05, jitterMs: 5 };
    await c.run(5000);
    const h = c.net.traceHash();
    await c.close();
    return h;
  };
  // The trace covers datagram bytes: equal only because every random choice (Noise ephemerals,
  // indexes, nonces, jitter) comes from the seeded Rngs.
  t.equal(await trace(), await trace(), 'identical trace hashes, datagram bytes included');
});

t.test('a restarted member comes back with a higher incarnation, and nobody gossips its old one after learning the new', async (t) => {
  const seed = 'restart-inc';
  const c = await simCluster({ seed, n: 4, timing: TEST_TIMING });
  await c.until(allAlive(c), 10_000);
  c.kill(3);
  const dead = await c.until(() => [0, 1, 2].every((i) => c.stateOf(c.nodes[i]!, c.nodes[3]!) === 'dead'), 10 * T);
  t.ok(dead !== undefined, `declared dead everywhere (seed ${seed})`);
  const oldInc = c.nodes[0]!.node.membership.view().find((v) => v.id === c.nodes[3]!.id)!.incarnation;
  const back = c.restart(3);
  const newInc = back.node.membership.incarnation;
  t.ok(newInc > oldInc, `the restart raised the incarnation (${oldInc} → ${newInc})`);
  // Watch every membership message the others send: gossip about node 3 must carry the highest
  // incarnation its sender knows (SWIM: a higher incarnation overrides every older rumour).
  const stale: string[] = [];
  let aboutIt = 0;
  for (const n of c.nodes.slice(0, 3)) {
    const send = n.node.transport.send.bind(n.node.transport);
    n.node.transport.send = (id, payload) => {
      const msg = payload[0] === CHANNEL_MEMBERSHIP ? decodeMembership(payload) : undefined;
      const known = n.node.membership.view().find((v) => v.id === back.id)!.incarnation;
      for (const g of msg && (msg.t === 'ping' || msg.t === 'ack') ? msg.gossip : []) {
        if (toHex(g.dh) !== back.id) continue;
        aboutIt++;
        if (g.inc < known) stale.push(`node ${n.index} at ${c.clock.now()} ms: ${g.state} @${g.inc}, knows @${known}`);
      }
      send(id, payload);
    };
  }
  t.ok((await c.until(allAlive(c), 20_000)) !== undefined, 'alive again everywhere');
  await c.run(5 * T);
  t.ok(aboutIt > 0, `gossip about the restarted member went out (${aboutIt} entries)`);
  t.same(stale, [], 'no gossip with an incarnation older than its sender knew');
  t.same(c.nodes.slice(0, 3).map((n) => n.node.membership.view().find((v) => v.id === back.id)!.incarnation), [newInc, newInc, newInc], 'every member holds the new incarnation');
  await c.close();
});
