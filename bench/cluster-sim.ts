// Cluster figures from the seeded simulation (run: node_modules/.bin/bun bench/cluster-sim.ts):
// idle bytes per second per peer at the home default (next to WireGuard's 32-byte keepalive
// every 25 s = 1.28 B/s), time for every member to reach a moved node, and time to declare a
// killed node dead, as medians over seeds. The namespace lab (test/netns) prints the same
// figures from real processes behind real NAT routers.
import { simCluster, type SimCluster } from '../test/helpers/cluster-sim.js';
import { HOME_TIMING, TEST_TIMING } from '../cluster/timing.js';

const seeds = Number(process.argv[2] ?? 5);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const allAlive = (c: SimCluster) => () => c.nodes.every((a) => c.nodes.every((b) => a === b || c.stateOf(a, b) === 'alive'));

const idle: number[] = [];
const moved: number[] = [];
const dead: number[] = [];
for (let s = 0; s < seeds; s++) {
  {
    const n = 8;
    const c = await simCluster({ seed: `bench-idle-${s}`, n, timing: HOME_TIMING });
    await c.until(allAlive(c), 60_000, 100);
    await c.run(10 * 60_000, 1000);
    const before = c.nodes.map((x) => x.host.bytesSent);
    await c.run(60 * 60_000, 1000);
    idle.push(c.nodes.reduce((sum, x, i) => sum + (x.host.bytesSent - before[i]!), 0) / n / (n - 1) / 3600);
    await c.close();
  }
  {
    const c = await simCluster({ seed: `bench-move-${s}`, n: 10, timing: TEST_TIMING, nat: (i) => (i === 0 ? undefined : 'port-restricted') });
    c.net.defaults = { ...c.net.defaults, latencyMs: 20, jitterMs: 10 };
    await c.until(allAlive(c), 60_000);
    await c.run(5000);
    const m = c.nodes[4]!;
    c.net.renumberNat(m.nat!, '203.0.113.200');
    const t = await c.until(() => c.nodes.every((x) => x === m || x.node.transport.peerInfo(m.id)?.endpoint?.host === '203.0.113.200'), 30_000);
    moved.push(t ?? Infinity);
    c.kill(7);
    const d = await c.until(() => c.nodes.every((x) => x.index === 7 || c.stateOf(x, c.nodes[7]!) === 'dead'), 30_000);
    dead.push(d ?? Infinity);
    await c.close();
  }
}
console.log(`cluster simulation, ${seeds} seeds (medians):`);
console.log(`  idle traffic, home profile, 8 nodes: ${median(idle).toFixed(2)} bytes/s sent per peer (target ≤ 10; WireGuard keepalive 1.28; ratio ${(median(idle) / 1.28).toFixed(1)}×)`);
console.log(`  moved node (port-restricted NAT renumbered) reached by all 9 members: ${median(moved)} ms (target ≤ 5000; test profile T = ${TEST_TIMING.probeIntervalMs} ms)`);
console.log(`  killed node declared dead by all: ${median(dead)} ms = ${(median(dead) / TEST_TIMING.probeIntervalMs).toFixed(2)} probe intervals (target ≤ 3)`);
