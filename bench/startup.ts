// Start-up time to ready and idle RSS of `kith run`, on Node, on Bun, as the Node bundle and as the
// Bun single binary (packaging/out/kith-node/kith.mjs and kith-linux-x64, when built), medians of several runs, each next to a baseline
// measured in the same run: the same runtime starting a bare HTTP server on loopback. DESIGN
// budget: idle RSS <= 64 MB. Two agents per runtime: "empty" (a fresh identity) and "full":
// 10 friends (10 other agents paired by code, made once per bench run, stopped afterwards so the
// agent keeps probing them) and 100 conversations with them, a message each, in the store before
// the timed start. Not in it yet: a mailbox and an archive (not wired into the agent on main).
// On Bun the agent pages out its start-up pages 5 s after READY (agent/page-trim.ts). "ready" is spawn to
// /health answering; READY=1 goes to systemd right after the same bind. Sizes of the binaries and
// packages in packaging/out/ are printed when they exist.
//   node_modules/.bin/bun bench/startup.ts [--runs 3] [--idle-ms 10000] [--members 10] [--convs 100] [--only 'bun binary,node']
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
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
const BINARY = path.join(ROOT, 'packaging', 'out', 'kith-linux-x64');
const NODE_BUNDLE = path.join(ROOT, 'packaging', 'out', 'kith-node', 'kith.mjs');
// V8's memory reducer shrinks the heap after ~8 s of idling; idle RSS is read after it has run.
const IDLE_MS = arg('--idle-ms', 10_000);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  const anon = /RssAnon:\s+(\d+) kB/.exec(status);
  if (process.env['KITH_BENCH_VERBOSE']) console.error(`pid ${pid}: VmRSS ${m?.[1]} kB, RssAnon ${anon?.[1]} kB`);
  return m ? Number(m[1]) / 1024 : NaN;
}

async function waitHealth(port: () => number | undefined, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const p = port();
    if (p !== undefined) {
      try {
        if ((await fetch(`http://127.0.0.1:${p}/health`, { signal: AbortSignal.timeout(500) })).ok) return;
      } catch {
        /* not yet */
      }
    }
    await sleep(5);
  }
  throw new Error('not ready in time');
}

/** One start: ms from spawn to /health answering, and RSS after IDLE_MS of idling. */
async function measure(cmd: string, args: string[], portOf: (out: string) => number | undefined, env: NodeJS.ProcessEnv = {}): Promise<{ readyMs: number; rssMb: number }> {
  const t0 = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  try {
    await waitHealth(() => portOf(out), Date.now() + 30_000);
    const readyMs = performance.now() - t0;
    await sleep(IDLE_MS);
    return { readyMs, rssMb: rssMb(child.pid!) };
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

interface Agent { port: number; token: string; stop(): Promise<void> }

/** A running agent on a data dir (for setting things up, not timed). */
async function startAgent(cmd: string[], dir: string): Promise<Agent> {
  const child = spawn(cmd[0]!, [...cmd.slice(1), 'run', '--data-dir', dir, '--config', CONFIG, '--port', '0', '--api-port', '0'], { stdio: 'ignore' });
  const port = () => {
    try {
      return JSON.parse(fs.readFileSync(path.join(dir, 'agent.json'), 'utf8')).api.port as number;
    } catch {
      return undefined;
    }
  };
  await waitHealth(port, Date.now() + 30_000);
  return {
    port: port()!,
    token: fs.readFileSync(path.join(dir, 'api.token'), 'utf8').trim(),
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    },
  };
}

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

function init(cmd: string[], dir: string): void {
  const r = spawnSync(cmd[0]!, [...cmd.slice(1), 'init', '--data-dir', dir, '--phrase-file', path.join(dir, '..', `${path.basename(dir)}.phrase`)], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`kith init failed: ${r.stderr}`);
}

/** Data dirs of MEMBERS other agents (made once per bench run; each runs only while it pairs). */
function peerDirs(cmd: string[], work: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < MEMBERS; i++) {
    const dir = path.join(work, `peer-${i}`);
    init(cmd, dir);
    out.push(dir);
  }
  return out;
}

/**
 * A data dir with MEMBERS friends (each paired by code: an offer on the agent, `join` on the peer)
 * and CONVS conversations with them, each with one message.
 */
async function fullDir(cmd: string[], dir: string, peers: string[]): Promise<void> {
  init(cmd, dir);
  const a = await startAgent(cmd, dir);
  try {
    const friends: string[] = [];
    for (const peerDir of peers) {
      const p = await startAgent(cmd, peerDir);
      try {
        const offer = (await api(a, 'POST', '/api/pair/offer', {})) as { qr: string };
        await api(p, 'POST', '/api/pair/join', { target: offer.qr });
        friends.push(((await api(p, 'GET', '/api/id')) as { userKey: string }).userKey);
      } finally {
        await p.stop();
      }
    }
    for (let i = 0; i < CONVS && friends.length > 0; i++) {
      const c = (await api(a, 'POST', '/api/conv/create', {
        topic: `Conversation ${i}: where do we meet?`, with: [friends[i % friends.length]!],
        pattern: 'poll', options: ['lake', 'pub', 'park'], method: 'majority', params: [], sides: [],
      })) as { id: string };
      await api(a, 'POST', '/api/conv/post', { id: c.id, text: `message ${i}: bring snacks` });
    }
  } finally {
    await a.stop();
  }
}

/** Every agent of the bench binds loopback only, so the cards carry 127.0.0.1 endpoints. */
let CONFIG = '';

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
    const runtimes: [string, string[], string][] = [['node', [NODE, kithJs], NODE], ['bun', [BUN, kithJs], BUN]];
    if (fs.existsSync(NODE_BUNDLE)) runtimes.push(['node bundle', [NODE, NODE_BUNDLE], NODE]);
    if (fs.existsSync(BINARY)) runtimes.push(['bun binary', [BINARY], BUN]);
    for (const [runtime, cmd, baseCmd] of runtimes.filter(([r]) => ONLY === undefined || ONLY.includes(r))) {
      const full = path.join(work, `full-${runtime.replace(' ', '-')}`);
      await fullDir(cmd, full, peers);
      const sample = { empty: [] as { readyMs: number; rssMb: number }[], full: [] as { readyMs: number; rssMb: number }[], base: [] as { readyMs: number; rssMb: number }[] };
      const agentPort = (dir: string) => () => {
        try {
          return JSON.parse(fs.readFileSync(path.join(dir, 'agent.json'), 'utf8')).api.port as number;
        } catch {
          return undefined;
        }
      };
      for (let i = 0; i < RUNS; i++) {
        const empty = path.join(work, `empty-${i}-${runtime.replace(' ', '-')}`);
        init(cmd, empty);
        for (const [which, dir] of [['empty', empty], ['full', full]] as const) {
          sample[which].push(await measure(cmd[0]!, [...cmd.slice(1), 'run', '--data-dir', dir, '--config', CONFIG, '--port', '0', '--api-port', '0'], agentPort(dir)));
        }
        sample.base.push(await measure(baseCmd, ['-e', BASELINE], (out) => {
          const m = /PORT (\d+)/.exec(out);
          return m ? Number(m[1]) : undefined;
        }));
      }
      const b = { ready: median(sample.base.map((x) => x.readyMs)), rss: median(sample.base.map((x) => x.rssMb)) };
      for (const which of ['empty', 'full'] as const) {
        const k = { ready: median(sample[which].map((x) => x.readyMs)), rss: median(sample[which].map((x) => x.rssMb)) };
        rows.push(`| ${runtime} | ${which} | ${k.ready.toFixed(0)} ms | ${b.ready.toFixed(0)} ms | ${(k.ready / b.ready).toFixed(2)}× | ${k.rss.toFixed(1)} MB | ${b.rss.toFixed(1)} MB | ${(k.rss / b.rss).toFixed(2)}× | ${k.rss <= 64 ? 'yes' : 'NO'} |`);
      }
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  console.log(`kith run: start-up to /health and RSS after ${IDLE_MS} ms idle, medians of ${RUNS} runs (baseline: bare HTTP server, same runtime; full = ${MEMBERS} members, ${CONVS} conversations)`);
  console.log('| runtime | agent | ready | baseline ready | ratio | idle RSS | baseline RSS | ratio | RSS ≤ 64 MB |');
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
