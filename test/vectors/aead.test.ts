// ChaCha20-Poly1305 on both backends: stablelib/RFC 8439 vectors and Wycheproof
// (test/vectors/data/chacha20poly1305, test/vectors/data/wycheproof/chacha20_poly1305_test.json);
// XChaCha20-Poly1305 from test/vectors/data/xchacha20poly1305.
import t from 'tap';
import { hchacha20, nativeAead, nativeXaead, nobleAead, nobleXaead, xaead, type AeadBackend, type XAeadBackend } from '../../core/aead.js';
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

t.test('HChaCha20 (draft-irtf-cfrg-xchacha-03 §2.2.1)', async (t) => {
  for (const v of readJsonVector<{ key: string; nonce: string; subkey: string }[]>('xchacha20poly1305/hchacha20.json')) t.equal(toHex(hchacha20(hex(v.key), hex(v.nonce))), v.subkey);
});

const xBackends: XAeadBackend[] = backends.includes(nativeAead) ? [nobleXaead, nativeXaead] : [nobleXaead];
t.test(`xaead in use: ${xaead.name}`, async (t) => {
  t.equal(xaead, backends.includes(nativeAead) ? nativeXaead : nobleXaead, 'native where the native ChaCha20-Poly1305 works');
});

for (const b of xBackends) {
  t.test(`XChaCha20-Poly1305 ${b.name}: draft-irtf-cfrg-xchacha A.3.1 (stablelib, via noble-ciphers)`, async (t) => {
    const list = readJsonVector<Stable[]>('xchacha20poly1305/stablelib_xchacha20poly1305.json');
    t.ok(list.length > 0);
    for (const x of list) {
      t.equal(toHex(b.seal(hex(x.key), hex(x.nonce), hex(x.msg), hex(x.aad ?? ''))), x.result);
      t.equal(toHex(b.open(hex(x.key), hex(x.nonce), hex(x.result), hex(x.aad ?? ''))!), x.msg);
    }
  });
  t.test(`XChaCha20-Poly1305 ${b.name}: Wycheproof (192-bit nonces)`, async (t) => {
    const { testGroups } = readJsonVector<{ testGroups: { ivSize: number; tests: Wyche[] }[] }>('wycheproof/xchacha20_poly1305_test.json');
    let n = 0;
    for (const g of testGroups) {
      if (g.ivSize !== 192) continue;
      for (const tc of g.tests) {
        const opened = b.open(hex(tc.key), hex(tc.iv), hex(tc.ct + tc.tag), hex(tc.aad));
        const ok = opened !== undefined && toHex(opened) === tc.msg;
        if (ok !== (tc.result === 'valid')) t.fail(`tcId ${tc.tcId}`);
        if (tc.result === 'valid' && toHex(b.seal(hex(tc.key), hex(tc.iv), hex(tc.msg), hex(tc.aad))) !== tc.ct + tc.tag) t.fail(`tcId ${tc.tcId} seal`);
        n++;
      }
    }
    t.ok(n > 200, `${n} cases`);
  });
}

const noNative = xBackends.includes(nativeXaead) ? false : 'no native ChaCha20-Poly1305 on this runtime (Bun): noble only';
t.test('XChaCha20-Poly1305: the native construction and noble agree on 200 seeded inputs, and a changed byte fails', { skip: noNative }, async (t) => {
  let x = 7;
  const bytes = (n: number) => Uint8Array.from({ length: n }, () => ((x = (x * 1103515245 + 12345) >>> 0) >>> 24));
  for (let i = 0; i < 200; i++) {
    const key = bytes(32), nonce = bytes(24), ad = bytes(i % 40), pt = bytes((i * 37) % 1500);
    const a = nativeXaead.seal(key, nonce, pt, ad);
    if (toHex(a) !== toHex(nobleXaead.seal(key, nonce, pt, ad))) t.fail(`input ${i}: the ciphertexts differ`);
    const bad = a.slice();
    bad[i % bad.length]! ^= 1;
    if (nativeXaead.open(key, nonce, bad, ad) !== undefined || nobleXaead.open(key, nonce, bad, ad) !== undefined) t.fail(`input ${i}: a changed byte opened`);
  }
  t.pass('200 inputs');
});
