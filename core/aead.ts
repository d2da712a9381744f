// ChaCha20-Poly1305 (RFC 8439) behind one interface with two backends: node:crypto where the
// runtime has it (Node; Bun lacks it, oven-sh/bun#8072) and @noble/ciphers everywhere. Both pass
// the same vectors (test/vectors/aead.test.ts). XChaCha20-Poly1305 (cookie replies) is noble's.
import * as nodeCrypto from 'node:crypto';
import { chacha20poly1305, xchacha20poly1305 } from '@noble/ciphers/chacha.js';

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

export const xaead = {
  seal: (key: Uint8Array, nonce24: Uint8Array, pt: Uint8Array, ad: Uint8Array): Uint8Array => xchacha20poly1305(key, nonce24, ad).encrypt(pt),
  open(key: Uint8Array, nonce24: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | undefined {
    if (sealed.length < TAG_BYTES) return undefined;
    try {
      return xchacha20poly1305(key, nonce24, ad).decrypt(sealed);
    } catch {
      return undefined;
    }
  },
};
