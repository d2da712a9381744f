// `kith conv show`'s heldBy beyond direct peers (consensus/README.md, "Holders"): bob and carol
// are both alice's friends, not each other's. Alice's message reaches both; carol's node never
// talks to bob's, yet learns from alice's node (its `held` messages) that bob's node holds it,
// and bob's learns that carol's does. Whole agents on the virtual clock, seeded.
import t from 'tap';
import { simAgents } from '../helpers/sim-agents.js';

const SEED = process.env['KITH_SIM_SEED'] ?? 'holders-agents-1';

type Held = { user: string; nodes: number; of: number };

t.test(`carol's conv show says bob's node holds alice's message, though bob is no friend of hers (seed ${SEED})`, async (t) => {
  const sim = await simAgents({
    seed: SEED, dir: t.testdir(),
    agents: [{ name: 'alice', user: 'alice' }, { name: 'bob', user: 'bob' }, { name: 'carol', user: 'carol' }],
    pairs: [['alice', 'bob'], ['alice', 'carol']],
  });
  t.teardown(() => sim.close());
  t.teardown(() => {
    if (!t.passing()) t.comment(`seed ${sim.seed}\n${sim.dump()}`);
  });
  const alive = (a: string, b: string) => sim.stateOf(a, b) === 'alive' && sim.stateOf(b, a) === 'alive';
  t.ok(await sim.until(() => alive('alice', 'bob') && alive('alice', 'carol'), 20_000) !== undefined, 'alice reaches bob and carol');
  t.equal(sim.stateOf('bob', 'carol'), undefined, 'bob and carol are not each other\'s members');
  const api = async (n: string, body: unknown, route = '/api/conv/show') => (await sim.api(n, 'POST', route, body)).body;
  const key = (n: string) => sim.get(n).agent!.identity.cert.userKey;
  const hex = (n: string) => Buffer.from(key(n)).toString('hex');

  const conv = (await api('alice', { topic: 'picnic', with: [hex('bob'), hex('carol')], pattern: 'discussion' }, '/api/conv/create')).result;
  t.ok(conv?.id, 'alice creates a discussion with both');
  const posted = (await api('alice', { id: conv.id, text: 'bring cake' }, '/api/conv/post')).result;
  const heldBy = async (observer: string, user: string): Promise<Held | undefined> => {
    const v = (await api(observer, { id: conv.id })).result;
    return (v?.messages?.find((m: { hash: string }) => m.hash === posted.posted)?.heldBy as Held[] | undefined)?.find((h) => h.user === hex(user));
  };
  let tookMs: number | undefined;
  const t0 = sim.clock.now();
  for (let i = 0; i < 150 && tookMs === undefined; i++) {
    await sim.run(200);
    if ((await heldBy('carol', 'bob'))?.nodes === 1 && (await heldBy('bob', 'carol'))?.nodes === 1) tookMs = sim.clock.now() - t0;
  }
  t.match(await heldBy('carol', 'bob'), { nodes: 1, of: 1 }, 'carol\'s node knows bob\'s node holds alice\'s message');
  t.match(await heldBy('bob', 'carol'), { nodes: 1, of: 1 }, 'and bob\'s knows carol\'s does');
  t.match(await heldBy('alice', 'bob'), { nodes: 1, of: 1 }, 'alice\'s knows it first hand');
  t.comment(`learned in ${tookMs} virtual ms`);
  t.ok(sim.get('carol').agent!.conversations.sync.stats.dropped['unknown-type'] === undefined, 'held messages are a known sync type');
});
