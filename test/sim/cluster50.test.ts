// A 50-node cluster on the virtual clock (the size DESIGN.md's simulations aim at): no false
// deaths at 5% loss, an address change reaching every member, and idle traffic at the home
// default. bench/cluster-sim.ts prints the same figures at more seeds.
import t from 'tap';
import { simCluster, type SimCluster } from '../helpers/cluster-sim.js';
import { HOME_TIMING, TEST_TIMING } from '../../cluster/timing.js';

const N = 50;
// Heavy (2450 sessions); with other test files in parallel on 2 cores it needs more than the default.
t.setTimeout(360_000);
const allAlive = (c: SimCluster) => () => c.nodes.every((a) => c.nodes.every((b) => a === b || c.stateOf(a, b) === 'alive'));

t.test(`${N} nodes at 5% loss: no member is ever declared dead; a moved node is reached by all`, async (t) => {
  const seed = 'fifty-loss';
  const c = await simCluster({ seed, n: N, timing: TEST_TIMING });
  c.net.defaults = { ...c.net.defaults, loss: 0.05, jitterMs: 20, latencyMs: 15 };
  const formed = await c.until(allAlive(c), 30_000, 50);
  t.ok(formed !== undefined, `all ${N} see each other alive (${formed} ms; seed ${seed})`);
  await c.run(20_000, 50);
  const deaths = c.nodes.flatMap((n) => n.changes.filter(([ms, , s]) => s === 'dead' && ms > formed!));
  const suspicions = c.nodes.flatMap((n) => n.changes.filter(([ms, , s]) => s === 'suspect' && ms > formed!));
  t.equal(deaths.length, 0, `no false deaths in 20 s of ${N}×${N - 1} probing at 5% loss (${suspicions.length} suspicions, all cleared; seed ${seed})`);

  const mover = c.nodes[17]!;
  mover.host.setAddress('192.0.2.17');
  mover.node.membership.setLocalEndpoints('lan', [{ host: '192.0.2.17', port: 5484 }]);
  const reached = await c.until(() => c.nodes.every((n) => n === mover || n.node.transport.peerInfo(mover.id)?.endpoint?.host === '192.0.2.17'), 20_000, 20);
  t.ok(reached !== undefined, `all ${N - 1} members reach the moved node (${reached} ms; seed ${seed})`);
  t.ok(reached! <= 5000, `within 5 s`);
  await c.close();
});

t.test('idle traffic at the home default is within 10 bytes/s per peer', async (t) => {
  const seed = 'idle-home';
  const n = 8;
  const c = await simCluster({ seed, n, timing: HOME_TIMING });
  await c.until(allAlive(c), 60_000, 100);
  await c.run(10 * 60_000, 500); // settle: first rekeys and records done
  const before = c.nodes.map((x) => x.host.bytesSent);
  const windowMs = 60 * 60_000;
  await c.run(windowMs, 1000);
  const perPeer = c.nodes.map((x, i) => (x.host.bytesSent - before[i]!) / (windowMs / 1000) / (n - 1));
  const mean = perPeer.reduce((a, b) => a + b, 0) / perPeer.length;
  t.ok(allAlive(c)(), 'everyone alive throughout');
  t.ok(mean <= 10, `idle: ${mean.toFixed(2)} bytes/s sent per peer (target ≤ 10; WireGuard's keepalive alone is 1.28)`);
  await c.close();
});
