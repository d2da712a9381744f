// The owner's side of per-friend accounting: how many bytes each holder (and so each friend's
// household) keeps for me, from my manifests. The holder's side — what I keep for each friend —
// is Holder.usedBy. Together they give the per-friend ledger of DESIGN.md §7.
import type { ManifestBody } from './manifest.js';
import { shardBytes } from './pipeline.js';
import { TAG_BYTES } from './seal.js';

export interface HeldForMe {
  byHolder: Map<string, number>;
  byHousehold: Map<string, number>;
}

export function heldForMe(manifests: Iterable<ManifestBody>): HeldForMe {
  const byHolder = new Map<string, number>();
  const byHousehold = new Map<string, number>();
  for (const body of manifests) {
    for (const c of body.chunks) {
      const stored = shardBytes(c.sealed, body.k) + TAG_BYTES;
      for (const s of c.shards) {
        const h = body.holders[s.holder]!;
        byHolder.set(h.id, (byHolder.get(h.id) ?? 0) + stored);
        byHousehold.set(h.household, (byHousehold.get(h.household) ?? 0) + stored);
      }
    }
  }
  return { byHolder, byHousehold };
}
