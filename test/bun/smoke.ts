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
await check('memory store', async () => {
  const s = new MemoryStore();
  await s.put('a', new Uint8Array([1]));
  return (await s.get('a'))?.[0] === 1;
});
await check('UDP loopback through the UdpSocket interface', async () => {
  const a = await bindUdp({ host: '127.0.0.1', port: 0 });
  const b = await bindUdp({ host: '127.0.0.1', port: 0 });
  const got = new Promise<string>((resolve) => b.onMessage((d) => resolve(new TextDecoder().decode(d))));
  a.send(b.local, new TextEncoder().encode('hello'));
  const msg = await Promise.race([got, new Promise<string>((r) => setTimeout(() => r('timeout'), 2000))]);
  await a.close();
  await b.close();
  return msg === 'hello';
});

console.log(`1..${n}`);
console.log(`# bun smoke: ${n - failed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
