// The encryption envelope and epochs: PADME sizes, the associated data binding conversation,
// epoch, sender and seq, strict reading of what relays see, key wrapping to readers only, and the
// tie rule for epochs started at once.
import t from 'tap';
import { SeededRng } from '../../core/rng.js';
import { isKithError } from '../../core/errors.js';
import { idHex, toHex } from '../../core/hex.js';
import { encodeCanonical, decodeCanonical } from '../../core/cbor.js';
import { AAD_LABEL, envelopeAad, padme, padRecord, sealRecord, readEnvelope, openRecord, unpadRecord, verifyEnvelope } from '../../consensus/sealing.js';
import { hexBytes } from '../../core/hex.js';
import { verifyCertificate } from '../../identity/certificate.js';
import { currentEpoch, openEpoch, startEpoch, unwrapKey } from '../../consensus/epochs.js';
import { testUser } from '../helpers/users.js';

const alice = testUser('alice');
const bob = testUser('bob');
const carol = testUser('carol');
const G = 'aa'.repeat(32);
const E = 'bb'.repeat(32);
const S = 'cc'.repeat(32);

function code(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return isKithError(e) ? e.code : `crash: ${(e as Error).message}`;
  }
}

t.test('PADME: the sizes of the PURBs paper (Algorithm 1)', async (t) => {
  t.same([0, 1, 2, 3, 9, 100, 1000, 1025, 65536, 100_000].map(padme), [0, 1, 2, 3, 10, 104, 1024, 1088, 65536, 100_352], 'as the paper\'s Python listing computes them');
  const off: string[] = [];
  for (let L = 2; L < 100_000; L += 7) {
    const p = padme(L);
    if (p < L || (p - L) / L > 0.12) off.push(`${L} → ${p}`);
  }
  t.same(off, [], 'never shorter, never more than 12% longer');
  const padded = padRecord(new Uint8Array(300).fill(7));
  t.equal(padded.length + 16, padme(4 + 300 + 16), 'framed record + tag is a PADME size');
  t.same(unpadRecord(padded), new Uint8Array(300).fill(7));
});

t.test('the associated data (its head kept per chain) is canonical CBOR [label, g, e, s, q] for every size of q', async (t) => {
  for (const [g, e, s] of [[G, E, S], [S, E, G], [G, E, S]] as const) {
    for (const q of [0, 1, 23, 24, 255, 256, 65535, 65536, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER]) {
      const aad = envelopeAad({ group: g, epoch: e, sender: s, seq: q });
      t.equal(toHex(aad), toHex(encodeCanonical([AAD_LABEL, hexBytes(g), hexBytes(e), hexBytes(s), q])), `q ${q}`);
      aad.fill(0); // a caller's copy: changing it changes nothing kept
    }
  }
});

t.test('an envelope opens only with its key and its exact clear fields', async (t) => {
  const rng = new SeededRng('seal');
  const key = rng.bytes(32);
  const bytes = sealRecord({ group: G, epoch: E, seq: 5 }, key, new TextEncoder().encode('hello'), rng, carol.signSecret);
  const env = readEnvelope(bytes);
  t.same([env.group, env.epoch, env.sender, env.seq], [G, E, toHex(verifyCertificate(carol.certBytes).signKey), 5], 'the sender is the sealing node\'s signing key');
  t.ok(verifyEnvelope(env), 'signed by its sender');
  t.equal(new TextDecoder().decode(openRecord(env, key)), 'hello');
  t.equal(code(() => openRecord(env, rng.bytes(32))), 'SEAL_INVALID', 'another key');
  const m = decodeCanonical(bytes) as Record<string, unknown>;
  for (const [field, value] of [['g', new Uint8Array(32)], ['e', new Uint8Array(32)], ['s', new Uint8Array(32)], ['q', 6]] as const) {
    const moved = readEnvelope(encodeCanonical({ ...m, [field]: value }));
    t.equal(code(() => openRecord(moved, key)), 'SEAL_INVALID', `a changed ${field} does not open`);
    t.notOk(verifyEnvelope(moved), `a changed ${field} breaks the sender's signature`);
  }
  // A relay's forgery: a real (sender, seq) with its own ciphertext, or the sender's signature moved onto it.
  const forged = readEnvelope(encodeCanonical({ ...m, c: new Uint8Array((m['c'] as Uint8Array).length) }));
  t.notOk(verifyEnvelope(forged), 'another ciphertext under the same sender and seq does not verify');
  const unsigned = readEnvelope(encodeCanonical({ v: 1, g: m['g'], e: m['e'], s: m['s'], q: m['q'], n: m['n'], c: m['c'] } as Record<string, Uint8Array | number>));
  t.notOk(verifyEnvelope(unsigned), 'a version 1 (unsigned) envelope reads but never verifies');
  const ct = (m['c'] as Uint8Array).slice();
  ct[3]! ^= 1;
  t.equal(code(() => openRecord(readEnvelope(encodeCanonical({ ...m, c: ct })), key)), 'SEAL_INVALID', 'a flipped bit');
  for (const bad of [new Uint8Array([1, 2, 3]), encodeCanonical({ ...m, v: 3 }), encodeCanonical({ ...m, z: new Uint8Array(63) }), encodeCanonical({ ...m, x: 1 }), encodeCanonical({ ...m, n: new Uint8Array(12) }), new Uint8Array(200_000)]) {
    t.equal(code(() => readEnvelope(bad)), 'MESSAGE_REJECTED', 'malformed or oversized envelopes are refused');
  }
});

t.test('an epoch key is wrapped for its readers only; two epochs at once resolve by hash', async (t) => {
  const rng = new SeededRng('epoch');
  const readers = [alice, bob].map((u) => ({ dh: u.dh.publicKey, user: u.userKey }));
  const { bytes, key } = startEpoch({ conv: G, number: 0, prev: '', readers, holders: [{ dh: carol.dh.publicKey, user: carol.userKey }], startedAtMs: 1 }, alice, rng);
  const e = openEpoch(bytes);
  t.same(unwrapKey(e, alice.dh), key);
  t.same(unwrapKey(e, bob.dh), key);
  t.equal(unwrapKey(e, carol.dh), undefined, 'a holder gets no key');
  t.same([...e.holders.keys()], [toHex(carol.dh.publicKey)]);
  const forged = bytes.slice();
  forged[forged.length - 10]! ^= 1;
  t.equal(code(() => openEpoch(forged)), 'MESSAGE_REJECTED');
  const a1 = openEpoch(startEpoch({ conv: G, number: 1, prev: e.hash, readers, holders: [], startedAtMs: 2 }, alice, rng).bytes);
  const b1 = openEpoch(startEpoch({ conv: G, number: 1, prev: e.hash, readers, holders: [], startedAtMs: 2 }, bob, rng).bytes);
  const orphan = openEpoch(startEpoch({ conv: G, number: 5, prev: 'dd'.repeat(32), readers, holders: [], startedAtMs: 3 }, bob, rng).bytes);
  const want = a1.hash < b1.hash ? a1 : b1;
  t.equal(currentEpoch([e, a1, b1, orphan])!.hash, want.hash, 'the smaller hash; an epoch that chains to nothing held does not count');
  t.equal(currentEpoch([b1, orphan, a1, e])!.hash, want.hash, 'whatever the order');
});

t.test('idHex (the envelope\'s ids): always what toHex gives, also for ids that share a cache slot', async (t) => {
  const rng = new SeededRng('idhex');
  const ids = Array.from({ length: 64 }, () => rng.bytes(32));
  for (let i = 0; i < ids.length; i += 2) (ids[i + 1]![0] = ids[i]![0]!), (ids[i + 1]![1] = ids[i]![1]!); // pairs in one slot
  for (let round = 0; round < 3; round++) for (const id of ids) t.equal(idHex(id), toHex(id));
  const id = ids[0]!;
  const h = idHex(id);
  id[31] = id[31]! ^ 1; // the same array, changed: never the old string
  t.equal(idHex(id), toHex(id));
  t.not(idHex(id), h);
  t.equal(idHex(new Uint8Array([1, 2, 3])), '010203', 'another length');
});
