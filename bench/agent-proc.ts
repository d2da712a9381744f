// Real `kith` agent processes for the benchmarks (startup, mailbox, ui-load, ui-events): `kith init`
// and `kith run` from bin/kith.mjs on loopback ports, ready once its runtime record names it and
// /health answers; RSS read from /proc/<pid>/status; the NODE_OPTIONS the systemd unit gives Node.
// Works from the sources (Bun: bench/) and from dist/bench/ (Node).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.basename(path.dirname(HERE)) === 'dist' ? path.resolve(HERE, '..', '..') : path.resolve(HERE, '..');
export const WEB = path.join(ROOT, 'dist', 'web');
export const BIN = path.join(ROOT, 'bin', 'kith.mjs');
export const CHROMIUM = process.env['KITH_CHROMIUM'] ?? '/usr/bin/chromium';
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
/** This runtime running bin/kith.mjs: Node runs dist/, Bun the sources. */
export const KITH = [process.execPath, BIN];
const READY_WITHIN_MS = 30_000;

/** VmRSS and its anonymous part (heap, JIT, LevelDB; the rest is file pages: the executable, libraries) in MB. */
export function rssMb(pid: number): { rss: number; anon: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
  return { rss: kb('VmRSS'), anon: kb('RssAnon') };
}

/** CPU time (user + system) a process used so far, ms: /proc/<pid>/stat fields 14 and 15, in ticks of 1/100 s (USER_HZ on Linux). */
export function cpuMs(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' '); // the name in brackets may hold spaces
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** The NODE_OPTIONS systemd/kith.service gives an installed Node agent (KITH_BENCH_NODE_OPTIONS overrides it). */
export function unitNodeOptions(): string {
  if (process.env['KITH_BENCH_NODE_OPTIONS'] !== undefined) return process.env['KITH_BENCH_NODE_OPTIONS'];
  const unit = fs.readFileSync(path.join(ROOT, 'systemd', 'kith.service'), 'utf8');
  return /^Environment=NODE_OPTIONS="?([^"\n]*)"?$/m.exec(unit)?.[1] ?? '';
}

/** Resolves once /health answers on the port `port()` gives (undefined: not known yet). */
export async function waitHealth(port: () => number | undefined, deadline: number): Promise<void> {
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

/** `kith init` of `dir`, its phrase in `<dir>.phrase` beside it. */
export function initAgent(cmd: string[], dir: string): void {
  const r = spawnSync(cmd[0]!, [...cmd.slice(1), 'init', '--data-dir', dir, '--phrase-file', `${dir}.phrase`, '--json'], { encoding: 'utf8', env: { ...process.env, KITH_DATA_DIR: '' } });
  if (r.status !== 0) throw new Error(`kith init failed: ${r.stderr}`);
}

export interface AgentProc {
  pid: number;
  port: number;
  token: string;
  /** ms from spawn to /health answering. */
  readyMs: number;
  child: ChildProcess;
  /** SIGTERM (SIGKILL with `kill`), resolved once it exited. */
  stop(kill?: boolean): Promise<void>;
}

/**
 * `kith run` on `dir` (made by initAgent) with the config file at `config`, loopback ports, the
 * test profile unless `profile` says otherwise; output to `<dir>.log` when `log`. Ready once the
 * runtime record names this process (not one left by an earlier run) and /health answers.
 */
export async function startAgent(cmd: string[], dir: string, config: string, opts: { env?: NodeJS.ProcessEnv; log?: boolean; profile?: string } = {}): Promise<AgentProc> {
  const t0 = performance.now();
  const out = opts.log ? fs.openSync(`${dir}.log`, 'a') : 'ignore';
  const profile = opts.profile === undefined ? ['--profile', 'test'] : opts.profile === '' ? [] : ['--profile', opts.profile];
  const child = spawn(cmd[0]!, [...cmd.slice(1), 'run', '--data-dir', dir, '--config', config, '--port', '0', '--api-port', '0', ...profile], { stdio: ['ignore', out, out], env: { ...process.env, KITH_DATA_DIR: '', ...opts.env } });
  if (typeof out === 'number') fs.closeSync(out);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async (kill = false) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(kill ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  const port = () => {
    try {
      const rec = JSON.parse(fs.readFileSync(path.join(dir, 'agent.json'), 'utf8'));
      return rec.pid === child.pid ? (rec.api.port as number) : undefined;
    } catch {
      return undefined;
    }
  };
  const died = exited.then(() => Promise.reject(new Error(`agent on ${dir} exited before it was ready (${child.exitCode ?? child.signalCode})${opts.log ? `: see ${dir}.log` : ''}`)));
  try {
    await Promise.race([waitHealth(port, Date.now() + READY_WITHIN_MS), died]);
  } catch (e) {
    await stop(true);
    throw child.exitCode !== null || child.signalCode !== null ? e : new Error(`agent on ${dir} not ready within ${READY_WITHIN_MS / 1000} s`);
  }
  died.catch(() => undefined); // a later exit (stop) is no error
  const readyMs = performance.now() - t0;
  return { pid: child.pid!, port: port()!, token: fs.readFileSync(path.join(dir, 'api.token'), 'utf8').trim(), readyMs, child, stop };
}

/** A fresh agent for the web benchmarks: `kith init` of `dir`, then `kith run` on this runtime. */
export async function startWebAgent(dir: string, config: string): Promise<AgentProc> {
  initAgent(KITH, dir);
  return startAgent(KITH, dir, config);
}
