// ChaCha20-Poly1305 on both backends: stablelib/RFC 8439 vectors and Wycheproof
// (test/vectors/data/chacha20poly1305, test/vectors/data/wycheproof/chacha20_poly1305_test.json);
// XChaCha20-Poly1305 from test/vectors/data/xchacha20poly1305.
import t from 'tap';
import { nativeAead, nobleAead, xaead, type AeadBackend } from '../../core/aead.js';
import { toHex } from '../../core/hex.js';
import { hex, readJsonVector } from '../helpers/vectors.js';

interface Stable { key: string; nonce: string; aad: string; msg: string; result: string }
interface Wyche { tcId: number; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: string }

const backends: AeadBackend[] = [nobleAead];
try {
  nativeAead.seal(new Uint8Array(32), new Uint8Array(12), new Uint8Array(1), new Uint8Array(0));
  backends.push(nativeAead);
} catch {
  t.comment('node:crypto has no chacha20-poly1305 here (Bun): noble only');
}

for (const b of backends) {
  t.test(`${b.name}: stablelib vectors (RFC 8439 §2.8.2 first)`, async (t) => {
    for (const v of readJsonVector<Stable[]>('chacha20poly1305/stablelib_chacha20poly1305.json')) {
      const aad = hex(v.aad ?? ''); // some entries have no associated data
      t.equal(toHex(b.seal(hex(v.key), hex(v.nonce), hex(v.msg), aad)), v.result);
      t.equal(toHex(b.open(hex(v.key), hex(v.nonce), hex(v.result), aad)!), v.msg);
    }
  });
  t.test(`${b.name}: Wycheproof`, async (t) => {
    const { testGroups } = readJsonVector<{ testGroups: { ivSize: number; tests: Wyche[] }[] }>('wycheproof/chacha20_poly1305_test.json');
    let n = 0;
    for (const g of testGroups) {
      if (g.ivSize !== 96) continue;
      for (const tc of g.tests) {
        const opened = b.open(hex(tc.key), hex(tc.iv), hex(tc.ct + tc.tag), hex(tc.aad));
        const ok = opened !== undefined && toHex(opened) === tc.msg;
        if (ok !== (tc.result === 'valid')) t.fail(`tcId ${tc.tcId}`);
        n++;
      }
    }
    t.ok(n > 200, `${n} cases`);
  });
}

t.test('XChaCha20-Poly1305 vectors (stablelib, via noble-ciphers)', async (t) => {
  const list = readJsonVector<Stable[]>('xchacha20poly1305/stablelib_xchacha20poly1305.json');
  t.ok(list.length > 0);
  for (const x of list) {
    t.equal(toHex(xaead.seal(hex(x.key), hex(x.nonce), hex(x.msg), hex(x.aad ?? ''))), x.result);
    t.equal(toHex(xaead.open(hex(x.key), hex(x.nonce), hex(x.result), hex(x.aad ?? ''))!), x.msg);
  }
});
