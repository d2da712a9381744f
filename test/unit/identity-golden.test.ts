// kith's own formats against the checked-in golden file, plus the bad-input table for
// certificates and revocations (forged, truncated, flipped, wrong key, wrong type).
import t from 'tap';
import fs from 'node:fs';
import { fromHex, toHex } from '../../core/hex.js';
import { isKithError } from '../../core/errors.js';
import { verifyCertificate, verifyRevocation, revokes, issueCertificate, CERT_TYPE } from '../../identity/certificate.js';
import { verifySignedObject, signObject } from '../../core/signed.js';
import { decodeCanonical, encodeCanonical } from '../../core/cbor.js';
import { deriveUserRoot, deriveNodeKeys } from '../../identity/keys.js';
import { phraseToSeed } from '../../identity/phrase.js';
import { nodeDhSecret } from '../../identity/create.js';
import { signatures } from '../../core/crypto.js';
import { makeGolden } from '../golden/make-identity-golden.js';

const golden = JSON.parse(fs.readFileSync(new URL('../golden/identity.json', import.meta.url), 'utf8'));
const h = (s: string) => fromHex(s)!;

t.test('regenerating the golden file gives the same bytes', async (t) => {
  t.same(makeGolden(), golden);
});

t.test('the golden certificate verifies and says what it should', async (t) => {
  const c = verifyCertificate(h(golden.nodeCertificate.hex), h(golden.userKey));
  t.equal(toHex(c.userKey), golden.userKey);
  t.equal(c.nodeIndex, 1);
  t.equal(c.generation, 0);
  t.same(c.roles, ['access', 'relay']);
  t.equal(c.label, 'golden laptop');
  t.equal(c.issuedAtMs, golden.nodeCertificate.issuedAtMs);
  t.equal(toHex(c.signKey), golden.nodes[1].signPublic);
  t.equal(toHex(c.dhKey), golden.nodes[1].dhPublic);
  const r = verifyRevocation(h(golden.revocation.hex), h(golden.userKey));
  t.ok(revokes(r, c));
  t.equal(r.reason, 'stolen');
  t.same(verifySignedObject(h(golden.signedObject.hex), 'kith/example', h(golden.userKey)), golden.signedObject.body);
});

function expectCertInvalid(t: { ok(v: unknown, m: string): void; fail(m: string): void }, bytes: Uint8Array, why: string, user?: Uint8Array) {
  try {
    verifyCertificate(bytes, user);
    t.fail(`accepted: ${why}`);
  } catch (e) {
    t.ok(isKithError(e, 'CERT_INVALID'), `${why}: ${(e as Error).message}`);
  }
}

t.test('forged, truncated, flipped and misattributed certificates are refused', async (t) => {
  const good = h(golden.nodeCertificate.hex);
  for (let cut = 0; cut < good.length; cut += 7) expectCertInvalid(t, good.subarray(0, cut), `truncated to ${cut}`);
  for (let i = 0; i < good.length; i += 5) {
    const bad = new Uint8Array(good);
    bad[i]! ^= 0x01;
    expectCertInvalid(t, bad, `bit flipped at byte ${i}`);
  }
  const other = deriveUserRoot(phraseToSeed('zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo zoo vote'));
  expectCertInvalid(t, good, 'another expected user', other.publicKey);
  // A certificate that names Alice's user key but is signed by Mallory's.
  const c = verifyCertificate(good);
  expectCertInvalid(t, issueCertificate(other.secretKey, c), 'signed by the wrong key');
  // Signed correctly but as another object type.
  const body = (decodeCanonical(good) as { body: never }).body;
  const root = deriveUserRoot(phraseToSeed(golden.phrase));
  expectCertInvalid(t, signObject('kith/node-revocation', body, root.secretKey), 'wrong type');
  // Extra fields, missing fields, bad roles: all signed by the right key.
  const resign = (b: Record<string, unknown>) => signObject(CERT_TYPE, b as never, root.secretKey);
  expectCertInvalid(t, resign({ ...(body as object), extra: 1 }), 'extra field');
  const { label: _l, ...noLabel } = body as Record<string, unknown>;
  expectCertInvalid(t, resign(noLabel), 'missing field');
  expectCertInvalid(t, resign({ ...(body as object), roles: ['admin'] }), 'unknown role');
  expectCertInvalid(t, resign({ ...(body as object), roles: ['relay', 'access'] }), 'unsorted roles');
  expectCertInvalid(t, resign({ ...(body as object), roles: [] }), 'no roles');
  expectCertInvalid(t, resign({ ...(body as object), v: 2 }), 'unknown version');
  expectCertInvalid(t, resign({ ...(body as object), sign: new Uint8Array(31) }), 'short key');
  expectCertInvalid(t, encodeCanonical({ type: CERT_TYPE, body, sig: new Uint8Array(64) }), 'zero signature');
});

t.test('node keys differ by index and generation, and repeat for the same seed', async (t) => {
  const seed = phraseToSeed(golden.phrase);
  const a = deriveNodeKeys(seed, 3, 0);
  const b = deriveNodeKeys(seed, 3, 1);
  const c = deriveNodeKeys(seed, 4, 0);
  t.not(toHex(a.sign.publicKey), toHex(b.sign.publicKey));
  t.not(toHex(a.sign.publicKey), toHex(c.sign.publicKey));
  t.equal(toHex(deriveNodeKeys(seed, 3, 0).dh.publicKey), toHex(a.dh.publicKey));
  t.throws(() => deriveNodeKeys(seed, -1, 0), RangeError);
  t.throws(() => deriveNodeKeys(seed, 2 ** 31, 0), RangeError);
});

t.test("nodeDhSecret (kith node revoke's key for re-sealing) is the golden node's DH key, derived again from the phrase", async (t) => {
  for (const n of golden.nodes as { nodeIndex: number; generation: number; dhPublic: string }[]) {
    const secret = nodeDhSecret({ phrase: golden.phrase, nodeIndex: n.nodeIndex, generation: n.generation });
    t.equal(toHex(signatures.x25519PublicKey(secret)), n.dhPublic, `node ${n.nodeIndex} generation ${n.generation}`);
  }
});
