// Not a test file: an owner with two access devices and three holders (alice-router, bob-nas,
// carol-router) wired by an in-memory request link, for the holder tests.
import { VirtualClock, HOUR } from '../../core/clock.js';
import { signatures } from '../../core/crypto.js';
import { hpkeDeriveKeyPair } from '../../core/hpke.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { decodeCanonical, encodeCanonical, type CborValue } from '../../core/cbor.js';
import { HolderClient } from '../../archive/client.js';
import { Holder } from '../../archive/holder.js';
import { sealingPolicy } from '../../archive/policy.js';
import { putObject, type HolderSlot, type SealedShard } from '../../archive/pipeline.js';

export const DAY_MS = 24 * HOUR;

export function ownerSetup(seed: string, o: { quota?: number; clock?: VirtualClock } = {}) {
  const rng = new SeededRng(seed);
  const clock = o.clock ?? new VirtualClock({ wallStartMs: 1_800_000_000_000 });
  const key = () => hpkeDeriveKeyPair(rng.bytes(32));
  const deviceA = key();
  const deviceB = key();
  const ownerId = 'alice';
  let freeDisk = 1e12;
  const names: [string, string][] = [['alice-router', 'alice'], ['bob-nas', 'bob'], ['carol-router', 'carol']];
  const stores = new Map<string, MemoryStore>();
  const holderMap = new Map<string, Holder>();
  const holders: (HolderSlot & { secretKey: Uint8Array })[] = names.map(([id, household]) => {
    const dh = key();
    const store = new MemoryStore();
    stores.set(id, store);
    holderMap.set(id, new Holder({
      clock, store, log: () => undefined, selfId: id, dh,
      ownerOf: (peer) => (peer.startsWith('alice-') ? ownerId : undefined),
      quotaOf: () => o.quota ?? 1e9,
      freeDiskBytes: async () => freeDisk,
    }, { diskReserveBytes: 1000, leaseGraceMs: 7 * DAY_MS }));
    return { id, household, dhPublicKey: dh.publicKey, secretKey: dh.secretKey };
  });
  const client = new HolderClient({ request: (peer, p) => holderMap.get(peer)!.handle('alice-laptop', p) });
  return {
    rng, clock, deviceA, deviceB, ownerId, holders, client,
    signerSeed: rng.bytes(32),
    holderOf: (id: string) => holderMap.get(id)!,
    setFreeDisk: (n: number) => void (freeDisk = n),
    /** Flips a byte in every block of every shard a holder stores. */
    async corrupt(id: string) {
      const store = stores.get(id)!;
      for await (const [k, v] of store.range({ gte: 'archive/h/s/', lt: 'archive/h/s/\uffff' })) {
        const rec = decodeCanonical(v, { maxBytes: 1 << 24, maxDepth: 6, maxItems: 100 }) as { [k: string]: CborValue };
        const d = Uint8Array.from(rec.d as Uint8Array);
        for (let i = 0; i < d.length; i += 64) d[i]! ^= 0xff;
        await store.put(k, encodeCanonical({ ...rec, d }));
      }
    },
  };
}

export async function objectFor(o: ReturnType<typeof ownerSetup>, data: Uint8Array, kind: 'active' | 'history', expiresMs = 0) {
  const policy = sealingPolicy(kind, [{ id: 'alice-laptop', dhPublicKey: o.deviceA.publicKey }, { id: 'alice-desktop', dhPublicKey: o.deviceB.publicKey }]);
  const shards: SealedShard[] = [];
  const body = await putObject([data], { kind, policy, holders: o.holders, placement: [0, 1, 2, 1], k: 2, m: 2, chunkBytes: 1000, blockBytes: 64, signerPublicKey: signatures.ed25519PublicKey(o.signerSeed), rng: o.rng, wallTimeMs: o.clock.wallTime() }, async (s) => {
    await o.client.put(s.holder, s, expiresMs); // streamed: each shard leaves as it is made
    shards.push(s);
  });
  return { body, shards };
}
