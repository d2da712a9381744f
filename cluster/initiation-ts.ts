// The last initiation timestamp accepted from each peer, kept across restarts (WireGuard keeps
// its TAI64N timestamp only in memory, so a responder that restarted answers a replayed
// initiation once). The transport refuses an initiation whose `ts` is not above the stored one,
// so a captured initiation replayed after a restart gets no answer (cluster/README.md §Payloads).
//
// `load` is called on the receive path and must be synchronous: the store-backed version reads
// every entry once at start-up and writes through. Stored under "transport/init-ts/<dh hex>" as a
// canonical CBOR unsigned integer (ms).
import { decodeCanonical, encodeCanonical } from '../core/cbor.js';
import { prefixEnd, type KvStore } from '../core/store.js';

export interface InitiationTsStore {
  /** The last `ts` accepted from this peer (its DH key in hex), 0 if none. */
  load(peer: string): number;
  /** Called after an initiation is accepted, before its response is sent. */
  save(peer: string, ts: number): void;
}

const PREFIX = 'transport/init-ts/';

/** In memory only: for simulations, where a "restart" is a new Transport given the same object. */
export class MemoryInitiationTs implements InitiationTsStore {
  readonly map = new Map<string, number>();

  load(peer: string): number {
    return this.map.get(peer) ?? 0;
  }

  save(peer: string, ts: number): void {
    if (ts > this.load(peer)) this.map.set(peer, ts);
  }
}

/**
 * Reads every stored timestamp, then writes through. A write that fails is reported to `onError`
 * (the value stays in memory, so only a restart before the next successful write loses it). An
 * entry that does not decode is skipped and reported.
 */
export async function loadInitiationTs(store: KvStore, onError: (message: string) => void): Promise<InitiationTsStore> {
  const mem = new MemoryInitiationTs();
  for await (const [key, raw] of store.range({ gte: PREFIX, lt: prefixEnd(PREFIX) })) {
    try {
      const ts = decodeCanonical(raw);
      if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) throw new Error('not a timestamp');
      mem.map.set(key.slice(PREFIX.length), ts);
    } catch (e) {
      onError(`skipping stored initiation timestamp ${key}: ${(e as Error).message}`);
    }
  }
  return {
    load: (peer) => mem.load(peer),
    save(peer, ts) {
      if (ts <= mem.load(peer)) return;
      mem.save(peer, ts);
      store.put(PREFIX + peer, encodeCanonical(ts)).catch((e: Error) => onError(`could not store an initiation timestamp: ${e.message}`));
    },
  };
}
