// The archive pipeline's throughput (chunk, inner seal, erasure-code, outer seal, Merkle hash) in
// MB/s of plaintext, next to node:crypto AES-256-GCM over the same bytes in the same run; the
// stages alone (to see which one a runtime is short of); repair bytes read per byte repaired;
// restore throughput (getObject, device B peeling); audit traffic per GB held per day; peak RSS
// while streaming a 1 GiB put through the pipeline in-process (shards discarded).
//   node dist/bench/archive.js                (Node; npm install builds dist/)
//   node_modules/.bin/bun bench/archive.ts
// KITH_BENCH_RUNS (default 5), KITH_BENCH_WARMUP (untimed runs per shape first, default 3), KITH_BENCH_MB
// (pipeline input, default 64), KITH_BENCH_PUT_MB (default 1024).
import { createCipheriv, randomFillSync } from 'node:crypto';
import { hpkeDeriveKeyPair } from '../core/hpke.js';
import { SeededRng } from '../core/rng.js';
import { xaead, aead, fastestAead } from '../core/aead.js';
import { getObject, objectKeyFor, outerKeyFor, peelShard, putObject, type HolderSlot } from '../archive/pipeline.js';
import { sealingPolicy } from '../archive/policy.js';
import { ReedSolomon } from '../archive/reed-solomon.js';
import { merkleRoot } from '../archive/merkle.js';
import { sealChunk } from '../archive/seal.js';
import { planRepair } from '../archive/repair.js';
import type { AuditState } from '../archive/audit.js';
import { DEFAULT_OWNER_OPTIONS } from '../archive/owner.js';

const RUNS = Number(process.env['KITH_BENCH_RUNS'] ?? 5);
/**
 * Untimed runs per shape before the timed ones. One was not enough on Bun: JavaScriptCore was
 * still tiering up the pipeline's loops, so the first shape measured came out at about half of
 * what the same shape gave later in the same process (2026-12-03: 76, 65, 105, then 133–153 MB/s).
 */
const WARMUP = Number(process.env['KITH_BENCH_WARMUP'] ?? 3);
const MB = 1024 * 1024;
const INPUT_MB = Number(process.env['KITH_BENCH_MB'] ?? 64);
const PUT_MB = Number(process.env['KITH_BENCH_PUT_MB'] ?? 1024);
const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined' ? `bun ${(process.versions as Record<string, string>)['bun']}` : `node ${process.versions.node}`;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

async function measureMs(fn: () => Promise<unknown> | unknown): Promise<number> {
  await fn(); // warm-up
  const xs: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    await fn();
    xs.push(performance.now() - t0);
  }
  return median(xs);
}

const rng = new SeededRng('bench-archive');
const input = Array.from({ length: INPUT_MB }, () => randomFillSync(new Uint8Array(MB)));
const bytes = INPUT_MB * MB;
const mbps = (ms: number) => bytes / MB / (ms / 1000);

const devA = hpkeDeriveKeyPair(rng.bytes(32)), devB = hpkeDeriveKeyPair(rng.bytes(32));
const policy = sealingPolicy('history', [{ id: 'a', dhPublicKey: devA.publicKey }, { id: 'b', dhPublicKey: devB.publicKey }]);
const holders: HolderSlot[] = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6'].map((id, i) => ({ id, household: `h${i % 3}`, dhPublicKey: hpkeDeriveKeyPair(rng.bytes(32)).publicKey }));

async function pipeline(k: number, m: number, pieces: Iterable<Uint8Array> | AsyncIterable<Uint8Array> = input, onShard?: () => void) {
  return putObject(pieces, { kind: 'history', policy, holders, placement: Array.from({ length: k + m }, (_, j) => j % holders.length), k, m, signerPublicKey: new Uint8Array(32), rng, wallTimeMs: 0 }, async () => onShard?.());
}

function aesGcm(): void {
  const key = new Uint8Array(32), iv = new Uint8Array(12);
  for (const chunk of input) {
    const c = createCipheriv('aes-256-gcm', key, iv);
    c.update(chunk);
    c.final();
    c.getAuthTag();
  }
}

/**
 * Pipeline and baseline alternate within each run (the machine is shared: load shifts between
 * runs), and the ratio is the median of the per-run ratios.
 */
async function versusAes(fn: () => Promise<unknown>): Promise<{ ms: number; aesMs: number; ratio: number }> {
  for (let i = 0; i < Math.max(1, WARMUP); i++) {
    await fn();
    aesGcm();
  }
  const ms: number[] = [], aes: number[] = [], ratio: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t0 = performance.now();
    aesGcm();
    const t1 = performance.now();
    await fn();
    const t2 = performance.now();
    aes.push(t1 - t0);
    ms.push(t2 - t1);
    ratio.push((t1 - t0) / (t2 - t1));
  }
  return { ms: median(ms), aesMs: median(aes), ratio: median(ratio) };
}

console.log(`archive pipeline on ${runtime}: ${INPUT_MB} MiB of plaintext, 1 MiB chunks, median of ${RUNS} after ${Math.max(1, WARMUP)} untimed; bulk AEAD AES-256-GCM (node:crypto)`);
for (const [k, m, why] of [[2, 2, 'base case, two households'], [4, 2, 'three households'], [6, 3, 'four or more']] as const) {
  const r = await versusAes(() => pipeline(k, m));
  console.log(`  full pipeline k=${k} m=${m} (${why}):`.padEnd(54) + `${mbps(r.ms).toFixed(0).padStart(6)} MB/s   AES-256-GCM alone ${mbps(r.aesMs).toFixed(0)} MB/s   ratio ${r.ratio.toFixed(3)}`);
}

// The stages alone, over the same bytes (per runtime: which one is short). The ChaCha20 lines on
// the backend kith would use (fastestAead loaded, as an agent has it), named as they run.
await fastestAead();
const objectKey = rng.bytes(32), objectId = rng.bytes(32), n24 = rng.bytes(24);
const stage = async (name: string, fn: () => void) => console.log(`  stage ${name}:`.padEnd(54) + `${mbps(await measureMs(fn)).toFixed(0).padStart(6)} MB/s`);
await stage('inner seal as used (AES-256-GCM, node:crypto)', () => input.forEach((c, i) => sealChunk(objectKey, objectId, i, c)));
await stage(`alternative: XChaCha20-Poly1305, ${xaead.name}`, () => input.forEach((c) => xaead.seal(objectKey, n24, c, objectId)));
await stage(`alternative: ChaCha20-Poly1305, ${aead.name}`, () => input.forEach((c) => aead.seal(objectKey, n24.subarray(0, 12), c, objectId)));

const rs = new ReedSolomon(4, 2);
await stage('Reed-Solomon encode 4+2 (per byte of data)', () => input.forEach((c) => rs.encode([0, 1, 2, 3].map((i) => c.subarray(i * MB / 4, (i + 1) * MB / 4)))));
await stage('Merkle root, SHA-256, 16 KiB blocks', () => input.forEach((c) => merkleRoot(c, 16 * 1024)));

// Repair: bytes read per byte repaired, from the planner over real manifests.
for (const [k, m, lost] of [[2, 2, ['r2', 'r4']], [4, 2, ['r6']], [6, 3, ['r3']]] as const) {
  const body = await pipeline(k, m, input.slice(0, 8));
  const stateOf = (h: string): AuditState => ((lost as readonly string[]).includes(h) ? 'failed' : 'ok');
  const fresh = ['n1', 'n2', 'n3'].map((id, i) => ({ id, household: `new${i}`, dhPublicKey: devA.publicKey, room: 1000 }));
  const plan = planRepair(body, stateOf, fresh, { maxReadBytes: 1e12 });
  console.log(`  repair k=${k} m=${m}, holders ${lost.join('+')} lost: ${plan.repairs.length} chunks, ${(plan.bytesRead / plan.bytesWritten).toFixed(2)} bytes read per byte repaired (bound: k = ${k})`);
}

// Restore: getObject over shards kept in memory, device B peeling the outer layer (history
// policy), next to AES-256-GCM over the same bytes in the same run.
{
  const kept = new Map<string, Uint8Array>();
  const body = await putObject(input, { kind: 'history', policy, holders, placement: [0, 1, 2, 3, 4, 5], k: 4, m: 2, signerPublicKey: new Uint8Array(32), rng, wallTimeMs: 0 }, async (sh) => void kept.set(`${sh.chunk}/${sh.shard}`, sh.bytes));
  const outer = body.holders.map((_, i) => outerKeyFor(body, i, devB.secretKey));
  const fetch = async (c: number, j: number) => peelShard(body, outer[body.chunks[c]!.shards[j]!.holder]!, c, j, kept.get(`${c}/${j}`)!);
  const r = await versusAes(async () => {
    const key = objectKeyFor(body, devA.secretKey, devA.publicKey);
    for await (const part of getObject(body, key, fetch)) void part;
  });
  console.log(`  restore k=4 m=2 (data shards, no decoding):`.padEnd(54) + `${mbps(r.ms).toFixed(0).padStart(6)} MB/s   AES-256-GCM alone ${mbps(r.aesMs).toFixed(0)} MB/s   ratio ${r.ratio.toFixed(3)}`);
}

// Audit traffic per GB held per day under the audit budget (archive/owner.ts: 2 challenges per
// holder per hourly round, over all its objects), computed from the challenge size for several
// holdings per holder; bench/archive-audit.ts measures it on a real owner and holders.
for (const heldMB of [100, 1000, 10_000]) {
  // A shard of a 1 MiB chunk under 4+2 is 256 KiB + 32 B: 17 blocks, audit paths of 5 hashes.
  const challenge = 2 * (16 * 1024 + 5 * 32);
  const perHolderDay = DEFAULT_OWNER_OPTIONS.auditsPerHolderPerRound * 24 * challenge;
  console.log(`  audit traffic, ${heldMB} MB held per holder (hourly):`.padEnd(54) + `${(perHolderDay / (heldMB / 1000) / 1e6).toFixed(1).padStart(9)} MB per GB held per day`);
}

// Peak RSS during a streamed put of PUT_MB MiB (input made lazily, shards dropped).
async function* lazy(total: number) {
  const piece = randomFillSync(new Uint8Array(MB));
  for (let i = 0; i < total; i++) {
    piece[0] = i & 0xff;
    yield piece;
  }
}
globalThis.gc?.();
input.length = 0;
const before = process.memoryUsage().rss;
let peak = before;
const t0 = performance.now();
await pipeline(4, 2, lazy(PUT_MB), () => void (peak = Math.max(peak, process.memoryUsage().rss)));
const putMs = performance.now() - t0;
console.log(`  streamed put of ${PUT_MB} MiB (4+2): ${(PUT_MB / (putMs / 1000)).toFixed(0)} MB/s, RSS before ${(before / MB).toFixed(0)} MiB, peak ${(peak / MB).toFixed(0)} MiB`);
