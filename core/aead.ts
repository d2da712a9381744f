// ChaCha20-Poly1305 (RFC 8439) behind one interface with four backends: libsodium's native build
// (core/aead-native.ts, sodium-native: the fastest at every size, on both runtimes, where a
// prebuilt addon fits the machine), node:crypto where the runtime has it (Node; Bun lacks it,
// oven-sh/bun#8072), libsodium compiled to WebAssembly (core/aead-sodium.ts: where the native
// build does not load, on Bun, and on Node for small messages, where it beats node:crypto), and
// @noble/ciphers everywhere as the reference and last fallback. All pass the same vectors (test/vectors/aead.test.ts); each faster backend is also
// checked against noble when this module loads, and skipped if it disagrees. XChaCha20-Poly1305
// (cookie replies, sealed conversation envelopes) is the standard construction of
// draft-irtf-cfrg-xchacha §2.3 on top: an HChaCha20 subkey (noble's) and ChaCha20-Poly1305 with
// nonce 0x00000000 || nonce[16..24] from the backend in use (libsodium once loaded, node:crypto
// or noble before), or noble's xchacha20poly1305 if that construction disagrees with it.
//
// Transport sessions seal thousands of datagrams a second under one key: `prepare` sets a key up
// once per session (node:crypto's KeyObject), and `sealInto` / `openWith` (no associated data)
// write into the caller's datagram buffer and skip the copies of the general `seal` / `open`.
import * as nodeCrypto from 'node:crypto';
import { chacha20poly1305, hchacha, xchacha20poly1305 } from '@noble/ciphers/chacha.js';
import { loadSodiumModule, sodiumBackend } from './aead-sodium.js';
import { loadSodiumNative, sodiumNativeBackend } from './aead-native.js';

/** A key set up for many messages (one transport session). `bytes` is the raw key, to wipe. */
export interface AeadKey {
  readonly bytes: Uint8Array;
  readonly native?: nodeCrypto.KeyObject;
}

export interface AeadBackend {
  readonly name: string;
  /** ciphertext || 16-byte tag. */
  seal(key: Uint8Array, nonce: Uint8Array, plaintext: Uint8Array, ad: Uint8Array): Uint8Array;
  /** The plaintext, or undefined when the tag does not verify (never a throw for bad input). */
  open(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | undefined;
  /** Sets a key up once for many sealInto / openWith calls. */
  prepare(key: Uint8Array): AeadKey;
  /** Seals with empty associated data into out[offset …]: ciphertext, then the tag. */
  sealInto(key: AeadKey, nonce: Uint8Array, plaintext: Uint8Array, out: Uint8Array, offset: number): void;
  /** Opens with empty associated data; undefined when the tag does not verify. */
  openWith(key: AeadKey, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
  /**
   * openWith for a `sealed` the caller gives up (a datagram just received): the plaintext may be
   * written over its first bytes and returned as a view of it, sparing a buffer per datagram.
   * When the tag does not verify: undefined, and `sealed` may have been changed (libsodium's
   * native build zeroes the output it would have written, here sealed's first bytes).
   */
  openOver(key: AeadKey, nonce: Uint8Array, sealed: Uint8Array): Uint8Array | undefined;
}

export const TAG_BYTES = 16;
const EMPTY = new Uint8Array(0);

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
  prepare: (key) => ({ bytes: key }),
  sealInto(key, nonce, pt, out, offset) {
    chacha20poly1305(key.bytes, nonce).encrypt(pt, out.subarray(offset, offset + pt.length + TAG_BYTES));
  },
  openWith(key, nonce, sealed) {
    return nobleAead.open(key.bytes, nonce, sealed, EMPTY);
  },
  openOver: (key, nonce, sealed) => nobleAead.openWith(key, nonce, sealed),
};

type NodeKey = Uint8Array | nodeCrypto.KeyObject;

function nativeSeal(key: NodeKey, nonce: Uint8Array, pt: Uint8Array, ad: Uint8Array, out: Uint8Array, offset: number): void {
  const c = nodeCrypto.createCipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
  // No associated data and an empty one give the same tag (RFC 8439 §2.8: zero-length AD, no padding).
  if (ad.length > 0) c.setAAD(ad, { plaintextLength: pt.length });
  const body = c.update(pt);
  c.final();
  out.set(body, offset);
  out.set(c.getAuthTag(), offset + pt.length);
}

function nativeOpen(key: NodeKey, nonce: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | undefined {
  if (sealed.length < TAG_BYTES) return undefined;
  try {
    const d = nodeCrypto.createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: TAG_BYTES });
    if (ad.length > 0) d.setAAD(ad, { plaintextLength: sealed.length - TAG_BYTES });
    d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    const body = d.update(sealed.subarray(0, sealed.length - TAG_BYTES));
    d.final();
    // A plain Uint8Array over the same memory: callers get no Buffer semantics (Buffer#slice is a view).
    return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
  } catch {
    return undefined;
  }
}

export const nativeAead: AeadBackend = {
  name: 'node:crypto',
  seal(key, nonce, pt, ad) {
    const out = new Uint8Array(pt.length + TAG_BYTES);
    nativeSeal(key, nonce, pt, ad, out, 0);
    return out;
  },
  open: nativeOpen,
  prepare: (key) => ({ bytes: key, native: nodeCrypto.createSecretKey(key) }),
  sealInto: (key, nonce, pt, out, offset) => nativeSeal(key.native ?? key.bytes, nonce, pt, EMPTY, out, offset),
  openWith: (key, nonce, sealed) => nativeOpen(key.native ?? key.bytes, nonce, sealed, EMPTY),
  openOver: (key, nonce, sealed) => nativeOpen(key.native ?? key.bytes, nonce, sealed, EMPTY),
};

/** RFC 8439 §2.8.2 key/nonce with a short message: a backend must agree with noble both ways, and refuse a forgery. */
export function agreesWithNoble(b: AeadBackend): boolean {
  try {
    const key = new Uint8Array(32).map((_, i) => 0x80 + i);
    const nonce = Uint8Array.from([7, 0, 0, 0, 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47]);
    const ad = Uint8Array.from([0x50, 0x51, 0x52, 0x53]);
    const pt = new TextEncoder().encode('kith aead probe');
    const a = b.seal(key, nonce, pt, ad);
    const into = new Uint8Array(pt.length + TAG_BYTES + 3);
    b.sealInto(b.prepare(key), nonce, pt, into, 3);
    const forged = Uint8Array.from(a);
    forged[0]! ^= 1;
    return bytesSame(a, nobleAead.seal(key, nonce, pt, ad)) && bytesSame(into.subarray(3), nobleAead.seal(key, nonce, pt, EMPTY))
      && nobleAead.open(key, nonce, a, ad) !== undefined && bytesSame(b.open(key, nonce, a, ad) ?? EMPTY, pt)
      && bytesSame(b.openWith(b.prepare(key), nonce, into.subarray(3)) ?? EMPTY, pt) && bytesSame(b.openOver(b.prepare(key), nonce, into.slice(3)) ?? EMPTY, pt)
      && b.open(key, nonce, forged, ad) === undefined;
  } catch {
    return false;
  }
}

function bytesSame(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** A backend loaded once, on first call: undefined if it cannot load or disagrees with noble. */
function checkedOnce<M>(load: () => Promise<M | undefined>, backend: (m: M) => AeadBackend): () => Promise<AeadBackend | undefined> {
  let loaded: Promise<AeadBackend | undefined> | undefined;
  return () => (loaded ??= load().then((m) => {
    const b = m && backend(m);
    return b && agreesWithNoble(b) ? b : undefined;
  }));
}

/** libsodium's WebAssembly build. */
export const loadSodiumAead = checkedOnce(loadSodiumModule, sodiumBackend);
/** libsodium's native build (sodium-native), where a prebuilt addon fits this machine. */
export const loadNativeAead = checkedOnce(loadSodiumNative, sodiumNativeBackend);

/**
 * Up to this size libsodium (WebAssembly) beats node:crypto, whose fixed cost per call (a cipher
 * context, ~4 µs here) dominates a datagram: 2.7 against 6.4 µs at 1168 bytes, 0.5 against 4.6 µs
 * at 64; at 16 KiB node:crypto is twice as fast, at 256 KiB six times (docs/PLATFORM.md).
 */
export const SMALL_MESSAGE_BYTES = 2048;

/** One backend for messages up to limitBytes, another above (both compute the same function). */
export function bySize(small: AeadBackend, large: AeadBackend, limitBytes: number): AeadBackend {
  return {
    name: `${small.name} up to ${limitBytes} B, ${large.name} above`,
    seal: (key, nonce, pt, ad) => (pt.length <= limitBytes ? small : large).seal(key, nonce, pt, ad),
    open: (key, nonce, sealed, ad) => (sealed.length <= limitBytes + TAG_BYTES ? small : large).open(key, nonce, sealed, ad),
    prepare: (key) => large.prepare(key),
    sealInto: (key, nonce, pt, out, offset) => (pt.length <= limitBytes ? small : large).sealInto(key, nonce, pt, out, offset),
    openWith: (key, nonce, sealed) => (sealed.length <= limitBytes + TAG_BYTES ? small : large).openWith(key, nonce, sealed),
    openOver: (key, nonce, sealed) => (sealed.length <= limitBytes + TAG_BYTES ? small : large).openOver(key, nonce, sealed),
  };
}

const baseline: AeadBackend = agreesWithNoble(nativeAead) ? nativeAead : nobleAead;
let current = baseline;
let upgrade: Promise<AeadBackend> | undefined;

/**
 * Loads libsodium (once) and switches `aead` to the fastest backend there is: its native build
 * where one loads (at every size it is as fast as node:crypto or faster: 2.2 against 7.9 µs at
 * 1154 bytes, 586 against 863 µs at 1 MiB on Node), else the mix of node:crypto with the
 * WebAssembly build for small messages on Node, the WebAssembly build on Bun. The first transport
 * session or XChaCha20-Poly1305 seal or open starts it (a CLI command that seals nothing never
 * pays the ~20 ms of instantiating the WebAssembly); benchmarks and tests await it. Until it
 * resolves, `aead` is node:crypto (Node) or noble: the same bytes.
 */
export function fastestAead(): Promise<AeadBackend> {
  upgrade ??= loadNativeAead().then(async (n) => {
    if (n) return (current = n);
    const s = await loadSodiumAead();
    if (s) current = baseline === nativeAead ? bySize(s, nativeAead, SMALL_MESSAGE_BYTES) : s;
    return current;
  });
  return upgrade;
}

/** The backend kith uses (see fastestAead): every call goes to the best one loaded so far. */
export const aead: AeadBackend = {
  get name() {
    return current.name;
  },
  seal: (key, nonce, pt, ad) => current.seal(key, nonce, pt, ad),
  open: (key, nonce, sealed, ad) => current.open(key, nonce, sealed, ad),
  prepare(key) {
    void fastestAead();
    // A key prepared by any backend works with every other one (node:crypto builds its KeyObject when missing).
    return current.prepare(key);
  },
  sealInto: (key, nonce, pt, out, offset) => current.sealInto(key, nonce, pt, out, offset),
  openWith: (key, nonce, sealed) => current.openWith(key, nonce, sealed),
  openOver: (key, nonce, sealed) => current.openOver(key, nonce, sealed),
};

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

/** Little-endian 32-bit words of bytes (whatever the host's order), into `out`. */
function wordsInto(bytes: Uint8Array, out: Uint32Array): Uint32Array {
  for (let i = 0; i < out.length; i++) out[i] = bytes[4 * i]! | (bytes[4 * i + 1]! << 8) | (bytes[4 * i + 2]! << 16) | (bytes[4 * i + 3]! << 24);
  return out;
}

// Scratch words of hchacha20 (synchronous, never re-entered): no arrays per call.
const keyWords = new Uint32Array(8);
const nonceWords = new Uint32Array(4);
const outWords = new Uint32Array(8);

/** HChaCha20 (draft-irtf-cfrg-xchacha §2.2): the 32-byte subkey of a key and the first 16 nonce bytes. */
export function hchacha20(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  if (key.length !== 32 || nonce16.length !== 16) throw new RangeError('HChaCha20 takes a 32-byte key and a 16-byte nonce');
  hchacha(SIGMA, wordsInto(key, keyWords), wordsInto(nonce16, nonceWords), outWords);
  keyWords.fill(0);
  const bytes = new Uint8Array(32);
  for (let i = 0; i < 8; i++) {
    const w = outWords[i]!;
    bytes[4 * i] = w;
    bytes[4 * i + 1] = w >>> 8;
    bytes[4 * i + 2] = w >>> 16;
    bytes[4 * i + 3] = w >>> 24;
  }
  outWords.fill(0);
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

/** A construction that agrees with noble's XChaCha20-Poly1305 on a probe, both ways. */
function agreesWithNobleX(x: XAeadBackend): boolean {
  try {
    const key = new Uint8Array(32).map((_, i) => 0x80 + i);
    const nonce = new Uint8Array(24).map((_, i) => 0x40 + i);
    const ad = Uint8Array.from([0x50, 0x51, 0x52, 0x53]);
    const pt = new TextEncoder().encode('kith xaead probe');
    const a = x.seal(key, nonce, pt, ad);
    return Buffer.from(a).equals(Buffer.from(nobleXaead.seal(key, nonce, pt, ad))) && nobleXaead.open(key, nonce, a, ad) !== undefined && Buffer.from(x.open(key, nonce, a, ad) ?? []).equals(Buffer.from(pt));
  } catch {
    return false;
  }
}

/**
 * XChaCha20-Poly1305 over `aead`, the backend in use: node:crypto or noble until libsodium is
 * loaded, then libsodium for small messages (a sealed conversation envelope: 4.9 against 8.6 µs
 * per open on Node, 13 against 21-28 µs with noble's on Bun). The first seal or open starts
 * loading it, as a transport session's first key does; the bytes are the same before and after.
 */
const overAead = xaeadOver(aead);
export const currentXaead: XAeadBackend = {
  get name() {
    return `hchacha20 + ${aead.name}`;
  },
  seal(key, nonce24, pt, ad) {
    void fastestAead();
    return overAead.seal(key, nonce24, pt, ad);
  },
  open(key, nonce24, sealed, ad) {
    void fastestAead();
    return overAead.open(key, nonce24, sealed, ad);
  },
};

/** The construction over the backend in use where it agrees with noble's (checked with the baseline backend, before libsodium loads); else noble's. */
export const xaead: XAeadBackend = agreesWithNobleX(overAead) ? currentXaead : nobleXaead;
