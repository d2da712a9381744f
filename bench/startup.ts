// Start-up time to ready and idle RSS of `kith run`, on Node and on Bun, medians of several runs,
// each next to a baseline measured in the same run: the same runtime starting a bare HTTP server
// on loopback. DESIGN budget: idle RSS <= 64 MB.
// The identity is created before each timed start (a first start also derives keys, once).
//   node_modules/.bin/bun bench/startup.ts [--runs 5] [--idle-ms 10000]
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
const RUNS = arg('--runs', 5);
// V8's memory reducer shrinks the heap after ~8 s of idling; idle RSS is read after it has run.
const IDLE_MS = arg('--idle-ms', 10_000);

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
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

async function main(): Promise<void> {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'agent', 'cli.js'))) {
    throw new Error('dist/ is missing: run npm install (or npm run build) first');
  }
  const rows: string[] = [];
  for (const [runtime, cmd] of [['node', NODE], ['bun', BUN]] as const) {
    const kith: { readyMs: number; rssMb: number }[] = [];
    const base: { readyMs: number; rssMb: number }[] = [];
    for (let i = 0; i < RUNS; i++) {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kith-bench-'));
      try {
        spawnSync(cmd, [path.join(ROOT, 'bin', 'kith.mjs'), 'init', '--data-dir', dir, '--phrase-file', path.join(dir, 'phrase.txt')], { stdio: 'ignore' });
        kith.push(await measure(cmd, [path.join(ROOT, 'bin', 'kith.mjs'), 'run', '--data-dir', dir, '--port', '0', '--api-port', '0'],
          () => {
            try {
              return JSON.parse(fs.readFileSync(path.join(dir, 'agent.json'), 'utf8')).api.port as number;
            } catch {
              return undefined;
            }
          }));
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
      base.push(await measure(cmd, ['-e', BASELINE], (out) => {
        const m = /PORT (\d+)/.exec(out);
        return m ? Number(m[1]) : undefined;
      }));
    }
    const k = { ready: median(kith.map((x) => x.readyMs)), rss: median(kith.map((x) => x.rssMb)) };
    const b = { ready: median(base.map((x) => x.readyMs)), rss: median(base.map((x) => x.rssMb)) };
    rows.push(`| ${runtime} | ${k.ready.toFixed(0)} ms | ${b.ready.toFixed(0)} ms | ${(k.ready / b.ready).toFixed(2)}× | ${k.rss.toFixed(1)} MB | ${b.rss.toFixed(1)} MB | ${(k.rss / b.rss).toFixed(2)}× | ${k.rss <= 64 ? 'yes' : 'NO'} |`);
  }
  console.log(`kith run: start-up to /health and RSS after ${IDLE_MS} ms idle, medians of ${RUNS} runs (baseline: bare HTTP server, same runtime)`);
  console.log('| runtime | ready | baseline ready | ratio | idle RSS | baseline RSS | ratio | RSS ≤ 64 MB |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(r);
}

await main();
