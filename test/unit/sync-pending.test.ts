// Out-of-order envelopes wait in a bounded pending list: a fake peer that floods it with
// envelopes that never fit a chain evicts only its own, legitimate gaps still wait and are stored
// when the gap closes, old entries expire, and one peer cannot make this node hold endless groups.
import t from 'tap';
import { VirtualClock, SECOND } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { encodeCanonical } from '../../core/cbor.js';
import { toHex } from '../../core/hex.js';
import { startEpoch, openEpoch } from '../../consensus/epochs.js';
import { sealRecord } from '../../consensus/sealing.js';
import { ConvSync, SYNC_LIMITS } from '../../consensus/sync.js';
import { testUser } from '../helpers/users.js';

const alice = testUser('alice');
const relay = testUser('bob');
const mallory = testUser('mallory');
const [A, R, M] = [alice, relay, mallory].map((u) => toHex(u.dh.publicKey)) as [string, string, string];
const node = (u: typeof alice) => ({ dh: u.dh.publicKey, user: u.userKey });
const items = (g: string, ep: Uint8Array[], b: Uint8Array[]) => encodeCanonical({ t: 'items', g: Buffer.from(g, 'hex'), ep, b });

async function setup() {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const rng = new SeededRng('pending');
  const sync = new ConvSync({ store: new MemoryStore(), clock, rng, self: R, send: async () => undefined, peers: () => [] });
  await sync.start();
  const group = toHex(rng.bytes(32));
  const ep = startEpoch({ conv: group, number: 0, prev: '', readers: [node(alice)], holders: [node(relay), node(mallory)], startedAtMs: 1 }, alice, rng);
  await sync.receive(A, items(group, [ep.bytes], []));
  const h = { group, epoch: openEpoch(ep.bytes).hash, seq: 1 };
  return { clock, rng, sync, group, key: ep.key, h };
}

t.test('a flooding holder cannot fill the pending list for good', async (t) => {
  const { rng, sync, group, key, h } = await setup();
  for (let i = 0; i < 8; i++) {
    const flood = Array.from({ length: 64 }, (_, j) => sealRecord({ ...h, seq: 1_000_000 + i * 64 + j }, rng.bytes(32), new Uint8Array(16 * 1024), rng, alice.signSecret));
    await sync.receive(M, items(group, [], flood));
  }
  t.ok((sync.stats.dropped['pending-evicted'] ?? 0) > 0, 'the flood evicts its own oldest');
  await sync.receive(A, items(group, [], [sealRecord({ ...h, seq: 3 }, key, new Uint8Array(10), rng, alice.signSecret)]));
  await sync.receive(A, items(group, [], [sealRecord({ ...h, seq: 2 }, key, new Uint8Array(10), rng, alice.signSecret)]));
  t.notOk(sync.stats.dropped['pending-full'], 'a legit gap envelope waits');
  await sync.receive(A, items(group, [], [sealRecord(h, key, new Uint8Array(10), rng, alice.signSecret)]));
  t.equal((await sync.envelopes(group)).length, 3, 'seq 1..3 stored once the gap closes');
});

t.test('pending entries expire', async (t) => {
  const { clock, rng, sync, group, key, h } = await setup();
  await sync.receive(A, items(group, [], [sealRecord({ ...h, seq: 5 }, key, new Uint8Array(10), rng, alice.signSecret)]));
  clock.advance(SYNC_LIMITS.pendingMaxAgeMs + SECOND);
  await sync.receive(A, items(group, [], [sealRecord({ ...h, seq: 9 }, key, new Uint8Array(10), rng, alice.signSecret)]));
  t.equal(sync.stats.dropped['pending-expired'], 1, 'the old one expired');
});

t.test('one peer cannot make this node hold endless groups', async (t) => {
  const { rng, sync } = await setup();
  for (let i = 0; i < SYNC_LIMITS.heldGroupsPerPeer + 5; i++) {
    const g = toHex(rng.bytes(32));
    const ep = startEpoch({ conv: g, number: 0, prev: '', readers: [node(mallory)], holders: [node(relay)], startedAtMs: 1 }, mallory, rng);
    await sync.receive(M, items(g, [ep.bytes], []));
  }
  t.equal(sync.groupIds().length, 1 + SYNC_LIMITS.heldGroupsPerPeer, 'groups held for mallory are capped');
  t.equal(sync.stats.dropped['held-groups-full'], 5, 'the rest counted');
});
