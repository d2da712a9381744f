// The LevelDB store under faults: a full disk (a real 2 MiB tmpfs when this runs as root), and a
// backend whose writes fail on demand. After a failed write nothing may be acknowledged until the
// store is known to be durable again, and everything acknowledged survives a restart (issue 18,
// break 2).
import t from 'tap';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Level } from 'level';
import { classifyStoreError, openLevelStore, type LevelBackend } from '../../agent/level-store.js';
import { isKithError } from '../../core/errors.js';
import { writeFileAtomic } from '../../core/files.js';
import type { BatchOp } from '../../core/store.js';

const value = (i: number) => new Uint8Array(4096).fill(i & 255);

/** A fresh tmpfs of `sizeKiB` (root only) and how to remove it; undefined when not possible here. */
function mountTmpfs(sizeKiB: number): { dir: string; remove(): void } | undefined {
  if (process.getuid?.() !== 0 || process.platform !== 'linux') return undefined;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kith-full-disk-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKiB}k,mode=0700`, 'tmpfs', dir], { timeout: 10_000 });
  const rmdir = () => fs.rmSync(dir, { recursive: true, force: true });
  if (r.status !== 0) {
    rmdir();
    return undefined;
  }
  return { dir, remove: () => (spawnSync('umount', [dir], { timeout: 10_000 }), rmdir()) };
}

const canMount = process.getuid?.() === 0 && process.platform === 'linux';

t.test('a full disk: writes fail while full, and every write acknowledged after space is freed survives a restart', {
  skip: canMount ? false : 'needs root to mount a small tmpfs (the injected-fault tests below still run)',
}, async (t) => {
  const fsys = mountTmpfs(2048);
  if (!fsys) throw new Error('mount -t tmpfs failed although running as root');
  t.teardown(() => fsys.remove());
  const mnt = fsys.dir;
  const filler = path.join(mnt, 'filler');
  fs.writeFileSync(filler, new Uint8Array(1200 * 1024));
  const dir = path.join(mnt, 'store');
  let s = await openLevelStore(dir);
  const acked: string[] = [];
  let failedAt = -1;
  for (let i = 0; i < 1000 && failedAt < 0; i++) {
    try {
      await s.put(`before/${String(i).padStart(4, '0')}`, value(i));
      acked.push(`before/${String(i).padStart(4, '0')}`);
    } catch (e) {
      t.ok(isKithError(e, 'DISK_FULL'), `a failed write is DISK_FULL (${(e as Error).message})`);
      failedAt = i;
    }
  }
  t.ok(failedAt > 0, `the disk filled up after ${failedAt} writes`);
  fs.rmSync(filler);
  let after = 0;
  for (let i = 0; i < 20; i++) {
    try {
      await s.put(`after/${String(i).padStart(4, '0')}`, value(i));
      acked.push(`after/${String(i).padStart(4, '0')}`);
      after++;
    } catch {
      /* not acknowledged: may be lost */
    }
  }
  t.ok(after >= 19, `writes work again once space is freed (${after} of 20 acknowledged)`);
  await s.close();
  // The other files kith writes: DISK_FULL too, and no temporary file left behind.
  fs.writeFileSync(filler, new Uint8Array(0));
  for (let i = 0; i < 4096; i++) {
    try {
      fs.appendFileSync(filler, new Uint8Array(64 * 1024));
    } catch {
      break;
    }
  }
  let fileError: unknown;
  try {
    writeFileAtomic(path.join(mnt, 'secret'), 'a'.repeat(256 * 1024), 0o600);
  } catch (e) {
    fileError = e;
  }
  t.ok(isKithError(fileError, 'DISK_FULL'), `writeFileAtomic on a full disk: DISK_FULL (${(fileError as Error)?.message})`);
  t.same(fs.readdirSync(mnt).filter((f) => f.endsWith('.tmp')), [], 'no temporary file is left');
  t.notOk(fs.existsSync(path.join(mnt, 'secret')), 'and no half file');
  fs.rmSync(filler);
  s = await openLevelStore(dir);
  const lost = [];
  for (const k of acked) if ((await s.get(k)) === undefined) lost.push(k);
  t.same(lost, [], `all ${acked.length} acknowledged writes survive a restart`);
  await s.close();
});

/** LevelDB's own failure on a full disk, as classic-level reports it. */
const enospc = () => Object.assign(new Error('IO error: /d/store/000003.log: No space left on device'), { code: 'LEVEL_IO_ERROR' });

/** A real LevelDB whose batch and open fail on demand, with a log of what was called. */
function flaky(dir: string) {
  const db = new Level<string, Uint8Array>(dir, { keyEncoding: 'utf8', valueEncoding: 'view' });
  const calls: string[] = [];
  const faults = { batch: 0, open: 0 };
  const backend: LevelBackend = {
    async open() {
      if (faults.open > 0 && faults.open--) {
        calls.push('open failed');
        throw Object.assign(new Error('Database failed to open'), { code: 'LEVEL_DATABASE_NOT_OPEN', cause: enospc() });
      }
      await db.open();
      calls.push('open');
    },
    async close() {
      await db.close();
      calls.push('close');
    },
    get: (k) => db.get(k),
    async batch(ops: BatchOp[]) {
      if (faults.batch > 0 && faults.batch--) {
        calls.push(`batch of ${ops.length} failed`);
        throw enospc();
      }
      await db.batch(ops);
      calls.push(`batch of ${ops.length}`);
    },
    iterator: (o) => db.iterator(o),
  };
  return { backend, calls, faults };
}

const enc = (s: string) => new TextEncoder().encode(s);

t.test('after a failed write nothing is written until the store was reopened; while reopening fails, writes fail', async (t) => {
  const f = flaky(t.testdir());
  const s = await openLevelStore('store', { backend: f.backend });
  await s.put('a', enc('1'));
  f.faults.batch = 1;
  await t.rejects(s.put('b', enc('2')), { code: 'DISK_FULL' }, 'the failing write is DISK_FULL');
  t.same(await s.get('a'), enc('1'), 'reads go on');
  f.faults.open = 2;
  await t.rejects(s.put('c', enc('3')), { code: 'DISK_FULL', message: /nothing written/ }, 'while the store cannot be reopened, a write fails');
  await t.rejects(s.get('a'), { code: 'DISK_FULL' }, 'and so does a read once the store is closed');
  await s.put('d', enc('4'));
  t.same(f.calls, ['open', 'batch of 1', 'batch of 1 failed', 'close', 'open failed', 'open failed', 'open', 'batch of 1'],
    'no batch between the failure and a successful reopen');
  t.same([await s.get('b'), await s.get('c'), await s.get('d')], [undefined, undefined, enc('4')]);
  await s.close();
});

t.test('writes queued behind a failing one are not acknowledged before the reopen', async (t) => {
  const f = flaky(t.testdir());
  const s = await openLevelStore('store', { backend: f.backend });
  f.faults.batch = 1;
  const results = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => s.put(`k${i}`, enc(String(i)))));
  t.equal(results[0]!.status, 'rejected', 'the first write failed');
  t.ok(results.slice(1).every((r) => r.status === 'fulfilled'), 'the nine behind it were written after the reopen');
  t.same(f.calls, ['open', 'batch of 1 failed', 'close', 'open', 'batch of 9'], 'joined into one batch, after the reopen');
  await s.close();
});

t.test('LevelDB failures get their own codes', async (t) => {
  const cases: [string, string | undefined, string][] = [
    ['full disk', 'LEVEL_IO_ERROR', 'IO error: /var/lib/kith/store/000003.log: No space left on device'],
    ['quota', 'LEVEL_IO_ERROR', 'IO error: 000012.ldb: Disk quota exceeded'],
    ['truncated table', 'LEVEL_CORRUPTION', 'Corruption: truncated block read'],
    ['bad checksum', undefined, 'Corruption: block checksum mismatch: /var/lib/kith/store/000005.ldb'],
    ['locked', 'LEVEL_LOCKED', 'IO error: lock /var/lib/kith/store/LOCK: already held by process'],
    ['permissions', 'LEVEL_IO_ERROR', 'IO error: /var/lib/kith/store/LOCK: Permission denied'],
    ['a table file cut short', 'LEVEL_IO_ERROR', 'IO error: /var/lib/kith/store/000005.ldb: Invalid argument'],
    ['a bad option (not the data)', 'LEVEL_INVALID_ARGUMENT', 'Invalid argument: /x/store: does not exist (create_if_missing is false)'],
  ];
  const want = ['DISK_FULL', 'DISK_FULL', 'STORE_CORRUPT', 'STORE_CORRUPT', 'AGENT_ALREADY_RUNNING', 'STORE_FAILED', 'STORE_CORRUPT', 'STORE_FAILED'];
  t.same(cases.map(([, c, m]) => classifyStoreError(c, m)), want, cases.map(([n]) => n).join(', '));
});

t.test('a truncated table file: reads fail with STORE_CORRUPT and its hint, not as a bug', async (t) => {
  const dir = t.testdir();
  let s = await openLevelStore(dir);
  for (let i = 0; i < 300; i++) await s.put(`conv/${String(i).padStart(4, '0')}`, value(i));
  await s.close();
  s = await openLevelStore(dir); // recovery writes the log into a table file
  await s.close();
  const table = fs.readdirSync(dir).find((f) => f.endsWith('.ldb'));
  t.ok(table, 'a table file was written');
  fs.truncateSync(path.join(dir, table!), Math.floor(fs.statSync(path.join(dir, table!)).size / 2));
  s = await openLevelStore(dir);
  await t.rejects(s.get('conv/0001'), { code: 'STORE_CORRUPT', hint: /copy the whole data dir aside/ }, 'a read');
  await t.rejects((async () => {
    for await (const _ of s.range({ gte: 'conv/' })) void _;
  })(), { code: 'STORE_CORRUPT' }, 'a listing');
  await s.close();
});
