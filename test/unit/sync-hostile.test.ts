// Bad input into an access node's sync and SealedConversations (issue 14, "Bad input"): forged,
// replayed, reordered, oversized, wrong-epoch and non-participant blobs, forged and
// non-participant epoch records, and a member flooding past its rate. Each is dropped and counted
// (ConvSync.stats.dropped, SealedConversations.stats), nothing is stored for a stranger, nothing
// throws, and every message accepted before is still there and reached the application once.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { encodeCanonical } from '../../core/cbor.js';
import { toHex } from '../../core/hex.js';
import { ConvSync, SYNC_LIMITS } from '../../consensus/sync.js';
import { Conversations } from '../../consensus/conversations.js';
import { SealedConversations } from '../../consensus/sealed-conversations.js';
import { openEpoch, startEpoch, unwrapKey } from '../../consensus/epochs.js';
import { signMessage } from '../../consensus/records.js';
import { readEnvelope, sealRecord } from '../../consensus/sealing.js';
import { verifyCertificate } from '../../identity/certificate.js';
import { testUser, type TestUser } from '../helpers/users.js';

const alice = testUser('alice');
const bob = testUser('bob');
const mallory = testUser('mallory');
const id = (u: TestUser) => toHex(u.dh.publicKey);
const chainOf = (u: TestUser) => toHex(verifyCertificate(u.certBytes).signKey);

interface Node {
  u: TestUser;
  store: MemoryStore;
  sync: ConvSync;
  convs: Conversations;
  sealed: SealedConversations;
  /** Messages it sent: [peer, body]. */
  outbox: [string, Uint8Array][];
  /** Per message hash, how often it reached the application. */
  delivered: Map<string, number>;
}

const RATE = { itemsPerSecond: 10, itemsBurst: 600 };

function makeNode(u: TestUser, clock: VirtualClock, peers: string[]): Node {
  const store = new MemoryStore();
  const outbox: [string, Uint8Array][] = [];
  const delivered = new Map<string, number>();
  const rng = new SeededRng(`hostile:${u.name}`);
  const known = new Map([alice, bob].map((x) => [x.hex, x]));
  const n = {} as Node;
  const sync = new ConvSync({ store, clock, rng, self: id(u), send: async (peer, body) => void outbox.push([peer, body]), peers: () => peers, onItem: (g, i): void => n.sealed.onItem(g, i) }, RATE);
  const convs = new Conversations({ store, clock, rng, signer: u });
  const sealed = new SealedConversations({
    convs, sync, signer: u, dh: u.dh, clock, rng,
    directory: { nodesOf: (k) => (known.has(toHex(k)) ? [{ dh: known.get(toHex(k))!.dh.publicKey, roles: ['access' as const] }] : undefined) },
    onMessage: (_c, m) => void delivered.set(m.hash, (delivered.get(m.hash) ?? 0) + 1),
  });
  return Object.assign(n, { u, store, sync, convs, sealed, outbox, delivered });
}

/** Hands every message a's outbox holds for b to b, as if from a. */
async function deliver(a: Node, b: Node): Promise<number> {
  const mine = a.outbox.filter(([p]) => p === id(b.u));
  a.outbox.splice(0, a.outbox.length, ...a.outbox.filter(([p]) => p !== id(b.u)));
  for (const [, body] of mine) await b.sync.receive(id(a.u), body);
  await b.sealed.idle();
  return mine.length;
}

async function setup() {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const a = makeNode(alice, clock, [id(bob)]);
  const b = makeNode(bob, clock, [id(alice)]);
  await a.sync.start();
  await b.sync.start();
  const conv = await a.sealed.create({ topic: 'hostile', with: [bob.userKey], pattern: 'discussion' });
  const m1 = await a.sealed.post(conv.id, 'text', { text: 'one' });
  const m2 = await a.sealed.post(conv.id, 'text', { text: 'two' });
  await a.sealed.idle();
  await deliver(a, b);
  const items = (ep: Uint8Array[], bl: Uint8Array[], g = conv.id) => encodeCanonical({ t: 'items', g: Buffer.from(g, 'hex'), ep, b: bl });
  const epoch = a.sync.currentEpoch(conv.id)!;
  const key = unwrapKey(epoch, alice.dh)!;
  return { clock, a, b, conv, m1, m2, items, epoch, key };
}

const hashesOf = async (n: Node, conv: string) => (await n.convs.messages(conv)).map((m) => m.hash).sort();
const storeSize = async (s: MemoryStore) => {
  let k = 0;
  for await (const _ of s.range({})) k++;
  return k;
};

t.test('a conversation between two access nodes: each message reaches bob\'s application once', async (t) => {
  const { b, conv, m1, m2 } = await setup();
  t.same(await hashesOf(b, conv.id), [m1.message.hash, m2.message.hash].sort(), 'bob holds both');
  t.same([...b.delivered.values()], [1, 1], 'each delivered once');
});

t.test('replayed items: duplicates, counted, never delivered twice', async (t) => {
  const { a, b, conv, items } = await setup();
  const before = b.sync.stats.duplicates;
  const envs = await a.sync.envelopes(conv.id);
  await b.sync.receive(id(alice), items(a.sync.epochs(conv.id).map((e) => e.bytes), envs.map((e) => e.bytes)));
  await b.sync.receive(id(alice), items([], envs.map((e) => e.bytes).reverse()));
  await b.sealed.idle();
  t.equal(b.sync.stats.duplicates - before, 1 + 2 * envs.length, 'every replayed item counted as a duplicate');
  t.same([...b.delivered.values()], [1, 1], 'still delivered once each');
});

t.test('reordered: a chain\'s later messages before the earlier ones are applied in order, once each', async (t) => {
  const { a, b, conv } = await setup();
  const more = [];
  for (let i = 3; i <= 6; i++) more.push(await a.sealed.post(conv.id, 'text', { text: `m${i}` }));
  await a.sealed.idle();
  const mine = a.outbox.filter(([p]) => p === id(bob)).reverse();
  a.outbox.length = 0;
  for (const [, body] of mine) await b.sync.receive(id(alice), body);
  await b.sealed.idle();
  t.same(await hashesOf(b, conv.id), await hashesOf(a, conv.id), 'bob holds everything alice wrote');
  t.ok([...b.delivered.values()].every((c) => c === 1) && b.delivered.size === 6, 'each of the six delivered once');
});

t.test('oversized, malformed and unknown-group blobs: dropped and counted, nothing stored', async (t) => {
  const { b, conv, items, epoch, key } = await setup();
  const held = await storeSize(b.store);
  const rng = new SeededRng('junk');
  await b.sync.receive(id(alice), items([], [new Uint8Array(100_000)]));
  await b.sync.receive(id(alice), items([], [rng.bytes(64)]));
  await b.sync.receive(id(alice), items([], [sealRecord({ group: 'ee'.repeat(32), epoch: epoch.hash, seq: 9 }, key, new Uint8Array(8), rng, alice.signSecret)], 'ee'.repeat(32)));
  await b.sync.receive(id(alice), rng.bytes(500));
  await b.sealed.idle();
  t.equal(await storeSize(b.store), held, 'nothing stored');
  t.match(b.sync.stats.dropped, { 'malformed-blob': 2, 'unknown-group': 1, malformed: 1 }, 'each counted by reason');
});

t.test('a non-participant: its node\'s items are refused; its message sealed in by a reader is rejected', async (t) => {
  const { a, b, conv, items, epoch, key } = await setup();
  const held = await storeSize(b.store);
  const rng = new SeededRng('mallory');
  // mallory's own node is no node of the group: nothing it sends is taken.
  await b.sync.receive(id(mallory), items([], [sealRecord({ group: conv.id, epoch: epoch.hash, seq: 1 }, key, new Uint8Array(8), rng, mallory.signSecret)]));
  t.equal(b.sync.stats.dropped['not-a-holder'], 1, 'not a holder: dropped and counted');
  t.equal(await storeSize(b.store), held, 'nothing stored for a stranger');
  // A reader (alice's node, buggy or hostile) seals a message that mallory signed: opened, refused.
  const forged = signMessage({ conv: conv.id, seq: 1, prev: '', atMs: 10, kind: 'text', data: { text: 'let me in' } }, mallory);
  await b.sync.receive(id(alice), items([], [sealRecord({ group: conv.id, epoch: epoch.hash, seq: 1 }, key, forged, rng, mallory.signSecret)]));
  await b.sealed.idle();
  t.equal(b.sealed.stats.rejected, 1, 'the non-participant\'s message is rejected and counted');
  t.same(await hashesOf(b, conv.id), await hashesOf(a, conv.id), 'nothing of it in bob\'s conversation');
});

t.test('wrong-epoch and forged ciphertext: unreadable, counted; the conversation goes on', async (t) => {
  const { a, b, conv, items, epoch } = await setup();
  const rng = new SeededRng('wrong');
  // Sealed with another key under this epoch's hash (a record of another epoch, relabelled).
  const wrong = sealRecord({ group: conv.id, epoch: epoch.hash, seq: 1 }, rng.bytes(32), new Uint8Array(32), rng, mallory.signSecret);
  await b.sync.receive(id(alice), items([], [wrong]));
  // An epoch hash nobody holds: it waits, never opened, expires.
  await b.sync.receive(id(alice), items([], [sealRecord({ group: conv.id, epoch: 'cd'.repeat(32), seq: 1 }, rng.bytes(32), new Uint8Array(8), rng, mallory.signSecret)]));
  await b.sealed.idle();
  t.ok(b.sealed.stats.unreadable >= 1, `unreadable counted (${b.sealed.stats.unreadable})`);
  const m3 = await a.sealed.post(conv.id, 'text', { text: 'three' });
  await a.sealed.idle();
  await deliver(a, b);
  t.ok((await hashesOf(b, conv.id)).includes(m3.message.hash), 'alice\'s next message still arrives');
  t.equal(b.delivered.get(m3.message.hash), 1, 'once');
});

t.test('epoch records: forged, not naming this node, from a non-participant, replayed: refused and counted', async (t) => {
  const { a, b, conv, items, epoch } = await setup();
  const rng = new SeededRng('epochs');
  const node = (u: TestUser) => ({ dh: u.dh.publicKey, user: u.userKey });
  const forged = epoch.bytes.slice();
  forged[forged.length - 3]! ^= 1;
  const notUs = startEpoch({ conv: conv.id, number: 1, prev: epoch.hash, readers: [node(alice)], holders: [], startedAtMs: 5 }, alice, rng);
  const takeover = startEpoch({ conv: conv.id, number: 1, prev: epoch.hash, readers: [node(mallory), node(bob)], holders: [], startedAtMs: 5 }, mallory, rng);
  for (const e of [forged, notUs.bytes, takeover.bytes, epoch.bytes]) await b.sync.receive(id(alice), items([e], []));
  await b.sealed.idle();
  t.match(b.sync.stats.dropped, { 'bad-epoch': 1, 'not-for-us': 1, 'epoch-not-participant': 1 }, 'each refusal counted');
  t.equal(b.sync.currentEpoch(conv.id)!.hash, epoch.hash, 'the epoch in force is unchanged');
  t.notOk(b.sync.epochs(conv.id).some((e) => e.hash === openEpoch(takeover.bytes).hash), 'the takeover is not stored');
  const m3 = await a.sealed.post(conv.id, 'text', { text: 'three' });
  await a.sealed.idle();
  await deliver(a, b);
  t.ok((await hashesOf(b, conv.id)).includes(m3.message.hash), 'the participants go on');
});

t.test('a member flooding past its rate: dropped and counted, the rest taken later, what was accepted kept', async (t) => {
  const { b, conv, items, epoch, key, clock } = await setup();
  const rng = new SeededRng('flood');
  const held = (await b.sync.envelopes(conv.id)).length;
  const before = [...b.delivered.keys()];
  // A member's own chain, every envelope valid and next in line: only the rate stops it.
  const chain = Array.from({ length: RATE.itemsBurst + 200 }, (_, k) => sealRecord({ group: conv.id, epoch: epoch.hash, seq: k + 1 }, key, new Uint8Array(4), rng, mallory.signSecret));
  for (let i = 0; i < chain.length; i += 100) await b.sync.receive(id(alice), items([], chain.slice(i, i + 100)));
  await b.sealed.idle();
  const dropped = b.sync.stats.dropped['rate-limited'] ?? 0;
  const taken = (await b.sync.envelopes(conv.id)).length - held;
  t.ok(dropped >= 200 && dropped <= 300, `items past the burst are dropped and counted (${dropped})`);
  t.equal(taken + dropped, chain.length, `the rest, within the burst, is taken (${taken})`);
  clock.advance(60_000);
  for (let i = taken; i < chain.length; i += 100) await b.sync.receive(id(alice), items([], chain.slice(i, i + 100)));
  t.equal((await b.sync.envelopes(conv.id)).filter((e) => e.sender === chainOf(mallory)).length, chain.length, 'sent again later, at the rate, the rest is taken');
  // (b's own receipt, posted once the conversation's items stopped arriving, is delivered too.)
  t.ok(before.length >= 2 && before.every((h) => b.delivered.get(h) === 1) && [...b.delivered.values()].every((n) => n === 1), 'what was accepted before is still there, delivered once');
});
