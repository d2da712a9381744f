// Merkle trees over a shard's fixed-size blocks (RFC 9162 §2.1: leaf = SHA-256(0x00 ‖ block),
// node = SHA-256(0x01 ‖ left ‖ right), split at the largest power of two below n), so a holder
// proves it holds block i by sending the block and its audit path, and the auditor checks it
// against the root in the manifest without holding the shard. The root is also the shard's
// content address. SHA-256 is node:crypto's: native on Node and Bun.
import { createHash } from 'node:crypto';

export const HASH_BYTES = 32;

export function sha256(...parts: Uint8Array[]): Uint8Array {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return new Uint8Array(h.digest());
}

const LEAF = Uint8Array.of(0);
const NODE = Uint8Array.of(1);

export function blockCount(bytes: number, blockBytes: number): number {
  return Math.max(1, Math.ceil(bytes / blockBytes));
}

export function leafHashes(data: Uint8Array, blockBytes: number): Uint8Array[] {
  const n = blockCount(data.length, blockBytes);
  return Array.from({ length: n }, (_, i) => sha256(LEAF, data.subarray(i * blockBytes, (i + 1) * blockBytes)));
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

function treeHash(leaves: Uint8Array[], lo: number, hi: number): Uint8Array {
  if (hi - lo === 1) return leaves[lo]!;
  const k = largestPowerOfTwoBelow(hi - lo);
  return sha256(NODE, treeHash(leaves, lo, lo + k), treeHash(leaves, lo + k, hi));
}

export function merkleRoot(data: Uint8Array, blockBytes: number): Uint8Array {
  return treeHash(leafHashes(data, blockBytes), 0, blockCount(data.length, blockBytes));
}

/** The audit path of leaf m (RFC 9162 §2.1.3.1), sibling hashes from the leaf up. */
export function auditPath(leaves: Uint8Array[], m: number, lo = 0, hi = leaves.length): Uint8Array[] {
  if (hi - lo === 1) return [];
  const k = largestPowerOfTwoBelow(hi - lo);
  return m - lo < k
    ? [...auditPath(leaves, m, lo, lo + k), treeHash(leaves, lo + k, hi)]
    : [...auditPath(leaves, m, lo + k, hi), treeHash(leaves, lo, lo + k)];
}

/** Verifies that block `index` of a tree of `size` leaves has this content (RFC 9162 §2.1.3.2). */
export function verifyBlock(root: Uint8Array, size: number, index: number, block: Uint8Array, path: readonly Uint8Array[]): boolean {
  if (!Number.isInteger(index) || index < 0 || index >= size) return false;
  let fn = index;
  let sn = size - 1;
  let r = sha256(LEAF, block);
  for (const p of path) {
    if (p.length !== HASH_BYTES || sn === 0) return false;
    if ((fn & 1) === 1 || fn === sn) {
      r = sha256(NODE, p, r);
      if ((fn & 1) === 0) while ((fn & 1) === 0 && fn !== 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else r = sha256(NODE, r, p);
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 && Buffer.compare(r, root) === 0;
}
