// Messages that travel: catch-up of 10,000 sealed messages after an offline period, next to the
// floor (verifying 10,000 Ed25519 signatures alone, in the same process), and the bytes each
// message costs on the way (signed record, certificate, envelope, padding) next to its text.
//   npm run build && node dist/bench/messages.js
//   node_modules/.bin/bun bench/messages.ts
// DESIGN budget: 10,000 missed messages catch up within 1 s on loopback.
// The receiver checks the signatures of each `items` message on worker threads, as the agent does
// (core/verify-pool.ts); KITH_BENCH_VERIFY=inline checks them one by one on the main thread.
import { VirtualClock } from '../core/clock.js';
import { SeededRng } from '../core/rng.js';
import { MemoryStore, type KvStore } from '../core/store.js';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openLevelStore } from '../agent/level-store.js';
import { encodeCanonical } from '../core/cbor.js';
import { readSignedObject } from '../core/signed.js';
import { signatures } from '../core/crypto.js';
import { signingInput } from '../core/signed.js';
import { toHex } from '../core/hex.js';
import { certifyNode } from '../identity/create.js';
import { generatePhrase } from '../identity/phrase.js';
import { verifyCertificate } from '../identity/certificate.js';
import { Conversations } from '../consensus/conversations.js';
import { SealedConversations } from '../consensus/sealed-conversations.js';
import { ConvSync, DEFAULT_SYNC } from '../consensus/sync.js';
import { padme, readEnvelope } from '../consensus/sealing.js';
import { fastestAead, xaead } from '../core/aead.js';
import type { VerifyMany } from '../core/crypto.js';
import { VerifyPool } from '../core/verify-pool.js';

/** KITH_BENCH_STORE=level: the receiving node's store is LevelDB (agent/level-store.ts) in a temporary directory. */
const STORE = process.env['KITH_BENCH_STORE'] ?? 'memory';
const N = Number(process.env['KITH_BENCH_MESSAGES'] ?? 10_000);
const RUNS = Number(process.env['KITH_BENCH_RUNS'] ?? 3);
const VERIFY = process.env['KITH_BENCH_VERIFY'] === 'inline' ? 'inline' : 'pool';
const FEED = process.env['KITH_BENCH_FEED'] === 'serial' ? 'serial' : 'arrival';
const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined' ? `bun ${(process.versions as Record<string, string>)['bun']}` : `node ${process.versions.node}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function node(name: string, clock: VirtualClock, peers: () => string[], send: (peer: string, body: Uint8Array) => Promise<void>, store: KvStore = new MemoryStore(), verifyMany?: VerifyMany) {
  const c = certifyNode(clock, { phrase: generatePhrase(new SeededRng(`bench:${name}`)), nodeIndex: 0, generation: 0, roles: ['access'], label: name });
  const signer = { userKey: c.userKey, signSecret: c.keys.sign.secretKey, certBytes: c.certBytes };
  const rng = new SeededRng(`rng:${name}`);
  const id = toHex(c.keys.dh.publicKey);
  let sealed: SealedConversations | undefined;
  const sync = new ConvSync({ store, clock, rng, self: id, send, peers, onItem: (g, item) => sealed?.onItem(g, item), ...(verifyMany ? { verifyMany } : {}) });
  const convs = new Conversations({ store, clock, rng, signer });
  return { c, signer, store, id, sync, convs, setDirectory(dir: (u: Uint8Array) => { dh: Uint8Array; roles: ('access' | 'relay')[] }[] | undefined) {
    sealed = new SealedConversations({ convs, sync, signer, dh: c.keys.dh, directory: { nodesOf: dir }, clock, rng });
    return sealed;
  } };
}

/**
 * CPU ms per thread of this process (Linux /proc): the main thread (its id is the pid) and the
 * others (the verify worker, GC and runtime helpers). On a loaded machine the wall time says
 * little about a split across cores; this says what each side cost.
 */
function threadCpuMs(): { main: number; others: number; per: Record<string, number> } | undefined {
  if (!existsSync('/proc/self/task')) return undefined;
  const tick = 10; // USER_HZ = 100
  let main = 0;
  let others = 0;
  const per: Record<string, number> = {};
  for (const t of readdirSync('/proc/self/task')) {
    let s: string;
    try {
      s = readFileSync(`/proc/self/task/${t}/stat`, 'utf8');
    } catch {
      continue; // a thread that ended meanwhile
    }
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    const ms = (Number(f[11]) + Number(f[12])) * tick;
    per[t] = ms;
    if (Number(t) === process.pid) main += ms;
    else others += ms;
  }
  return { main, others, per };
}

/**
 * KITH_BENCH_CPUPROF=<file> (Node): a CPU profile of the last catch-up alone, for Chrome DevTools.
 * KITH_BENCH_HEAPPROF=<file> (Node): a sampling allocation profile of it (.heapprofile), garbage
 * included: where the catch-up allocates, which is what its scavenges cost.
 */
async function profileTo(file: string | undefined, heapFile?: string): Promise<() => Promise<void>> {
  if ((!file && !heapFile) || runtime.startsWith('bun')) return async () => undefined;
  const { Session } = await import('node:inspector');
  const { writeFileSync } = await import('node:fs');
  const s = new Session();
  s.connect();
  const post = (method: string, params?: object) => new Promise<unknown>((ok, fail) => s.post(method, params ?? {}, (e, r) => (e ? fail(e) : ok(r))));
  if (file) (await post('Profiler.enable'), await post('Profiler.start'));
  if (heapFile) await post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  return async () => {
    if (file) writeFileSync(file, JSON.stringify(((await post('Profiler.stop')) as { profile: unknown }).profile));
    if (heapFile) writeFileSync(heapFile, JSON.stringify(((await post('HeapProfiler.stopSampling')) as { profile: unknown }).profile));
    s.disconnect();
  };
}

async function main() {
  // As in a running agent, whose first transport session loads libsodium: the bench's posts and
  // catch-up never yield to the event loop, so the load would not finish on its own meanwhile.
  await fastestAead();
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const a = node('alice', clock, () => [], async () => undefined);
  const b0 = node('bob', clock, () => [], async () => undefined);
  const dir = (u: Uint8Array) => (toHex(u) === toHex(a.c.userKey) ? [{ dh: a.c.keys.dh.publicKey, roles: ['access' as const] }] : toHex(u) === toHex(b0.c.userKey) ? [{ dh: b0.c.keys.dh.publicKey, roles: ['access' as const] }] : undefined);
  const sa = a.setDirectory(dir);
  const conv = await sa.create({ topic: 'bench', with: [b0.c.userKey], pattern: 'discussion' });
  const t0 = performance.now();
  const texts: number[] = [];
  for (let i = 0; i < N; i++) {
    clock.advance(1);
    const text = `message ${i}: ${'x'.repeat(20 + (i % 80))}`;
    texts.push(text.length);
    await sa.post(conv.id, 'text', { text });
  }
  await sa.idle();
  const postMs = performance.now() - t0;
  const envs = await a.sync.envelopes(conv.id);
  const epochs = a.sync.epochs(conv.id).map((e) => e.bytes);
  const messages = await a.convs.messages(conv.id);
  // Items messages as alice's node would send them (256 per message).
  const items: Uint8Array[] = [];
  items.push(encodeCanonical({ t: 'items', g: Buffer.from(conv.id, 'hex'), ep: epochs, b: [] }));
  for (let i = 0; i < envs.length; i += 256) items.push(encodeCanonical({ t: 'items', g: Buffer.from(conv.id, 'hex'), ep: [], b: envs.slice(i, i + 256).map((e) => e.bytes) }));
  const wireBytes = items.reduce((n, m) => n + m.length, 0);

  // The floor's inputs, made before timing: the signed bytes and signature of every message.
  const signKey = verifyCertificate(a.c.certBytes).signKey;
  const signed = messages.map((m) => {
    const o = readSignedObject(m.bytes, 'kith/conv-msg');
    return { input: signingInput(o.type, o.body), sig: o.sig };
  });
  // KITH_BENCH_WORKERS=<n>: the pool's size (default: the agent's, core/verify-pool.ts); KITH_BENCH_HELP=0: the main thread never verifies a queued batch.
  const workers = process.env['KITH_BENCH_WORKERS'];
  const pool = VERIFY === 'pool' ? new VerifyPool({ ...(workers ? { size: Number(workers) } : {}), help: process.env['KITH_BENCH_HELP'] !== '0' }) : undefined;
  const catchUp: number[] = [];
  const tmp = mkdtempSync(join(tmpdir(), 'kith-bench-messages-'));
  const verify: number[] = [];
  // CPU time too (user + system): on a shared machine wall time also counts other processes.
  const catchUpCpu: number[] = [];
  // The main thread's busy share of the catch-up (Node; Bun reports none): with the pool, the rest is waiting for verdicts.
  const mainBusy: number[] = [];
  const mainCpu: number[] = [];
  const otherCpu: number[] = [];
  const verifyCpu: number[] = [];
  const cpuMs = (c: NodeJS.CpuUsage) => (c.user + c.system) / 1000;
  for (let run = 0; run < RUNS; run++) {
    // The floor: one signature verification per message, nothing else.
    const v0 = performance.now();
    const vc = process.cpuUsage();
    for (const { input, sig } of signed) if (!signatures.ed25519Verify(signKey, input, sig)) throw new Error('bad signature');
    verify.push(performance.now() - v0);
    verifyCpu.push(cpuMs(process.cpuUsage(vc)));
    // bob's node, empty, receives everything alice's node holds.
    const level = STORE === 'level' ? await openLevelStore(join(tmp, `bob-${run}`)) : undefined;
    const b = node('bob', clock, () => [a.id], async () => undefined, level, pool?.verifyMany);
    const sb = b.setDirectory(dir);
    const stopProfile = run === RUNS - 1 ? await profileTo(process.env['KITH_BENCH_CPUPROF'], process.env['KITH_BENCH_HEAPPROF']) : async () => undefined;
    const tc = threadCpuMs();
    const c0 = performance.now();
    const cc = process.cpuUsage();
    const elu = typeof performance.eventLoopUtilization === 'function' ? performance.eventLoopUtilization() : undefined;
    // Handed over as the agent's transport hands messages on (ConvSync.serviceSpec: on arrival,
    // not awaited), so the next one's checks go out while one is stored; KITH_BENCH_FEED=serial
    // awaits each before handing over the next (the figures in bench/README.md before 2026-12-04).
    if (FEED === 'serial') for (const m of items) await b.sync.receive(a.id, m);
    else await Promise.all(items.map((m) => b.sync.receive(a.id, m)));
    await sb.idle();
    catchUp.push(performance.now() - c0);
    catchUpCpu.push(cpuMs(process.cpuUsage(cc)));
    mainBusy.push(elu ? performance.eventLoopUtilization(elu).utilization : 0);
    const tc1 = threadCpuMs();
    if (tc && tc1) (mainCpu.push(tc1.main - tc.main), otherCpu.push(tc1.others - tc.others));
    if (process.env['KITH_BENCH_THREADS'] && tc && tc1) console.log(Object.entries(tc1.per).map(([k, v]) => [k, v - (tc.per[k] ?? 0)]).filter(([, v]) => (v as number) > 0).map(([k, v]) => `${k}:${v}`).join(' '));
    await stopProfile();
    if (process.env["KITH_BENCH_DEBUG"]) console.log(b.sync.stats, sb.stats, `${catchUp.at(-1)!.toFixed(0)} ms`, `heap ${(process.memoryUsage().heapUsed / 1048576).toFixed(0)} MB`);
    const got = (await b.convs.messages(conv.id)).length;
    if (got < messages.length) throw new Error(`caught up ${got} of ${messages.length}`);
    b.sync.close(); // its timers would keep the whole node alive into the next run
    await level?.close();
  }

  rmSync(tmp, { recursive: true, force: true });
  const poolStats = pool ? { ...pool.stats } : undefined;
  await pool?.close();
  const rec = messages[1]!.bytes.length;
  const textBytes = texts.reduce((x, y) => x + y, 0) / texts.length;
  const recBytes = messages.reduce((n, m) => n + m.bytes.length, 0) / messages.length;
  const envBytes = envs.filter((e) => readEnvelope(e.bytes).seq > 0).reduce((n, e) => n + e.size, 0) / messages.length;
  console.log(`messages bench (${runtime}), ${messages.length} messages, ${RUNS} runs, the receiver's store: ${STORE === 'level' ? 'LevelDB' : 'in memory'}; XChaCha20-Poly1305: ${xaead.name}`);
  console.log(`  post + seal on the author's node:   ${(postMs / messages.length * 1000).toFixed(0)} µs per message (${postMs.toFixed(0)} ms in all)`);
  console.log(`  catch-up of ${messages.length} (receive, order, open, verify, apply): median ${median(catchUp).toFixed(0)} ms (${FEED === 'serial' ? 'each items message awaited before the next' : 'items messages handed over on arrival'}); signatures ${pool ? `on ${pool.size} worker thread${pool.size === 1 ? '' : 's'} (batches of up to ${DEFAULT_SYNC.batchVerifySize}: ${poolStats!.onWorkers} on workers, ${poolStats!.onMain} on the main thread while it waited, ${poolStats!.inline} inline)` : 'inline'}`);
  console.log(`  floor: ${messages.length} Ed25519 verifications alone:        median ${median(verify).toFixed(0)} ms  → catch-up / floor ${(median(catchUp) / median(verify)).toFixed(1)}×`);
  console.log(`  CPU time (user + system; LevelDB's own threads included): catch-up ${median(catchUpCpu).toFixed(0)} ms, floor ${median(verifyCpu).toFixed(0)} ms → ${(median(catchUpCpu) / median(verifyCpu)).toFixed(1)}×${median(mainBusy) > 0 ? `; main thread busy ${(median(mainBusy) * 100).toFixed(0)} % of the catch-up` : ''}`);
  if (mainCpu.length > 0) console.log(`  CPU time per thread (Linux /proc, 10 ms ticks): main thread ${median(mainCpu)} ms, the other threads ${median(otherCpu)} ms (${pool ? 'the verify worker, ' : ''}GC and runtime helpers)`);
  console.log(`  bytes sent for the catch-up: ${(wireBytes / 1024).toFixed(0)} KiB, ${(wireBytes / messages.length).toFixed(0)} B per message; plaintext ${textBytes.toFixed(0)} B per message`);
  console.log(`  per message: text ${textBytes.toFixed(0)} B → signed record ${recBytes.toFixed(0)} B (signature 64 B; the ${a.c.certBytes.length}-B certificate only in seq 1) → envelope ${envBytes.toFixed(0)} B (PADME, nonce 24, tag 16, sender signature 64, clear fields)`);
  void rec;
  const padBytes = messages.reduce((n, m) => n + padme(4 + m.bytes.length + 16) - (4 + m.bytes.length + 16), 0) / messages.length;
  console.log(`  overhead before padding: envelope ${(envBytes - padBytes).toFixed(0)} B − text ${textBytes.toFixed(0)} B = ${(envBytes - padBytes - textBytes).toFixed(0)} B per message (record ${(recBytes - textBytes).toFixed(0)} B, sealing ${(envBytes - padBytes - recBytes).toFixed(0)} B); PADME adds ${padBytes.toFixed(0)} B on average`);
  // Where a later message's record bytes go (seq > 1: no certificate), field by field (key + value).
  const sample = readSignedObject(messages.find((m) => m.seq > 1)!.bytes, 'kith/conv-msg');
  const fields = Object.entries(sample.body as Record<string, unknown>).map(([k, v]) => `${k} ${encodeCanonical(k).length + encodeCanonical(v).length}`);
  console.log(`  record of a later message, bytes per field: ${fields.join(', ')}; type label ${encodeCanonical('type').length + encodeCanonical(sample.type).length}, signature ${encodeCanonical('sig').length + encodeCanonical(sample.sig).length}, map heads 2`);
}

void main();
