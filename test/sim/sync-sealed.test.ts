// Conversations that travel, end to end, on SimNet: alice (laptop + router), bob (laptop +
// router), carol (laptop). bob and carol are both alice's friends, not each other's, so their
// messages go through alice's nodes. Offline periods, 5% loss, a node offline at the close, and
// relays that never hold plaintext.
import t from 'tap';
import { World, type WorldNode } from './sync-world.js';

const MARKER = 'MARKER-7f3a9c';

function world(seed: string): World {
  const w = new World(seed);
  w.addNode({ name: 'alice-laptop', user: 'alice', index: 0, roles: ['access'] });
  w.addNode({ name: 'alice-router', user: 'alice', index: 1, roles: ['relay'] });
  w.addNode({ name: 'bob-laptop', user: 'bob', index: 0, roles: ['access'] });
  w.addNode({ name: 'bob-router', user: 'bob', index: 1, roles: ['relay'] });
  w.addNode({ name: 'carol-laptop', user: 'carol', index: 0, roles: ['access'] });
  w.befriend('alice', 'bob');
  w.befriend('alice', 'carol');
  return w;
}

const allAlive = (w: World) => () => [...w.nodes.values()].filter((n) => n.online).every((n) => w.members(n).filter((m) => m.online).every((m) => n.cluster!.membership.stateOf(m.id) === 'alive'));

async function hashes(n: WorldNode, conv: string): Promise<string[]> {
  try {
    return (await n.convs!.messages(conv)).map((m) => m.hash).sort();
  } catch {
    return [];
  }
}

async function storeHolds(n: WorldNode, needle: string): Promise<boolean> {
  const b = Buffer.from(needle);
  for await (const [k, v] of n.store.range({})) if (Buffer.from(v).includes(b) || k.includes(needle)) return true;
  return false;
}

t.test('a poll reaches everyone through a shared friend, survives offline periods and loss, closes the same everywhere', async (t) => {
  const seed = 'sync-sealed-1';
  const w = world(seed);
  for (const n of w.nodes.keys()) await w.start(n);
  t.ok(await w.until(allAlive(w), 10_000), `cluster formed (seed ${seed})`);
  const alice = w.node('alice-laptop');
  const bob = w.node('bob-laptop');
  const carol = w.node('carol-laptop');

  const conv = await alice.sealed!.create({ topic: `Saturday ${MARKER}`, with: [w.userKey('bob'), w.userKey('carol')], pattern: 'poll', options: ['lake', 'pub', 'museum'], ballot: 'ranking', method: { kind: 'builtin', name: 'irv', params: {} } });
  const reached = await w.until(async () => (await bob.convs!.list()).length === 1 && (await carol.convs!.list()).length === 1, 5000);
  t.ok(reached !== undefined && reached <= 1000, `bob and carol have the conversation within a second (${reached} ms; seed ${seed})`);

  const said = await carol.sealed!.post(conv.id, 'text', { text: `carol says ${MARKER}` });
  t.ok(await w.until(async () => (await hashes(bob, conv.id)).includes(said.message.hash), 5000), 'carol\'s text reaches bob, who is not her friend (through alice\'s nodes)');
  t.same(w.members(bob).map((m) => m.spec.user).filter((u) => u === 'carol'), [], 'bob\'s node never has a carol node as a member');

  // bob's laptop goes offline; the links get lossy; carol and alice vote, which decides it.
  w.stop('bob-laptop');
  for (const a of w.nodes.values()) for (const b of w.nodes.values()) if (a !== b) w.net.setLink(a.address, b.address, { loss: 0.05 });
  await carol.sealed!.post(conv.id, 'ballot', { ranking: ['lake', 'pub'] });
  await alice.sealed!.post(conv.id, 'ballot', { ranking: ['lake', 'museum'] });
  t.ok(await w.until(async () => (await carol.convs!.closing(conv)) !== undefined && (await alice.convs!.closing(conv)) !== undefined, 10_000), 'closed on alice\'s and carol\'s laptops');
  // alice's laptop is off too when bob comes back: only the routers hold it for him.
  w.stop('alice-laptop');
  await w.run(2000);
  await w.start('bob-laptop');
  const caught = await w.until(async () => (await bob.convs!.closing(conv)) !== undefined, 20_000);
  t.ok(caught !== undefined, `bob, back, gets the votes and the closing from a router (${caught} ms; seed ${seed})`);
  await w.start('alice-laptop');
  await w.until(allAlive(w), 20_000);
  await w.run(3000);
  for (const n of [alice, bob, carol]) await n.sealed!.idle();

  const sets = await Promise.all([alice, bob, carol].map((n) => hashes(n, conv.id)));
  t.same(sets[1], sets[0], 'bob holds the same messages as alice');
  t.same(sets[2], sets[0], 'carol holds the same messages as alice');
  const closings = await Promise.all([alice, bob, carol].map(async (n) => (await n.convs!.closing(conv))!));
  t.same(closings.map((c) => c.messages.join()), Array(3).fill(closings[0]!.messages.join()), 'the same closing messages everywhere');
  t.same(closings.map((c) => (c.outcome as { winners: string[] }).winners), [['lake'], ['lake'], ['lake']]);
  for (const n of [alice, bob, carol]) {
    t.equal(new Set(n.delivered).size, n.delivered.length, `${n.spec.name}: every message reached the application once`);
  }
  t.ok(await storeHolds(alice, MARKER), 'the marker is readable on an access node (the check can fail)');
  for (const r of ['alice-router', 'bob-router']) t.notOk(await storeHolds(w.node(r), MARKER), `${r} holds no plaintext`);
  await w.close();
});

t.test('a revoked node gets no key of any epoch after its revocation and reads nothing posted after it', async (t) => {
  const seed = 'sync-revoke';
  const w = world(seed);
  w.addNode({ name: 'alice-phone', user: 'alice', index: 2, roles: ['access'] });
  for (const n of w.nodes.keys()) await w.start(n);
  t.ok(await w.until(allAlive(w), 10_000), `cluster formed (seed ${seed})`);
  const alice = w.node('alice-laptop');
  const phone = w.node('alice-phone');
  const bob = w.node('bob-laptop');
  const conv = await alice.sealed!.create({ topic: 'keys', with: [w.userKey('bob')], pattern: 'discussion' });
  await alice.sealed!.post(conv.id, 'text', { text: 'before' });
  t.ok(await w.until(async () => (await hashes(phone, conv.id)).length === 1 && (await hashes(bob, conv.id)).length >= 2, 5000), 'the phone reads it before');
  const before = alice.sync!.currentEpoch(conv.id)!;
  t.ok(before.readers.has(phone.id), 'the phone is a reader of the first epoch');

  w.revoke('alice-phone');
  await w.run(3000);
  await bob.sealed!.post(conv.id, 'text', { text: `after ${MARKER}` });
  t.ok(await w.until(async () => (await hashes(alice, conv.id)).length >= 3, 5000), 'alice gets bob\'s post');
  const after = bob.sync!.currentEpoch(conv.id)!;
  t.equal(after.number, before.number + 1, 'bob started a new epoch before sealing');
  t.notOk(after.readers.has(phone.id), 'without the phone');
  t.same(alice.sync!.currentEpoch(conv.id)!.hash, after.hash, 'alice agrees on it');
  // The phone's store from before its revocation: no envelope or wrapped key of the new epoch.
  let leaked = 0;
  for await (const [, v] of phone.store.range({})) if (Buffer.from(v).includes(Buffer.from(after.hash, 'hex'))) leaked++;
  t.equal(leaked, 0, 'nothing of the new epoch reached the phone');
  t.notOk(await storeHolds(phone, MARKER), 'the phone never saw the text posted after');
  await w.close();
});

t.test('two nodes that start an epoch at once: every node settles on the one with the smaller hash', async (t) => {
  const seed = 'sync-race';
  const w = world(seed);
  for (const n of w.nodes.keys()) await w.start(n);
  await w.until(allAlive(w), 10_000);
  const alice = w.node('alice-laptop');
  const bob = w.node('bob-laptop');
  const conv = await alice.sealed!.create({ topic: 'race', with: [w.userKey('bob')], pattern: 'discussion' });
  await w.until(async () => (await bob.convs!.list()).length === 1, 5000);
  // Both enroll a new node (in the directory only) and post at the same moment.
  w.addNode({ name: 'alice-tablet', user: 'alice', index: 3, roles: ['access'] });
  await Promise.all([alice.sealed!.post(conv.id, 'text', { text: 'from alice' }), bob.sealed!.post(conv.id, 'text', { text: 'from bob' })]);
  await w.run(3000);
  const ea = alice.sync!.epochs(conv.id).filter((e) => e.number === 1);
  t.equal(ea.length, 2, 'two epoch-1 records exist');
  const winner = [...ea].sort((a, b) => (a.hash < b.hash ? -1 : 1))[0]!;
  t.equal(alice.sync!.currentEpoch(conv.id)!.hash, winner.hash);
  t.equal(bob.sync!.currentEpoch(conv.id)!.hash, winner.hash);
  t.same(await hashes(alice, conv.id), await hashes(bob, conv.id), 'messages sealed under either are read by both');
  const texts = (await alice.convs!.messages(conv.id)).filter((m) => m.kind === 'text').map((m) => m.data['text']).sort();
  t.same(texts, ['from alice', 'from bob'], 'nothing lost');
  await w.close();
});

t.test('a conversation made before conversations travelled goes out, with its history, at the next post', async (t) => {
  const w = world('sync-history');
  for (const n of w.nodes.keys()) await w.start(n);
  await w.until(allAlive(w), 10_000);
  const alice = w.node('alice-laptop');
  const bob = w.node('bob-laptop');
  const conv = await alice.convs!.create({ topic: 'old', with: [w.userKey('bob')], pattern: 'discussion' });
  const old = await alice.convs!.post(conv.id, 'text', { text: 'written offline' });
  await w.run(2000);
  t.equal((await bob.convs!.list()).length, 0, 'nothing sealed, nothing sent');
  const now = await alice.sealed!.post(conv.id, 'text', { text: 'now it travels' });
  t.ok(await w.until(async () => {
    const h = await hashes(bob, conv.id);
    return h.includes(old.message.hash) && h.includes(now.message.hash);
  }, 5000), 'bob gets the header, the old message and the new one');
  await w.close();
});
