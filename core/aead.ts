// ChaCha20-Poly1305 (RFC 8439) behind one interface with two backends: node:crypto where the
// runtime has it (Node; Bun lacks it, oven-sh/bun#8072) and @noble/ciphers everywhere. Both pass
// the same vectors (test/vectors/aead.test.ts). XChaCha20-Poly1305 (cookie replies, sealed
// conversation envelopes) is the standard construction of draft-irtf-cfrg-xchacha §2.3 on top:
// an HChaCha20 subkey (noble's) and ChaCha20-Poly1305 with nonce 0x00000000 || nonce[16..24],
// native where the native ChaCha20-Poly1305 works, else noble's xchacha20poly1305.
import * as nodeCrypto from 'node:crypto';
import { chacha20poly1305, hchacha, xchacha20poly1305 } from '@noble/ciphers/chacha.js';

export interface AeadBackend {
  readonly name: string;
  /** ciphertext || 16-byte tag. */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array;
  /** The plaintext, or undefined when the tag does not verify (never a throw for bad input). */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | undefined;
}

export const TAG_BYTES = 16;

export const nobleAead: AeadBackend = {
  name: 'noble',
  seal: (key, nonce, pt, ad) => chacha20poly1305(key, nonce, ad).encrypt(pt),
  open(key, nonce, sealed, ad) {
    if (sealed.length < TAG_BYTES) return undefined;
    try {
      return chacha20poly1305(key, nonce, ad).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
};

export const nativeAead: AeadBackend = {
  name: 'node:crypto',
  seal(key, nonce, pt, ad) {
    const c = nodeCrypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
    c.setAAD(ad, { plaintextLength: pt.length });
    const out = new Uint8Array(pt.length + TAG_BYTES);
    const body = c.update(pt);
    c.final();
    out.set(body, 0);
    out.set(c.getAuthTag(), pt.length);
    return out;
  },
  open(key, nonce, sealed, ad) {
    if (sealed.length < TAG_BYTES) return undefined;
    try {
      const d = nodeCrypto.createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
      d.setAAD(ad, { plaintextLength: sealed.length - TAG_BYTES });
      d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      const body = d.update(sealed.subarray(0, sealed.length - TAG_BYTES));
      d.final();
      return new Uint8Array(body);
    } catch {
      return undefined;
    }
  },
};

function nativeWorks(): boolean {
  try {
    // RFC 8439 §2.8.2 key/nonce with a short message: native must agree with noble both ways.
    const key = new Uint8Array(32).map((_, i) => 0x80 + i);
    const nonce = Uint8Array.from([7, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47]);
    const ad = Uint8Array.from([0x50, 0x51, 0x52, 0x53]);
    const pt = new TextEncoder().encode('kith aead probe');
    const a = nativeAead.seal(key, nonce, pt, ad);
    return Buffer.from(a).equals(Buffer.from(nobleAead.seal(key, nonce, pt, ad))) && nobleAead.open(key, nonce, a, ad) !== undefined;
  } catch {
    return false;
  }
}

export const aead: AeadBackend = nativeWorks() ? nativeAead : nobleAead;

export interface XAeadBackend {
  readonly name: string;
  seal(key: Uint8Array, nonce24: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array;
  open(key: Uint8Array, nonce24: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | undefined;
}

export const nobleXaead: XAeadBackend = {
  name: 'noble',
  seal: (key, nonce24, pt, ad) => xchacha20poly1305(key, nonce24, ad).encrypt(pt),
  open(key, nonce24, sealed, ad) {
    if (sealed.length < TAG_BYTES) return undefined;
    try {
      return xchacha20poly1305(key, nonce24, ad).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
};

const SIGMA = Uint32Array.from([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]); // "expand 32-byte k"

/** Little-endian 32-bit words of bytes (whatever the host's order). */
function words(bytes: Uint8Array): Uint32Array {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Uint32Array.from({ length: bytes.length / 4 }, (_, i) => v.getUint32(4 * i, true));
}

/** HChaCha20 (draft-irtf-cfrg-xchacha §2.2): the 32-byte subkey of a key and the first 16 nonce bytes. */
export function hchacha20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  if (key.length !== 32 || nonce16.length !== 16) throw new RangeError('HChaCha20 takes a 32-byte key and a 16-byte nonce');
  const out = new Uint32Array(8);
  hchacha(SIGMA, words(key), words(nonce16), out);
  const bytes = new Uint8Array(32);
  const v = new DataView(bytes.buffer);
  out.forEach((w, i) => v.setUint32(4 * i, w, true));
  return bytes;
}

/** XChaCha20-Poly1305 over an RFC 8439 backend: subkey HChaCha20(key, nonce[0..16]), nonce 0^4 || nonce[16..24]. */
export function xaeadOver(inner: AeadBackend): XAeadBackend {
  const split = (key: Uint8Array, nonce24: Uint8Array) => {
    if (nonce24.length !== 24) throw new RangeError('XChaCha20-Poly1305 takes a 24-byte nonce');
    const nonce = new Uint8Array(12);
    nonce.set(nonce24.subarray(16), 4);
    return { subkey: hchacha20(key, nonce24.subarray(0, 16)), nonce };
  };
  return {
    name: `hchacha20 + ${inner.name}`,
    seal(key, nonce24, pt, ad) {
      const { subkey, nonce } = split(key, nonce24);
      return inner.seal(subkey, nonce, pt, ad);
    },
    open(key, nonce24, sealed, ad) {
      if (key.length !== 32 || nonce24.length !== 24) return undefined;
      const { subkey, nonce } = split(key, nonce24);
      return inner.open(subkey, nonce, sealed, ad);
    },
  };
}

export const nativeXaead: XAeadBackend = xaeadOver(nativeAead);

/** The native construction when it agrees with noble's XChaCha20-Poly1305 on a probe, both ways. */
function nativeXWorks(): boolean {
  if (aead !== nativeAead) return false;
  try {
    const key = new Uint8Array(32).map((_, i) => 0x80 + i);
    const nonce = new Uint8Array(24).map((_, i) => 0x40 + i);
    const ad = Uint8Array.from([0x50, 0x51, 0x52, 0x53]);
    const pt = new TextEncoder().encode('kith xaead probe');
    const a = nativeXaead.seal(key, nonce, pt, ad);
    return Buffer.from(a).equals(Buffer.from(nobleXaead.seal(key, nonce, pt, ad))) && nobleXaead.open(key, nonce, a, ad) !== undefined;
  } catch {
    return false;
  }
}

export const xaead: XAeadBackend = nativeXWorks() ? nativeXaead : nobleXaead;
