// Time as an input. Domain code never reads Date.now() or calls setTimeout itself: it takes a
// Clock, so the same code runs in real time and on a VirtualClock in simulations.

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Monotonic milliseconds; only differences mean anything. */
  now(): number;
  /** Milliseconds since the Unix epoch, as the wall clock says (may jump). */
  wallTime(): number;
  /** Calls fn once after ms milliseconds of monotonic time. */
  setTimer(ms: number, fn: () => void): Timer;
}

/** The real clock. Timers are unref'd so that they never keep a finished process alive. */
export const realClock: Clock = {
  now: () => performance.now(),
  wallTime: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
};

interface PendingTimer {
  dueMs: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to. Timers fire in order of due time, then creation order,
 * so a simulation driven by it is deterministic.
 */
export class VirtualClock implements Clock {
  private nowMs: number;
  private readonly wallOffsetMs: number;
  private seq = 0;
  private queue: PendingTimer[] = [];

  constructor(opts: { startMs?: number; wallStartMs?: number } = {}) {
    this.nowMs = opts.startMs ?? 0;
    // 2026-01-01T00:00:00Z: a fixed, plausible wall time so that signed timestamps are stable.
    this.wallOffsetMs = (opts.wallStartMs ?? Date.UTC(2026, 0, 1)) - this.nowMs;
  }

  now(): number {
    return this.nowMs;
  }

  wallTime(): number {
    return this.nowMs + this.wallOffsetMs;
  }

  setTimer(ms: number, fn: () => void): Timer {
    if (!Number.isFinite(ms)) throw new RangeError(`timer delay must be finite, got ${ms}`);
    const t: PendingTimer = { dueMs: this.nowMs + Math.max(0, ms), seq: this.seq++, fn, cancelled: false };
    this.insert(t);
    return { cancel: () => { t.cancelled = true; } };
  }

  /** Number of timers still waiting. */
  get pending(): number {
    return this.queue.filter((t) => !t.cancelled).length;
  }

  /** Advances time by ms, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError(`cannot move a clock backwards (${ms} ms)`);
    this.runUntil(this.nowMs + ms);
  }

  /** Fires timers up to and including time `untilMs`, then sets the clock to it. */
  runUntil(untilMs: number, maxTimers = 10_000_000): void {
    let fired = 0;
    for (;;) {
      const next = this.queue[0];
      if (next === undefined || next.dueMs > untilMs) break;
      this.queue.shift();
      if (next.cancelled) continue;
      this.nowMs = next.dueMs;
      next.fn();
      if (++fired > maxTimers) throw new RangeError(`more than ${maxTimers} timers fired before ${untilMs} ms: a timer loop?`);
    }
    this.nowMs = Math.max(this.nowMs, untilMs);
  }

  private insert(t: PendingTimer): void {
    // Binary search for the first timer due strictly later (ties keep creation order).
    let lo = 0;
    let hi = this.queue.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.queue[mid]!.dueMs <= t.dueMs) lo = mid + 1;
      else hi = mid;
    }
    this.queue.splice(lo, 0, t);
  }
}
