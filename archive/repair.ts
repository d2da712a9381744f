// Repair (DESIGN.md §7). The planner is pure: from the manifest and each shard's audit state it
// picks the chunks to repair, the k shards to read (data shards first, healthy holders only),
// the shards to rebuild and their new holders, within a read budget. A chunk is repaired when
//   - fewer than `threshold` of its shards are not failed (default k + ceil(m / 2): repair
//     starts while there is still margin, not only after a loss), or
//   - its surviving shards would no longer survive the loss of one household, or
//   - one of its shards is lost for good (`lostForGood`: its holder revoked, or failed by a
//     wrong or missing proof): that shard is never coming back, so waiting for the threshold
//     would only keep a dead holder in the manifest (audited, renewed and shown) indefinitely.
// The threshold is for losses that may not be losses: a holder failed only by silence may be
// back. Contained shards (holder briefly unanswering) count as present: they never start one.
// Read budget: rebuilding r shards of a chunk reads exactly k shards, so bytes read per byte
// repaired is k / r ≤ k; a round also stops at maxReadBytes (chunks over it wait for the next).
// The executor (rebuildChunk) then rebuilds from the k fetched shards and seals the rebuilt ones
// for their new holders under a fresh outer key, giving the next manifest version.
import type { Rng } from '../core/rng.js';
import type { AuditState } from './audit.js';
import type { ChunkEntry, HolderEntry, ManifestBody } from './manifest.js';
import { merkleRoot, sha256 } from './merkle.js';
import { erasureCode, readChunk, shardBytes, type FetchPeeled, type GetReport, type SealedShard } from './pipeline.js';
import type { SealingPolicy } from './policy.js';
import { ReedSolomon } from './reed-solomon.js';
import { KEY_BYTES, OUTER_KEY_INFO, TAG_BYTES, outerWrapAad, sealShard, wrapKey } from './seal.js';
import { survivesHouseholdLoss } from './placement.js';

export interface RepairCandidate {
  id: string;
  household: string;
  dhPublicKey: Uint8Array;
  /** Shards of this object's size it can still take (from its free quota). */
  room: number;
}

export interface ChunkRepair {
  chunk: number;
  /** Shards to fetch (k of them, healthy holders, data shards first). */
  read: number[];
  /** Shards to rebuild, each with the candidate that will hold it. */
  rebuild: { shard: number; holder: string }[];
}

export interface RepairPlan {
  repairs: ChunkRepair[];
  bytesRead: number;
  bytesWritten: number;
  /** Chunks that need repair but did not fit this round's read budget. */
  deferred: number[];
  /** Chunks that need repair but cannot be: fewer than k readable shards, or no candidate fits. */
  stuck: { chunk: number; why: string }[];
}

export interface RepairParams {
  threshold?: number;
  maxReadBytes: number;
  /** Holders whose shards are lost for good (revoked, or failed by proof); default none. */
  lostForGood?: (holder: string) => boolean;
}

export const repairThreshold = (k: number, m: number): number => k + Math.ceil(m / 2);

/** The shards of the chunk that need no repair (their holders are not failed). */
function survivors(c: ChunkEntry, holders: HolderEntry[], stateOf: (holder: string) => AuditState): number[] {
  return c.shards.flatMap((s, j) => (stateOf(holders[s.holder]!.id) === 'failed' ? [] : [j]));
}

export function needsRepair(body: ManifestBody, chunk: number, stateOf: (holder: string) => AuditState, threshold = repairThreshold(body.k, body.m), lostForGood: (holder: string) => boolean = () => false): boolean {
  const c = body.chunks[chunk]!;
  const alive = survivors(c, body.holders, stateOf);
  if (c.shards.some((s) => stateOf(body.holders[s.holder]!.id) === 'failed' && lostForGood(body.holders[s.holder]!.id))) return true;
  return alive.length < threshold || !survivesHouseholdLoss(alive.map((j) => body.holders[c.shards[j]!.holder]!.household), body.k);
}

/** New holders for the lost shards: household with fewest shards (< m) first, then most room. */
function chooseNew(lost: number, aliveHouseholds: string[], exclude: Set<string>, candidates: RepairCandidate[], m: number): string[] | undefined {
  const count = new Map<string, number>();
  for (const h of aliveHouseholds) count.set(h, (count.get(h) ?? 0) + 1);
  const room = new Map(candidates.map((c) => [c.id, c.room]));
  const out: string[] = [];
  for (let i = 0; i < lost; i++) {
    const open = candidates.filter((c) => !exclude.has(c.id) && room.get(c.id)! > 0 && (count.get(c.household) ?? 0) < m);
    const best = open.sort((a, b) => (count.get(a.household) ?? 0) - (count.get(b.household) ?? 0) || room.get(b.id)! - room.get(a.id)! || (a.id < b.id ? -1 : 1))[0];
    if (!best) return undefined;
    out.push(best.id);
    room.set(best.id, room.get(best.id)! - 1);
    count.set(best.household, (count.get(best.household) ?? 0) + 1);
  }
  return out;
}

export function planRepair(body: ManifestBody, stateOf: (holder: string) => AuditState, candidates: readonly RepairCandidate[], p: RepairParams): RepairPlan {
  const threshold = p.threshold ?? repairThreshold(body.k, body.m);
  const plan: RepairPlan = { repairs: [], bytesRead: 0, bytesWritten: 0, deferred: [], stuck: [] };
  const pool = candidates.map((c) => ({ ...c }));
  const urgency = body.chunks.map((c, i) => ({ i, alive: survivors(c, body.holders, stateOf).length })).sort((a, b) => a.alive - b.alive || a.i - b.i);
  for (const { i } of urgency) {
    if (!needsRepair(body, i, stateOf, threshold, p.lostForGood)) continue;
    const c = body.chunks[i]!;
    const alive = survivors(c, body.holders, stateOf);
    const readable = alive.filter((j) => stateOf(body.holders[c.shards[j]!.holder]!.id) === 'ok');
    if (readable.length < body.k) {
      plan.stuck.push({ chunk: i, why: `${readable.length} shards readable now, ${body.k} needed` });
      continue;
    }
    const lost = c.shards.map((_, j) => j).filter((j) => !alive.includes(j));
    const aliveHouseholds = alive.map((j) => body.holders[c.shards[j]!.holder]!.household);
    const lostHolders = new Set(lost.map((j) => body.holders[c.shards[j]!.holder]!.id));
    const newHolders = chooseNew(Math.max(lost.length, 1), aliveHouseholds, lostHolders, pool, body.m);
    if (!newHolders) {
      plan.stuck.push({ chunk: i, why: 'no candidate holder with room keeps every household at ≤ m shards' });
      continue;
    }
    const stored = shardBytes(c.sealed, body.k) + TAG_BYTES;
    const readBytes = body.k * stored;
    if (plan.bytesRead + readBytes > p.maxReadBytes) {
      plan.deferred.push(i);
      continue;
    }
    // With nothing lost but a household imbalance, move one surviving shard (rebuilt, not copied).
    const rebuildShards = lost.length > 0 ? lost : [moveOne(body, c, alive)];
    for (const h of newHolders) pool.find((x) => x.id === h)!.room--;
    plan.repairs.push({ chunk: i, read: readable.slice(0, body.k), rebuild: rebuildShards.map((shard, n) => ({ shard, holder: newHolders[n]! })) });
    plan.bytesRead += readBytes;
    plan.bytesWritten += rebuildShards.length * stored;
  }
  return plan;
}

/** The surviving shard in the most crowded household (to move elsewhere). */
function moveOne(body: ManifestBody, c: ChunkEntry, alive: number[]): number {
  const hh = (j: number) => body.holders[c.shards[j]!.holder]!.household;
  const count = (h: string) => alive.filter((j) => hh(j) === h).length;
  return [...alive].sort((a, b) => count(hh(b)) - count(hh(a)) || b - a)[0]!;
}

export interface RepairResult {
  body: ManifestBody;
  shardsRead: number;
  bytesRead: number;
  bytesWritten: number;
  bad: GetReport['bad'];
}

/**
 * Executes a plan: per chunk, fetches k shards and opens the chunk with the object key (readChunk:
 * so shards a holder peeled are checked by the inner AEAD, and liars are found), rebuilds the lost ones, seals each for its new holder under one fresh outer key per new holder
 * slot, sends it to sink, and returns the next manifest version (to be signed by the owner).
 */
export async function executeRepair(
  body: ManifestBody,
  objectKey: Uint8Array,
  plan: RepairPlan,
  fetch: FetchPeeled,
  newHolders: ReadonlyMap<string, RepairCandidate>,
  policy: Pick<SealingPolicy, 'outer'>,
  rng: Rng,
  sink: (s: SealedShard) => Promise<void>,
): Promise<RepairResult> {
  const rs = new ReedSolomon(body.k, body.m);
  const holders = [...body.holders];
  const chunks = [...body.chunks];
  const slotKeys = new Map<string, { slot: number; key: Uint8Array }>();
  const report: GetReport = { bad: [], shardsRead: 0 };
  let bytesRead = 0;
  let bytesWritten = 0;
  const keyFor = (id: string) => {
    let e = slotKeys.get(id);
    if (!e) {
      const cand = newHolders.get(id);
      if (!cand) throw new RangeError(`repair names holder ${id} with no slot`);
      const key = rng.bytes(KEY_BYTES);
      const recipient = policy.outer === 'holder' ? cand.dhPublicKey : policy.outer;
      holders.push({ id, household: cand.household, outer: wrapKey(key, recipient, OUTER_KEY_INFO, outerWrapAad(body.object, id), rng) });
      e = { slot: holders.length - 1, key };
      slotKeys.set(id, e);
    }
    return e;
  };
  for (const r of plan.repairs) {
    const c = chunks[r.chunk]!;
    const before = report.shardsRead;
    const { sealed } = await readChunk(body, rs, objectKey, r.chunk, fetch, report);
    bytesRead += (report.shardsRead - before) * (shardBytes(c.sealed, body.k) + TAG_BYTES);
    const all = erasureCode(rs, sealed);
    const shards = [...c.shards];
    for (const { shard, holder } of r.rebuild) {
      const { slot, key } = keyFor(holder);
      const stored = sealShard(key, body.object, r.chunk, shard, all[shard]!);
      const root = merkleRoot(stored, body.blockBytes);
      shards[shard] = { holder: slot, root };
      bytesWritten += stored.length;
      await sink({ object: body.object, chunk: r.chunk, shard, holder, root, bytes: stored, wrap: holders[slot]!.outer, blockBytes: body.blockBytes });
    }
    chunks[r.chunk] = { sealed: c.sealed, shards };
  }
  for (const { key } of slotKeys.values()) key.fill(0);
  return { body: { ...body, version: body.version + 1, holders, chunks }, shardsRead: report.shardsRead, bytesRead, bytesWritten, bad: report.bad };
}
