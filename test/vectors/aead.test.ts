// ChaCha20-Poly1305 on both backends: stablelib/RFC 8439 vectors and Wycheproof
// (test/vectors/data/chacha20poly1305, test/vectors/data/wycheproof/chacha20_poly1305_test.json);
// XChaCha20-Poly1305 from test/vectors/data/xchacha20poly1305.
import t from 'tap';
import { aead, agreesWithNoble, bySize, currentXaead, SMALL_MESSAGE_BYTES, fastestAead, hchacha20, loadNativeAead, loadSodiumAead, nativeAead, nativeXaead, nobleAead, nobleXaead, xaead, xaeadOver, type AeadBackend, type XAeadBackend } from '../../core/aead.js';
import { toHex } from '../../core/hex.js';
import { hex, readJsonVector } from '../helpers/vectors.js';
import { sodiumNativeExpected } from '../helpers/platform.js';

interface Stable { key: string; nonce: string; aad: string; msg: string; result: string }
interface Wyche { tcId: number; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: string }

const backends: AeadBackend[] = [nobleAead];
try {
  nativeAead.seal(new Uint8Array(32), new Uint8Array(12), new Uint8Array(1), new Uint8Array(0));
  backends.push(nativeAead);
} catch {
  t.comment('node:crypto has no chacha20-poly1305 here (Bun)');
}
const sodium = await loadSodiumAead();
if (sodium) backends.push(sodium);
const sodiumNative = await loadNativeAead();
if (sodiumNative) backends.push(sodiumNative);
const hasNative = backends.includes(nativeAead);
const best = await fastestAead();
// The default as kith uses it: libsodium's native build where it loads; else on Node libsodium's
// WebAssembly below SMALL_MESSAGE_BYTES and node:crypto above.
backends.push({ ...aead, name: `default (${best.name})` });
// Where the native build does not load, Node's default is this mix: the same vectors for it.
if (sodium && hasNative) backends.push(bySize(sodium, nativeAead, SMALL_MESSAGE_BYTES));
const nativeExpected = sodiumNativeExpected();

t.test('libsodium loads and agrees with noble; the default is its native build where one fits', async (t) => {
  t.ok(sodium, 'libsodium (wasm) loaded');
  t.ok(agreesWithNoble(aead));
  t.equal(aead.name, best.name);
  if (nativeExpected) {
    t.ok(sodiumNative, 'libsodium (native) loaded: sodium-native has a prebuilt addon for linux-' + process.arch);
    t.equal(aead.name, 'libsodium (native)');
  } else {
    t.comment(`no prebuilt sodium-native addon expected on ${process.platform}-${process.arch}: the WebAssembly build is the default`);
    t.match(aead.name, sodiumNative ? /^libsodium \(native\)$/ : hasNative ? /^libsodium .* up to 2048 B, node:crypto above$/ : /^libsodium/);
  }
});

t.test('large messages on both sides of the size switch give the same bytes on every backend', async (t) => {
  const key = new Uint8Array(32).map((_, i) => i * 7);
  const nonce = new Uint8Array(12).fill(9);
  for (const size of [0, 1, 2047, 2048, 2049, 70_000]) {
    const pt = new Uint8Array(size).map((_, i) => (i * 31) & 0xff);
    const ad = Uint8Array.of(1, 2, 3);
    const want = toHex(nobleAead.seal(key, nonce, pt, ad));
    for (const b of backends) {
      const sealed = b.seal(key, nonce, pt, ad);
      t.equal(toHex(sealed), want, `${b.name}, ${size} B`);
      t.equal(toHex(b.open(key, nonce, sealed, ad)!), toHex(pt));
      sealed[size >> 1]! ^= 0x40;
      t.equal(b.open(key, nonce, sealed, ad), undefined, `${b.name} refuses a flipped bit at ${size} B`);
    }
  }
});

for (const b of backends) {
  t.test(`${b.name}: stablelib vectors (RFC 8439 §2.8.2 first)`, async (t) => {
    for (const v of readJsonVector<Stable[]>('chacha20poly1305/stablelib_chacha20poly1305.json')) {
      const aad = hex(v.aad ?? ''); // some entries have no associated data
      t.equal(toHex(b.seal(hex(v.key), hex(v.nonce), hex(v.msg), aad)), v.result);
      t.equal(toHex(b.open(hex(v.key), hex(v.nonce), hex(v.result), aad)!), v.msg);
      if (aad.length > 0) continue;
      // The session path (prepared key, sealed into a buffer at an offset) gives the same bytes.
      const key = b.prepare(hex(v.key));
      const out = new Uint8Array(5 + v.result.length / 2).fill(0xee);
      b.sealInto(key, hex(v.nonce), hex(v.msg), out, 5);
      t.equal(toHex(out.subarray(5)), v.result);
      t.equal(toHex(out.subarray(0, 5)), 'eeeeeeeeee', 'nothing before the offset is touched');
      t.equal(toHex(b.openWith(key, hex(v.nonce), hex(v.result))!), v.msg);
      // Opened over its own buffer (the transport's received datagram): the same plaintext.
      t.equal(toHex(b.openOver(key, hex(v.nonce), hex(v.result))!), v.msg);
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
        if (tc.aad === '' && hex(tc.key).length === 32) {
          const viaSession = b.openWith(b.prepare(hex(tc.key)), hex(tc.iv), hex(tc.ct + tc.tag));
          if ((viaSession !== undefined && toHex(viaSession) === tc.msg) !== (tc.result === 'valid')) t.fail(`tcId ${tc.tcId} (openWith)`);
          const sealed = hex(tc.ct + tc.tag);
          const over = b.openOver(b.prepare(hex(tc.key)), hex(tc.iv), sealed);
          if ((over !== undefined && toHex(over) === tc.msg) !== (tc.result === 'valid')) t.fail(`tcId ${tc.tcId} (openOver)`);
        }
        n++;
      }
    }
    t.ok(n > 200, `${n} cases`);
  });
}

for (const b of backends) {
  t.test(`${b.name}: the session path refuses a forgery, and bad sizes open nothing without a throw`, async (t) => {
    const key = new Uint8Array(32).map((_, i) => i + 1);
    const nonce = new Uint8Array(12).fill(3);
    const pt = new Uint8Array(1154).map((_, i) => i & 0xff);
    const sealed = new Uint8Array(pt.length + 16);
    b.sealInto(b.prepare(key), nonce, pt, sealed, 0);
    for (const at of [0, 600, sealed.length - 1]) {
      const forged = sealed.slice();
      forged[at]! ^= 0x01;
      t.equal(b.openWith(b.prepare(key), nonce, forged), undefined, `openWith refuses a flipped bit at ${at}`);
      t.equal(b.openOver(b.prepare(key), nonce, forged.slice()), undefined, `openOver refuses a flipped bit at ${at}`);
    }
    t.equal(toHex(b.openOver(b.prepare(key), nonce, sealed.slice())!), toHex(pt), 'the genuine one opens in place');
    t.equal(b.open(key.subarray(1), nonce, sealed, new Uint8Array(0)), undefined, '31-byte key');
    t.equal(b.open(key, nonce.subarray(1), sealed, new Uint8Array(0)), undefined, '11-byte nonce');
    t.equal(b.openWith(b.prepare(key.subarray(1)), nonce, sealed), undefined, 'openWith, 31-byte key');
    t.equal(b.openOver(b.prepare(key), nonce.subarray(1), sealed.slice()), undefined, 'openOver, 11-byte nonce');
    t.equal(b.openOver(b.prepare(key), nonce, sealed.subarray(0, 15)), undefined, 'shorter than a tag');
  });
}

t.test('HChaCha20 (draft-irtf-cfrg-xchacha-03 §2.2.1)', async (t) => {
  for (const v of readJsonVector<{ key: string; nonce: string; subkey: string }[]>('xchacha20poly1305/hchacha20.json')) t.equal(toHex(hchacha20(hex(v.key), hex(v.nonce))), v.subkey);
});

const xBackends: XAeadBackend[] = [nobleXaead, ...backends.filter((b) => b !== nobleAead && b !== nativeAead).map(xaeadOver), ...(hasNative ? [nativeXaead] : [])];
t.test(`xaead in use: ${xaead.name}`, async (t) => {
  t.equal(xaead, currentXaead, 'HChaCha20 over the ChaCha20-Poly1305 backend in use');
  await fastestAead();
  t.equal(xaead.name, `hchacha20 + ${aead.name}`, 'after libsodium loaded: over it too');
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
