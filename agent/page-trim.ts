// Gives start-up's code pages back to the kernel once the agent is idle. Bun's executable is about
// 100 MB of code and data mapped from the file; start-up (parsing the bundle, JIT tiers, opening
// the store, TLS/crypto set-up) touches about 40 MB of it, plus the kernel's fault-around (64 KB per
// fault), and those pages stay in the process's RSS although an idle agent runs a small part of
// them. A few seconds after READY, madvise(MADV_PAGEOUT) on the executable's read-only mappings
// drops them (clean file pages: nothing is written, they are re-read on use), as the kernel would
// under memory pressure; the pages an idle agent does use fault back in (measured: 68 MB RSS ->
// 31 MB right after, about 40 MB steady; bench/startup.ts). Only under Bun on Linux, through
// bun:ffi; elsewhere (Node, FFI missing, kernel < 5.4) it does nothing.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import type { Clock, Timer } from '../core/clock.js';
import type { Logger } from './log.js';

const MADV_PAGEOUT = 21;
export const TRIM_AFTER_MS = 5_000;

export interface Mapping { start: bigint; end: bigint }

/** Read-only or executable, not writable, file-backed mappings of `file` in /proc/self/maps text. */
export function readOnlyMappingsOf(mapsText: string, file: string): Mapping[] {
  const out: Mapping[] = [];
  for (const line of mapsText.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s+(.*)$/.exec(line);
    if (!m || m[4] !== file || m[3]![1] === 'w') continue;
    out.push({ start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]) });
  }
  return out;
}

type Madvise = (addr: bigint, len: bigint, advice: number) => number;

function ffiMadvise(): Madvise | undefined {
  if (typeof (globalThis as { Bun?: unknown }).Bun === 'undefined' || process.platform !== 'linux') return undefined;
  try {
    type Ffi = { dlopen: (lib: string, fns: Record<string, { args: string[]; returns: string }>) => { symbols: Record<string, (...a: unknown[]) => number> } };
    const ffi = createRequire(import.meta.url)('bun:ffi') as Ffi;
    const fns = { madvise: { args: ['u64', 'u64', 'i32'], returns: 'i32' } };
    const libcs = ['libc.so.6', `libc.musl-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}.so.1`];
    for (const lib of libcs) {
      try {
        const { symbols } = ffi.dlopen(lib, fns);
        return (addr, len, advice) => symbols['madvise']!(addr, len, advice);
      } catch { /* next */ }
    }
  } catch { /* no FFI */ }
  return undefined;
}

/** Pages out the executable's start-up pages once, TRIM_AFTER_MS after the call; returns cancel. */
export function trimStartupPages(deps: { clock: Clock; log: Logger }): () => void {
  const madvise = ffiMadvise();
  if (madvise === undefined) return () => {};
  const timer: Timer = deps.clock.setTimer(TRIM_AFTER_MS, () => {
    try {
      const exe = fs.realpathSync('/proc/self/exe');
      let bytes = 0n;
      for (const m of readOnlyMappingsOf(fs.readFileSync('/proc/self/maps', 'utf8'), exe)) {
        if (madvise(m.start, m.end - m.start, MADV_PAGEOUT) === 0) bytes += m.end - m.start;
      }
      deps.log.debug(`paged out ${bytes / 1024n / 1024n} MiB of start-up mappings of ${exe}`);
    } catch (e) {
      deps.log.debug(`page trim skipped: ${(e as Error).message}`);
    }
  });
  return () => timer.cancel();
}
