// Bad input to sync: garbage, forged epochs, blobs for unknown groups or from nodes outside the
// group, oversized, replayed and wrong-epoch blobs, and a flood of blobs that never fit a chain:
// dropped and counted, never stored for a stranger, never a crash, nothing accepted lost.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { encodeCanonical } from '../../core/cbor.js';
import { toHex } from '../../core/hex.js';
import { ConvSync, SYNC_LIMITS } from '../../consensus/sync.js';
import { Conversations } from '../../consensus/conversations.js';
import { SealedConversations } from '../../consensus/sealed-conversations.js';
import { sealRecord } from '../../consensus/sealing.js';
import { testUser } from '../helpers/users.js';

const alice = testUser('alice');
const bob = testUser('bob');
const mallory = testUser('mallory');
const A = toHex(alice.dh.publicKey);
const R = toHex(bob.dh.publicKey); // bob's node, here only syncing (it could be his router)
const M = toHex(mallory.dh.publicKey);

async function setup() {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const sent: [string, Uint8Array][] = [];
  const relayStore = new MemoryStore();
  const relay = new ConvSync({ store: relayStore, clock, rng: new SeededRng('r'), self: R, send: async () => undefined, peers: () => [A, M] });
  await relay.start();
  const aStore = new MemoryStore();
  const aSync: ConvSync = new ConvSync({ store: aStore, clock, rng: new SeededRng('a'), self: A, send: async (peer, body) => void sent.push([peer, body]), peers: () => [R], onItem: (g, i): void => sealed.onItem(g, i) });
  const convs = new Conversations({ store: aStore, clock, rng: new SeededRng('a'), signer: alice });
  const dir = (u: Uint8Array) => (toHex(u) === alice.hex ? [{ dh: alice.dh.publicKey, roles: ['access' as const] }] : toHex(u) === bob.hex ? [{ dh: bob.dh.publicKey, roles: ['access' as const] }] : undefined);
  const sealed: SealedConversations = new SealedConversations({ convs, sync: aSync, signer: alice, dh: alice.dh, directory: { nodesOf: dir }, clock, rng: new SeededRng('s') });
  const conv = await sealed.create({ topic: 'x', with: [bob.userKey], pattern: 'discussion' });
  await sealed.post(conv.id, 'text', { text: 'one' });
  await sealed.idle();
  for (const [peer, body] of sent.splice(0)) if (peer === R) await relay.receive(A, body);
  return { relay, relayStore, aSync, conv, clock };
}

const count = async (s: MemoryStore) => {
  let n = 0;
  for await (const _ of s.range({})) n++;
  return n;
};

t.test('garbage, forgeries, strangers, floods: dropped and counted; what was accepted stays', async (t) => {
  const { relay, relayStore, aSync, conv } = await setup();
  const held = await count(relayStore);
  t.ok(held >= 3, 'the relay holds the epoch, the header and the message');
  const envs = await aSync.envelopes(conv.id);
  const epoch = aSync.epochs(conv.id)[0]!;
  const g = Buffer.from(conv.id, 'hex');
  const items = (ep: Uint8Array[], b: Uint8Array[], gid: Uint8Array = g) => encodeCanonical({ t: 'items', g: gid, ep, b });
  const forged = epoch.bytes.slice();
  forged[forged.length - 5]! ^= 1;
  const key = new SeededRng('k').bytes(32);
  const bad: [string, string, Uint8Array][] = [
    ['random bytes', A, new SeededRng('x').bytes(300)],
    ['a CBOR list', A, encodeCanonical([1, 2, 3])],
    ['an unknown kind', A, encodeCanonical({ t: 'zap' })],
    ['a malformed blob', A, items([], [new Uint8Array([1, 2, 3])])],
    ['a forged epoch', A, items([forged], [])],
    ['a blob of an unknown group', A, items([], [sealRecord({ group: 'ee'.repeat(32), epoch: epoch.hash, seq: 1 }, key, new Uint8Array(10), new SeededRng('y'), mallory.signSecret)])],
    ['a blob from a node outside the group', M, items([], [sealRecord({ group: conv.id, epoch: epoch.hash, seq: 1 }, key, new Uint8Array(10), new SeededRng('z'), mallory.signSecret)])],
    ['an oversized blob', A, items([], [new Uint8Array(200_000)])],
    ['too many items', A, items([], Array.from({ length: SYNC_LIMITS.itemsPerMessage + 1 }, () => new Uint8Array(1)))],
    ['replayed items', A, items([epoch.bytes], envs.map((e) => e.bytes))],
  ];
  for (const [what, from, body] of bad) {
    await relay.receive(from, body);
    t.equal(await count(relayStore), held, `${what}: nothing stored`);
  }
  t.ok(relay.stats.duplicates >= envs.length, 'replays counted as duplicates');
  t.ok(Object.keys(relay.stats.dropped).length >= 5, `drops counted by reason: ${JSON.stringify(relay.stats.dropped)}`);
  // A flood of blobs that never fit a chain (seq far ahead, a wrong epoch): held pending up to the bound, its oldest evicted.
  for (let i = 0; i < SYNC_LIMITS.pendingPerPeer + 250; i += 200) {
    const flood = Array.from({ length: 200 }, (_, k) => sealRecord({ group: conv.id, epoch: 'ab'.repeat(32), seq: 10 + i + k }, key, new Uint8Array(8), new SeededRng(`f${i}:${k}`), mallory.signSecret));
    await relay.receive(A, items([], flood));
  }
  t.ok((relay.stats.dropped['pending-evicted'] ?? 0) > 0, 'the pending bound holds');
  t.equal(await count(relayStore), held, 'none of it stored');
  t.equal((await relay.envelopes(conv.id)).length, envs.length, 'everything accepted before is still there');
});
