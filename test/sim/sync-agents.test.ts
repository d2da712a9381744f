// Conversations between whole agents (test/helpers/sim-agents.ts: runAgent on one virtual clock):
// alice pairs with bob and with carol, who are not each other's friends. A poll alice creates
// through her API reaches both; carol's post reaches bob through alice's agent; bob is stopped,
// alice and carol vote, which closes it; bob back gets the votes and the same closing.
import t from 'tap';
import { simAgents } from '../helpers/sim-agents.js';

const SEED = process.env['KITH_SIM_SEED'] ?? 'sync-agents-1';

t.test(`a poll between three agents, friends of a friend, one of them away at the close (seed ${SEED})`, async (t) => {
  const sim = await simAgents({ seed: SEED, dir: t.testdir(), agents: [{ name: 'alice', user: 'alice' }, { name: 'bob', user: 'bob' }, { name: 'carol', user: 'carol' }], pairs: [['alice', 'bob'], ['alice', 'carol']] });
  t.teardown(() => sim.close());
  t.teardown(() => {
    if (!t.passing()) t.comment(`seed ${sim.seed}\n${sim.dump()}`);
  });
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const user = (n: string) => hex(sim.get(n).agent!.identity.cert.userKey);
  await sim.until(() => sim.stateOf('alice', 'bob') === 'alive' && sim.stateOf('alice', 'carol') === 'alive', 20_000);
  const call = async (n: string, op: string, body: unknown) => (await sim.settle(sim.api(n, 'POST', `/api/conv/${op}`, body))).body.result;
  const created = await call('alice', 'create', { topic: 'Saturday?', with: [user('bob'), user('carol')], pattern: 'poll', options: ['lake', 'pub'], method: 'majority' });
  t.match(created.id, /^[0-9a-f]{64}$/, 'created on alice\'s agent');
  let listed = { bob: false, carol: false };
  const lists = async () => {
    for (const n of ['bob', 'carol'] as const) listed[n] = ((await call(n, 'list', {})) as { id: string }[]).some((c) => c.id === created.id);
  };
  for (let i = 0; i < 50 && !(listed.bob && listed.carol); i++) {
    await sim.run(200);
    await lists();
  }
  t.same(listed, { bob: true, carol: true }, 'bob and carol have it');
  const said = await call('carol', 'post', { id: created.id, text: 'the lake, surely' });
  let bobSees = false;
  for (let i = 0; i < 50 && !bobSees; i++) {
    await sim.run(200);
    bobSees = ((await call('bob', 'show', { id: created.id })).messages as { hash: string }[]).some((m) => m.hash === said.posted);
  }
  t.ok(bobSees, 'carol\'s post reaches bob, who is not her friend');
  await sim.stop('bob');
  await call('carol', 'vote', { id: created.id, choice: 'lake' });
  await call('alice', 'vote', { id: created.id, choice: 'lake' });
  await sim.run(3000);
  t.equal((await call('alice', 'show', { id: created.id })).state, 'closed', 'two of three for the lake: closed');
  await sim.start('bob');
  let bobView: { state: string; closing: { messages: string[]; outcome: { winners: string[] } } | null } | undefined;
  for (let i = 0; i < 100 && bobView?.state !== 'closed'; i++) {
    await sim.run(200);
    bobView = await call('bob', 'show', { id: created.id });
  }
  t.equal(bobView?.state, 'closed', 'bob, back, holds the closing');
  const aliceView = await call('alice', 'show', { id: created.id });
  t.same(bobView?.closing?.messages, aliceView.closing.messages, 'the same closing as alice\'s');
  t.same(bobView?.closing?.outcome.winners, ['lake']);
});
