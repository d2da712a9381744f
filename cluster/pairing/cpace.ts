// CPace (draft-irtf-cfrg-cpace), the X25519 / SHA-512 suite "CPace255", as the CFRG draft
// specifies it and its test vectors check (test/vectors/data/cpace, G_25519):
//
//   generator_string = lv_cat("CPace255", PRS, zero_bytes(zpad), CI, sid)
//                      zpad = max(0, 128 − 1 − len(prepend_len(PRS)) − len(prepend_len(DSI)))
//   g   = Elligator2(decodeUCoordinate(SHA-512(generator_string)[0..32], 255 bits))  (Z = 2)
//   Y   = X25519(y, g)                          (y: 32 random bytes, RFC 7748 clamping)
//   K   = X25519(y, Y_other); abort if K is all zero (a low-order point)
//   ISK = SHA-512(lv_cat("CPace255_ISK", sid, K) || lv_cat(Ya, ADa) || lv_cat(Yb, ADb))
//
// lv_cat prefixes every field with its LEB128 length. The map is noble's RFC 9380
// map_to_curve_elligator2_curve25519, whose x-coordinate is the draft's Elligator 2 output.
// Primitives only from @noble (no cryptography of our own beyond the draft's composition).
import { _map_to_curve_elligator2_curve25519, x25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes } from '@noble/hashes/utils.js';

const DSI = new TextEncoder().encode('CPace255');
const DSI_ISK = new TextEncoder().encode('CPace255_ISK');
const P = 2n ** 255n - 19n;

export function prependLen(data: Uint8Array): Uint8Array {
  const len: number[] = [];
  let n = data.length;
  for (;;) {
    if (n < 128) len.push(n);
    else len.push((n & 0x7f) + 0x80);
    n = Math.floor(n / 128);
    if (n === 0) break;
  }
  const out = new Uint8Array(len.length + data.length);
  out.set(len);
  out.set(data, len.length);
  return out;
}

export function lvCat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(...parts.map(prependLen));
}

export function generatorString(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const zpad = Math.max(0, 128 - 1 - prependLen(prs).length - prependLen(DSI).length);
  return lvCat(DSI, prs, new Uint8Array(zpad), ci, sid);
}

function modPow(b: bigint, e: bigint): bigint {
  let r = 1n;
  b %= P;
  while (e > 0n) {
    if (e & 1n) r = (r * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return r;
}

/** The password-dependent generator g (a Curve25519 u-coordinate, 32 bytes little-endian). */
export function calculateGenerator(prs: Uint8Array, ci: Uint8Array, sid: Uint8Array): Uint8Array {
  const h = sha512(generatorString(prs, ci, sid)).slice(0, 32);
  h[31]! &= 0x7f;
  let u = 0n;
  for (let i = 31; i >= 0; i--) u = (u << 8n) | BigInt(h[i]!);
  const { xMn, xMd } = _map_to_curve_elligator2_curve25519(u % P);
  let x = (xMn * modPow(xMd, P - 2n)) % P;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    out[i] = Number(x & 255n);
    x >>= 8n;
  }
  return out;
}

/** This side's share Y = X25519(y, g). */
export function cpaceShare(y: Uint8Array, g: Uint8Array): Uint8Array {
  return x25519.scalarMult(y, g);
}

/** K = X25519(y, Y_other), or undefined when the other share is a low-order point (abort). */
export function cpaceSecret(y: Uint8Array, other: Uint8Array): Uint8Array | undefined {
  if (other.length !== 32) return undefined;
  let k: Uint8Array;
  try {
    k = x25519.scalarMult(y, other);
  } catch {
    return undefined; // noble refuses an all-zero result itself
  }
  return k.every((b) => b === 0) ? undefined : k;
}

/** The intermediate session key, initiator-responder ordering (transcript_ir). */
export function cpaceIsk(sid: Uint8Array, k: Uint8Array, ya: Uint8Array, ada: Uint8Array, yb: Uint8Array, adb: Uint8Array): Uint8Array {
  return sha512(concatBytes(lvCat(DSI_ISK, sid, k), lvCat(ya, ada), lvCat(yb, adb)));
}
