// Revoking one of this user's nodes in the browser: the recovery phrase typed in the page derives
// the user's root key here (identity/create.ts revokeNode, the CLI's own code, bundled with the
// @noble backend) and signs the kith/node-revocation. What goes to the agent is the signed
// revocation (POST /api/v1/nodes/revoke) and then, as `kith node revoke` does, the revoked node's
// own X25519 secret key (POST /api/v1/archive/reseal), so the archive re-seals the history sealed
// to that device; never the phrase or the root key. Loaded on demand (dist/web/revoke.js), so
// the first load stays small.
import './buffer-global.js';
import { nodeDhSecret, revokeNode } from '../../identity/create.js';

const normal = (phrase: string) => phrase.trim().toLowerCase().split(/\s+/).join(' ');

function base64(bytes: Uint8Array): string {
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin);
}

export function signRevocation(phrase: string, nodeIndex: number, generation: number, reason: string): string {
  return base64(revokeNode({ wallTime: () => Date.now() }, { phrase: normal(phrase), nodeIndex, generation, reason }));
}

/** The revoked node's X25519 secret key (base64) for the archive's re-sealing; the bytes are zeroed. */
export function revokedNodeKey(phrase: string, nodeIndex: number, generation: number): string {
  const key = nodeDhSecret({ phrase: normal(phrase), nodeIndex, generation });
  try {
    return base64(key);
  } finally {
    key.fill(0);
  }
}
