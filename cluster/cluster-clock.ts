// The cluster clock: each ack is an NTP-style exchange (RFC 5905 §8) that gives one sample of a
// member's clock offset and the round-trip delay; the best recent sample per member, and the
// median over members, give this node's estimate of the cluster's time. Pure functions.

export interface ClockSample {
  offsetMs: number;
  delayMs: number;
}

/** Samples kept per member; the one with the least delay is its estimate. */
export const MAX_SAMPLES = 8;

/**
 * One exchange: we sent at t1 (our wall time), the member received at rx and answered at tx (its
 * wall time), we received at t4. offset = ((rx − t1) + (tx − t4)) / 2, delay = (t4 − t1) − (tx − rx).
 */
export function clockSample(t1: number, rx: number, tx: number, t4: number): ClockSample {
  return { offsetMs: (rx - t1 + (tx - t4)) / 2, delayMs: Math.max(0, t4 - t1 - (tx - rx)) };
}

/** Adds a sample to a member's list, keeping the last MAX_SAMPLES. */
export function addSample(samples: ClockSample[], s: ClockSample): void {
  samples.push(s);
  if (samples.length > MAX_SAMPLES) samples.shift();
}

/** The sample with the least delay: the least disturbed by queueing. */
export function bestSample(samples: readonly ClockSample[]): ClockSample | undefined {
  let best: ClockSample | undefined;
  for (const s of samples) if (!best || s.delayMs < best.delayMs) best = s;
  return best;
}

/**
 * The median of the members' offsets (ours counts as 0), and an error bound from the round trips
 * of the samples used. `best` holds one best sample per alive member.
 */
export function clusterClock(best: readonly ClockSample[]): { offsetMs: number; errorMs: number; members: number } {
  if (best.length === 0) return { offsetMs: 0, errorMs: 0, members: 0 };
  const offsets = [0, ...best.map((s) => s.offsetMs)].sort((a, b) => a - b);
  const errors = best.map((s) => s.delayMs / 2).sort((a, b) => a - b);
  const mid = offsets.length >> 1;
  const median = offsets.length % 2 ? offsets[mid]! : (offsets[mid - 1]! + offsets[mid]!) / 2;
  const spread = offsets[offsets.length - 1]! - offsets[0]!;
  // The error of a median of n estimates is at most the spread; usually the median round trip.
  return { offsetMs: round1(median), errorMs: round1(Math.min(spread, errors[errors.length >> 1]!) + errors[0]!), members: best.length };
}

/** Rounded to 0.1 ms, as shown and compared. */
export const round1 = (x: number): number => Math.round(x * 10) / 10;
