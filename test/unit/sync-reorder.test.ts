// Items that arrive before their epoch record (a lost datagram retransmitted after the next one,
// found by test/sim/conv-world.test.ts): the envelope waits, and once the epoch arrives it is
// stored, whether or not any other envelope follows; a second copy of a waiting envelope is not
// a reason to forget it.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { encodeCanonical } from '../../core/cbor.js';
import { toHex } from '../../core/hex.js';
import { openEpoch, startEpoch } from '../../consensus/epochs.js';
import { sealRecord } from '../../consensus/sealing.js';
import { ConvSync } from '../../consensus/sync.js';
import { testUser } from '../helpers/users.js';

const alice = testUser('alice');
const relay = testUser('bob');
const A = toHex(alice.dh.publicKey);
const R = toHex(relay.dh.publicKey);
const node = (u: typeof alice) => ({ dh: u.dh.publicKey, user: u.userKey });

async function setup() {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const rng = new SeededRng('reorder');
  const stored: string[] = [];
  const sync = new ConvSync({ store: new MemoryStore(), clock, rng, self: R, send: async () => undefined, peers: () => [A], onItem: (_g, i) => void ('envelope' in i && stored.push(i.envelope.id)) });
  await sync.start();
  const conv = toHex(rng.bytes(32));
  const items = (ep: Uint8Array[], b: Uint8Array[]) => encodeCanonical({ t: 'items', g: Buffer.from(conv, 'hex'), ep, b });
  const e0 = startEpoch({ conv, number: 0, prev: '', readers: [node(alice)], holders: [node(relay)], startedAtMs: 1 }, alice, rng);
  await sync.receive(A, items([e0.bytes], []));
  const e1 = startEpoch({ conv, number: 1, prev: openEpoch(e0.bytes).hash, readers: [node(alice)], holders: [node(relay)], startedAtMs: 2 }, alice, rng);
  const h1 = openEpoch(e1.bytes).hash;
  const closing = sealRecord({ group: conv, epoch: h1, seq: 0 }, e1.key, new Uint8Array(40), rng, alice.signSecret);
  const first = sealRecord({ group: conv, epoch: h1, seq: 1 }, e1.key, new Uint8Array(40), rng, alice.signSecret);
  return { sync, conv, items, e1, closing, first, stored };
}

t.test('a closing (seq 0) sealed under an epoch that arrives after it is stored once the epoch is here', async (t) => {
  const { sync, conv, items, e1, closing } = await setup();
  await sync.receive(A, items([], [closing]));
  t.equal((await sync.envelopes(conv)).length, 0, 'it waits for its epoch');
  await sync.receive(A, items([], [closing]));
  await sync.receive(A, items([e1.bytes], []));
  t.equal((await sync.envelopes(conv)).length, 1, 'the epoch arrived: the waiting closing is stored');
});

t.test('the first message of a chain, sealed under a later epoch, is stored when that epoch arrives', async (t) => {
  const { sync, conv, items, e1, first, stored } = await setup();
  await sync.receive(A, items([], [first]));
  await sync.receive(A, items([e1.bytes], []));
  t.equal((await sync.envelopes(conv)).length, 1, 'stored');
  t.equal(stored.length, 1, 'and handed on once');
});
