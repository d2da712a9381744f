// ChaCha20-Poly1305 (RFC 8439, libsodium's `crypto_aead_chacha20poly1305_ietf_*`) from
// `sodium-native`: libsodium itself, compiled for the machine, behind N-API. The package carries
// prebuilt addons (linux x64 and arm64 among them, no install script); where none fits (32-bit
// ARM, musl, MIPS) it cannot load and core/aead.ts keeps the WebAssembly build (core/aead-sodium.ts).
// It is the fastest ChaCha20-Poly1305 kith has at datagram size on both runtimes: 1.4–2.2 µs for
// 1154 bytes against 3.3–4.1 µs for the WebAssembly, which has no SIMD, and node:crypto's
// 6.9–7.9 µs, most of which is a cipher context per call (bench/README.md, issue 15). core/aead.ts checks it
// against noble before using it.
//
// Everything is computed in the caller's buffers: no copy into a heap of its own, and so no
// plaintext left behind to wipe.
import type { AeadBackend } from './aead.js';

const TAG = 16;
const KEY = 32;
const NONCE = 12;

/** What kith calls of sodium-native (it ships no types). */
export interface SodiumNative {
  crypto_aead_chacha20poly1305_ietf_encrypt(c: Uint8Array, m: Uint8Array, ad: Uint8Array | null, nsec: null, npub: Uint8Array, k: Uint8Array): number;
  /** Throws when the tag does not verify. */
  crypto_aead_chacha20poly1305_ietf_decrypt(m: Uint8Array, nsec: null, c: Uint8Array, ad: Uint8Array | null, npub: Uint8Array, k: Uint8Array): number;
}

/** Loads sodium-native; undefined where it is absent or no prebuilt addon fits this machine. */
export async function loadSodiumNative(): Promise<SodiumNative | undefined> {
  try {
    const m = (await import('sodium-native')) as { default?: SodiumNative } & Partial<SodiumNative>;
    const s = (m.default ?? m) as SodiumNative;
    return typeof s.crypto_aead_chacha20poly1305_ietf_encrypt === 'function' ? s : undefined;
  } catch {
    return undefined;
  }
}

const sizesOk = (key: Uint8Array, nonce: Uint8Array): boolean => key.length === KEY && nonce.length === NONCE;

function check(key: Uint8Array, nonce: Uint8Array): void {
  // sodium-native asserts these too, with messages that do not name the construction.
  if (!sizesOk(key, nonce)) throw new RangeError(`ChaCha20-Poly1305 needs a ${KEY}-byte key and a ${NONCE}-byte nonce, got ${key.length} and ${nonce.length}`);
}

/** The AEAD backend over a loaded sodium-native. */
export function sodiumNativeBackend(s: SodiumNative): AeadBackend {
  const sealTo = (key: Uint8Array, nonce: Uint8Array, pt: Uint8Array, ad: Uint8Array | null, out: Uint8Array): void => {
    check(key, nonce);
    s.crypto_aead_chacha20poly1305_ietf_encrypt(out, pt, ad, null, nonce, key);
  };
  /**
   * Opens `sealed` into `out` (which may be sealed's own first bytes); false when the tag does not
   * verify, or for a key or nonce of the wrong size (bad input is never a throw when opening).
   */
  const openTo = (key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array | null, out: Uint8Array): boolean => {
    if (!sizesOk(key, nonce)) return false;
    try {
      s.crypto_aead_chacha20poly1305_ietf_decrypt(out, null, sealed, ad, nonce, key);
      return true;
    } catch {
      return false;
    }
  };
  const open = (key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array | null): Uint8Array | undefined => {
    if (sealed.length < TAG) return undefined;
    const out = new Uint8Array(sealed.length - TAG);
    return openTo(key, nonce, sealed, ad, out) ? out : undefined;
  };
  // libsodium verifies the tag over the ciphertext before it decrypts, and decrypts in place when
  // the output starts where the input does: openOver writes the plaintext over the datagram. When
  // the tag is wrong it zeroes the output, i.e. the datagram's first bytes, which the caller has
  // given up (AeadBackend.openOver).
  return {
    name: 'libsodium (native)',
    seal(key, nonce, pt, ad) {
      const out = new Uint8Array(pt.length + TAG);
      sealTo(key, nonce, pt, ad.length > 0 ? ad : null, out);
      return out;
    },
    open: (key, nonce, sealed, ad) => open(key, nonce, sealed, ad.length > 0 ? ad : null),
    prepare: (key) => ({ bytes: key }),
    sealInto(key, nonce, pt, out, offset) {
      sealTo(key.bytes, nonce, pt, null, out.subarray(offset, offset + pt.length + TAG));
    },
    openWith: (key, nonce, sealed) => open(key.bytes, nonce, sealed, null),
    openOver(key, nonce, sealed) {
      if (sealed.length < TAG) return undefined;
      const out = sealed.subarray(0, sealed.length - TAG);
      return openTo(key.bytes, nonce, sealed, null, out) ? out : undefined;
    },
  };
}
