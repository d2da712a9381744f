// SLIP-0010 hardened derivation for ed25519 and curve25519
// (https://github.com/satoshilabs/slips/blob/master/slip-0010.md). Both curves allow only
// hardened children, and for both the child private key is IL itself (no modular addition).
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { signatures } from '../core/crypto.js';

export type Slip10Curve = 'ed25519' | 'curve25519';

const HARDENED = 0x80000000;
const MASTER_KEY: Record<Slip10Curve, Uint8Array> = {
  ed25519: new TextEncoder().encode('ed25519 seed'),
  curve25519: new TextEncoder().encode('curve25519 seed'),
};

export interface Slip10Node {
  privateKey: Uint8Array;
  chainCode: Uint8Array;
}

/** Parses "m/5484'/1'/0'/0'" into hardened indexes; rejects any non-hardened step. */
export function parsePath(path: string): number[] {
  const parts = path.split('/');
  if (parts[0] !== 'm') throw new RangeError(`a SLIP-0010 path starts with "m", got ${JSON.stringify(path)}`);
  return parts.slice(1).map((p) => {
    const m = /^(\d+)'$/.exec(p);
    if (m === null) throw new RangeError(`ed25519 and curve25519 derive hardened steps only ("N'"), got ${JSON.stringify(p)} in ${path}`);
    const n = Number(m[1]);
    if (n >= HARDENED) throw new RangeError(`path step ${p} is out of range`);
    return n + HARDENED;
  });
}

function split(I: Uint8Array): Slip10Node {
  return { privateKey: I.slice(0, 32), chainCode: I.slice(32) };
}

export function masterNode(curve: Slip10Curve, seed: Uint8Array): Slip10Node {
  if (seed.length < 16 || seed.length > 64) throw new RangeError(`a SLIP-0010 seed has 16 to 64 bytes, got ${seed.length}`);
  return split(hmac(sha512, MASTER_KEY[curve], seed));
}

export function childNode(parent: Slip10Node, index: number): Slip10Node {
  // SLIP-0010: I = HMAC-SHA512(Key = c_par, Data = 0x00 || ser256(k_par) || ser32(i)), i hardened.
  const data = new Uint8Array(37);
  data.set(parent.privateKey, 1);
  new DataView(data.buffer).setUint32(33, index);
  const I = hmac(sha512, parent.chainCode, data);
  data.fill(0);
  return split(I);
}

export function derivePath(curve: Slip10Curve, seed: Uint8Array, path: string): Slip10Node {
  let node = masterNode(curve, seed);
  for (const index of parsePath(path)) {
    const next = childNode(node, index);
    node.privateKey.fill(0);
    node = next;
  }
  return node;
}

/** The raw 32-byte public key of a derived private key on its curve. */
export function publicKeyOf(curve: Slip10Curve, privateKey: Uint8Array): Uint8Array {
  return curve === 'ed25519' ? signatures.ed25519PublicKey(privateKey) : signatures.x25519PublicKey(privateKey);
}
