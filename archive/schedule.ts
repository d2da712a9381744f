// Periodic rounds on a Clock (audits, repair, renewals, collection): each task runs every
// `everyMs`, never overlapping itself; a failing round is logged and the next one still comes.
// Why not node-cron (named in the design card): cron runs on the real timers and the wall clock,
// so it could not run on the VirtualClock of the whole-agent simulations, and these rounds are
// plain intervals ("every hour"), not calendar times. `runNow` starts a round on demand
// (`kith archive verify`).
import type { Clock, Timer } from '../core/clock.js';

export interface ScheduledTask {
  name: string;
  everyMs: number;
  /** First run after this long (default everyMs). */
  firstMs?: number;
  run: () => Promise<unknown>;
}

export interface Schedule {
  /** Runs a task now (waiting for a running round of it first); resolves with its result. */
  runNow(name: string): Promise<unknown>;
  stop(): void;
}

export function startSchedule(clock: Clock, tasks: readonly ScheduledTask[], log: (line: string) => void): Schedule {
  const timers = new Map<string, Timer>();
  const running = new Map<string, Promise<unknown>>();
  let stopped = false;
  const exec = (t: ScheduledTask): Promise<unknown> => {
    const prev = running.get(t.name) ?? Promise.resolve();
    const p = prev.catch(() => undefined).then(() => t.run());
    const tail = p.catch((e: unknown) => log(`archive: ${t.name} round failed: ${(e as Error).message}`));
    running.set(t.name, tail);
    return p;
  };
  const arm = (t: ScheduledTask, ms: number) => {
    if (stopped) return;
    timers.set(t.name, clock.setTimer(ms, () => void exec(t).catch(() => undefined).finally(() => arm(t, t.everyMs))));
  };
  for (const t of tasks) arm(t, t.firstMs ?? t.everyMs);
  return {
    runNow(name) {
      const t = tasks.find((x) => x.name === name);
      if (!t) return Promise.reject(new RangeError(`no scheduled task ${name}`));
      return exec(t);
    },
    stop() {
      stopped = true;
      for (const t of timers.values()) t.cancel();
      timers.clear();
    },
  };
}
