// Runs the transport conformance suite (test/conformance/transport-cases.ts) under tap.
import t from 'tap';
import { natCases, transportCases } from '../conformance/transport-cases.js';
import { MemoryStore } from '../../core/store.js';
import { loadInitiationTs } from '../../cluster/initiation-ts.js';
import { encodeCanonical } from '../../core/cbor.js';
import { hmacBlake2s } from '../../core/blake2s.js';
import { pairPsk } from '../../cluster/secrets.js';

for (const c of transportCases()) t.test(c.name, async (tt) => c.fn(tt as never));
for (const c of natCases()) t.test(c.name, async (tt) => c.fn(tt as never));

t.test('initiation timestamps in the store: kept across a reload, never lowered, bad entries skipped', async (t) => {
  const store = new MemoryStore();
  const errors: string[] = [];
  const first = await loadInitiationTs(store, (m) => errors.push(m));
  t.equal(first.load('ab'), 0, 'nothing stored: 0');
  first.save('ab', 1_767_225_600_000);
  first.save('ab', 5); // older: ignored
  await new Promise((r) => setImmediate(r));
  await store.put('transport/init-ts/cd', encodeCanonical('not a number'));
  const again = await loadInitiationTs(store, (m) => errors.push(m));
  t.equal(again.load('ab'), 1_767_225_600_000, 'the newest value survives the "restart"');
  t.equal(again.load('cd'), 0);
  t.equal(errors.length, 1, 'the bad entry is reported');
  t.match(errors[0], /transport\/init-ts\/cd/);
});

t.test('psk(A, B): min/max compare the keys bytewise from byte 0 (cluster/README.md\'s example)', async (t) => {
  const secret = new Uint8Array(32).fill(9);
  const dhA = new Uint8Array(32);
  dhA[0] = 0x01; // 01 00 … 00
  const dhB = new Uint8Array(32).fill(0xff);
  dhB[0] = 0x00; // 00 ff … ff: bytewise smaller, though larger as a little-endian number
  const label = new TextEncoder().encode('kith-psk-v1');
  const input = new Uint8Array([...label, ...dhB, ...dhA]);
  t.equal(input.length, 75);
  t.same(pairPsk(secret, dhA, dhB), hmacBlake2s(secret, input), 'min is dhB');
  t.same(pairPsk(secret, dhB, dhA), pairPsk(secret, dhA, dhB), 'either order gives one PSK');
});
