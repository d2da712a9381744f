// core/signed.ts reads the body's bytes out of a canonical signed object instead of encoding the
// decoded body again for the signature check: those bytes must be exactly what signingInput
// encodes, for every shape of body, and a changed byte must still fail the check.
import t from 'tap';
import { encodeCanonical, type CborValue } from '../../core/cbor.js';
import { signatures } from '../../core/crypto.js';
import { peekSignedType, readSignedObject, signObject, verifySignedObject } from '../../core/signed.js';
import { SeededRng } from '../../core/rng.js';
import { codeOf } from '../helpers/codes.js';

const secret = new SeededRng('signed-input').bytes(32);
const publicKey = signatures.ed25519PublicKey(secret);

const bodies: [string, string, CborValue][] = [
  ['a conversation message', 'kith/conv-msg', { v: 2, conv: new Uint8Array(32).fill(1), seq: 1, prev: new Uint8Array(0), at: 1_780_000_000_000, kind: 'text', data: { text: 'hello' } }],
  ['an empty map', 'kith/x', {}],
  ['a bare integer', 'kith/x', 7],
  ['a 64-bit integer', 'kith/x', { n: 2n ** 63n - 1n, m: -(2n ** 40n) }],
  ['an array of byte strings', 'kith/x', [new Uint8Array(0), new Uint8Array(300).fill(9)]],
  ['a type name of 24 characters and more', 'kith/a-type-name-longer-than-23', { a: [1, [2, [3]]] }],
  ['unicode keys and text', 'kith/x', { 'ä': 'ü', z: null, b: true }],
];

for (const [name, type, body] of bodies) {
  t.test(name, async (t) => {
    const bytes = signObject(type, body, secret);
    const opened = readSignedObject(bytes, type);
    t.same(opened.bodyBytes, encodeCanonical(body), 'the sliced body is the canonical encoding');
    t.same(verifySignedObject(bytes, type, publicKey), readSignedObject(bytes, type).body, 'verifies');
    // One flipped bit inside the body: still canonical CBOR here, and the signature fails.
    const bad = new Uint8Array(bytes);
    bad[bytes.length - 5 - encodeCanonical(type).length - 1]! ^= 0x01;
    t.not(codeOf(() => verifySignedObject(bad, type, publicKey)), 'none', 'a changed body byte is refused');
  });
}

t.test('peekSignedType names the type at the end, and nothing for what is no signed object', async (t) => {
  const types = ['kith/conv', 'kith/conv-msg', 'kith/conv-close'];
  for (const type of types) t.equal(peekSignedType(signObject(type, { a: 1 }, secret), types), type, type);
  t.equal(peekSignedType(signObject('kith/other', { a: 1 }, secret), types), undefined, 'another type');
  t.equal(peekSignedType(encodeCanonical({ type: 'kith/conv', body: 1 }), types), undefined, 'no signature');
  t.equal(peekSignedType(new Uint8Array(0), types), undefined, 'empty');
});
