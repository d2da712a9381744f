// Re-sealing after an own access device is revoked (archive/README.md "Revoked access devices").
// An object whose object key is wrapped to the revoked device (inner layer), or whose holder
// slots' outer keys are (history's device B), is read back and archived anew under the current
// device set: a fresh object key, fresh outer keys, a fresh placement; then the old object is
// deleted at its holders. The decision of what an object needs is pure, here; the owner
// (archive/owner.ts `resealAll`) does the reading and writing.
import { bytesEqual, toHex } from '../core/hex.js';
import type { ManifestBody } from './manifest.js';

/**
 * What one object needs, given the revoked devices' DH public keys (hex) and the revoked keys
 * this node has the secret of (hex of their public keys):
 *   'none'      no layer of it is sealed to a revoked device;
 *   'ready'     some layer is, and every in-use slot's outer layer can be opened now;
 *   'needs-key' an in-use slot's outer key is wrapped to a revoked device whose secret key is not
 *               here: it cannot be read until that key is derived from the phrase (`kith node revoke`).
 */
export type ResealNeed = 'none' | 'ready' | 'needs-key';

export function resealNeed(body: ManifestBody, revoked: ReadonlySet<string>, secrets: ReadonlySet<string>): ResealNeed {
  const outer = deviceSealedTo(body);
  const outerRevoked = outer !== undefined && revoked.has(toHex(outer));
  const inner = body.inner.some((w) => revoked.has(toHex(w.recipient)));
  if (!outerRevoked && !inner) return 'none';
  return !outerRevoked || secrets.has(toHex(outer!)) ? 'ready' : 'needs-key';
}

/**
 * The one key every holder slot's outer key is wrapped to (device B of history), or undefined when
 * each slot is wrapped to its own holder. Told apart by shape, not by who the key belongs to: a
 * device-sealed object wraps every slot to one key over two or more holders, a holder-sealed one
 * wraps each holder's slots to that holder (and a revoked access device may have been a holder).
 */
export function deviceSealedTo(body: ManifestBody): Uint8Array | undefined {
  const first = body.holders[0]?.outer.recipient;
  if (!first || new Set(body.holders.map((h) => h.id)).size < 2) return undefined;
  return body.holders.every((h) => bytesEqual(h.outer.recipient, first)) ? first : undefined;
}

/** The revoked devices an object's layers name (hex DH public keys): its inner recipients and its device B. */
export function revokedIn(body: ManifestBody, revoked: ReadonlySet<string>): string[] {
  const outer = deviceSealedTo(body);
  const all = [...body.inner.map((w) => w.recipient), ...(outer ? [outer] : [])].map(toHex);
  return [...new Set(all.filter((r) => revoked.has(r)))];
}
