// Not a test file: a real ArchiveOwner (alice's laptop) over in-memory Holders, for the owner
// tests: six households with one holder each, and alice's other access devices (holders too,
// answering `unwrap` for her own nodes). `revoked` and `away` nodes do not answer; revoked ones
// are gone for good and no access device any more (as agent/archive-service.ts has it), and their
// signed revocation is held (device i is node i + 1, generation 0; the laptop is node 0).
// `newOwner()` is the laptop's owner after a restart: a new ArchiveOwner over the same store.
import { HOUR, VirtualClock } from '../../core/clock.js';
import { signatures } from '../../core/crypto.js';
import { hpkeDeriveKeyPair, type HpkeKeyPair } from '../../core/hpke.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { Holder } from '../../archive/holder.js';
import { manifestFromSigned, type ManifestBody } from '../../archive/manifest.js';
import { toHex } from '../../core/hex.js';
import { ArchiveOwner, DEFAULT_OWNER_OPTIONS, type Candidate, type OwnDevice } from '../../archive/owner.js';

export const DAY = 24 * HOUR;
export const HOLDERS: [string, string][] = [['alice-router', 'alice'], ['bob-nas', 'bob'], ['carol-router', 'carol'], ['dave-nas', 'dave'], ['erin-router', 'erin'], ['frank-router', 'frank']];

export function ownerWorld(seed: string, devices: string[]) {
  const rng = new SeededRng(seed);
  const clock = new VirtualClock({ wallStartMs: 1_800_000_000_000 });
  const nodes = new Map<string, Holder>();
  const stores = new Map<string, MemoryStore>();
  const keys = new Map<string, HpkeKeyPair>();
  const cands: Candidate[] = [];
  const holder = (id: string) => {
    const dh = hpkeDeriveKeyPair(rng.bytes(32));
    const store = new MemoryStore();
    stores.set(id, store);
    keys.set(id, dh);
    nodes.set(id, new Holder({
      clock, store, log: () => undefined, selfId: id, dh, ownerOf: () => 'alice', isOwnUser: (o) => o === 'alice', quotaOf: () => 1e12, freeDiskBytes: async () => 1e12,
    }, { diskReserveBytes: 0, leaseGraceMs: 7 * DAY }));
    return dh;
  };
  for (const [id, household] of HOLDERS) cands.push({ id, household, dhPublicKey: holder(id).publicKey });
  for (const d of devices) holder(d);
  const revoked = new Set<string>();
  const away = new Set<string>();
  const logs: string[] = [];
  const self = hpkeDeriveKeyPair(rng.bytes(32));
  const signSecret = rng.bytes(32);
  const ownerStore = new MemoryStore();
  const newOwner = () => new ArchiveOwner({
    clock, rng, store: ownerStore, log: (l) => void logs.push(l),
    request: async (peer, payload) => {
      if (revoked.has(peer) || away.has(peer)) throw new Error(`${peer} does not answer`);
      return nodes.get(peer)!.handle('alice-laptop', payload);
    },
    // As in agent/archive-service.ts: a revoked node is no candidate, not alive, gone, and no access device.
    candidates: () => cands.filter((c) => !revoked.has(c.id) && !away.has(c.id)),
    reachable: (id) => !revoked.has(id) && !away.has(id), gone: (id) => revoked.has(id),
    self: { id: 'alice-laptop', dh: self, signSecret, signPublic: signatures.ed25519PublicKey(signSecret) },
    trustedSigners: () => [], friends: () => [],
    otherAccessDevices: () => devices.filter((d) => !revoked.has(d)).map((d) => ({ id: d, dhPublicKey: keys.get(d)!.publicKey })),
    isRevokedNode: (nodeIndex, generation) => generation === 0 && revoked.has(devices[nodeIndex - 1] ?? ''),
    isLiveNode: (hex) => devices.some((d) => !revoked.has(d) && toHex(keys.get(d)!.publicKey) === hex),
  }, DEFAULT_OWNER_OPTIONS);
  const owner = newOwner();
  /** Alice's other access devices as their certificates name them (for `rememberDevices`). */
  const ownDevices = (): OwnDevice[] => devices.map((d, i) => ({ dhPublicKey: keys.get(d)!.publicKey, nodeIndex: i + 1, generation: 0 }));
  const bodies = async (): Promise<[string, ManifestBody][]> => {
    const out: [string, ManifestBody][] = [];
    for await (const [hex, rec] of owner.records()) out.push([hex, manifestFromSigned(rec.signed)!]);
    return out;
  };
  /** Shard records a holder keeps under an object. */
  const held = async (id: string, objectHex: string) => {
    let n = 0;
    for await (const [k] of stores.get(id)!.range({ gte: 'archive/h/s/', lt: 'archive/h/s/\uffff' })) if (k.includes(`/${objectHex}/`)) n++;
    return n;
  };
  return { rng, clock, owner, newOwner, ownDevices, revoked, away, keys, self, logs, bodies, held, stores };
}

