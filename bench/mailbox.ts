// The mailbox relay (cluster/mailbox.ts) on LevelDB (agent/level-store.ts): blobs per second it
// accepts and stores, next to plain store writes of the same size in the same run; then the RSS
// of the process once the relay holds 100,000 blobs, next to the same process with an empty relay
// and next to the bytes held (the relay must not keep blobs in memory); then the RSS of a real
// agent process (`kith run`, bench/agent-proc.ts) over a data dir whose mailbox holds those blobs,
// next to one over a fresh data dir, read once it is ready and has idled KITH_BENCH_IDLE_MS.
//   npm run build && node dist/bench/mailbox.js      node_modules/.bin/bun bench/mailbox.ts
//   KITH_BENCH_BLOBS (default 100000), KITH_BENCH_RATE_BLOBS (default 3000), KITH_BENCH_RUNS (3),
//   KITH_BENCH_IDLE_MS (5000). Node agents get systemd/kith.service's NODE_OPTIONS (or KITH_BENCH_NODE_OPTIONS).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { VirtualClock } from '../core/clock.js';
import { SeededRng } from '../core/rng.js';
import { encodeCanonical } from '../core/cbor.js';
import { toHex } from '../core/hex.js';
import type { KvStore } from '../core/store.js';
import { MailboxRelay } from '../cluster/mailbox.js';
import { decodeAnswer } from '../cluster/mailbox-wire.js';
import { openLevelStore } from '../agent/level-store.js';
import { KITH, cpuMs, initAgent, median, rssMb, sleep, startAgent, unitNodeOptions } from './agent-proc.js';

const BLOBS = Number(process.env['KITH_BENCH_BLOBS'] ?? 100_000);
const RATE_BLOBS = Number(process.env['KITH_BENCH_RATE_BLOBS'] ?? 3000);
const RUNS = Number(process.env['KITH_BENCH_RUNS'] ?? 3);
// Ready, then idle this long before RSS is read (start-up garbage collected, timers settled).
const IDLE_MS = Number(process.env['KITH_BENCH_IDLE_MS'] ?? 5000);
const BLOB_BYTES = 600; // one sealed message envelope (bench/messages.ts: 550 B on average)
const IN_FLIGHT = 32;
const isBun = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined';
const runtime = isBun ? `bun ${(process.versions as Record<string, string>)['bun']}` : `node ${process.versions.node}`;
const MB = 1024 * 1024;

function collect(): void {
  const bun = (globalThis as { Bun?: { gc(sync: boolean): void } }).Bun;
  if (bun) return bun.gc(true);
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

/** RSS and the JS heap after a full collection, MB. */
function memory(): { rss: number; heap: number } {
  collect();
  const m = process.memoryUsage();
  return { rss: m.rss / MB, heap: m.heapUsed / MB };
}

const rng = new SeededRng('mailbox-bench');
const member = toHex(rng.bytes(32));
const recipients = [rng.bytes(32), rng.bytes(32)];
const group = rng.bytes(32);

/** Push request bodies: distinct blobs (the relay deduplicates by hash). */
function pushes(from: number, n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let i = from; i < from + n; i++) {
    const blob = new SeededRng(`blob:${i}`).bytes(BLOB_BYTES);
    out.push(encodeCanonical({ t: 'push', group, sender: new Uint8Array(32).fill(7), seq: i + 1, to: recipients, blob }));
  }
  return out;
}

async function relayOn(store: KvStore, clock: VirtualClock): Promise<MailboxRelay> {
  const relay = new MailboxRelay(
    { store, clock, rng, userOf: () => 'a'.repeat(64), notify: () => undefined, isOnline: () => false },
    { pushesPerMinute: Number.MAX_SAFE_INTEGER, perGroupBytes: 1024 * MB, perFriendBytes: 1024 * MB, totalBytes: 4096 * MB },
  );
  await relay.start();
  return relay;
}

/** CPU µs per item of the last rate() (user + system, LevelDB's threads included): wall time on a shared machine counts the others. */
let lastCpuUs = 0;

/** Runs `one` over items with `inFlight` at a time; returns items per second. */
async function rate<T>(items: T[], inFlight: number, one: (x: T) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: inFlight }, async () => {
    while (next < items.length) await one(items[next++]!);
  }));
  const c = process.cpuUsage(c0);
  lastCpuUs = (c.user + c.system) / items.length;
  return items.length / ((performance.now() - t0) / 1000);
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'kith-bench-mailbox-'));
  try {
    // Wall time now: the agent started over the store below ages blobs out by its real clock.
    const clock = new VirtualClock({ wallStartMs: Date.now() });
    const bodies = pushes(0, RATE_BLOBS);
    const blobs = bodies.map((_, i) => new SeededRng(`blob:${i}`).bytes(BLOB_BYTES));
    const relayRate: Record<number, number[]> = { 1: [], [IN_FLIGHT]: [] };
    const plainRate: Record<number, number[]> = { 1: [], [IN_FLIGHT]: [] };
    const relayCpu: Record<number, number[]> = { 1: [], [IN_FLIGHT]: [] };
    const plainCpu: Record<number, number[]> = { 1: [], [IN_FLIGHT]: [] };
    for (let run = 0; run < RUNS; run++) {
      for (const inFlight of [1, IN_FLIGHT]) {
        const r = await openLevelStore(join(dir, `relay-${run}-${inFlight}`));
        const relay = await relayOn(r, clock);
        relayRate[inFlight]!.push(await rate(bodies, inFlight, async (b) => {
          const answer = decodeAnswer(await relay.handle(member, b), 0);
          if (answer?.t !== 'pushed') throw new Error(`push refused: ${JSON.stringify(answer)}`);
        }));
        relayCpu[inFlight]!.push(lastCpuUs);
        await r.close();
        const p = await openLevelStore(join(dir, `plain-${run}-${inFlight}`));
        let k = 0;
        plainRate[inFlight]!.push(await rate(blobs, inFlight, (b) => p.put(`b/${String(k++).padStart(16, '0')}`, b)));
        plainCpu[inFlight]!.push(lastCpuUs);
        await p.close();
      }
    }
    console.log(`mailbox bench (${runtime}), blobs of ${BLOB_BYTES} B on LevelDB, ${RUNS} runs of ${RATE_BLOBS}`);
    for (const inFlight of [1, IN_FLIGHT]) {
      const rr = median(relayRate[inFlight]!);
      const pr = median(plainRate[inFlight]!);
      console.log(`  ${String(inFlight).padStart(2)} in flight: relay accepts ${rr.toFixed(0)} blobs/s; plain store puts ${pr.toFixed(0)}/s → relay / plain ${(rr / pr).toFixed(2)}×; CPU per blob: relay ${median(relayCpu[inFlight]!).toFixed(0)} µs, plain put ${median(plainCpu[inFlight]!).toFixed(0)} µs`);
    }

    // RSS: the same process, an empty relay open, then 100,000 blobs pushed, then a second relay
    // over that store. The store is an agent's (its data dir made by `kith init`), so the agent
    // processes below start over it.
    const fullDir = join(dir, 'agent-full');
    initAgent(KITH, fullDir);
    const store = await openLevelStore(join(fullDir, 'store'));
    let relay = await relayOn(store, clock);
    const empty = memory();
    for (let from = 0; from < BLOBS; from += 5000) {
      await rate(pushes(from, Math.min(5000, BLOBS - from)), IN_FLIGHT, (b) => relay.handle(member, b));
    }
    if (relay.status().blobs !== BLOBS) throw new Error(`relay holds ${relay.status().blobs} of ${BLOBS}`);
    const full = memory();
    relay = await relayOn(store, clock);
    const reopened = memory();
    const pulled = await relay.handle(toHex(recipients[0]!), encodeCanonical({ t: 'pull', inc: Buffer.from(relay.incarnationId, 'hex'), after: 0, limit: 256 }));
    const afterPull = memory();
    await store.close();
    const heldMb = (BLOBS * BLOB_BYTES) / MB;
    const mb = (m: { rss: number; heap: number }) => `RSS ${m.rss.toFixed(0)} MB (JS heap ${m.heap.toFixed(0)} MB)`;
    console.log(`  in this process: an empty relay: ${mb(empty)}; holding ${BLOBS} blobs (${heldMb.toFixed(0)} MB of blobs): ${mb(full)} → +${(full.rss - empty.rss).toFixed(0)} MB RSS = ${((full.rss - empty.rss) / heldMb).toFixed(2)}× the blob bytes, JS heap ×${(full.heap / empty.heap).toFixed(2)}`);
    console.log(`  a second relay started over the full store in this same process (not a restart: the pushes' garbage and LevelDB's caches are still here; the agent processes below are): ${mb(reopened)}; after one pull (${pulled.length} B answer): ${mb(afterPull)}`);
    await agentProcesses(dir, fullDir, heldMb);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface ProcSample { rss: number; anon: number; readyMs: number; cpuMs: number }

/**
 * `kith run` over `dataDir` on this runtime (default profile, loopback): RSS and CPU after ready
 * plus IDLE_MS; `blobs`, when given, is what its relay must report holding (read after RSS).
 */
async function agentSample(dataDir: string, config: string, env: NodeJS.ProcessEnv, blobs?: number): Promise<ProcSample> {
  const a = await startAgent(KITH, dataDir, config, { env, profile: '', log: true });
  try {
    await sleep(IDLE_MS);
    const m = rssMb(a.pid);
    const cpu = cpuMs(a.pid);
    if (blobs !== undefined) {
      const st = (await (await fetch(`http://127.0.0.1:${a.port}/api/mailbox/status`, { headers: { authorization: `Bearer ${a.token}` } })).json()) as { result?: { relay: { blobs: number } | null }; relay?: { blobs: number } | null };
      const held = (st.result ?? st).relay?.blobs;
      if (held !== blobs) throw new Error(`the agent's relay holds ${held} blobs, expected ${blobs}`);
    }
    return { rss: m.rss, anon: m.anon, readyMs: a.readyMs, cpuMs: cpu };
  } finally {
    await a.stop();
  }
}

/** Agent processes over a fresh data dir and over the full one, interleaved, RUNS times each. */
async function agentProcesses(dir: string, fullDir: string, heldMb: number): Promise<void> {
  const config = join(dir, 'loopback.toml');
  writeFileSync(config, 'schema = 1\n[cluster]\nhost = "127.0.0.1"\n[nat]\nportMapping = "off"\n');
  const nodeOptions = unitNodeOptions();
  const env = isBun ? {} : { NODE_OPTIONS: nodeOptions };
  const fresh: ProcSample[] = [];
  const full: ProcSample[] = [];
  for (let run = 0; run < RUNS; run++) {
    const freshDir = join(dir, `agent-fresh-${run}`);
    initAgent(KITH, freshDir);
    fresh.push(await agentSample(freshDir, config, env));
    full.push(await agentSample(fullDir, config, env, BLOBS));
  }
  const med = (xs: ProcSample[]) => ({ rss: median(xs.map((x) => x.rss)), anon: median(xs.map((x) => x.anon)), readyMs: median(xs.map((x) => x.readyMs)), cpuMs: median(xs.map((x) => x.cpuMs)) });
  const f = med(fresh);
  const h = med(full);
  const line = (m: ProcSample) => `RSS ${m.rss.toFixed(0)} MB (anon ${m.anon.toFixed(0)} MB), ready in ${m.readyMs.toFixed(0)} ms, CPU ${m.cpuMs.toFixed(0)} ms`;
  console.log(`  agent process (kith run on ${runtime}${isBun ? '' : `, NODE_OPTIONS="${nodeOptions}"`}), ready + ${IDLE_MS} ms idle, medians of ${RUNS}:`);
  console.log(`    fresh data dir: ${line(f)}`);
  console.log(`    mailbox holding ${BLOBS} blobs (${heldMb.toFixed(0)} MB of blobs): ${line(h)} → +${(h.rss - f.rss).toFixed(0)} MB RSS (anon +${(h.anon - f.anon).toFixed(0)} MB), ×${(h.rss / f.rss).toFixed(2)} the fresh agent's`);
}

void main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
