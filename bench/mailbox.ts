// A mailbox relay's throughput on the agent's real store (LevelDB in a temp dir): blobs per second
// it accepts and stores (PUSH: parse, rate, quota, duplicate check, blob + hash + per-recipient
// index in one batch), next to plain store writes of the same blobs in the same run; then the
// recipient's catch-up (PULL pages + ACK, deleting as it goes); then the RSS of a relay started
// on a store that holds the blobs (its accounting in memory).
//   node dist/bench/mailbox.js                (Node; npm install builds dist/)
//   node_modules/.bin/bun bench/mailbox.ts
// KITH_BENCH_BLOBS (default 10000), KITH_BENCH_BLOB_BYTES (default 618: a sealed text message), KITH_BENCH_RUNS (default 3).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VirtualClock } from '../core/clock.js';
import { SeededRng } from '../core/rng.js';
import type { KvStore } from '../core/store.js';
import { openLevelStore } from '../agent/level-store.js';
import { MailboxRelay } from '../cluster/mailbox.js';
import { MailboxClient } from '../cluster/mailbox-client.js';

const N = Number(process.env['KITH_BENCH_BLOBS'] ?? 10_000);
const SIZE = Number(process.env['KITH_BENCH_BLOB_BYTES'] ?? 618);
const RUNS = Number(process.env['KITH_BENCH_RUNS'] ?? 3);
const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined' ? `bun ${(process.versions as Record<string, string>)['bun']}` : `node ${process.versions.node}`;
const A = 'a1'.repeat(32);
const B = 'b1'.repeat(32);
const G = '99'.repeat(32);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function blobs(seed: string): Uint8Array[] {
  const rng = new SeededRng(seed);
  return Array.from({ length: N }, () => rng.bytes(SIZE));
}

async function withStore<T>(fn: (s: KvStore) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kith-bench-mbox-'));
  const store = await openLevelStore(dir);
  try {
    return await fn(store);
  } finally {
    await store.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function relayOn(store: KvStore, clock: VirtualClock): MailboxRelay {
  return new MailboxRelay({ store, clock, rng: new SeededRng('bench'), userOf: (m) => (m === A || m === B ? m : undefined), notify: () => undefined, isOnline: () => false }, { pushesPerMinute: 10 * N, perGroupBytes: 4 * N * SIZE, perFriendBytes: 4 * N * SIZE, totalBytes: 4 * N * SIZE });
}

async function run(i: number): Promise<{ plainMs: number; pushMs: number; pullMs: number; rssMiB: number }> {
  const data = blobs(`bench:${i}`);
  const plainMs = await withStore(async (s) => {
    const t0 = performance.now();
    for (let k = 0; k < N; k++) await s.put(`x/${String(k).padStart(16, '0')}`, data[k]!);
    return performance.now() - t0;
  });
  return withStore(async (s) => {
    const clock = new VirtualClock();
    const relay = relayOn(s, clock);
    await relay.start();
    const alice = new MailboxClient({ store: s, request: (_r, body) => relay.handle(A, body) });
    let t0 = performance.now();
    for (let k = 0; k < N; k++) await alice.push('relay', { group: G, sender: A, seq: k + 1, to: [B], blob: data[k]! });
    const pushMs = performance.now() - t0;
    const rss0 = process.memoryUsage().rss;
    const again = relayOn(s, clock);
    await again.start();
    const rssMiB = (process.memoryUsage().rss - rss0) / 1024 / 1024;
    const bob = new MailboxClient({ store: s, request: (_r, body) => again.handle(B, body) });
    t0 = performance.now();
    const c = await bob.catchUp('relay', () => undefined);
    const pullMs = performance.now() - t0;
    if (c.blobs !== N || again.status().blobs !== 0) throw new Error(`catch-up got ${c.blobs} of ${N}, ${again.status().blobs} left`);
    return { plainMs, pushMs, pullMs, rssMiB };
  });
}

const results = [];
for (let i = 0; i < RUNS; i++) results.push(await run(i));
const plain = median(results.map((r) => r.plainMs));
const push = median(results.map((r) => r.pushMs));
const pull = median(results.map((r) => r.pullMs));
console.log(`mailbox bench (${runtime}), ${N} blobs of ${SIZE} B, LevelDB, ${RUNS} runs (medians)`);
console.log(`  relay PUSH (accept + store):   ${((N / push) * 1000).toFixed(0)} blobs/s`);
console.log(`  plain store.put, same blobs:   ${((N / plain) * 1000).toFixed(0)} writes/s  → push / put time ${(push / plain).toFixed(1)}×`);
console.log(`  recipient catch-up (PULL + ACK, deleted): ${((N / pull) * 1000).toFixed(0)} blobs/s`);
console.log(`  RSS growth of a relay started on ${N} held blobs: ${median(results.map((r) => r.rssMiB)).toFixed(1)} MiB (noisy: GC)`);
