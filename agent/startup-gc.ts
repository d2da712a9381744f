// Garbage collection during start-up's bursts, on Bun. Opening the store's conversations (the
// sealed catch-up decodes, decrypts and verifies every one of them) allocates tens of MB of
// short-lived objects within a second; JavaScriptCore grows its heap to fit the burst and its
// allocator (mimalloc) keeps the pages when the garbage is gone, so an idle agent with 100
// conversations sat at ~50 MB of anonymous memory with 13 MB of live objects (bench/startup.ts).
// A synchronous collection every few conversations keeps the heap near its live size: measured
// 51 -> 41 MB anonymous for that agent. Node sizes its young generation with
// --max-semi-space-size (the units' NODE_OPTIONS) instead: there collect() does nothing.

/** Conversations between two collections: 10 costs ~10 collections of a ~13 MB heap per 100. */
export const CONVERSATIONS_PER_GC = 10;

type BunGc = { gc(sync: boolean): void };

/** A counter: every `every`-th call collects garbage (Bun); elsewhere a no-op. */
export function startupCollector(every = CONVERSATIONS_PER_GC): () => void {
  const bun = (globalThis as { Bun?: BunGc }).Bun;
  if (bun === undefined || typeof bun.gc !== 'function') return () => {};
  let n = 0;
  return () => {
    if (++n % every === 0) bun.gc(true);
  };
}
