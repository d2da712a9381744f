// Making a node identity from a seed phrase: derive the root and node keys, have the root key
// certify the node, and forget the root secret and the seed.
import type { Clock } from '../core/clock.js';
import { issueCertificate, issueRevocation, type Role } from './certificate.js';
import { deriveNodeKeys, deriveOwnSecret, deriveUserRoot, type NodeKeys } from './keys.js';
import { phraseToSeed } from './phrase.js';

export interface NewNodeOptions {
  phrase: string;
  passphrase?: string;
  nodeIndex: number;
  generation: number;
  roles: Role[];
  label: string;
}

export interface CertifiedNode {
  keys: NodeKeys;
  certBytes: Uint8Array;
  userKey: Uint8Array;
  /** Shared by all of the user's nodes (keys.ts). */
  ownSecret: Uint8Array;
}

export function certifyNode(clock: Pick<Clock, 'wallTime'>, opts: NewNodeOptions): CertifiedNode {
  const seed = phraseToSeed(opts.phrase, opts.passphrase ?? '');
  try {
    const root = deriveUserRoot(seed);
    try {
      const keys = deriveNodeKeys(seed, opts.nodeIndex, opts.generation);
      const certBytes = issueCertificate(root.secretKey, {
        userKey: root.publicKey,
        nodeIndex: opts.nodeIndex,
        generation: opts.generation,
        signKey: keys.sign.publicKey,
        dhKey: keys.dh.publicKey,
        roles: opts.roles,
        label: opts.label,
        issuedAtMs: Math.floor(clock.wallTime()),
      });
      return { keys, certBytes, userKey: root.publicKey, ownSecret: deriveOwnSecret(seed) };
    } finally {
      root.secretKey.fill(0);
    }
  } finally {
    seed.fill(0);
  }
}

/** The user key a phrase stands for (nothing else is kept). */
export function userKeyOf(phrase: string, passphrase = ''): Uint8Array {
  const seed = phraseToSeed(phrase, passphrase);
  try {
    const root = deriveUserRoot(seed);
    root.secretKey.fill(0);
    return root.publicKey;
  } finally {
    seed.fill(0);
  }
}

/**
 * The X25519 secret key of node `nodeIndex`, generation `generation`, derived again from the
 * phrase: `kith node revoke` hands a revoked access device's key to the agent, which re-seals the
 * history whose outer layer was sealed to it (archive/README.md "Revoked access devices"). The
 * key is worthless otherwise: its certificate is revoked, so no member talks to it.
 */
export function nodeDhSecret(opts: { phrase: string; passphrase?: string; nodeIndex: number; generation: number }): Uint8Array {
  const seed = phraseToSeed(opts.phrase, opts.passphrase ?? '');
  try {
    const keys = deriveNodeKeys(seed, opts.nodeIndex, opts.generation);
    keys.sign.secretKey.fill(0);
    return keys.dh.secretKey;
  } finally {
    seed.fill(0);
  }
}

/** A revocation of node `nodeIndex`, generation `generation`, signed by the phrase's root key. */
export function revokeNode(clock: Pick<Clock, 'wallTime'>, opts: { phrase: string; passphrase?: string; nodeIndex: number; generation: number; reason: string }): Uint8Array {
  const seed = phraseToSeed(opts.phrase, opts.passphrase ?? '');
  try {
    const root = deriveUserRoot(seed);
    try {
      return issueRevocation(root.secretKey, {
        userKey: root.publicKey, nodeIndex: opts.nodeIndex, generation: opts.generation,
        revokedAtMs: Math.floor(clock.wallTime()), reason: opts.reason,
      });
    } finally {
      root.secretKey.fill(0);
    }
  } finally {
    seed.fill(0);
  }
}
