// Real kith processes for tests: the CLI as a child process under Node (dist/, built by the test
// command) or Bun (KITH_TEST_RUNTIME=bun), on loopback ports only. Every wait is bounded, and
// every started agent is killed by PID when its test ends, even on failure.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './vectors.js';
import { sleep, until } from './wait.js';

export { sleep, until };

export const RUNTIME = process.env.KITH_TEST_RUNTIME === 'bun' ? 'bun' : 'node';
const BUN = path.join(REPO_ROOT, 'node_modules', '.bin', 'bun');
const BIN = path.join(REPO_ROOT, 'bin', 'kith.mjs');

function command(): [string, string[]] {
  return RUNTIME === 'bun' ? [BUN, [BIN]] : [process.execPath, [BIN]];
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs one CLI command to completion (bounded to 30 s). */
export function kith(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): CliResult {
  const [cmd, pre] = command();
  const r = spawnSync(cmd, [...pre, ...args], {
    input: opts.input ?? '',
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, KITH_DATA_DIR: '', ...opts.env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface AgentProc {
  child: ChildProcess;
  pid: number;
  apiPort: number;
  clusterPort: number;
  token: string;
  output: () => string;
  /** Sends a signal and waits (bounded) for exit; returns the exit code and how long it took. */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<{ code: number | null; ms: number }>;
}

/** Starts `kith run` and waits until its /health answers; kills it at teardown. */
export async function startAgent(
  t: { teardown(fn: () => unknown): void },
  dataDir: string,
  args: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<AgentProc> {
  const [cmd, pre] = command();
  const child = spawn(cmd, [...pre, 'run', '--data-dir', dataDir, '--port', '0', '--api-port', '0', ...args], {
    env: { ...process.env, KITH_DATA_DIR: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const deadline = Date.now() + 20_000;
  const runtimeFile = path.join(dataDir, 'agent.json');
  for (;;) {
    if (child.exitCode !== null) throw new Error(`agent exited with ${child.exitCode} before ready:\n${out}`);
    if (Date.now() > deadline) throw new Error(`agent not ready within 20 s:\n${out}`);
    try {
      const rec = JSON.parse(fs.readFileSync(runtimeFile, 'utf8'));
      if (rec.pid === child.pid) {
        const res = await fetch(`http://127.0.0.1:${rec.api.port}/health`, { signal: AbortSignal.timeout(1000) });
        if (res.ok) {
          return {
            child,
            pid: child.pid!,
            apiPort: rec.api.port,
            clusterPort: rec.cluster.port,
            token: fs.readFileSync(path.join(dataDir, 'api.token'), 'utf8').trim(),
            output: () => out,
            async stop(signal = 'SIGTERM', timeoutMs = 10_000) {
              const t0 = Date.now();
              if (child.exitCode !== null) return { code: child.exitCode, ms: 0 };
              child.kill(signal);
              const code = await Promise.race([exited, sleep(timeoutMs).then(() => 'timeout' as const)]);
              if (code === 'timeout') {
                child.kill('SIGKILL');
                throw new Error(`agent did not exit within ${timeoutMs} ms of ${signal}`);
              }
              return { code, ms: Date.now() - t0 };
            },
          };
        }
      }
    } catch {
      /* not yet */
    }
    await sleep(50);
  }
}

/** A CLI command that keeps running (e.g. `kith pair`): its stdout lines as they come, and its end. */
/** `input`, when given, is written to the command's stdin (then closed), for its questions. */
export function kithSpawn(t: { teardown(fn: () => void): void }, args: string[], input?: string): { lines: string[]; stderr(): string; exited: Promise<number | null>; firstLine(ms: number): Promise<string | undefined>; kill(signal: NodeJS.Signals): void } {
  const [cmd, pre] = command();
  const child = spawn(cmd, [...pre, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, KITH_DATA_DIR: '' } });
  if (input !== undefined) child.stdin!.end(input);
  const lines: string[] = [];
  let err = '';
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(buf.slice(0, i));
      buf = buf.slice(i + 1);
    }
  });
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  child.stdin!.end();
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    lines,
    stderr: () => err,
    exited,
    kill: (signal) => void child.kill(signal),
    async firstLine(ms) {
      await until(() => lines.length > 0 || child.exitCode !== null, ms, 20);
      return lines[0];
    },
  };
}
