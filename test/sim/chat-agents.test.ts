// `kith chat` between whole agents (test/helpers/sim-agents.ts): alice names herself, bob learns
// the name from her card, alice chats bob by his name; bob's feed (consensus/feed.ts) has her
// message exactly once, also after a restart; a second chat reuses the same discussion.
import t from 'tap';
import { simAgents } from '../helpers/sim-agents.js';

const SEED = process.env['KITH_SIM_SEED'] ?? 'chat-agents-1';

t.test(`alice chats bob by name; bob's feed shows it once (seed ${SEED})`, async (t) => {
  const sim = await simAgents({ seed: SEED, dir: t.testdir(), agents: [{ name: 'alice', user: 'alice' }, { name: 'bob', user: 'bob' }], pairs: [['alice', 'bob']] });
  t.teardown(() => sim.close());
  t.teardown(() => {
    if (!t.passing()) t.comment(`seed ${sim.seed}\n${sim.dump()}`);
  });
  await sim.until(() => sim.stateOf('alice', 'bob') === 'alive' && sim.stateOf('bob', 'alice') === 'alive', 20_000);
  const api = async (n: string, method: string, route: string, body?: unknown) => (await sim.settle(sim.api(n, method, route, body))).body;
  t.same((await api('alice', 'POST', '/api/name', { name: 'Alice Liddell' })).result, { name: 'Alice Liddell' });
  t.equal((await api('bob', 'POST', '/api/name', { name: 'Bob\u202e' })).error?.code, 'NAME_INVALID', 'a name with a bidi override is refused');
  await api('bob', 'POST', '/api/name', { name: 'Bobby' });
  const nameOf = async (observer: string) => ((await api(observer, 'GET', '/api/friends')).friends as { name: string }[])[0]?.name;
  for (let i = 0; i < 50 && !((await nameOf('bob')) === 'Alice Liddell' && (await nameOf('alice')) === 'Bobby'); i++) await sim.run(200);
  t.equal(await nameOf('bob'), 'Alice Liddell', 'bob\'s friend list shows alice\'s new name');
  t.equal(await nameOf('alice'), 'Bobby', 'and alice\'s shows bob\'s');

  const sent = (await api('alice', 'POST', '/api/conv/chat', { friend: 'bobby', text: 'tea at five?' })).result;
  t.equal(sent.created, true, 'a new two-person discussion');
  t.equal(sent.with.name, 'Bobby', 'bob found by his name, any case');
  const bobFeed = async () => (await sim.get('bob').agent!.feed.all()).filter((e) => e.hash === sent.posted);
  for (let i = 0; i < 50 && (await bobFeed()).length === 0; i++) await sim.run(200);
  t.equal((await bobFeed()).length, 1, 'bob\'s application got alice\'s message once');
  const watched = (await api('bob', 'POST', '/api/conv/feed', { after: 0, waitMs: 0 })).result;
  const seen = watched.entries.find((e: { hash: string }) => e.hash === sent.posted);
  t.match(seen, { authorName: 'Alice Liddell', kind: 'text', data: { text: 'tea at five?' } }, 'the feed op names the author');
  const shown = (await api('bob', 'POST', '/api/conv/show', { id: sent.conv })).result;
  t.equal(shown.messages.find((m: { hash: string }) => m.hash === sent.posted)?.authorName, 'Alice Liddell', 'conv show names her');

  const bobHolds = async () => ((await api('alice', 'POST', '/api/conv/show', { id: sent.conv })).result.messages.find((m: { hash: string }) => m.hash === sent.posted)?.heldBy as { name: string; nodes: number; of: number }[]).find((h) => h.name === 'Bobby');
  for (let i = 0; i < 600 && !((await bobHolds())?.nodes ?? 0); i++) await sim.run(200);
  t.match(await bobHolds(), { nodes: 1, of: 1 }, 'alice\'s conv show says bob\'s node has it (from his HAVE)');
  await sim.stop('bob');
  await sim.start('bob');
  await sim.until(() => sim.stateOf('alice', 'bob') === 'alive', 20_000);
  await sim.run(3_000);
  t.equal((await bobFeed()).length, 1, 'still once after bob restarted and caught up');
  const again = (await api('alice', 'POST', '/api/conv/chat', { friend: sent.with.userKey.slice(0, 6), text: 'or six' })).result;
  t.same([again.created, again.conv], [false, sent.conv], 'the second chat (by key prefix) reuses the discussion');
  const ambiguous = (await api('alice', 'POST', '/api/conv/chat', { friend: 'nobody', text: 'hi' })).error?.code;
  t.equal(ambiguous, 'FRIEND_UNKNOWN');
});
