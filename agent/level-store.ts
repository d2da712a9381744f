// KvStore on LevelDB (the `level` package: classic-level's prebuilt addon on Node and Bun).
// LevelDB's LOCK file is what makes "one agent per data dir" true: a second open fails with
// LEVEL_LOCKED, which becomes AGENT_ALREADY_RUNNING.
import { Level } from 'level';
import { KithError } from '../core/errors.js';
import type { BatchOp, KvStore, RangeOptions } from '../core/store.js';

export async function openLevelStore(dir: string): Promise<KvStore & { readonly location: string }> {
  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  try {
    await db.open();
  } catch (e) {
    const cause = (e as { cause?: { code?: string } }).cause;
    if (cause?.code === 'LEVEL_LOCKED') {
      throw new KithError('AGENT_ALREADY_RUNNING', `the store ${dir} is locked by another kith agent`, { cause: e });
    }
    throw new KithError('STORE_FAILED', `cannot open the store ${dir}: ${cause?.code ?? (e as Error).message}`, { cause: e });
  }
  const wrap = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (e) {
      throw new KithError('STORE_FAILED', `store ${what} failed: ${(e as { code?: string }).code ?? (e as Error).message}`, { cause: e });
    }
  };
  return {
    location: dir,
    get: (key) => wrap('read', () => db.get(key)),
    put: (key, value) => wrap('write', () => db.put(key, value)),
    del: (key) => wrap('delete', () => db.del(key)),
    batch: (ops: BatchOp[]) => wrap('batch', () => db.batch(ops)),
    async *range(opts: RangeOptions) {
      const it = db.iterator({
        ...(opts.gte !== undefined ? { gte: opts.gte } : {}),
        ...(opts.lt !== undefined ? { lt: opts.lt } : {}),
        limit: opts.limit ?? -1,
        reverse: opts.reverse ?? false,
      });
      try {
        for await (const [k, v] of it) yield [k, v] as [string, Uint8Array];
      } finally {
        await it.close();
      }
    },
    close: () => db.close(),
  };
}
