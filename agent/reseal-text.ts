// What the archive's answer to a revoked node's key (POST /api/v1/archive/reseal) tells a person:
// one text for `kith node revoke` (agent/cli-node.ts) and the web page's revoke (agent/web/people.ts).
// No imports: the page bundles it.

export type Resealed = { opened: number; oneDevice: boolean };
/** The refusals after which the revocation still stands and only the key was not taken. */
export const RESEAL_SKIPS = ['ARCHIVE_RESEAL_KEY_UNKNOWN', 'ARCHIVE_RESEAL_DEVICE_LIVE', 'API_NOT_FOUND'] as const;
/** The archive did not take the key: the code and its message (no secret in either). */
export type ResealSkipped = { skipped: (typeof RESEAL_SKIPS)[number]; message: string };

/** The key's hand-over, true in each case (nothing sealed, refused, no archive). */
export function resealText(r: Resealed | ResealSkipped): string {
  if ('skipped' in r) {
    if (r.skipped === 'API_NOT_FOUND') return 'Archive: this agent takes no keys for re-sealing (no /api/v1/archive/reseal: an older version?); the key was not handed over.';
    return `Archive: the key was not taken, nothing was re-sealed: error[${r.skipped}]: ${r.message}`;
  }
  if (r.opened === 0) return 'Archive: nothing this node archived was sealed to it.';
  const lines = [`Archive: ${r.opened} object(s) sealed to it are being re-sealed away from it, in the background (the log says each one; objects whose holders are away are tried again every repair round).`];
  if (r.oneDevice) lines.push('warning[ARCHIVE_ONE_ACCESS_DEVICE]: this node is now your only access device: that history is sealed to it and to each holding relay (a stolen holder plus this device could read it). Add a second access device with `kith node add`; objects archived after that use both.');
  return lines.join('\n');
}
