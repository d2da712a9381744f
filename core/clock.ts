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
  /**
   * Calls fn once the current turn of the event loop is done, I/O that is ready included
   * (setImmediate), sooner than setTimer(0), which Node and Bun make at least 1 ms. Clocks without
   * it (VirtualClock) stand for it with setTimer(0).
   */
  defer?(fn: () => void): Timer;
}

/** clock.defer, or setTimer(0) where the clock has none. */
export const deferOn = (clock: Clock, fn: () => void): Timer => (clock.defer ? clock.defer(fn) : clock.setTimer(0, fn));

/** The real clock. Timers are unref'd so that they never keep a finished process alive. */
export const realClock: Clock = {
  now: () => performance.now(),
  wallTime: () => Date.now(),
  setTimer(ms, fn) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref?.();
    return { cancel: () => clearTimeout(t) };
  },
  // Not unref'd, unlike the timers: Node polls for I/O without a timeout while only unref'd
  // immediates are pending, so one would wait for the next datagram or timer. It runs at the end
  // of this turn, so it keeps no finished process alive.
  defer(fn) {
    const i = setImmediate(fn);
    return { cancel: () => clearImmediate(i) };
  },
};

interface PendingTimer {
  dueMs: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * Timers firing at one virtual instant, past which a run is taken for a livelock: timers that keep
 * re-arming each other at the same time, so virtual time never moves on. A 50-node cluster fires
 * a few thousand at its busiest instant (every node handshaking with every other at t = 0).
 */
export const MAX_TIMERS_PER_INSTANT = 100_000;

/** A virtual clock stopped a run that would never end (and names the seed that replays it). */
export class VirtualClockLivelock extends RangeError {
  constructor(message: string, readonly atMs: number, readonly seed: string | undefined) {
    super(message);
    this.name = 'VirtualClockLivelock';
  }
}

/**
 * A clock that moves only when told to. Timers fire in order of due time, then creation order,
 * so a simulation driven by it is deterministic. A run whose timers keep firing at one instant
 * (more than maxTimersPerInstant) throws a VirtualClockLivelock naming the seed, instead of
 * hanging the test that drives it.
 */
export class VirtualClock implements Clock {
  private nowMs: number;
  private wallOffsetMs: number;
  private seq = 0;
  private queue: PendingTimer[] = [];
  private readonly maxTimersPerInstant: number;
  /** The seed of the simulation on this clock, for error messages (SimNet sets it if unset). */
  seed: string | undefined;
  /** Most timers that fired at one virtual instant so far (how close a run came to the bound). */
  busiestInstant = 0;

  constructor(opts: { startMs?: number; wallStartMs?: number; maxTimersPerInstant?: number; seed?: string | number } = {}) {
    this.nowMs = opts.startMs ?? 0;
    // 2026-01-01T00:00:00Z: a fixed, plausible wall time so that signed timestamps are stable.
    this.wallOffsetMs = (opts.wallStartMs ?? Date.UTC(2026, 0, 1)) - this.nowMs;
    this.maxTimersPerInstant = opts.maxTimersPerInstant ?? MAX_TIMERS_PER_INSTANT;
    this.seed = opts.seed === undefined ? undefined : String(opts.seed);
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

  /**
   * Moves only the wall clock ahead (every reader of this clock at once): a simulation compresses
   * idle days, so wall-time deadlines (leases, grace periods) pass while no timer fires.
   */
  skipWall(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`cannot move a wall clock backwards (${ms} ms)`);
    this.wallOffsetMs += ms;
  }

  /** Advances time by ms, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    if (ms < 0) throw new RangeError(`cannot move a clock backwards (${ms} ms)`);
    this.runUntil(this.nowMs + ms);
  }

  /**
   * Fires timers up to and including time `untilMs`, then sets the clock to it. Throws a
   * VirtualClockLivelock when more than maxTimers fire in this call, or more than
   * maxTimersPerInstant at one virtual instant.
   */
  runUntil(untilMs: number, maxTimers = 10_000_000): void {
    let fired = 0;
    let instantMs = -Infinity;
    let atInstant = 0;
    for (;;) {
      const next = this.queue[0];
      if (next === undefined || next.dueMs > untilMs) break;
      this.pop();
      if (next.cancelled) continue;
      this.nowMs = next.dueMs;
      if (next.dueMs !== instantMs) {
        instantMs = next.dueMs;
        atInstant = 0;
      }
      if (++atInstant > this.busiestInstant) this.busiestInstant = atInstant;
      if (atInstant > this.maxTimersPerInstant) this.livelock(`more than ${this.maxTimersPerInstant} timers fired at ${instantMs} ms without time moving on: a livelock`);
      next.fn();
      if (++fired > maxTimers) this.livelock(`more than ${maxTimers} timers fired before ${untilMs} ms: a timer loop?`);
    }
    this.nowMs = Math.max(this.nowMs, untilMs);
  }

  private livelock(what: string): never {
    const replay = this.seed === undefined ? '' : ` (seed ${this.seed} replays it)`;
    throw new VirtualClockLivelock(`${what}${replay}`, this.nowMs, this.seed);
  }

  // A binary min-heap on (dueMs, seq): O(log n) per timer, and ties fire in creation order, so a
  // simulation with tens of thousands of pending timers stays fast and deterministic.
  private static before(a: PendingTimer, b: PendingTimer): boolean {
    return a.dueMs < b.dueMs || (a.dueMs === b.dueMs && a.seq < b.seq);
  }

  private insert(t: PendingTimer): void {
    const q = this.queue;
    q.push(t);
    let i = q.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!VirtualClock.before(q[i]!, q[parent]!)) break;
      [q[i], q[parent]] = [q[parent]!, q[i]!];
      i = parent;
    }
  }

  private pop(): void {
    const q = this.queue;
    const last = q.pop()!;
    if (q.length === 0) return;
    q[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < q.length && VirtualClock.before(q[l]!, q[m]!)) m = l;
      if (r < q.length && VirtualClock.before(q[r]!, q[m]!)) m = r;
      if (m === i) break;
      [q[i], q[m]] = [q[m]!, q[i]!];
      i = m;
    }
  }
}
