// One peer that never acknowledges (offline, or slow with minutes of retries) must not delay sync
// with any other peer: sends are handed to the transport, not awaited inside the shared queue.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { encodeCanonical } from '../../core/cbor.js';
import { toHex } from '../../core/hex.js';
import { startEpoch } from '../../consensus/epochs.js';
import { ConvSync, SYNC_LIMITS } from '../../consensus/sync.js';
import { testUser } from '../helpers/users.js';

const alice = testUser('alice');
const relay = testUser('bob');
const slowNode = testUser('carol');
const other = testUser('dave');
const [A, R, B, C] = [alice, relay, slowNode, other].map((u) => toHex(u.dh.publicKey)) as [string, string, string, string];

/** Resolves after a short real wait: a promise still pending then is stuck (virtual time never moves here). */
const later = <T>(v: T) => new Promise<T>((r) => setTimeout(() => r(v), 300));

t.test('peer B offline does not delay sync with peer C', async (t) => {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const rng = new SeededRng('slow');
  const toC: Uint8Array[] = [];
  let toB = 0;
  const send = (peer: string, body: Uint8Array): Promise<void> => {
    if (peer === B) return (toB++, new Promise<void>(() => undefined)); // never acked
    if (peer === C) toC.push(body);
    return Promise.resolve();
  };
  const sync = new ConvSync({ store: new MemoryStore(), clock, rng, self: R, send, peers: () => [A, B, C] });
  await sync.start();
  const group = toHex(rng.bytes(32));
  const node = (u: typeof alice) => ({ dh: u.dh.publicKey, user: u.userKey });
  const ep = startEpoch({ conv: group, number: 0, prev: '', readers: [node(alice)], holders: [node(relay), node(slowNode), node(other)], startedAtMs: 1 }, alice, rng);
  const items = encodeCanonical({ t: 'items', g: Buffer.from(group, 'hex'), ep: [ep.bytes], b: [] });
  // The epoch arrives from A: it is forwarded to B (never acked) and C.
  const first = sync.receive(A, items);
  const settled = await Promise.race([first.then(() => true), later(false)]);
  t.ok(settled, 'receiving does not wait for the offline peer');
  t.ok(toC.length > 0, 'C got the epoch');
  // B asks for the group (its reply is never acked), then C asks: C is answered at once.
  void sync.receive(B, encodeCanonical({ t: 'have', g: Buffer.from(group, 'hex'), e: [], x: [], c: [], r: 1 }));
  const before = toC.length;
  const ask = sync.receive(C, encodeCanonical({ t: 'have', g: Buffer.from(group, 'hex'), e: [], x: [], c: [], r: 1 }));
  t.ok(await Promise.race([ask.then(() => true), later(false)]), 'C is answered');
  t.ok(toC.length > before, 'C is sent what it lacks');
  // Unacked messages to B are bounded.
  for (let i = 0; i < SYNC_LIMITS.sendsInFlightPerPeer + 10; i++) await sync.receive(B, encodeCanonical({ t: 'have', g: Buffer.from(group, 'hex'), e: [], x: [], c: [], r: 0 }));
  t.ok(toB <= SYNC_LIMITS.sendsInFlightPerPeer, `at most ${SYNC_LIMITS.sendsInFlightPerPeer} unacked messages to B (${toB})`);
  t.ok((sync.stats.dropped['send-backlog'] ?? 0) > 0, 'the rest counted as dropped');
});
