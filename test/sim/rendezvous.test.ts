// Rendezvous windows on the virtual clock with a scripted router: the port is mapped from
// (start − guard) to (end + guard), a lease shorter than that is renewed at half its length, the
// mapped address is published while the window is open, and stopping the agent removes it.
import t from 'tap';
import { simCluster } from '../helpers/cluster-sim.js';
import { TEST_TIMING } from '../../cluster/timing.js';
import { Rendezvous, currentOrNextWindow, type PortMapper } from '../../cluster/rendezvous.js';
import { rendezvousSecret } from '../../cluster/secrets.js';
import { KithError } from '../../core/errors.js';

const PARAMS = { periodMs: 3000, lengthMs: 1000, portMin: 45000, portMax: 45099 };
const GUARD = 250;

function scriptedRouter(clock: { now(): number }, leaseMs: number) {
  const calls: { at: number; op: 'map' | 'unmap' | 'close'; port: number; ms?: number }[] = [];
  const mapper: PortMapper = {
    protocol: 'upnp',
    async map(_internal, external, lifetimeMs) {
      calls.push({ at: clock.now(), op: 'map', port: external, ms: lifetimeMs });
      return { externalHost: '203.0.113.11', externalPort: external, lifetimeMs: Math.min(leaseMs, lifetimeMs) };
    },
    async unmap(_internal, external) {
      calls.push({ at: clock.now(), op: 'unmap', port: external });
    },
    async close() {
      calls.push({ at: clock.now(), op: 'close', port: 0 });
    },
  };
  return { mapper, calls };
}

/** A two-node cluster and node 0's rendezvous controller, mapping through a scripted router. */
async function withRendezvous(seed: string, leaseMs: number) {
  const c = await simCluster({ seed, n: 2, timing: TEST_TIMING });
  const self = c.nodes[0]!;
  const router = scriptedRouter(c.clock, leaseMs);
  const r = new Rendezvous({
    clock: c.clock, membership: self.node.membership, mapper: router.mapper, params: PARAMS,
    selfDh: self.keys.dh.publicKey, localPort: 5484, minGuardMs: GUARD,
  });
  return { c, self, router, r };
}

t.test('a window maps its port for its length plus guards, renews a short lease, and closes', async (t) => {
  const { c, self, router, r } = await withRendezvous('rdv-lease', 400);
  const m = self.node.membership;
  const w = currentOrNextWindow(rendezvousSecret(c.secret), self.keys.dh.publicKey, m.clusterTime() + GUARD, PARAMS);
  r.plan();
  let mappedSeen = false;
  for (let i = 0; i < 200 && m.clusterTime() < w.endMs + GUARD + 200; i++) {
    await c.run(25, 25);
    if (m.ownEndpoints().some((e) => e.kind === 'mapped' && e.host === '203.0.113.11' && e.port === w.port)) mappedSeen = true;
  }
  const toCluster = (at: number) => at - c.clock.now() + m.clusterTime();
  const maps = router.calls.filter((x) => x.op === 'map' && x.port === w.port);
  t.ok(maps.length >= 1, 'the window port was mapped');
  const first = toCluster(maps[0]!.at);
  t.ok(Math.abs(first - (w.startMs - GUARD)) <= 60, `mapped at start − guard (off by ${Math.round(first - (w.startMs - GUARD))} ms)`);
  t.ok(maps[0]!.ms! >= w.endMs - w.startMs + 2 * GUARD - 60, `asked for the whole window plus guards (${maps[0]!.ms} ms)`);
  // 1.5 s to cover with 400 ms leases renewed every 200 ms: about 7 renewals.
  t.ok(maps.length >= 5, `a 400 ms lease was renewed (${maps.length} map requests in the window)`);
  for (let i = 1; i < maps.length; i++) t.ok(maps[i]!.at - maps[i - 1]!.at <= 260, `renewal ${i} within half a lease`);
  const unmap = router.calls.find((x) => x.op === 'unmap' && x.port === w.port);
  t.ok(unmap !== undefined, 'the mapping was removed');
  t.ok(Math.abs(toCluster(unmap!.at) - (w.endMs + GUARD)) <= 60, 'removed at end + guard');
  t.ok(maps.every((x) => x.at < unmap!.at), 'no renewal after removal');
  t.ok(mappedSeen, 'the mapped address was published while the window was open');
  t.notOk(m.ownEndpoints().some((e) => e.kind === 'mapped'), 'and withdrawn after');
  await r.stop();
  await c.close();
});

t.test('stopping during an open window removes the mapping', async (t) => {
  const { c, router, r } = await withRendezvous('rdv-stop', 60_000);
  r.plan();
  const open = await c.until(() => r.status().mapping.state === 'open', 5000, 25);
  t.ok(open !== undefined, 'a window opened');
  const port = r.status().mapping.externalPort;
  await r.stop();
  t.same(router.calls.slice(-2).map((x) => [x.op, x.port]), [['unmap', port], ['close', 0]], 'stop removed the mapping, then closed the mapper');
  t.equal(router.calls.filter((x) => x.op === 'map').length, 1, 'a lease as long as the window is not renewed');
  await c.close();
});

t.test('a failed mapping keeps the error code, so the doctor can tell "no gateway" from "refused"', async (t) => {
  const { c, router, r } = await withRendezvous('rdv-no-gateway', 60_000);
  router.mapper.map = async () => {
    throw new KithError('PORT_MAPPING_NO_GATEWAY', 'no IPv4 default gateway to ask for a port mapping: none was tried');
  };
  r.plan();
  const failed = await c.until(() => r.status().mapping.state === 'failed', 5000, 25);
  t.ok(failed !== undefined, 'the window tried to map and failed');
  t.equal(r.status().mapping.errorCode, 'PORT_MAPPING_NO_GATEWAY');
  await r.stop();
  await c.close();
});
