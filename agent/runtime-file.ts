// <data-dir>/agent.json: how the CLI finds the running agent of a data dir (its PID and ports).
// Written after everything is bound, removed on clean shutdown; a stale one (dead PID) is ignored.
import fs from 'node:fs';
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
