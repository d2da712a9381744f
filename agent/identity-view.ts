// How a node identity is shown: `kith id --json`, GET /api/id, and status.
import { toHex } from '../core/hex.js';
import type { NodeIdentity } from '../identity/keystore.js';

export interface IdentityView {
  userKey: string;
  nodeIndex: number;
  generation: number;
  nodeSignKey: string;
  nodeDhKey: string;
  roles: string[];
  label: string;
}

export function viewIdentity(id: NodeIdentity): IdentityView {
  return {
    userKey: toHex(id.cert.userKey),
    nodeIndex: id.cert.nodeIndex,
    generation: id.cert.generation,
    nodeSignKey: toHex(id.cert.signKey),
    nodeDhKey: toHex(id.cert.dhKey),
    roles: [...id.cert.roles],
    label: id.cert.label,
  };
}

export function formatIdentity(v: IdentityView): string {
  return [
    `user key      ${v.userKey}`,
    `node          ${v.nodeIndex} (generation ${v.generation})${v.label ? `  "${v.label}"` : ''}`,
    `roles         ${v.roles.join(', ')}`,
    `node sign key ${v.nodeSignKey}`,
    `node DH key   ${v.nodeDhKey}`,
  ].join('\n');
}
