// ChaCha20-Poly1305 (RFC 8439, libsodium's `crypto_aead_chacha20poly1305_ietf_*`) from the
// `libsodium` package: libsodium itself compiled to WebAssembly. It is the AEAD backend where
// node:crypto lacks chacha20-poly1305 (Bun, oven-sh/bun#8072): 2–4× noble's pure-JS speed on a
// 1200-byte datagram there (docs/PLATFORM.md), which is what the transport's throughput on Bun
// rests on. core/aead.ts checks it against noble before using it.
//
// The C functions are called directly (the package's purpose: "raw library, no wrappers"): one
// scratch region of the WebAssembly heap holds key, nonce, associated data, input and output of
// the call in progress, and is wiped (key and plaintext) before the call returns. Emscripten
// passes each `unsigned long long` length as two 32-bit halves (low, high).
import type { AeadBackend } from './aead.js';

const TAG = 16;
const KEY = 32;
const NONCE = 12;
/** Scratch kept between calls; larger calls (archive chunks) take a region of their own and free it. */
const KEEP_BYTES = 64 * 1024;

interface SodiumModule {
  HEAPU8: Uint8Array;
  _malloc(n: number): number;
  _free(p: number): void;
  _sodium_init(): number;
  _crypto_aead_chacha20poly1305_ietf_encrypt(c: number, clenP: number, m: number, mlenLo: number, mlenHi: number, ad: number, adlenLo: number, adlenHi: number, nsec: number, npub: number, k: number): number;
  _crypto_aead_chacha20poly1305_ietf_decrypt(m: number, mlenP: number, nsec: number, c: number, clenLo: number, clenHi: number, ad: number, adlenLo: number, adlenHi: number, npub: number, k: number): number;
}

/** Instantiates libsodium's WebAssembly; undefined where it cannot load. */
export async function loadSodiumModule(): Promise<SodiumModule | undefined> {
  try {
    const { default: instantiate } = await import('libsodium');
    // sodium_init seeds libsodium's generator (unused here); on Node 20 its own lookup of a random
    // source finds none (no `self`, no `require` in an ES module), so it is handed the OS's.
    const m = (await instantiate({ getRandomValue: () => globalThis.crypto.getRandomValues(new Uint32Array(1))[0]! })) as SodiumModule;
    if (m._sodium_init() < 0) return undefined;
    return m;
  } catch {
    return undefined;
  }
}

/** The AEAD backend over a loaded module. */
export function sodiumBackend(m: SodiumModule): AeadBackend {
  let kept = 0;
  let keptBytes = 0;
  /** A region of at least n bytes: the kept scratch, or one of its own (freed by release). */
  const region = (n: number): number => {
    if (n > KEEP_BYTES) {
      const p = m._malloc(n);
      if (p === 0) throw new RangeError(`libsodium could not allocate ${n} bytes`);
      return p;
    }
    if (keptBytes === 0) {
      kept = m._malloc(KEEP_BYTES);
      if (kept === 0) throw new RangeError('libsodium could not allocate its scratch region');
      keptBytes = KEEP_BYTES;
    }
    return kept;
  };
  const release = (p: number, n: number): void => {
    m.HEAPU8.fill(0, p, p + n);
    if (p !== kept) m._free(p);
  };
  /** Runs one call with key, nonce, ad and input copied in; returns the output (a copy), or undefined. */
  const call = (encrypt: boolean, key: Uint8Array, nonce: Uint8Array, input: Uint8Array, ad: Uint8Array, out?: Uint8Array, offset = 0): Uint8Array | undefined => {
    if (key.length !== KEY || nonce.length !== NONCE) {
      // Opening bad input is never a throw (AeadBackend): a key or nonce of the wrong size opens nothing.
      if (!encrypt) return undefined;
      throw new RangeError(`ChaCha20-Poly1305 needs a ${KEY}-byte key and a ${NONCE}-byte nonce, got ${key.length} and ${nonce.length}`);
    }
    const outLen = encrypt ? input.length + TAG : input.length - TAG;
    const size = KEY + 16 + ad.length + input.length + input.length + TAG;
    const p = region(size);
    const k = p, n = p + KEY, a = n + 16, i = a + ad.length, o = i + input.length;
    const heap = m.HEAPU8; // read after the allocation: a grown memory has a new buffer
    heap.set(key, k);
    heap.set(nonce, n);
    heap.set(ad, a);
    heap.set(input, i);
    try {
      const rc = encrypt
        ? m._crypto_aead_chacha20poly1305_ietf_encrypt(o, 0, i, input.length, 0, a, ad.length, 0, 0, n, k)
        : m._crypto_aead_chacha20poly1305_ietf_decrypt(o, 0, 0, i, input.length, 0, a, ad.length, 0, n, k);
      if (rc !== 0) return undefined;
      const result = m.HEAPU8.subarray(o, o + outLen);
      if (!out) return result.slice();
      out.set(result, offset);
      return out;
    } finally {
      release(p, size);
    }
  };
  return {
    name: 'libsodium (wasm)',
    seal: (key, nonce, pt, ad) => call(true, key, nonce, pt, ad)!,
    open: (key, nonce, sealed, ad) => (sealed.length < TAG ? undefined : call(false, key, nonce, sealed, ad)),
    prepare: (key) => ({ bytes: key }),
    sealInto(key, nonce, pt, out, offset) {
      call(true, key.bytes, nonce, pt, EMPTY, out, offset);
    },
    openWith: (key, nonce, sealed) => (sealed.length < TAG ? undefined : call(false, key.bytes, nonce, sealed, EMPTY)),
    // The input is in the heap before the output is written back, so out may be the input itself.
    openOver: (key, nonce, sealed) => (sealed.length < TAG ? undefined : call(false, key.bytes, nonce, sealed, EMPTY, sealed.subarray(0, sealed.length - TAG))),
  };
}

const EMPTY = new Uint8Array(0);
