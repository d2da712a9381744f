// Start-up time to ready and idle RSS of `kith run`, on Node, on Bun, as the Node bundle and as the
// Bun single binary (packaging/out/kith-node/kith.mjs and kith-linux-x64, when built), medians of
// several runs, each next to a baseline measured in the same run: the same runtime starting a bare
// HTTP server on loopback. DESIGN budget: idle RSS <= 64 MB. Two agents per runtime: "empty" (a
// fresh identity) and "full" (fullDir below, made once per bench run with all 11 agents running,
// then copied for each runtime): 10 friends paired by code (stopped while measured, so the agent
// keeps probing them), 100 conversations with them (a message each), a mailbox holding blobs for
// friends who were away, and an archive with objects put (shards on the friends) and shards of
// the friends' objects held. On Bun the agent pages out its start-up pages 5 s after READY
// (agent/page-trim.ts). "ready" is spawn to /health answering; READY=1 goes to systemd right after
// the same bind. RSS is printed with its anonymous part (heap, JIT, LevelDB) in brackets. Sizes of
// the binaries and packages in packaging/out/ are printed when they exist.
//   node_modules/.bin/bun bench/startup.ts [--runs 3] [--idle-ms 10000] [--only 'bun binary,node']
//     [--members 10] [--convs 100] [--mailbox-pairs 3] [--mailbox-posts 20] [--archive-objects 3] [--archive-kib 512]
// KITH_BENCH_KEEP=1 keeps the work dir (the data dirs and each agent's log) for a closer look. Node runs (agent
// and baseline) get systemd/kith.service's NODE_OPTIONS, or KITH_BENCH_NODE_OPTIONS when set. About 8 minutes with --runs 3.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ROOT, initAgent, median, rssMb, sleep, startAgent as startKith, unitNodeOptions, waitHealth, type AgentProc } from './agent-proc.js';

const BUN = path.join(ROOT, 'node_modules', '.bin', 'bun');
const NODE = process.env.KITH_BENCH_NODE ?? 'node';
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const RUNS = arg('--runs', 3);
/** --only 'bun binary,node bundle': just those runtimes. */
const ONLY = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1]!.split(',') : undefined;
const MEMBERS = arg('--members', 10);
const CONVS = arg('--convs', 100);
/** Pairs of friends who are friends of each other too: one posts MAILBOX_POSTS while the other is away. */
const MAILBOX_PAIRS = arg('--mailbox-pairs', 3);
const MAILBOX_POSTS = arg('--mailbox-posts', 20);
/** Files put into the archive by the agent, and as many by its friends (one each), of ARCHIVE_KIB. */
const ARCHIVE_OBJECTS = arg('--archive-objects', 3);
const ARCHIVE_KIB = arg('--archive-kib', 512);
const BINARY = path.join(ROOT, 'packaging', 'out', 'kith-linux-x64');
const NODE_BUNDLE = path.join(ROOT, 'packaging', 'out', 'kith-node', 'kith.mjs');
// V8's memory reducer shrinks the heap after ~8 s of idling; idle RSS is read after it has run.
const IDLE_MS = arg('--idle-ms', 10_000);



/** One start: ms from spawn to /health answering, and RSS after IDLE_MS of idling. */
interface Sample { readyMs: number; rssMb: number; anonMb: number }

async function measure(cmd: string, args: string[], portOf: (out: string) => number | undefined, env: NodeJS.ProcessEnv = {}): Promise<Sample> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  try {
    await waitHealth(() => portOf(out), Date.now() + 30_000);
    const readyMs = performance.now() - t0;
    await sleep(IDLE_MS);
    const m = rssMb(child.pid!);
    return { readyMs, rssMb: m.rss, anonMb: m.anon };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
}


const BASELINE = `
const http = require('node:http');
const s = http.createServer((q, r) => r.end('{"status":"ok"}'));
s.listen(0, '127.0.0.1', () => console.log('PORT ' + s.address().port));
process.on('SIGTERM', () => process.exit(0));`;

type Agent = AgentProc;

/**
 * A running agent on a data dir (for setting things up, not timed), on the test profile: its
 * seconds-long failure detection sees a stopped friend away in time (the store is the same).
 */
const startAgent = (cmd: string[], dir: string): Promise<Agent> => startKith(cmd, dir, CONFIG, { log: true });

async function api(a: Agent, method: string, route: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`http://127.0.0.1:${a.port}${route}`, {
    method,
    headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = (await res.json()) as { result?: unknown; error?: { message: string } };
  if (json.error) throw new Error(`${route}: ${json.error.message}`);
  return json.result ?? json;
}


/** Data dirs of MEMBERS other agents (made once per bench run; each runs only while setting up). */
function peerDirs(cmd: string[], work: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < MEMBERS; i++) {
    const dir = path.join(work, `peer-${i}`);
    initAgent(cmd, dir);
    out.push(dir);
  }
  return out;
}

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    await sleep(250);
  }
  throw new Error(`setting up the full agent: ${what} did not happen in ${timeoutMs} ms`);
}

/** Pairs by code: an offer on `a`, `join` on `b`; returns b's user key. */
async function pair(a: Agent, b: Agent): Promise<string> {
  const offer = (await api(a, 'POST', '/api/pair/offer', {})) as { qr: string };
  await api(b, 'POST', '/api/pair/join', { target: offer.qr });
  return ((await api(b, 'GET', '/api/id')) as { userKey: string }).userKey;
}

const poll = (with_: string[]) => ({ topic: 'where do we meet?', with: with_, pattern: 'poll', options: ['lake', 'pub', 'park'], method: 'majority', params: [], sides: [] });

/** An archive job followed to its end (put: the agent reads the file itself). */
async function archivePut(a: Agent, file: string): Promise<void> {
  const job = (await api(a, 'POST', '/api/archive/put', { path: file })) as { id: string };
  const end = await until('an archive put', async () => {
    const j = (await api(a, 'GET', `/api/archive/jobs/${job.id}`)) as { state: string; error?: unknown };
    return j.state === 'running' ? undefined : j;
  }, 120_000);
  if (end.state !== 'done') throw new Error(`archive put of ${file} failed: ${JSON.stringify(end.error)}`);
}

interface FullSummary { setupS: number; friends: number; convs: number; mailboxBlobs: number; mailboxBytes: number; objects: number; objectBytes: number; peerObjects: number }

/**
 * The full agent's data dir, made with every peer running: MEMBERS friends (each paired by code),
 * CONVS conversations with them (a message each); an archive: ARCHIVE_OBJECTS files of ARCHIVE_KIB
 * put by the agent (shards on its friends) and one put by each of the first ARCHIVE_OBJECTS
 * friends (shards held here); a mailbox: MAILBOX_PAIRS pairs of friends are also friends of each
 * other, and in a conversation of the agent and such a pair one of them posts MAILBOX_POSTS
 * messages while the other is stopped, so this agent (a relay, as every node by default) holds
 * them for the stopped friend. Everything is stopped afterwards.
 */
async function fullDir(cmd: string[], dir: string, peerDirs: string[], work: string): Promise<FullSummary> {
  initAgent(cmd, dir);
  const a = await startAgent(cmd, dir);
  const peers: Agent[] = [];
  try {
    for (const d of peerDirs) peers.push(await startAgent(cmd, d));
    const friends = await Promise.all(peers.map((p) => pair(a, p)));
    const pairs: [number, number][] = [];
    for (let i = 0; i + 1 < peers.length && pairs.length < MAILBOX_PAIRS; i += 2) {
      await pair(peers[i]!, peers[i + 1]!);
      pairs.push([i, i + 1]);
    }
    await until('every friend alive', async () => {
      const ps = ((await api(a, 'GET', '/api/peers')) as { peers: { state: string }[] }).peers;
      return ps.filter((p) => p.state === 'alive').length >= peers.length ? true : undefined;
    }, 60_000);
    // The archive, while every holder is up.
    let objectBytes = 0;
    const put = async (by: Agent, name: string) => {
      const file = path.join(work, name);
      fs.writeFileSync(file, crypto.randomBytes(ARCHIVE_KIB * 1024));
      objectBytes += ARCHIVE_KIB * 1024;
      await archivePut(by, file);
    };
    for (let i = 0; i < ARCHIVE_OBJECTS; i++) await put(a, `own-${i}.bin`);
    const peerObjects = Math.min(ARCHIVE_OBJECTS, peers.length);
    for (let i = 0; i < peerObjects; i++) await put(peers[i]!, `friend-${i}.bin`);
    // Conversations made by this agent, a message each.
    const mine = Math.max(0, CONVS - pairs.length);
    for (let i = 0; i < mine; i++) {
      const c = (await api(a, 'POST', '/api/conv/create', { ...poll([friends[i % friends.length]!]), topic: `Conversation ${i}: where do we meet?` })) as { id: string };
      await api(a, 'POST', '/api/conv/post', { id: c.id, text: `message ${i}: bring snacks` });
    }
    // The mailbox: one conversation per pair (made by its first friend, with the agent and the second).
    const aUser = ((await api(a, 'GET', '/api/id')) as { userKey: string }).userKey;
    const mailConvs: string[] = [];
    for (const [s, r] of pairs) mailConvs.push(((await api(peers[s]!, 'POST', '/api/conv/create', poll([aUser, friends[r]!]))) as { id: string }).id);
    for (const [, r] of pairs) await peers[r]!.stop();
    for (const [k, [s, r]] of pairs.entries()) {
      const recipient = friends[r]!;
      await until('a stopped friend seen away', async () => {
        const ps = ((await api(peers[s]!, 'GET', '/api/peers')) as { peers: { userKey: string; state: string }[] }).peers;
        return ps.some((p) => p.userKey === recipient && p.state !== 'alive') ? true : undefined;
      }, 60_000);
      for (let m = 0; m < MAILBOX_POSTS; m++) await api(peers[s]!, 'POST', '/api/conv/post', { id: mailConvs[k]!, text: `note ${m} for a friend who is away` });
    }
    const want = pairs.length * MAILBOX_POSTS;
    const relay = await until(`${want} mailbox blobs held here`, async () => {
      const st = ((await api(a, 'GET', '/api/mailbox/status')) as { relay: { blobs: number; bytes: number } | null });
      return st.relay && st.relay.blobs >= want ? st.relay : undefined;
    }, 60_000);
    const objects = ((await api(a, 'GET', '/api/archive/ls')) as { objects: unknown[] }).objects.length;
    return { setupS: 0, friends: friends.length, convs: mine + pairs.length, mailboxBlobs: relay.blobs, mailboxBytes: relay.bytes, objects, objectBytes, peerObjects };
  } finally {
    for (const p of peers) await p.stop();
    await a.stop();
  }
}

/** Every agent of the bench binds loopback only, so the cards carry 127.0.0.1 endpoints. */
let CONFIG = '';
let summary: FullSummary | undefined;
const NODE_OPTIONS = unitNodeOptions();

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

async function main(): Promise<void> {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'agent', 'cli.js'))) {
    throw new Error('dist/ is missing: run npm install (or npm run build) first');
  }
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'kith-bench-'));
  const rows: string[] = [];
  CONFIG = path.join(work, 'loopback.toml');
  fs.writeFileSync(CONFIG, 'schema = 1\n[cluster]\nhost = "127.0.0.1"\n[nat]\nportMapping = "off"\n');
  try {
    const kithJs = path.join(ROOT, 'bin', 'kith.mjs');
    const peers = peerDirs([BUN, kithJs], work);
    // The full agent's dir is made once (on Bun, from the sources) and copied fresh for each runtime.
    const pristine = path.join(work, 'full');
    const t0 = performance.now();
    summary = await fullDir([BUN, kithJs], pristine, peers, work);
    summary.setupS = (performance.now() - t0) / 1000;
    const runtimes: [string, string[], string][] = [['node', [NODE, kithJs], NODE], ['bun', [BUN, kithJs], BUN]];
    if (fs.existsSync(NODE_BUNDLE)) runtimes.push(['node bundle', [NODE, NODE_BUNDLE], NODE]);
    if (fs.existsSync(BINARY)) runtimes.push(['bun binary', [BINARY], BUN]);
    for (const [runtime, cmd, baseCmd] of runtimes.filter(([r]) => ONLY === undefined || ONLY.includes(r))) {
      const full = path.join(work, `full-${runtime.replace(' ', '-')}`);
      fs.cpSync(pristine, full, { recursive: true });
      const sample = { empty: [] as Sample[], full: [] as Sample[], base: [] as Sample[] };
      const agentPort = (dir: string) => () => {
        try {
          return JSON.parse(fs.readFileSync(path.join(dir, 'agent.json'), 'utf8')).api.port as number;
        } catch {
          return undefined;
        }
      };
      const env = baseCmd === NODE ? { NODE_OPTIONS: NODE_OPTIONS } : {};
      for (let i = 0; i < RUNS; i++) {
        const empty = path.join(work, `empty-${i}-${runtime.replace(' ', '-')}`);
        initAgent(cmd, empty);
        for (const [which, dir] of [['empty', empty], ['full', full]] as const) {
          sample[which].push(await measure(cmd[0]!, [...cmd.slice(1), 'run', '--data-dir', dir, '--config', CONFIG, '--port', '0', '--api-port', '0'], agentPort(dir), env));
        }
        sample.base.push(await measure(baseCmd, ['-e', BASELINE], (out) => {
          const m = /PORT (\d+)/.exec(out);
          return m ? Number(m[1]) : undefined;
        }, env));
      }
      const med = (xs: Sample[]) => ({ ready: median(xs.map((x) => x.readyMs)), rss: median(xs.map((x) => x.rssMb)), anon: median(xs.map((x) => x.anonMb)) });
      const b = med(sample.base);
      for (const which of ['empty', 'full'] as const) {
        const k = med(sample[which]);
        rows.push(`| ${runtime} | ${which} | ${k.ready.toFixed(0)} ms | ${b.ready.toFixed(0)} ms | ${(k.ready / b.ready).toFixed(2)}× | ${k.rss.toFixed(1)} MB (${k.anon.toFixed(1)}) | ${b.rss.toFixed(1)} MB (${b.anon.toFixed(1)}) | ${(k.rss / b.rss).toFixed(2)}× | ${k.rss <= 64 ? 'yes' : 'NO'} |`);
      }
    }
  } finally {
    if (process.env['KITH_BENCH_KEEP'] === '1') console.error(`kept ${work} (KITH_BENCH_KEEP=1)`);
    else fs.rmSync(work, { recursive: true, force: true });
  }
  const s = summary!;
  console.log(`kith run: start-up to /health and RSS after ${IDLE_MS} ms idle, medians of ${RUNS} runs (baseline: bare HTTP server, same runtime; Node with NODE_OPTIONS="${NODE_OPTIONS}" from systemd/kith.service)`);
  console.log(`full = ${s.friends} friends (stopped while measured), ${s.convs} conversations; mailbox: ${s.mailboxBlobs} blobs (${(s.mailboxBytes / 1024).toFixed(0)} KiB) held for friends; archive: ${s.objects} objects put (${(s.objectBytes / 1024).toFixed(0)} KiB with the friends'), shards of ${s.peerObjects} friends' objects held; set up in ${s.setupS.toFixed(0)} s`);
  console.log('| runtime | agent | ready | baseline ready | ratio | idle RSS (anon) | baseline RSS (anon) | ratio | RSS ≤ 64 MB |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
  const out = path.join(ROOT, 'packaging', 'out');
  const built = fs.existsSync(out) ? fs.readdirSync(out).filter((f) => /^kith[-_]/.test(f) && fs.statSync(path.join(out, f)).isFile()) : [];
  if (built.length > 0) {
    console.log('\n| artefact in packaging/out | size |\n|---|---|');
    for (const f of built.sort()) console.log(`| ${f} | ${mib(fs.statSync(path.join(out, f)).size)} |`);
  }
}

await main();
