// Noise ephemerals made without an Rng (x25519Generate) on every backend, and the reason the
// native one imports a random secret instead of calling generateKeyPairSync: on Node 20 a
// generated pair's KeyGenJob, collected by a GC while the key's mutex is held, deadlocks the
// process (issue 13's cluster50 hang; core/crypto.ts says how).
import t from 'tap';
import { readFileSync } from 'node:fs';
import { nativeBackend, nobleBackend } from '../../core/crypto.js';

for (const b of [nativeBackend, nobleBackend]) {
  t.test(`${b.name}: a generated X25519 pair is a working key pair`, async (t) => {
    const x = b.x25519Generate();
    const y = b.x25519Generate();
    t.equal(x.secretKey.length, 32);
    t.same(x.publicKey, b.x25519PublicKey(x.secretKey), 'the public key is the secret\'s');
    t.same(b.x25519(x.secretKey, y.publicKey), b.x25519(y.secretKey, x.publicKey), 'both sides agree');
    t.not(Buffer.from(x.secretKey).toString('hex'), Buffer.from(y.secretKey).toString('hex'), 'two pairs differ');
  });
}

t.test('no code path of the crypto module uses generateKeyPairSync (a KeyGenJob can deadlock Node 20)', async (t) => {
  const code = readFileSync(new URL('../../core/crypto.ts', import.meta.url), 'utf8').split('\n').filter((l) => !l.trim().startsWith('//'));
  t.notOk(code.some((l) => /generateKeyPair(Sync)?\(/.test(l)), 'core/crypto.ts calls no generateKeyPair');
});
