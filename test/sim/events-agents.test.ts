// The event log of whole agents (test/helpers/sim-agents.ts: runAgent on one virtual clock), read
// as the web UI reads it (GET /api/v1/events/poll): pairing progress on both sides, friends and
// members arriving, conversation messages, votes and closings on the other side, a member going
// dead while away, the mailbox of alice's relay-only router storing for bob and delivering when
// he is back, and the archive's put job, audit and repair.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { MINUTE } from '../../core/clock.js';
import { simAgents, type SimAgents } from '../helpers/sim-agents.js';
import type { EventView } from '../../agent/api-shapes.js';

const SEED = process.env['KITH_SIM_SEED'] ?? 'events-agents-1';

async function eventsOf(sim: SimAgents, name: string): Promise<EventView[]> {
  const out: EventView[] = [];
  let since = 0;
  for (let i = 0; i < 100; i++) {
    const r = await sim.settle(sim.api(name, 'GET', `/api/v1/events/poll?since=${since}&waitMs=0`));
    if (r.status !== 200) throw new Error(JSON.stringify(r.body));
    out.push(...r.body.events);
    if (r.body.events.length === 0) break;
    since = r.body.next;
  }
  return out;
}

const types = (es: EventView[]) => es.map((e) => e.type);

t.test(`events of whole agents (seed ${SEED})`, async (t) => {
  const dir = t.testdir();
  const sim = await simAgents({ seed: SEED, dir, agents: [{ name: 'alice', user: 'alice' }, { name: 'bob', user: 'bob' }, { name: 'carol', user: 'carol' }] });
  t.teardown(() => sim.close());
  t.teardown(() => {
    if (!t.passing()) t.comment(`seed ${sim.seed}\n${sim.dump().slice(-20_000)}`);
  });
  await sim.pair('alice', 'bob');
  await sim.pair('alice', 'carol');
  await sim.addNode('alice', 'router', 'router', ['relay']);
  const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
  const user = (n: string) => hex(sim.get(n).agent!.identity.cert.userKey);
  const met = await sim.until(() => ['bob', 'carol', 'router'].every((n) => sim.stateOf('alice', n) === 'alive') && sim.stateOf('router', 'bob') === 'alive', 30_000);
  t.ok(met !== undefined, 'everyone reaches everyone');
  await sim.run(1000); // the comparisons (friends, arrivals) run every 250 ms

  const a = await eventsOf(sim, 'alice');
  const pairA = a.filter((e) => e.type === 'pair.progress').map((e) => `${e.data['side']}:${e.data['state']}`);
  t.same(pairA.slice(0, 2), ['offer:waiting', 'offer:paired'], 'alice\'s offer: waiting, then paired');
  t.notOk(JSON.stringify(a.filter((e) => e.type === 'pair.progress')).match(/\d{4}-[a-z]+-[a-z]+/), 'no pairing code in any event');
  t.ok(a.some((e) => e.type === 'friend.added' && e.data['name'] === 'bob'), `friend.added bob (${JSON.stringify(a.filter((e) => e.type.startsWith('friend.')).map((e) => e.data))})`);
  t.ok(a.some((e) => e.type === 'member.state' && e.data['state'] === 'alive'), 'member.state alive (pushed by membership)');
  const b = await eventsOf(sim, 'bob');
  t.same(b.filter((e) => e.type === 'pair.progress').map((e) => `${e.data['side']}:${e.data['state']}`), ['join:joining', 'join:paired'], 'bob\'s join: joining, then paired');
  t.equal(b.find((e) => e.type === 'pair.progress' && e.data['state'] === 'paired')?.data['friendName'], 'alice');

  const call = async (n: string, op: string, body: unknown) => {
    const r = await sim.settle(sim.api(n, 'POST', `/api/conv/${op}`, body));
    if (r.status !== 200) throw new Error(`${op} on ${n}: ${JSON.stringify(r.body)}`);
    return r.body.result;
  };
  const bobSeen = (await eventsOf(sim, 'bob')).length;
  const created = await call('alice', 'create', { topic: 'Saturday?', with: [user('bob')], pattern: 'poll', options: ['lake', 'pub'], method: 'majority' });
  await call('alice', 'post', { id: created.id, text: 'lake at noon' });
  await call('alice', 'vote', { id: created.id, choice: 'lake' });
  await sim.run(3000);
  const convB = (await eventsOf(sim, 'bob')).slice(bobSeen).filter((e) => e.type.startsWith('conv.') && e.data['conv'] === created.id);
  t.ok(types(convB).includes('conv.message') && types(convB).includes('conv.vote'), `bob's log has alice's messages and vote (${types(convB).join(' ')})`);
  await call('bob', 'vote', { id: created.id, choice: 'lake' });
  await sim.run(3000);
  for (const n of ['alice', 'bob']) t.ok((await eventsOf(sim, n)).some((e) => e.type === 'conv.closed' && e.data['conv'] === created.id), `${n}'s log: conv.closed once both voted`);

  const routerSeen = (await eventsOf(sim, 'router')).length;
  const bobUser = user('bob');
  await sim.stop('bob');
  t.ok((await sim.until(() => sim.stateOf('alice', 'bob') === 'dead', 60_000)) !== undefined, 'bob is away');
  const states = (await eventsOf(sim, 'alice')).filter((e) => e.type === 'member.state').map((e) => e.data['state']);
  t.ok(states.includes('suspect') && states.includes('dead'), `alice's log: suspect, then dead (${states.join(' ')})`);
  const chat = await call('alice', 'create', { topic: 'While you were out', with: [bobUser], pattern: 'discussion' });
  await call('alice', 'post', { id: chat.id, text: 'the lake it is' });
  await sim.run(3000);
  const stored = (await eventsOf(sim, 'router')).slice(routerSeen).filter((e) => e.type === 'mailbox.stored');
  t.ok(stored.length > 0, `the router's log: mailbox.stored while bob is away (${stored.length})`);
  t.ok((await eventsOf(sim, 'alice')).some((e) => e.type === 'mailbox.queued'), 'alice\'s log: mailbox.queued for bob');
  await sim.start('bob');
  const delivered = await sim.until(() => sim.get('router').agent!.mailbox.relay!.status().blobs === 0, 60_000);
  t.ok(delivered !== undefined, 'bob took what the router held');
  await sim.run(1000);
  const after = (await eventsOf(sim, 'router')).slice(routerSeen);
  t.ok(after.some((e) => e.type === 'mailbox.delivered'), 'the router\'s log: mailbox.delivered');
  const bobAfter = await eventsOf(sim, 'bob');
  t.ok(bobAfter.some((e) => e.type === 'mailbox.pulled'), `bob's log after his restart: mailbox.pulled (${types(bobAfter).join(' ')})`);

  const file = path.join(dir, 'note.txt');
  fs.writeFileSync(file, 'a small note for the archive\n'.repeat(100));
  const put = await sim.settle(sim.api('alice', 'POST', '/api/archive/put', { path: file }));
  t.equal(put.status, 200, JSON.stringify(put.body));
  await sim.until(() => sim.get('alice').agent!.archive.job(put.body.result.id).state !== 'running', 10 * MINUTE);
  await sim.settle(sim.get('alice').agent!.archive.verify(), 10 * MINUTE);
  const ar = (await eventsOf(sim, 'alice')).filter((e) => e.type.startsWith('archive.'));
  const job = ar.find((e) => e.type === 'archive.job');
  t.equal(job?.data['job'], put.body.result.id, `archive.job for the put (${JSON.stringify(job?.data)})`);
  if (job?.data['state'] === 'done') t.ok(ar.some((e) => e.type === 'archive.progress' && e.channel === 'low'), 'archive.progress on the low channel');
  t.ok(ar.some((e) => e.type === 'archive.audit' && typeof e.data['pass'] === 'number'), 'archive.audit with its tally');
  t.ok(ar.some((e) => e.type === 'archive.repair' && typeof e.data['repaired'] === 'number'), 'archive.repair with its tally');
});
