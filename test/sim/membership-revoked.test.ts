// A revoked member is kept for display only: `kith peers` must not go on showing the round trip
// and clock offset it had before it was cut off.
import t from 'tap';
import { simCluster } from '../helpers/cluster-sim.js';
import { TEST_TIMING } from '../../cluster/timing.js';

t.test('a revoked member shows no round trip, clock offset or endpoint, and stays revoked', async (t) => {
  const seed = 'revoked-view';
  const c = await simCluster({ seed, n: 2, timing: TEST_TIMING });
  const [a, b] = c.nodes as [NonNullable<(typeof c.nodes)[0]>, NonNullable<(typeof c.nodes)[0]>];
  const measured = await c.until(() => {
    const v = a.node.membership.view().find((m) => m.id === b.id);
    return v?.state === 'alive' && v.rttMs !== null && v.clockOffsetMs !== null;
  }, 20_000);
  t.ok(measured !== undefined, `rtt and clock offset measured while alive (seed ${seed})`);
  a.node.membership.revoke(b.id);
  await c.run(5 * TEST_TIMING.probeIntervalMs);
  const v = a.node.membership.view().find((m) => m.id === b.id)!;
  t.equal(v.state, 'revoked');
  t.same([v.rttMs, v.clockOffsetMs, v.clockErrorMs, v.endpoint], [null, null, null, null], 'no stale figures');
  t.notOk(v.lastSeenMs === null, 'when it was last heard stays known');
  await c.close();
});
