// KvStore on LevelDB (the `level` package: classic-level's prebuilt addon on Node and Bun).
// LevelDB's LOCK file is what makes "one agent per data dir" true: a second open fails with
// LEVEL_LOCKED, which becomes AGENT_ALREADY_RUNNING.
//
// Durability after a failed write. LevelDB appends every write to its log; when that append fails
// (a full disk), the log may end in a torn record, and LevelDB's log writer no longer knows where
// the file really ends: writes acknowledged after it land behind the tear and are dropped, with
// "Corruption: checksum mismatch", at the next open (issue 18, break 2: 20 acknowledged posts lost).
// So writes go one batch at a time (writes that arrive meanwhile are joined into the next batch,
// which keeps LevelDB's group commit), and after a failed one nothing more is written until the
// database has been closed and opened again: that recovery drops the tear, writes what came before
// it into a table and starts a fresh log. Until a reopen succeeds, every write fails (DISK_FULL,
// STORE_CORRUPT or STORE_FAILED) and none is acknowledged; reads go on meanwhile.
import fs from 'node:fs';
import path from 'node:path';
import { Level } from 'level';
import { KithError, type ErrorCode } from '../core/errors.js';
import type { BatchOp, KvStore, RangeOptions } from '../core/store.js';

/** What this file uses of a `Level` database; tests put one that fails on demand in its place. */
export interface LevelBackend {
  open(): Promise<void>;
  close(): Promise<void>;
  get(key: string): Promise<Uint8Array | undefined>;
  batch(ops: BatchOp[]): Promise<void>;
  iterator(opts: { gte?: string; lt?: string; limit: number; reverse: boolean }): AsyncIterable<[string, Uint8Array]> & { close(): Promise<void> };
}

/** The text of an error and its causes, and the first LevelDB code found among them. */
function describe(e: unknown): { code: string | undefined; text: string } {
  const parts: string[] = [];
  let code: string | undefined;
  let x: unknown = e;
  for (let depth = 0; x !== null && typeof x === 'object' && depth < 4; depth++) {
    const { code: c, message: m, cause } = x as { code?: unknown; message?: unknown; cause?: unknown };
    if (typeof c === 'string' && c !== 'LEVEL_DATABASE_NOT_OPEN') code ??= c;
    if (typeof m === 'string') parts.push(m);
    x = cause;
  }
  return { code, text: parts.join(': ') };
}

/** Which stable code a LevelDB failure is: a pure decision on its code and text. */
export function classifyStoreError(code: string | undefined, text: string): ErrorCode {
  if (code === 'LEVEL_LOCKED') return 'AGENT_ALREADY_RUNNING';
  if (/no space left|ENOSPC|quota exceeded|EDQUOT/i.test(text)) return 'DISK_FULL';
  if (code === 'LEVEL_CORRUPTION' || /corruption|checksum mismatch|bad magic number|truncated|bad block/i.test(text)) return 'STORE_CORRUPT';
  // A table file shorter than its own index says: LevelDB reads past its end and gets EINVAL.
  if (/\.(ldb|sst)\b[^\n]*invalid argument/i.test(text)) return 'STORE_CORRUPT';
  return 'STORE_FAILED';
}

export function storeError(what: string, dir: string, e: unknown): KithError {
  if (e instanceof KithError) return e;
  const { code, text } = describe(e);
  const kind = classifyStoreError(code, text);
  const detail = (text || code || 'unknown error').slice(0, 300);
  if (kind === 'AGENT_ALREADY_RUNNING') return new KithError(kind, `the store ${dir} is locked by another kith agent`, { cause: e });
  return new KithError(kind, `store ${what} failed (${dir}): ${detail}`, { cause: e });
}

/**
 * Takes group and other bits off the store dir and its files. LevelDB creates files with the
 * process umask (the CLI sets 077); a store made before that, or by another program, may hold
 * 0644 files with pair secrets in them (issue 18, weak spot 9).
 */
export function makeStorePrivate(dir: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return;
  }
  for (const p of [dir, ...names.map((n) => path.join(dir, n))]) {
    const st = fs.lstatSync(p, { throwIfNoEntry: false });
    try {
      if (st && !st.isSymbolicLink() && (st.mode & 0o077) !== 0) fs.chmodSync(p, st.mode & 0o700);
    } catch {
      /* not ours to change: the data dir's own check (agent/paths.ts) is what keeps others out */
    }
  }
}

export async function openLevelStore(dir: string, opts: { backend?: LevelBackend } = {}): Promise<KvStore & { readonly location: string }> {
  const db: LevelBackend = opts.backend ?? new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  const open = async () => {
    try {
      await db.open();
    } catch (e) {
      throw storeError('open', dir, e);
    }
  };
  await open();
  if (!opts.backend) makeStorePrivate(dir);

  // 'open': writable. 'suspect': a write failed, the log may be torn: reopen before writing.
  // 'closed': a reopen failed: reopen before anything.
  let state: 'open' | 'suspect' | 'closed' = 'open';
  let reopening: Promise<void> | undefined;
  const reopen = (): Promise<void> => (reopening ??= (async () => {
    try {
      if (state !== 'closed') await db.close().catch(() => undefined);
      state = 'closed';
      await open();
      state = 'open';
    } finally {
      reopening = undefined;
    }
  })());
  const readable = async () => {
    if (reopening) await reopening.catch(() => undefined);
    if (state === 'closed') await reopen();
  };

  let queue: { ops: BatchOp[]; resolve(): void; reject(e: unknown): void }[] = [];
  let draining: Promise<void> | undefined;
  const drain = async () => {
    while (queue.length > 0) {
      const group = queue;
      queue = [];
      try {
        if (state !== 'open') {
          try {
            await reopen();
          } catch (e) {
            throw new KithError(storeError('reopen', dir, e).code, `nothing written: an earlier write failed and the store ${dir} cannot be reopened yet: ${describe(e).text.slice(0, 300)}`, { cause: e });
          }
        }
        await db.batch(group.flatMap((w) => w.ops)).catch((e) => {
          state = 'suspect';
          throw storeError('write', dir, e);
        });
        for (const w of group) w.resolve();
      } catch (e) {
        for (const w of group) w.reject(e);
      }
    }
    draining = undefined;
  };
  const write = (ops: BatchOp[]) => new Promise<void>((resolve, reject) => {
    queue.push({ ops, resolve, reject });
    draining ??= drain();
  });

  return {
    location: dir,
    async get(key) {
      try {
        await readable();
        return await db.get(key);
      } catch (e) {
        throw storeError('read', dir, e);
      }
    },
    put: (key, value) => write([{ type: 'put', key, value }]),
    del: (key) => write([{ type: 'del', key }]),
    batch: (ops) => (ops.length === 0 ? Promise.resolve() : write(ops)),
    async *range(opts: RangeOptions) {
      try {
        await readable();
      } catch (e) {
        throw storeError('read', dir, e);
      }
      const it = db.iterator({
        ...(opts.gte !== undefined ? { gte: opts.gte } : {}),
        ...(opts.lt !== undefined ? { lt: opts.lt } : {}),
        limit: opts.limit ?? -1,
        reverse: opts.reverse ?? false,
      });
      try {
        for await (const [k, v] of it) yield [k, v] as [string, Uint8Array];
      } catch (e) {
        throw storeError('read', dir, e);
      } finally {
        await it.close().catch(() => undefined);
      }
    },
    async close() {
      while (draining) await draining;
      if (reopening) await reopening.catch(() => undefined);
      await db.close();
    },
  };
}
