// A run of one sender's chain in one `items` message, on an access node: every record's own
// signature decides, so a batch accepts and drops exactly what the same envelopes delivered one
// per message do (consensus/README.md, "One signature per message"). The last case is why a
// node may not verify only the last signature of a hash-linked run: the sender's key can sign a
// record whose `prev` names a record carrying a signature that does not verify.
// Each batch is also delivered with its signatures checked by the worker-thread pool
// (core/verify-pool.ts, as the agent does): the same accepts, refusals and counts again.
import t, { type Test } from 'tap';
import { VerifyPool } from '../../core/verify-pool.js';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { decodeCanonical, encodeCanonical, type CborValue } from '../../core/cbor.js';
import { xaead } from '../../core/aead.js';
import { toHex } from '../../core/hex.js';
import { ConvSync, DEFAULT_SYNC } from '../../consensus/sync.js';
import { Conversations } from '../../consensus/conversations.js';
import { SealedConversations } from '../../consensus/sealed-conversations.js';
import { unwrapKey } from '../../consensus/epochs.js';
import { envelopeAad, padRecord, sealRecord } from '../../consensus/sealing.js';
import { hashHex, signMessage } from '../../consensus/records.js';
import { testUser, type TestUser } from '../helpers/users.js';

const alice = testUser('alice');
const bob = testUser('bob');
const carol = testUser('carol');
const id = (u: TestUser) => toHex(u.dh.publicKey);

const directory = {
  nodesOf: (k: Uint8Array) => {
    for (const x of [alice, bob, carol]) if (toHex(k) === x.hex) return [{ dh: x.dh.publicKey, roles: ['access' as const] }];
    return undefined;
  },
};

const pool = new VerifyPool({ size: 1 });
t.teardown(() => pool.close());

/** `pooled`: signatures of a batch checked by the pool, from `min` envelopes on (else inline, one by one). */
function makeNode(u: TestUser, clock: VirtualClock, peers: string[], pooled?: { min: number }) {
  const store = new MemoryStore();
  const rng = new SeededRng(`chain-batch:${u.name}`);
  let sealed: SealedConversations | undefined;
  const sync = new ConvSync({ store, clock, rng, self: id(u), send: async () => undefined, peers: () => peers, onItem: (g, i): void => sealed!.onItem(g, i), ...(pooled ? { verifyMany: pool.verifyMany } : {}) }, pooled ? { batchVerifyMin: pooled.min } : {});
  const convs = new Conversations({ store, clock, rng, signer: u });
  sealed = new SealedConversations({ convs, sync, signer: u, dh: u.dh, clock, rng, directory });
  return { sync, convs, sealed };
}

const flip = (record: Uint8Array, at: number) => {
  const b = record.slice();
  b[at]! ^= 1;
  return b;
};
/** A signed object's signature starts at byte 7 (canonical key order puts `sig` first: core/signed.ts). */
const SIG_AT = 7;

async function setup(n = 5) {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const a = makeNode(alice, clock, []);
  await a.sync.start();
  const conv = await a.sealed.create({ topic: 'chain batch', with: [bob.userKey, carol.userKey], pattern: 'discussion' });
  for (let i = 1; i <= n; i++) {
    clock.advance(1000);
    await a.sealed.post(conv.id, 'text', { text: `message ${i}` });
  }
  await a.sealed.idle();
  const epoch = a.sync.currentEpoch(conv.id)!;
  const key = unwrapKey(epoch, alice.dh)!;
  const envs = await a.sync.envelopes(conv.id);
  const head = envs.find((e) => e.seq === 0)!.bytes;
  const real = (await a.convs.messages(conv.id)).sort((x, y) => x.seq - y.seq);
  const rng = new SeededRng('chain-batch:seal');
  /** An envelope for seq q around a record, with a valid envelope signature by `by` (alice: the sender's own). */
  const seal = (q: number, record: Uint8Array, by: TestUser = alice) => sealRecord({ group: conv.id, epoch: epoch.hash, seq: q }, key, record, rng, by.signSecret);
  /** alice's own signature over a message of her chain (what only her key can make). */
  const signed = (q: number, prev: string, text: string) => signMessage({ conv: conv.id, seq: q, prev, atMs: real[q - 1]!.atMs, kind: 'text', data: { text } }, alice);
  /** A reader (carol: she holds the key, not alice's signing key) seals a record under alice's slot q; its envelope signature is carol's. */
  const resealAsAlice = (q: number, record: Uint8Array) => {
    const sender = real[0]!.chain;
    const nonce = rng.bytes(24);
    const c = xaead.seal(key, nonce, padRecord(record), envelopeAad({ group: conv.id, epoch: epoch.hash, sender, seq: q }));
    const mine = decodeCanonical(sealRecord({ group: conv.id, epoch: epoch.hash, seq: q }, key, record, rng, carol.signSecret)) as Record<string, CborValue>;
    return encodeCanonical({ ...mine, s: Buffer.from(sender, 'hex'), n: nonce, c });
  };
  const items = (b: Uint8Array[], ep: Uint8Array[] = []) => encodeCanonical({ t: 'items', g: Buffer.from(conv.id, 'hex'), ep, b });
  return { clock, conv, epoch, real, envs, head, seal, signed, resealAsAlice, items };
}

type Setup = Awaited<ReturnType<typeof setup>>;

/**
 * What a fresh bob node accepts and counts when alice's chain arrives as one batch (its
 * signatures checked inline, or by the pool from `pooled.min` envelopes on), or one envelope per message.
 */
async function deliver(s: Setup, chain: Uint8Array[], batched: boolean, pooled?: { min: number }) {
  const b = makeNode(bob, s.clock, [id(alice)], pooled);
  await b.sync.start();
  await b.sync.receive(id(alice), s.items([s.head], [s.epoch.bytes]));
  if (batched) await b.sync.receive(id(alice), s.items(chain));
  else for (const env of chain) await b.sync.receive(id(alice), s.items([env]));
  await b.sealed.idle();
  const accepted = (await b.convs.messages(s.conv.id)).filter((m) => m.authorHex === alice.hex).map((m) => `${m.seq}:${m.hash.slice(0, 12)}`).sort();
  return { accepted, dropped: b.sync.stats.dropped, sealed: b.sealed.stats };
}

async function same(t: Test, s: Setup, chain: Uint8Array[], want: number[], pooled = { min: 1 }) {
  const batch = await deliver(s, chain, true);
  const single = await deliver(s, chain, false);
  const before = pool.stats.onWorkers;
  const onPool = await deliver(s, chain, true, pooled);
  t.same(batch, single, 'one batch accepts and counts what one message per envelope does');
  t.same(onPool, single, 'so does one batch whose signatures the worker pool checks');
  t.ok(pool.stats.onWorkers > before, 'the pool checked them');
  t.same(batch.accepted, want.map((q) => `${q}:${s.real[q - 1]!.hash.slice(0, 12)}`), `accepted: alice's ${want.join(', ')}`);
  return batch;
}

t.test('the real chain: all five, in one batch or one by one', async (t) => {
  const s = await setup();
  const r = await same(t, s, s.envs.filter((e) => e.seq > 0).map((e) => e.bytes), [1, 2, 3, 4, 5]);
  t.same(r.dropped, {});
  t.equal(r.sealed.rejected, 0);
});

t.test('a forged middle message (a reader changes alice\'s seq 3 and seals it under her slot): dropped, 4 and 5 wait for the real 3', async (t) => {
  const s = await setup();
  const real3 = s.real[2]!.bytes;
  const at = Buffer.from(real3).indexOf('message 3');
  t.ok(at > 0, 'the text is in the record');
  const forged = flip(real3, at + 'message '.length); // "message 2": the signature no longer verifies
  const chain = s.envs.filter((e) => e.seq > 0).map((e) => (e.seq === 3 ? s.resealAsAlice(3, forged) : e.bytes));
  const r = await same(t, s, chain, [1, 2]);
  t.equal(r.dropped['bad-envelope-sig'], 1, 'neither its record nor its envelope signature holds: dropped before it takes the slot');
  t.equal(r.sealed.rejected, 0);
});

t.test('a broken link (alice\'s own signature over a seq 3 whose prev is not her seq 2): refused by the conversation, 4 and 5 never chain', async (t) => {
  const s = await setup();
  const broken = s.signed(3, 'ab'.repeat(32), 'message 3');
  const chain = s.envs.filter((e) => e.seq > 0).map((e) => (e.seq === 3 ? s.seal(3, broken) : e.bytes));
  const r = await same(t, s, chain, [1, 2]);
  t.equal(r.sealed.rejected, 1, 'seq 3 rejected (it breaks the hash chain)');
});

t.test('a wrong signature on the last message of the run: 1 to 4 accepted, 5 rejected', async (t) => {
  const s = await setup();
  const chain = s.envs.filter((e) => e.seq > 0).map((e) => (e.seq === 5 ? s.seal(5, flip(s.real[4]!.bytes, SIG_AT)) : e.bytes));
  const r = await same(t, s, chain, [1, 2, 3, 4]);
  t.equal(r.sealed.rejected, 1, 'seq 5 rejected (its record signature)');
  t.same(r.dropped, {}, 'its envelope signature holds: sync keeps it, the conversation refuses it');
});

t.test('a run linked by hash to a record whose own signature fails (the sender\'s key signed its successor): that record and everything after it refused', async (t) => {
  const s = await setup();
  // seq 3 with a broken signature, and alice's valid signatures over 4 and 5 chained to it by
  // prev: only a check of 5's signature and the links would take 3, 4 and 5 as hers.
  const bad3 = flip(s.real[2]!.bytes, SIG_AT);
  const four = s.signed(4, hashHex(bad3), 'message 4');
  const five = s.signed(5, hashHex(four), 'message 5');
  const chain = s.envs.filter((e) => e.seq === 1 || e.seq === 2).map((e) => e.bytes).concat([s.seal(3, bad3), s.seal(4, four), s.seal(5, five)]);
  const r = await same(t, s, chain, [1, 2]);
  t.equal(r.sealed.rejected, 1, 'seq 3 rejected on its own signature; 4 and 5 wait for a seq 3 that verifies');
});

t.test('a catch-up batch of 200 on the pool at its default threshold, one forged, one re-sealed by a reader, one twice: what checking each gives', async (t) => {
  const s = await setup(200);
  const real = s.envs.filter((e) => e.seq > 0).sort((x, y) => x.seq - y.seq);
  const real50 = s.real[49]!.bytes;
  const at = Buffer.from(real50).indexOf('message 50');
  const forged = flip(real50, at + 'message '.length); // a reader's change: neither signature holds
  // 120: alice's own record re-sealed by carol (its envelope signature fails, its record's holds).
  const chain = real.map((e) => (e.seq === 50 ? s.resealAsAlice(50, forged) : e.seq === 120 ? s.resealAsAlice(120, s.real[119]!.bytes) : e.bytes));
  chain.splice(10, 0, chain[9]!); // seq 10 twice
  const before = pool.stats.onWorkers;
  // From 64 envelopes on (DEFAULT_SYNC.batchVerifyMin) the pool checks a batch: this one of 201 goes to it.
  const onPool = await deliver(s, chain, true, { min: DEFAULT_SYNC.batchVerifyMin });
  t.ok(pool.stats.onWorkers > before, 'the pool checked them');
  const inline = await deliver(s, chain, true);
  t.same(onPool, inline, 'the same batch checked inline: the same accepts and counts');
  const want = Array.from({ length: 49 }, (_, i) => `${i + 1}:${s.real[i]!.hash.slice(0, 12)}`).sort();
  t.same(onPool.accepted, want, 'alice\'s 1 to 49: the forged 50 is dropped before it takes the slot, 51 to 200 wait for the real one');
  t.equal(onPool.dropped['bad-envelope-sig'], 1);
  t.equal(onPool.sealed.rejected, 0);
  const single = await deliver(s, chain, false);
  t.same(single.accepted, onPool.accepted, 'one envelope per message accepts the same');
  t.equal(single.dropped['bad-envelope-sig'], 1, 'and drops the same');
  // (Not compared: send-backlog. Each of the 150 waiting envelopes asks for the gap; within one batch the asks outrun the 64 in flight.)
});

t.test('a catch-up handed over on arrival (every items message at once, none awaited, as the agent\'s transport does): the look-ahead accepts and counts what one message at a time does', async (t) => {
  const s = await setup(300);
  const real = s.envs.filter((e) => e.seq > 0).sort((x, y) => x.seq - y.seq);
  const real150 = s.real[149]!.bytes;
  const at = Buffer.from(real150).indexOf('message 150');
  const forged = flip(real150, at + 'message '.length);
  const chain = real.map((e) => (e.seq === 150 ? s.resealAsAlice(150, forged) : e.seq === 220 ? s.resealAsAlice(220, s.real[219]!.bytes) : e.bytes));
  // Four messages of 75: the second is prepared while the first is stored, and so on.
  const parts = [0, 75, 150, 225].map((i) => chain.slice(i, i + 75));
  const run = async (arrival: boolean, pooled?: { min: number }) => {
    const b = makeNode(bob, s.clock, [id(alice)], pooled);
    await b.sync.start();
    const messages = [s.items([s.head], [s.epoch.bytes]), ...parts.map((p) => s.items(p))];
    if (arrival) await Promise.all(messages.map((m) => b.sync.receive(id(alice), m)));
    else for (const m of messages) await b.sync.receive(id(alice), m);
    await b.sealed.idle();
    const accepted = (await b.convs.messages(s.conv.id)).filter((m) => m.authorHex === alice.hex).map((m) => m.seq).sort((x, y) => x - y);
    return { accepted, dropped: b.sync.stats.dropped, rejected: b.sealed.stats.rejected };
  };
  const before = pool.stats.onWorkers + pool.stats.onMain;
  const ahead = await run(true, { min: DEFAULT_SYNC.batchVerifyMin });
  t.ok(pool.stats.onWorkers + pool.stats.onMain > before, 'the pool checked them');
  t.same(ahead, await run(false), 'the same as one message at a time, checked inline');
  t.same(ahead, await run(false, { min: DEFAULT_SYNC.batchVerifyMin }), 'and as one at a time on the pool');
  t.same(ahead.accepted, Array.from({ length: 149 }, (_, i) => i + 1), '1 to 149: the forged 150 dropped, 151 to 300 wait for the real one');
  t.equal(ahead.dropped['bad-envelope-sig'], 1);
});

t.test('a member past its item rate: its items messages are not verified ahead, and are dropped as rate-limited', async (t) => {
  const s = await setup(70);
  const chain = s.envs.filter((e) => e.seq > 0).map((e) => e.bytes);
  // A bucket of 100 items: the epoch message and one of 70 fit, the next two do not.
  let calls = 0;
  const sync = new ConvSync({ store: new MemoryStore(), clock: s.clock, rng: new SeededRng('rate'), self: id(bob), send: async () => undefined, peers: () => [id(alice)], verifyMany: (checks) => ((calls += checks.length), pool.verifyMany(checks)) }, { itemsBurst: 100, itemsPerSecond: 1 });
  await sync.start();
  await Promise.all([s.items([s.head], [s.epoch.bytes]), s.items(chain), s.items(chain), s.items(chain)].map((m) => sync.receive(id(alice), m)));
  t.equal(sync.stats.dropped['rate-limited'], 140, 'two messages of 70 over the rate, each item counted');
  t.ok(calls <= 70, `at most one message's checks went to the pool (${calls})`);
});
