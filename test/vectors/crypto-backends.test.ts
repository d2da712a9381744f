// Every signature/DH backend against the same published vectors:
//  - RFC 8032 §7.1 (test/vectors/data/ed25519/rfc8032-ed25519.json, via noble-curves)
//  - the Ed25519 reference sign.input (first 128 lines; test/vectors/data/ed25519/sign.input.txt)
//  - Wycheproof ed25519_test.json and x25519_test.json (test/vectors/data/wycheproof)
//  - RFC 7748 §5.2 (test/vectors/data/x25519/rfc7748.txt)
// and the verify pool's worker (core/verify-pool.ts) against the Wycheproof Ed25519 cases.
import t from 'tap';
import { nativeBackend, nobleBackend, signatures, type SignatureBackend, type SignatureCheck } from '../../core/crypto.js';
import { VerifyPool } from '../../core/verify-pool.js';
import { toHex } from '../../core/hex.js';
import { hex, readJsonVector, readVector } from '../helpers/vectors.js';

const backends: SignatureBackend[] = [nobleBackend, nativeBackend];

interface Rfc8032 { priv: string; pub: string; msg: string; sig: string }
interface WycheGroup<T> { publicKey?: { pk: string }; tests: T[] }
interface WycheEd { tcId: number; msg: string; sig: string; result: string; comment: string }
interface WycheX { tcId: number; public: string; private: string; shared: string; result: string; flags: string[] }

t.test('the default backend is the native one where the runtime has it', async (t) => {
  t.equal(signatures.name, nativeBackend.name);
});

for (const b of backends) {
  t.test(`${b.name}: RFC 8032 §7.1 keys and signatures`, async (t) => {
    const vs = readJsonVector<Rfc8032[]>('ed25519/rfc8032-ed25519.json');
    t.ok(vs.length >= 4);
    for (const v of vs) {
      t.equal(toHex(b.ed25519PublicKey(hex(v.priv))), v.pub);
      t.equal(toHex(b.ed25519Sign(hex(v.priv), hex(v.msg))), v.sig);
      t.ok(b.ed25519Verify(hex(v.pub), hex(v.msg), hex(v.sig)));
    }
  });

  t.test(`${b.name}: reference sign.input, first 128 lines`, async (t) => {
    const lines = readVector('ed25519/sign.input.txt').split('\n').filter((l) => l.length > 0).slice(0, 128);
    for (const line of lines) {
      const [sk, pk, msg, sm] = line.split(':') as [string, string, string, string];
      const seed = hex(sk.slice(0, 64));
      t.equal(toHex(b.ed25519PublicKey(seed)), pk);
      t.equal(toHex(b.ed25519Sign(seed, hex(msg))), sm.slice(0, 128));
    }
  });

  t.test(`${b.name}: Wycheproof ed25519 verification`, async (t) => {
    const { testGroups, numberOfTests } = readJsonVector<{ testGroups: WycheGroup<WycheEd>[]; numberOfTests: number }>('wycheproof/ed25519_test.json');
    let n = 0;
    for (const g of testGroups) {
      for (const tc of g.tests) {
        const ok = b.ed25519Verify(hex(g.publicKey!.pk), hex(tc.msg), hex(tc.sig));
        if (ok !== (tc.result === 'valid')) t.fail(`tcId ${tc.tcId} (${tc.comment}): got ${ok}, expected ${tc.result}`);
        n++;
      }
    }
    t.equal(n, numberOfTests, 'every Wycheproof case was checked');
  });

  t.test(`${b.name}: RFC 7748 §5.2 scalar multiplication`, async (t) => {
    const blocks = readVector('x25519/rfc7748.txt').split(/\n\s*\n/).filter((s) => s.includes('INPUT_SCALAR'));
    t.ok(blocks.length >= 2);
    for (const blk of blocks) {
      const get = (k: string) => new RegExp(`${k} = ([0-9a-f]+)`).exec(blk)![1]!;
      t.equal(toHex(b.x25519(hex(get('INPUT_SCALAR')), hex(get('INPUT_U')))), get('OUTPUT_U'));
    }
  });

  t.test(`${b.name}: Wycheproof x25519 (low-order keys refused)`, async (t) => {
    const { testGroups } = readJsonVector<{ testGroups: WycheGroup<WycheX>[] }>('wycheproof/x25519_test.json');
    for (const g of testGroups) {
      for (const tc of g.tests) {
        if (/^0+$/.test(tc.shared)) {
          // An all-zero result means a low-order public key: refused, never used as a secret.
          t.throws(() => b.x25519(hex(tc.private), hex(tc.public)), RangeError, `tcId ${tc.tcId}`);
        } else {
          const got = toHex(b.x25519(hex(tc.private), hex(tc.public)));
          if (got !== tc.shared) t.fail(`tcId ${tc.tcId}: got ${got}`);
        }
      }
    }
  });

  t.test(`${b.name}: malformed inputs`, async (t) => {
    t.throws(() => b.ed25519Sign(new Uint8Array(31), new Uint8Array(0)), TypeError);
    t.notOk(b.ed25519Verify(new Uint8Array(31), new Uint8Array(0), new Uint8Array(64)));
    t.notOk(b.ed25519Verify(new Uint8Array(32).fill(0xff), new Uint8Array(0), new Uint8Array(64)));
    t.notOk(b.ed25519Verify(new Uint8Array(32), new Uint8Array(0), new Uint8Array(63)));
  });
}

t.test('the verify pool\'s worker (core/verify-pool.ts): every Wycheproof ed25519 case and the malformed inputs, as the native backend verifies them', async (t) => {
  const { testGroups, numberOfTests } = readJsonVector<{ testGroups: WycheGroup<WycheEd>[]; numberOfTests: number }>('wycheproof/ed25519_test.json');
  const checks: SignatureCheck[] = testGroups.flatMap((g) => g.tests.map((tc) => ({ key: hex(g.publicKey!.pk), msg: hex(tc.msg), sig: hex(tc.sig) })));
  const expected = testGroups.flatMap((g) => g.tests.map((tc) => tc.result === 'valid'));
  checks.push(
    { key: new Uint8Array(31), msg: new Uint8Array(0), sig: new Uint8Array(64) },
    { key: new Uint8Array(32).fill(0xff), msg: new Uint8Array(0), sig: new Uint8Array(64) },
    { key: new Uint8Array(32), msg: new Uint8Array(0), sig: new Uint8Array(63) },
  );
  expected.push(false, false, false);
  const pool = new VerifyPool({ size: 1 });
  t.teardown(() => pool.close());
  const got = await pool.verifyMany(checks);
  t.equal(pool.stats.onWorkers, 1, 'verified on the worker');
  t.equal(checks.length, numberOfTests + 3);
  t.same(got, expected, 'every verdict as expected');
  t.same(got, checks.map((c) => nativeBackend.ed25519Verify(c.key, c.msg, c.sig)), 'every verdict the native backend\'s');
});
