// Possession audits (DESIGN.md §7): the auditor names random blocks of a stored shard; the
// holder answers with each block and its Merkle audit path; the auditor checks them against the
// shard's root in the manifest, so it never needs the shard itself. And the audit state of a
// holder as a pure transition: a failed proof is a failure at once, but an unanswered audit only
// makes the holder "contained" (Storj's word): a router rebooting overnight is not data loss.
// Only a holder contained for longer than the grace period counts as failed.
import { HOUR } from '../core/clock.js';
import type { Rng } from '../core/rng.js';
import { auditPath, blockCount, leafHashes, verifyBlock } from './merkle.js';

export interface BlockProof {
  index: number;
  block: Uint8Array;
  path: Uint8Array[];
}

export interface Challenge {
  object: Uint8Array;
  chunk: number;
  shard: number;
  indices: number[];
}

export const DEFAULT_BLOCKS_PER_CHALLENGE = 2;

/** Distinct random block indices of a shard of storedBytes. */
export function chooseBlocks(storedBytes: number, blockBytes: number, rng: Rng, count = DEFAULT_BLOCKS_PER_CHALLENGE): number[] {
  const n = blockCount(storedBytes, blockBytes);
  const picked = new Set<number>();
  while (picked.size < Math.min(count, n)) picked.add(rng.below(n));
  return [...picked].sort((a, b) => a - b);
}

/** The holder's side: blocks and paths from the bytes it stores. */
export function proveBlocks(stored: Uint8Array, blockBytes: number, indices: readonly number[]): BlockProof[] {
  const leaves = leafHashes(stored, blockBytes);
  return indices.map((index) => {
    if (!Number.isInteger(index) || index < 0 || index >= leaves.length) throw new RangeError(`block ${index} is outside the shard`);
    return { index, block: stored.slice(index * blockBytes, (index + 1) * blockBytes), path: auditPath(leaves, index) };
  });
}

/** The auditor's side: every asked block proven, each of the right size, nothing else. */
export function checkProofs(root: Uint8Array, storedBytes: number, blockBytes: number, indices: readonly number[], proofs: readonly BlockProof[]): boolean {
  const n = blockCount(storedBytes, blockBytes);
  if (proofs.length !== indices.length) return false;
  return proofs.every((p, i) => {
    if (p.index !== indices[i]) return false;
    const want = p.index === n - 1 ? storedBytes - p.index * blockBytes : blockBytes;
    return p.block.length === want && verifyBlock(root, n, p.index, p.block, p.path);
  });
}

export type AuditState = 'ok' | 'contained' | 'failed';
export type AuditOutcome = 'pass' | 'fail' | 'no-answer';

export interface HolderAudit {
  state: AuditState;
  /** When the current run of unanswered audits began (contained), else undefined. */
  containedSinceMs?: number;
  lastPassMs?: number;
  /** When it last became failed (a holder failed for an object may hold it again a grace period later). */
  failedAtMs?: number;
  passes: number;
  failures: number;
  misses: number;
}

export interface AuditParams {
  /** How long a holder may stay unanswering before it counts as failed. */
  containGraceMs: number;
}

/** Two days: a router off over a weekend night or a laptop closed overnight stays contained. */
export const DEFAULT_AUDIT_PARAMS: AuditParams = { containGraceMs: 48 * HOUR };

export const freshAudit = (): HolderAudit => ({ state: 'ok', passes: 0, failures: 0, misses: 0 });

export function nextAudit(prev: HolderAudit, outcome: AuditOutcome, nowMs: number, p: AuditParams = DEFAULT_AUDIT_PARAMS): HolderAudit {
  if (outcome === 'pass') return { state: 'ok', lastPassMs: nowMs, passes: prev.passes + 1, failures: prev.failures, misses: prev.misses };
  if (outcome === 'fail') return { ...prev, state: 'failed', containedSinceMs: undefined, failedAtMs: nowMs, failures: prev.failures + 1 };
  if (prev.state === 'failed') return { ...prev, misses: prev.misses + 1 };
  const since = prev.containedSinceMs ?? nowMs;
  const failed = nowMs - since >= p.containGraceMs;
  return { ...prev, state: failed ? 'failed' : 'contained', containedSinceMs: since, ...(failed ? { failedAtMs: nowMs } : {}), misses: prev.misses + 1 };
}

/** Failed by a wrong or missing proof (or a revoked holder), not only by staying silent past the grace period. */
export const failedByProof = (a: HolderAudit): boolean => a.state === 'failed' && a.containedSinceMs === undefined;
