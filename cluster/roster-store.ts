// What the roster keeps in the store (cluster/README.md, "Roster"):
//   friend/<user hex>                       the latest signed friend record (it holds the pair secret)
//   revocation/<user hex>/<node>/<gen>      signed revocations
//   node-index/<n>                          an index this node gave to a new node of the user
// Loading never fails on a bad entry: it is skipped and reported.
import { encodeCanonical } from '../core/cbor.js';
import { isKithError } from '../core/errors.js';
import { toHex } from '../core/hex.js';
import { prefixEnd, type KvStore } from '../core/store.js';
import { verifyRevocation, type Revocation } from '../identity/certificate.js';
import { openFriendRecord, type FriendRecord } from './roster.js';

const FRIEND = 'friend/';
const REVOCATION = 'revocation/';
const NODE_INDEX = 'node-index/';

export interface HeldRevocation {
  revocation: Revocation;
  bytes: Uint8Array;
}

export const friendKey = (user: Uint8Array): string => FRIEND + toHex(user);
/** The store key of a revocation, and of the one that would revoke a certificate. */
export const revocationKey = (r: Pick<Revocation, 'userKey' | 'nodeIndex' | 'generation'>): string => `${REVOCATION}${toHex(r.userKey)}/${r.nodeIndex}/${r.generation}`;
export const nodeIndexKey = (n: number): string => NODE_INDEX + n;

export interface LoadedRoster {
  /** By user key hex. */
  friends: Map<string, FriendRecord>;
  /** By revocationKey. */
  revocations: Map<string, HeldRevocation>;
  /** Node indexes this node gave out. */
  reserved: Set<number>;
}

export async function loadRoster(store: KvStore, skipped: (key: string, why: string) => void): Promise<LoadedRoster> {
  const out: LoadedRoster = { friends: new Map(), revocations: new Map(), reserved: new Set() };
  for await (const [k, raw] of store.range({ gte: FRIEND, lt: prefixEnd(FRIEND) })) {
    try {
      const r = openFriendRecord(raw);
      out.friends.set(toHex(r.user), r);
    } catch (e) {
      skipped(k, `not a friend record (${isKithError(e) ? e.message : 'unreadable'})`);
    }
  }
  for await (const [k, raw] of store.range({ gte: REVOCATION, lt: prefixEnd(REVOCATION) })) {
    try {
      const revocation = verifyRevocation(raw);
      out.revocations.set(revocationKey(revocation), { revocation, bytes: raw });
    } catch {
      skipped(k, 'not a revocation');
    }
  }
  for await (const [k] of store.range({ gte: NODE_INDEX, lt: prefixEnd(NODE_INDEX) })) {
    const n = Number(k.slice(NODE_INDEX.length));
    if (Number.isInteger(n) && n > 0) out.reserved.add(n);
    else skipped(k, 'not a node index');
  }
  return out;
}

export function saveReservation(store: KvStore, n: number, atMs: number): Promise<void> {
  return store.put(nodeIndexKey(n), encodeCanonical({ at: Math.floor(atMs) }));
}

/** For `kith node add`, which fills a new data dir before its agent first runs. */
export async function storeWelcome(store: KvStore, w: { friends: readonly FriendRecord[]; revocations: readonly HeldRevocation[] }): Promise<void> {
  for (const f of w.friends) await store.put(friendKey(f.user), f.bytes);
  for (const r of w.revocations) await store.put(revocationKey(r.revocation), r.bytes);
}
