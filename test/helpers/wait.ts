// The one way tests wait in real time (real processes, real sockets): a bounded sleep, and a
// bounded poll until a condition holds. Simulations never use these: they wait on the
// VirtualClock (test/helpers/cluster-sim.ts). A fixed sleep in a test waits for a measured
// duration (a soak, a pacing gap), never for something to happen: that is until()'s job.

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls fn every `everyMs` until it holds or `ms` pass; returns the ms it took, or undefined.
 * fn may be async (an API call); a slow fn counts against `ms`.
 */
export async function until(fn: () => boolean | Promise<boolean>, ms: number, everyMs = 100): Promise<number | undefined> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await fn()) return Date.now() - t0;
    await sleep(everyMs);
  }
  return undefined;
}
