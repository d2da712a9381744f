// Revoking one of this user's nodes in the browser: the recovery phrase typed in the page derives
// the user's root key here (identity/create.ts revokeNode, the CLI's own code, bundled with the
// @noble backend), signs the kith/node-revocation, and only the signed revocation goes to the
// agent (POST /api/nodes/revoke). Loaded on demand (dist/web/revoke.js), so the first load stays small.
import './buffer-global.js';
import { revokeNode } from '../../identity/create.js';

export function signRevocation(phrase: string, nodeIndex: number, generation: number, reason: string): string {
  const bytes = revokeNode({ wallTime: () => Date.now() }, { phrase: phrase.trim().toLowerCase().split(/\s+/).join(' '), nodeIndex, generation, reason });
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}
