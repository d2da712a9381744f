// The mailbox between whole agents (test/helpers/sim-agents.ts: runAgent on one virtual clock):
// alice has a laptop and a relay-only router, bob a laptop, carol a laptop; alice is friends with
// both. Bob is away while alice creates a poll, posts a marker and votes; then alice's laptop
// closes too; bob, back, gets all of it from alice's router within 5 s of simulated time, and the
// router's mailbox empties once bob acknowledged. The router never held the marker in clear.
// Then the router loses its mailbox store: a new incarnation, and bob pulls from the start.
import fs from 'node:fs';
import t from 'tap';
import { formatMailboxStatus, type MailboxStatusView } from '../../agent/cli-mailbox.js';
import { simAgents, type SimAgents } from '../helpers/sim-agents.js';

const SEED = process.env['KITH_SIM_SEED'] ?? 'mailbox-agents-1';
const MARKER = 'marker-7f3a9c-lake-at-noon';

function diskOf(sim: SimAgents, name: string): Map<string, Uint8Array>[] {
  const dir = sim.get(name).dataDir;
  return [...sim.world.disks].filter(([k]) => k.startsWith(dir)).map(([, v]) => v);
}

const holds = (disks: Map<string, Uint8Array>[], needle: string): boolean => {
  const n = Buffer.from(needle);
  return disks.some((d) => [...d.values()].some((v) => Buffer.from(v).includes(n)));
};

t.test(`bob away, alice's laptop closed: bob gets the poll from alice's router (seed ${SEED})`, async (t) => {
  const sim = await simAgents({ seed: SEED, dir: t.testdir(), agents: [{ name: 'alice', user: 'alice' }, { name: 'bob', user: 'bob' }, { name: 'carol', user: 'carol' }], pairs: [['alice', 'bob'], ['alice', 'carol']] });
  t.teardown(() => sim.close());
  t.teardown(() => {
    if (!t.passing()) t.comment(`seed ${sim.seed}\n${sim.dump()}`);
  });
  await sim.addNode('alice', 'router', 'router', ['relay']);
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const user = (n: string) => hex(sim.get(n).agent!.identity.cert.userKey);
  const call = async (n: string, op: string, body: unknown) => {
    const r = await sim.settle(sim.api(n, 'POST', `/api/conv/${op}`, body));
    if (r.status !== 200) throw new Error(`${op} on ${n}: ${JSON.stringify(r.body)}`);
    return r.body.result;
  };
  const allAlive = () => ['bob', 'carol', 'router'].every((n) => sim.stateOf('alice', n) === 'alive') && sim.stateOf('router', 'bob') === 'alive';
  t.ok((await sim.until(allAlive, 30_000)) !== undefined, 'alice, her router, bob and carol reach each other');

  const bobUser = user('bob');
  await sim.stop('bob');
  t.ok((await sim.until(() => sim.stateOf('router', 'bob') === 'dead' && sim.stateOf('alice', 'bob') === 'dead', 60_000)) !== undefined, 'bob is away');
  const created = await call('alice', 'create', { topic: 'Saturday?', with: [bobUser, user('carol')], pattern: 'poll', options: ['lake', 'pub'], method: 'majority' });
  const said = await call('alice', 'post', { id: created.id, text: MARKER });
  const voted = await call('alice', 'vote', { id: created.id, choice: 'lake' });
  await sim.run(3000);
  const relay = sim.get('router').agent!.mailbox.relay!;
  t.ok(relay.status().blobs >= 3, `alice's router holds the header, epoch, post and vote for bob (${relay.status().blobs} blobs)`);
  const queued = sim.get('alice').agent!.mailbox.outbox.queued();
  t.ok(queued.length > 0, 'alice\'s laptop still queues them: only one household (alice\'s) can serve bob');

  await sim.stop('alice');
  await sim.start('bob');
  const started = sim.clock.now();
  const has = async () => {
    const v = (await call('bob', 'list', {})) as { id: string }[];
    if (!v.some((c) => c.id === created.id)) return false;
    const show = await call('bob', 'show', { id: created.id });
    const hashes = (show.messages as { hash: string }[]).map((m) => m.hash);
    return hashes.includes(said.posted) && hashes.includes(voted.posted);
  };
  let got = false;
  while (!got && sim.clock.now() - started < 5000) {
    await sim.run(100);
    got = await has();
  }
  t.ok(got, `bob has alice's post and vote ${sim.clock.now() - started} ms after he started (at most 5000)`);
  type Pulls = { pulls: { relay: string; lastPull: { blobs: number; totalBlobs: number; reset: boolean } | null }[] };
  // Sync (bob meets the router, a holder of the conversation) and the mailbox race; both must work.
  const routerId = sim.get('router').id;
  let fromRouter: Pulls['pulls'][number] | undefined;
  for (let i = 0; i < 50 && !(fromRouter?.lastPull?.totalBlobs ?? 0); i++) {
    fromRouter = ((await sim.get('bob').agent!.mailbox.status()) as Pulls).pulls.find((p) => p.relay === routerId);
    if (!(fromRouter?.lastPull?.totalBlobs ?? 0)) await sim.run(100);
  }
  t.ok((fromRouter?.lastPull?.totalBlobs ?? 0) > 0, `bob pulled from the router's mailbox too (${JSON.stringify(fromRouter?.lastPull)})`);
  const bobId = sim.get('bob').id!;
  t.ok((await sim.until(() => relay.status().recipients[bobId] === undefined, 5000)) !== undefined, 'bob acknowledged: nothing waits for him on the router');
  // Bob is not the sender of what he got: he places it after the outbox's standby (30–60 s), by hash.
  await sim.until(() => relay.status().recipients[sim.get('alice').id!] !== undefined, 90_000, 500);
  t.same(Object.keys(relay.status().recipients), [sim.get('alice').id], 'what bob got is held for alice\'s closed laptop now (bob pushed it, after the standby), nothing else');
  t.notOk(holds(diskOf(sim, 'router'), MARKER), 'the marker is in no value of the relay-only router\'s store');
  t.ok(holds(diskOf(sim, 'bob'), MARKER), 'the scan can find it (bob\'s store holds it in clear)');

  // The router loses its mailbox store: it comes back with a new incarnation.
  const inc = relay.incarnationId;
  await sim.stop('router');
  for (const d of diskOf(sim, 'router')) for (const k of [...d.keys()]) if (k.startsWith('mbox/')) d.delete(k);
  t.ok((await sim.until(() => sim.stateOf('bob', 'router') === 'dead', 60_000)) !== undefined, 'bob sees the router gone');
  // It comes back with a small rate (2 pushes a minute) for the last part.
  fs.appendFileSync(`${sim.get('router').dataDir}.toml`, '[mailbox]\npushesPerMinute = 2\n');
  await sim.start('router');
  const relay2 = sim.get('router').agent!.mailbox.relay!;
  t.not(relay2.incarnationId, inc, 'a new incarnation');
  let reset = false;
  await sim.until(() => {
    void sim.get('bob').agent!.mailbox.status().then((s) => (reset = (s as Pulls).pulls.some((p) => p.relay === sim.get('router').id && p.lastPull?.reset === true)));
    return reset;
  }, 20_000);
  t.ok(reset, 'bob noticed it and pulled from the start');

  // Bob writes while alice's laptop is closed: the router takes 2 a minute; the refusal reaches bob.
  t.ok((await sim.until(() => sim.stateOf('bob', 'router') === 'alive', 20_000)) !== undefined);
  const posts: string[] = [];
  for (let i = 0; i < 5; i++) posts.push((await call('bob', 'post', { id: created.id, text: `bob ${i}` })).posted);
  await sim.run(2000);
  const bobStatus = (await sim.settle(sim.api('bob', 'GET', '/api/mailbox/status'))).body.result as MailboxStatusView;
  t.ok(bobStatus.problems.some((p) => p.code === 'RATE_LIMITED' && p.relay === sim.get('router').id), 'bob\'s mailbox status shows the router\'s RATE_LIMITED');
  t.match(formatMailboxStatus(bobStatus), /RATE_LIMITED from router/, '`kith mailbox status` says so');
  t.ok(bobStatus.queued.length > 0, 'what the router did not take stays queued');
  const routerStatus = (await sim.settle(sim.api('router', 'GET', '/api/mailbox/status'))).body.result as MailboxStatusView;
  t.ok(routerStatus.relay!.recipients.some((r) => r.node === sim.get('alice').id && r.name.includes('alice')), 'the router\'s status names alice\'s laptop as the one it holds for');
  t.ok(routerStatus.relay!.stats.refused['RATE_LIMITED']! > 0, 'and counts the refusals');
  const aliceId = sim.get('alice').id!;
  const held = () => relay2.status().recipients[aliceId]?.blobs ?? 0;
  await sim.until(() => held() >= 5, 4 * 60_000, 500);
  t.ok(held() >= 5, `as the rate allows, the router ends up holding bob's posts for alice (${held()})`);
  await sim.start('alice');
  let aliceHas = false;
  for (let i = 0; i < 50 && !aliceHas; i++) {
    await sim.run(100);
    const shown = (await call('alice', 'show', { id: created.id })).messages as { hash: string }[];
    aliceHas = posts.every((h) => shown.some((m) => m.hash === h));
  }
  t.ok(aliceHas, 'alice\'s laptop, back, has bob\'s five posts');
});

t.test(`a friend's NAS that is no participant holds the conversation for bob: the mailbox alone delivers (seed ${SEED})`, async (t) => {
  // dave (a relay-only NAS) is a friend of alice and of bob but not in the conversation: sync
  // never gives it the conversation (its epoch does not name dave), only the mailbox does.
  const sim = await simAgents({ seed: `${SEED}:nas`, dir: t.testdir(), agents: [{ name: 'alice', user: 'alice' }, { name: 'bob', user: 'bob' }, { name: 'nas', user: 'dave', roles: ['relay'] }], pairs: [['alice', 'bob'], ['nas', 'alice'], ['nas', 'bob']] });
  t.teardown(() => sim.close());
  t.teardown(() => {
    if (!t.passing()) t.comment(`seed ${sim.seed}\n${sim.dump()}`);
  });
  const call = async (n: string, op: string, body: unknown) => {
    const r = await sim.settle(sim.api(n, 'POST', `/api/conv/${op}`, body));
    if (r.status !== 200) throw new Error(`${op} on ${n}: ${JSON.stringify(r.body)}`);
    return r.body.result;
  };
  t.ok((await sim.until(() => sim.stateOf('alice', 'bob') === 'alive' && sim.stateOf('nas', 'alice') === 'alive' && sim.stateOf('nas', 'bob') === 'alive', 30_000)) !== undefined, 'all three reach each other');
  const bobUser = Buffer.from(sim.get('bob').agent!.identity.cert.userKey).toString('hex');
  await sim.stop('bob');
  t.ok((await sim.until(() => sim.stateOf('alice', 'bob') === 'dead', 60_000)) !== undefined, 'bob is away');
  const created = await call('alice', 'create', { topic: 'Dinner?', with: [bobUser], pattern: 'discussion' });
  const said = await call('alice', 'post', { id: created.id, text: MARKER });
  const nas = sim.get('nas').agent!.mailbox.relay!;
  t.ok((await sim.until(() => (nas.status().recipients[sim.get('bob').id!]?.blobs ?? 0) >= 3, 10_000)) !== undefined, `dave's NAS holds the epoch, header and post for bob (${JSON.stringify(nas.status().recipients)})`);
  await sim.stop('alice');
  await sim.start('bob');
  const started = sim.clock.now();
  let got = false;
  while (!got && sim.clock.now() - started < 5000) {
    await sim.run(100);
    const list = (await call('bob', 'list', {})) as { id: string }[];
    got = list.some((c) => c.id === created.id) && ((await call('bob', 'show', { id: created.id })).messages as { hash: string }[]).some((m) => m.hash === said.posted);
  }
  t.ok(got, `bob has alice's post ${sim.clock.now() - started} ms after he started, alice's laptop closed (at most 5000)`);
  t.ok((await sim.until(() => nas.status().recipients[sim.get('bob').id!] === undefined, 5000)) !== undefined, 'bob acknowledged: nothing waits for him');
  t.notOk(holds(diskOf(sim, 'nas'), MARKER), 'the marker is in no value of the NAS\'s store');
  t.notOk(diskOf(sim, 'nas').some((d) => [...d.keys()].some((k) => k.startsWith(`sync/${created.id}/`))), 'the NAS never held the conversation in sync (no node of its epoch): the mailbox delivered it');
});
