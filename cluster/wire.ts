// Transport wire format (cluster/README.md has the byte tables). All integers little-endian, as
// in WireGuard, whose message layout this follows.
import { blake2s } from '@noble/hashes/blake2.js';
import { blake2sHash } from '../core/blake2s.js';

export const MSG_INITIATION = 1;
export const MSG_RESPONSE = 2;
export const MSG_COOKIE = 3;
export const MSG_DATA = 4;

export const MAC_BYTES = 16;
/** type(1) reserved(3) sender(4) | noise msg 1 | mac1 mac2 */
export const INIT_HEADER = 8;
/** type(1) reserved(3) sender(4) receiver(4) | noise msg 2 | mac1 mac2 */
export const RESP_HEADER = 12;
/** type(1) reserved(3) receiver(4) nonce(24) cookie(16+16) */
export const COOKIE_REPLY_BYTES = 4 + 4 + 24 + 32;
/** type(1) reserved(3) receiver(4) counter(8) | ciphertext+tag */
export const DATA_HEADER = 16;
/** Largest UDP payload kith sends: fits every path MTU that matters, with room for tunnels. */
export const MAX_DATAGRAM = 1200;

export const LABEL_MAC1 = new TextEncoder().encode('mac1----');
export const LABEL_COOKIE = new TextEncoder().encode('cookie--');
export const PROLOGUE = new TextEncoder().encode('kith transport v1');
export const PROTOCOL_NAME = 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s';

const concat = (a: Uint8Array, b: Uint8Array) => {
  const o = new Uint8Array(a.length + b.length);
  o.set(a);
  o.set(b, a.length);
  return o;
};

/** The key under which messages to `staticPublic` carry mac1: BLAKE2s("mac1----" || S_pub). */
export const mac1Key = (staticPublic: Uint8Array): Uint8Array => blake2sHash(concat(LABEL_MAC1, staticPublic));
/** The key of cookie replies from `staticPublic`: BLAKE2s("cookie--" || S_pub). */
export const cookieKey = (staticPublic: Uint8Array): Uint8Array => blake2sHash(concat(LABEL_COOKIE, staticPublic));
/** Keyed BLAKE2s with a 16-byte output (WireGuard's MAC). */
export const mac = (key: Uint8Array, data: Uint8Array): Uint8Array => blake2s(data, { key, dkLen: MAC_BYTES });

export function header(type: number, size: number): { buf: Uint8Array; view: DataView } {
  const buf = new Uint8Array(size);
  buf[0] = type;
  return { buf, view: new DataView(buf.buffer) };
}

export function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Constant-time comparison of two MACs. */
export function macEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i]! ^ b[i]!;
  return d === 0;
}
