// Key layout (DESIGN.md §4). Every key derives from the BIP39 seed by SLIP-0010, hardened:
//   user root key   ed25519     m/5484'/0'          its public key is the user id
//   node n, gen g   ed25519     m/5484'/1'/n'/g'    node signing key
//   node n, gen g   curve25519  m/5484'/2'/n'/g'    node Diffie-Hellman (Noise static) key
//   own secret      ed25519     m/5484'/3'          32 bytes (the IL) every node of the user shares
// 5484 is kith's UDP port, used here as the purpose number so the tree is kith's alone.
import { derivePath, publicKeyOf } from './slip10.js';

export const PURPOSE = 5484;
/** Node indexes and generations are hardened SLIP-0010 steps: below 2^31. */
export const MAX_INDEX = 0x7fffffff;

export interface KeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

export interface NodeKeys {
  nodeIndex: number;
  generation: number;
  sign: KeyPair;
  dh: KeyPair;
}

export const userRootPath = (): string => `m/${PURPOSE}'/0'`;
export const nodeSignPath = (n: number, g: number): string => `m/${PURPOSE}'/1'/${n}'/${g}'`;
export const ownSecretPath = (): string => `m/${PURPOSE}'/3'`;
export const nodeDhPath = (n: number, g: number): string => `m/${PURPOSE}'/2'/${n}'/${g}'`;

function checkIndex(what: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > MAX_INDEX) throw new RangeError(`${what} must be an integer 0..${MAX_INDEX}, got ${v}`);
}

function pair(curve: 'ed25519' | 'curve25519', seed: Uint8Array, path: string): KeyPair {
  const node = derivePath(curve, seed, path);
  node.chainCode.fill(0);
  return { secretKey: node.privateKey, publicKey: publicKeyOf(curve, node.privateKey) };
}

export function deriveUserRoot(seed: Uint8Array): KeyPair {
  return pair('ed25519', seed, userRootPath());
}

/**
 * The secret a user's own nodes share (the bootstrap secret of cluster/README.md between them):
 * each node derives it from the phrase when it is made, so no node has to hand it to another.
 */
export function deriveOwnSecret(seed: Uint8Array): Uint8Array {
  const node = derivePath('ed25519', seed, ownSecretPath());
  node.chainCode.fill(0);
  return node.privateKey;
}

export function deriveNodeKeys(seed: Uint8Array, nodeIndex: number, generation: number): NodeKeys {
  checkIndex('node index', nodeIndex);
  checkIndex('generation', generation);
  return {
    nodeIndex,
    generation,
    sign: pair('ed25519', seed, nodeSignPath(nodeIndex, generation)),
    dh: pair('curve25519', seed, nodeDhPath(nodeIndex, generation)),
  };
}
