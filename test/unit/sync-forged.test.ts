// A relay or forwarder cannot hold the place of a sender's envelope: an envelope signed by
// anyone but its `sender` (a made-up ciphertext under a real sender and seq, or the sender's
// signature moved onto other bytes) is dropped and counted, and the real one is still stored.
// The same holds for blobs pulled from a mailbox relay, which need not be a node of the group.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { decodeCanonical, encodeCanonical } from '../../core/cbor.js';
import { toHex } from '../../core/hex.js';
import { startEpoch, openEpoch } from '../../consensus/epochs.js';
import { sealRecord, readEnvelope } from '../../consensus/sealing.js';
import { ConvSync } from '../../consensus/sync.js';
import { testUser } from '../helpers/users.js';

const alice = testUser('alice');
const bob = testUser('bob');
const mallory = testUser('mallory');
const [A, B, M] = [alice, bob, mallory].map((u) => toHex(u.dh.publicKey)) as [string, string, string];
const node = (u: typeof alice) => ({ dh: u.dh.publicKey, user: u.userKey });
const items = (g: string, ep: Uint8Array[], b: Uint8Array[]) => encodeCanonical({ t: 'items', g: Buffer.from(g, 'hex'), ep, b });

async function setup() {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const rng = new SeededRng('forged');
  const sync = new ConvSync({ store: new MemoryStore(), clock, rng, self: B, send: async () => undefined, peers: () => [] });
  await sync.start();
  const group = toHex(rng.bytes(32));
  const ep = startEpoch({ conv: group, number: 0, prev: '', readers: [node(alice), node(bob)], holders: [node(mallory)], startedAtMs: 1 }, alice, rng);
  return { rng, sync, group, ep, epoch: openEpoch(ep.bytes).hash };
}

t.test('a forged envelope with a real (sender, seq) never blocks the real one', async (t) => {
  const { rng, sync, group, ep, epoch } = await setup();
  await sync.receive(A, items(group, [ep.bytes], []));
  const real = sealRecord({ group, epoch, seq: 1 }, ep.key, new TextEncoder().encode('the real one'), rng, alice.signSecret);
  const m = decodeCanonical(real) as Record<string, Uint8Array | number>;
  const garbage = encodeCanonical({ ...m, c: rng.bytes((m['c'] as Uint8Array).length) }); // alice's signature, other bytes
  const mine = decodeCanonical(sealRecord({ group, epoch, seq: 1 }, ep.key, new Uint8Array(4), rng, mallory.signSecret)) as Record<string, Uint8Array | number>;
  const resigned = encodeCanonical({ ...mine, s: m['s']! }); // mallory's signature under alice's sender key
  await sync.receive(M, items(group, [], [garbage, resigned]));
  t.equal(sync.stats.dropped['bad-envelope-sig'], 2, 'both forgeries dropped and counted');
  t.same(await sync.envelopes(group), [], 'nothing stored');
  await sync.receive(A, items(group, [], [real]));
  t.same((await sync.envelopes(group)).map((e) => e.id), [readEnvelope(real).id], 'the real seq 1 is stored');
});

t.test('blobs from a mailbox relay that is no node of the group: taken when they verify', async (t) => {
  const { rng, sync, group, ep, epoch } = await setup();
  const relay = toHex(testUser('dave').dh.publicKey);
  await sync.receiveFromMailbox(relay, ep.bytes);
  t.equal(sync.currentEpoch(group)?.hash, epoch, 'the epoch record, self-verifying, is taken');
  const real = sealRecord({ group, epoch, seq: 1 }, ep.key, new Uint8Array(8), rng, alice.signSecret);
  const m = decodeCanonical(real) as Record<string, Uint8Array | number>;
  await sync.receiveFromMailbox(relay, encodeCanonical({ ...m, n: rng.bytes(24) }));
  await sync.receiveFromMailbox(relay, new Uint8Array([0xa1, 1, 2]));
  await sync.receiveFromMailbox(relay, rng.bytes(500));
  t.same(await sync.envelopes(group), [], 'a forged and two malformed blobs: nothing stored, no crash');
  await sync.receiveFromMailbox(relay, real);
  await sync.receiveFromMailbox(relay, real);
  t.equal((await sync.envelopes(group)).length, 1, 'the real one once');
  t.ok(sync.stats.duplicates >= 1, 'the second counted as a duplicate');
});
