// Runtime checks under Bun (CI runs: node_modules/.bin/bun test/bun/smoke.ts). The full suite
// runs under Node with tap; this checks that the pieces whose behaviour differs between
// runtimes (node:crypto, cbor-x, LevelDB's addon, dgram) give the same answers under Bun.
// Prints TAP lines and exits non-zero on any failure.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { signatures, nobleBackend, nativeBackend } from '../../core/crypto.js';
import { decodeCanonical, encodeCanonical } from '../../core/cbor.js';
import { toHex } from '../../core/hex.js';
import { sodiumNativeExpected } from '../helpers/platform.js';
import { bindUdp } from '../../core/udp.js';
import { MemoryStore } from '../../core/store.js';
import { openLevelStore } from '../../agent/level-store.js';
import { derivePath, publicKeyOf } from '../../identity/slip10.js';
import { verifyCertificate } from '../../identity/certificate.js';
import { makeGolden } from '../golden/make-identity-golden.js';
import { readJsonVector, hex } from '../helpers/vectors.js';

let n = 0;
let failed = 0;
async function check(name: string, fn: () => unknown | Promise<unknown>): Promise<void> {
  n++;
  try {
    const ok = await fn();
    if (ok === false) throw new Error('returned false');
    console.log(`ok ${n} - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok ${n} - ${name}\n  # ${(e as Error).message}`);
  }
}

const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined';
await check('running under Bun', () => isBun);
await check('node:crypto backend is used for Ed25519/X25519', () => signatures.name === nativeBackend.name);
await check('RFC 8032 on both backends', () => {
  for (const v of readJsonVector<{ priv: string; pub: string; msg: string; sig: string }[]>('ed25519/rfc8032-ed25519.json')) {
    for (const b of [nobleBackend, nativeBackend]) {
      if (toHex(b.ed25519Sign(hex(v.priv), hex(v.msg))) !== v.sig) return false;
      if (!b.ed25519Verify(hex(v.pub), hex(v.msg), hex(v.sig))) return false;
    }
  }
  return true;
});
await check('SLIP-0010 ed25519 and curve25519 vectors', () => {
  const { vectors } = readJsonVector<{ vectors: { curve: string; seed: string; chains: { path: string; private: string; public: string }[] }[] }>('slip10/slip10-vectors.json');
  for (const v of vectors.filter((x) => x.curve === 'ed25519' || x.curve === 'curve25519')) {
    for (const c of v.chains) {
      const node = derivePath(v.curve as 'ed25519', hex(v.seed), c.path);
      if (toHex(node.privateKey) !== c.private || '00' + toHex(publicKeyOf(v.curve as 'ed25519', node.privateKey)) !== c.public) return false;
    }
  }
  return true;
});
await check('golden identity file regenerates byte for byte', () => {
  const want = JSON.parse(fs.readFileSync(new URL('../golden/identity.json', import.meta.url), 'utf8'));
  return JSON.stringify(makeGolden()) === JSON.stringify(want) && verifyCertificate(hex(want.nodeCertificate.hex)).nodeIndex === 1;
});
await check('canonical CBOR round trip (pure-JS cbor-x)', () => {
  const v = { b: new Uint8Array([1, 2]), a: [1, -5, 2 ** 40, 'x'], c: null, d: true };
  const bytes = encodeCanonical(v);
  return toHex(encodeCanonical(decodeCanonical(bytes))) === toHex(bytes) && toHex(bytes).startsWith('a4');
});
await check('LevelDB store opens, writes, locks', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kith-bun-'));
  try {
    const s = await openLevelStore(dir);
    await s.put('k', new Uint8Array([7]));
    const got = await s.get('k');
    let locked = false;
    try {
      await openLevelStore(dir);
    } catch {
      locked = true;
    }
    await s.close();
    return got?.[0] === 7 && locked;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
await check('BLAKE2s / HMAC-BLAKE2s backend agrees with noble, and the Noise IKpsk2 vector passes', async () => {
  const { blake2sHash, hmacBlake2s, nobleReference } = await import('../../core/blake2s.js');
  const { IkHandshake } = await import('../../cluster/noise.js');
  const data = new Uint8Array(200).map((_, i) => i * 3);
  const key = new Uint8Array(32).fill(9);
  if (toHex(blake2sHash(data)) !== toHex(nobleReference.hash(data))) return false;
  if (toHex(hmacBlake2s(key, data)) !== toHex(nobleReference.hmac(key, data))) return false;
  const v = readJsonVector<{ vectors: { protocol_name: string; init_prologue: string; init_static: string; init_ephemeral: string; init_remote_static: string; init_psks: string[]; messages: { payload: string; ciphertext: string }[] }[] }>('noise/cacophony-xx-ik-25519-chachapoly.json')
    .vectors.find((x) => x.protocol_name === 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s')!;
  const pair = (s: string) => ({ secretKey: hex(s), publicKey: signatures.x25519PublicKey(hex(s)) });
  const hs = new IkHandshake({ initiator: true, prologue: hex(v.init_prologue), s: pair(v.init_static), rs: hex(v.init_remote_static), ephemeralSecret: hex(v.init_ephemeral), pskPosition: 2, psk: hex(v.init_psks[0]!) });
  return toHex(hs.writeMessage(hex(v.messages[0]!.payload))) === v.messages[0]!.ciphertext;
});
await check('ChaCha20-Poly1305 on Bun is libsodium (native on linux x64/arm64 glibc, else wasm): RFC 8439 / stablelib and Wycheproof vectors, in both the general and the session path', async () => {
  const { aead, fastestAead } = await import('../../core/aead.js');
  await fastestAead();
  if (aead.name !== (sodiumNativeExpected() ? 'libsodium (native)' : 'libsodium (wasm)')) throw new Error(`the AEAD is ${aead.name}`);
  for (const v of readJsonVector<{ key: string; nonce: string; aad?: string; msg: string; result: string }[]>('chacha20poly1305/stablelib_chacha20poly1305.json')) {
    const ad = hex(v.aad ?? '');
    if (toHex(aead.seal(hex(v.key), hex(v.nonce), hex(v.msg), ad)) !== v.result) return false;
    if (toHex(aead.open(hex(v.key), hex(v.nonce), hex(v.result), ad)!) !== v.msg) return false;
    if (ad.length > 0) continue;
    const out = new Uint8Array(v.result.length / 2);
    aead.sealInto(aead.prepare(hex(v.key)), hex(v.nonce), hex(v.msg), out, 0);
    if (toHex(out) !== v.result || toHex(aead.openWith(aead.prepare(hex(v.key)), hex(v.nonce), out)!) !== v.msg) return false;
  }
  const { testGroups } = readJsonVector<{ testGroups: { ivSize: number; tests: { tcId: number; key: string; iv: string; aad: string; msg: string; ct: string; tag: string; result: string }[] }[] }>('wycheproof/chacha20_poly1305_test.json');
  let cases = 0;
  for (const g of testGroups) if (g.ivSize === 96) for (const tc of g.tests) {
    const opened = aead.open(hex(tc.key), hex(tc.iv), hex(tc.ct + tc.tag), hex(tc.aad));
    if ((opened !== undefined && toHex(opened) === tc.msg) !== (tc.result === 'valid')) throw new Error(`Wycheproof tcId ${tc.tcId}`);
    cases++;
  }
  return cases > 200;
});
await check('consensus methods give the published answers (Tennessee example: IRV Knoxville, Schulze Nashville)', async () => {
  const { evaluateMethod } = await import('../../consensus/methods/index.js');
  const { parseMethodInput } = await import('../../consensus/ballots.js');
  const input = parseMethodInput({ ballots: [
    { ranking: ['Memphis', 'Nashville', 'Chattanooga', 'Knoxville'], count: 42 },
    { ranking: ['Nashville', 'Chattanooga', 'Knoxville', 'Memphis'], count: 26 },
    { ranking: ['Chattanooga', 'Knoxville', 'Nashville', 'Memphis'], count: 15 },
    { ranking: ['Knoxville', 'Chattanooga', 'Nashville', 'Memphis'], count: 17 },
  ] });
  return evaluateMethod('irv', input).outcome.winners[0] === 'Knoxville' && evaluateMethod('schulze', input).outcome.winners[0] === 'Nashville';
});
await check('memory store', async () => {
  const s = new MemoryStore();
  await s.put('a', new Uint8Array([1]));
  return (await s.get('a'))?.[0] === 1;
});
await check('UDP loopback through the UdpSocket interface', async () => {
  const a = await bindUdp({ host: '127.0.0.1', port: 0 });
  const b = await bindUdp({ host: '127.0.0.1', port: 0 });
  const got = new Promise<string>((resolve) => b.onMessage((d, from) => resolve(`${new TextDecoder().decode(d)} from ${from.host}:${from.port}`)));
  a.send(b.local, new TextEncoder().encode('hello'));
  // Sends the kernel refuses at once (an IPv6 address from an IPv4 socket) are lost, not thrown.
  a.send({ host: '::1', port: 9 }, new Uint8Array(1));
  const msg = await Promise.race([got, new Promise<string>((r) => setTimeout(() => r('timeout'), 2000))]);
  const inUse = await bindUdp({ host: '127.0.0.1', port: b.local.port }).then((s) => (void s.close(), 'bound'), (e: { code?: string }) => e.code);
  await a.close();
  await b.close();
  return msg === `hello from 127.0.0.1:${a.local.port}` && inUse === 'PORT_IN_USE';
});

console.log(`1..${n}`);
console.log(`# bun smoke: ${n - failed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
