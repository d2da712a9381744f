// <data-dir>/agent.json: how the CLI finds the running agent of a data dir (its PID and ports).
// Written after everything is bound, removed on clean shutdown; a stale one (dead PID) is ignored.
// It never decides whether an agent may start: after a power cut its PID may belong to another
// process (issue 18, weak spot 12). The store's LevelDB LOCK decides (agent/level-store.ts); the
// record only names the PID in the error.
import fs from 'node:fs';
import { KithError, isKithError } from '../core/errors.js';
import { writeFileAtomic } from '../core/files.js';

export interface RuntimeRecord {
  pid: number;
  runtime: string;
  version: string;
  startedAtMs: number;
  cluster: { host: string; port: number };
  api: { host: string; port: number };
  profile: string;
}

export function writeRuntimeRecord(file: string, r: RuntimeRecord): void {
  writeFileAtomic(file, JSON.stringify(r, null, 2) + '\n', 0o644);
}

export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The record of a live agent, or undefined when none runs (or the file is stale or unreadable). */
export function readRuntimeRecord(file: string): RuntimeRecord | undefined {
  let r: RuntimeRecord;
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8')) as RuntimeRecord;
  } catch {
    return undefined;
  }
  if (typeof r.pid !== 'number' || typeof r.api?.port !== 'number' || !isPidAlive(r.pid)) return undefined;
  return r;
}

export function removeRuntimeRecord(file: string, pid: number): void {
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as RuntimeRecord;
    if (r.pid === pid) fs.rmSync(file, { force: true });
  } catch {
    /* already gone */
  }
}

/** The store's AGENT_ALREADY_RUNNING (its LOCK is held), naming the PID agent.json records; other errors unchanged. */
export function withLockHolder(e: unknown, file: string): unknown {
  if (!isKithError(e, 'AGENT_ALREADY_RUNNING')) return e;
  const r = readRuntimeRecord(file);
  return r === undefined ? e : new KithError('AGENT_ALREADY_RUNNING', `${e.message} (PID ${r.pid}, ${r.runtime}, API port ${r.api.port})`, { cause: e });
}
