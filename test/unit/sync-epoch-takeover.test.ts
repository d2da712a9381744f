// Only a participant may start a conversation's next epoch: a record signed by anyone else (a
// throwaway identity with a valid access certificate, relayed by a holder) is refused and never
// becomes current, so the participants' own items keep flowing.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { encodeCanonical } from '../../core/cbor.js';
import { toHex } from '../../core/hex.js';
import { currentEpoch, openEpoch, startEpoch } from '../../consensus/epochs.js';
import { sealRecord } from '../../consensus/sealing.js';
import { ConvSync } from '../../consensus/sync.js';
import { testUser } from '../helpers/users.js';

const alice = testUser('alice');
const relay = testUser('bob');
const mallory = testUser('mallory');
const stranger = testUser('throwaway');
const [A, R, M] = [alice, relay, mallory].map((u) => toHex(u.dh.publicKey)) as [string, string, string];
const node = (u: typeof alice) => ({ dh: u.dh.publicKey, user: u.userKey });

t.test('an epoch record from a non-participant is refused and does not become current', async (t) => {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const rng = new SeededRng('takeover');
  const sync = new ConvSync({ store: new MemoryStore(), clock, rng, self: R, send: async () => undefined, peers: () => [] });
  await sync.start();
  const conv = toHex(rng.bytes(32));
  const items = (ep: Uint8Array[], b: Uint8Array[]) => encodeCanonical({ t: 'items', g: Buffer.from(conv, 'hex'), ep, b });
  const e0 = startEpoch({ conv, number: 0, prev: '', readers: [node(alice)], holders: [node(relay), node(mallory)], startedAtMs: 1 }, alice, rng);
  await sync.receive(A, items([e0.bytes], []));
  const h0 = openEpoch(e0.bytes).hash;
  // The stranger's reader entry claims to be alice's node: the unsigned user field is not trusted.
  const e1 = startEpoch({ conv, number: 1, prev: h0, readers: [{ dh: stranger.dh.publicKey, user: alice.userKey }], holders: [node(relay), node(mallory)], startedAtMs: 2 }, stranger, rng);
  await sync.receive(M, items([e1.bytes], []));
  t.equal(sync.currentEpoch(conv)!.hash, h0, 'epoch 0 stays current');
  t.equal(sync.stats.dropped['epoch-not-participant'], 1, 'the record is refused and counted');
  t.equal(currentEpoch([openEpoch(e0.bytes), openEpoch(e1.bytes)])!.hash, h0, 'currentEpoch skips it even when held');
  await sync.receive(A, items([], [sealRecord({ group: conv, epoch: h0, seq: 1 }, e0.key, new Uint8Array(8), rng, alice.signSecret)]));
  t.notOk(sync.stats.dropped['not-a-holder'], "the participant's items are still taken");
  t.equal((await sync.envelopes(conv)).length, 1);
  // A participant's own next epoch is taken.
  const e1ok = startEpoch({ conv, number: 1, prev: h0, readers: [node(alice)], holders: [node(relay)], startedAtMs: 3 }, alice, rng);
  await sync.receive(A, items([e1ok.bytes], []));
  t.equal(sync.currentEpoch(conv)!.hash, openEpoch(e1ok.bytes).hash, "a participant's epoch 1 becomes current");
});
