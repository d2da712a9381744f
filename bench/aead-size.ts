// CPU per ChaCha20-Poly1305 seal and open at a transport datagram's size, for each backend this
// runtime has (core/aead.ts): libsodium's native build (where a prebuilt addon fits), libsodium's WebAssembly, node:crypto (Node only), @noble/ciphers,
// and `aead` as fastestAead set it up, the one the transport uses. CPU time (process.cpuUsage),
// median of 5 rounds. Says whether fastestAead picks the fastest here, and what a fragment's
// cipher costs on each side (bench/README.md).
//   node dist/bench/aead-size.js         node_modules/.bin/bun bench/aead-size.ts   (KITH_BENCH_CALLS, default 20000)
import { type AeadBackend, aead, agreesWithNoble, fastestAead, loadNativeAead, loadSodiumAead, nativeAead, nobleAead } from '../core/aead.js';

const N = Number(process.env['KITH_BENCH_CALLS'] ?? 20_000);
const ROUNDS = 5;
const SIZES = [1154, 1200];
const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

await fastestAead();
const sodium = await loadSodiumAead();
const sodiumNative = await loadNativeAead();
const backends: AeadBackend[] = [...(sodiumNative ? [sodiumNative] : []), ...(sodium ? [sodium] : []), ...(agreesWithNoble(nativeAead) ? [nativeAead] : []), nobleAead, aead];
const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined' ? `bun ${(process.versions as Record<string, string>)['bun']}` : `node ${process.versions.node}`;
console.log(`ChaCha20-Poly1305 CPU µs per call on ${runtime}, ${N} calls, median of ${ROUNDS}; "in use": ${aead.name}`);
console.log('| backend | bytes | sealInto | openOver |');
console.log('|---|---|---|---|');
for (const size of SIZES) {
  const pt = new Uint8Array(size).fill(3);
  const nonce = new Uint8Array(12);
  for (const b of backends) {
    const key = b.prepare(new Uint8Array(32).fill(1));
    const out = new Uint8Array(size + 16);
    const seal: number[] = [];
    const open: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      let t = cpuUs();
      for (let i = 0; i < N; i++) b.sealInto(key, nonce, pt, out, 0);
      seal.push((cpuUs() - t) / N);
      // openOver writes the plaintext over its input: a fresh copy of the sealed bytes each time, as a socket hands over.
      const copies = Array.from({ length: 256 }, () => out.slice());
      t = cpuUs();
      for (let i = 0; i < N; i++) {
        const c = copies[i & 255]!;
        c.set(out);
        if (!b.openOver(key, nonce, c)) throw new Error(`${b.name} did not open its own seal`);
      }
      open.push((cpuUs() - t) / N);
    }
    console.log(`| ${b === aead ? `in use (${b.name})` : b.name} | ${size} | ${med(seal).toFixed(2)} | ${med(open).toFixed(2)} |`);
  }
}
process.exit(0);
