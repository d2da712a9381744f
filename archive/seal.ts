// The two sealing layers of the archive (DESIGN.md §7), byte for byte as archive/README.md
// specifies them.
//   inner: each chunk under the object key, XChaCha20-Poly1305, nonce and AAD naming object and
//          chunk; the object key HPKE-wrapped to each inner recipient.
//   outer: each erasure-coded shard under a per-(object, holder) key, XChaCha20-Poly1305, nonce
//          and AAD naming object, chunk and shard; that key HPKE-wrapped to the outer recipient
//          (the holding relay, or the owner's second access device for history).
// XChaCha20-Poly1305 is computed as HChaCha20 subkey + ChaCha20-Poly1305 (draft-irtf-cfrg-xchacha
// §2.3), so Node uses its native ChaCha20-Poly1305 and Bun noble's; the bytes are the same
// XChaCha20-Poly1305 either way (checked against the XChaCha vectors in the unit test).
import { hchacha } from '@noble/ciphers/chacha.js';
import { aead } from '../core/aead.js';
import { KithError } from '../core/errors.js';
import { hpkeOpen, hpkeSeal } from '../core/hpke.js';
import type { Rng } from '../core/rng.js';

export const KEY_BYTES = 32;
export const OBJECT_ID_BYTES = 32;
export const TAG_BYTES = 16;

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
export const INNER_AAD_LABEL = utf8('kith-archive-inner-v1');
export const OUTER_AAD_LABEL = utf8('kith-archive-outer-v1');
export const OBJECT_KEY_INFO = utf8('kith-archive-object-key-v1');
export const OUTER_KEY_INFO = utf8('kith-archive-outer-key-v1');

const SIGMA = new Uint32Array([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);

function words(b: Uint8Array): Uint32Array {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return Uint32Array.from({ length: b.length / 4 }, (_, i) => dv.getUint32(i * 4, true));
}

function hchachaSubkey(key: Uint8Array, nonce16: Uint8Array): Uint8Array {
  const out = new Uint32Array(8);
  hchacha(SIGMA, words(key), words(nonce16), out);
  const bytes = new Uint8Array(32);
  const dv = new DataView(bytes.buffer);
  out.forEach((w, i) => dv.setUint32(i * 4, w, true));
  return bytes;
}

function split(nonce24: Uint8Array): { subNonce: Uint8Array; prefix: Uint8Array } {
  if (nonce24.length !== 24) throw new RangeError('XChaCha20-Poly1305 needs a 24-byte nonce');
  const subNonce = new Uint8Array(12);
  subNonce.set(nonce24.subarray(16), 4);
  return { subNonce, prefix: nonce24.subarray(0, 16) };
}

/** XChaCha20-Poly1305 over the runtime's fastest ChaCha20-Poly1305 (native on Node). */
export const xchacha = {
  seal(key: Uint8Array, nonce24: Uint8Array, pt: Uint8Array, ad: Uint8Array): Uint8Array {
    const { subNonce, prefix } = split(nonce24);
    return aead.seal(hchachaSubkey(key, prefix), subNonce, pt, ad);
  },
  open(key: Uint8Array, nonce24: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | undefined {
    const { subNonce, prefix } = split(nonce24);
    return aead.open(hchachaSubkey(key, prefix), subNonce, sealed, ad);
  },
};

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
}

function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) (out.set(p, o), (o += p.length));
  return out;
}

/** nonce = 16 zero bytes ‖ u32be(chunk) ‖ u32be(shard); inner chunks use shard = 0xffffffff. */
export function layerNonce(chunk: number, shard: number): Uint8Array {
  return cat(new Uint8Array(16), u32(chunk), u32(shard));
}

const INNER_SHARD = 0xffffffff;

export function innerAad(objectId: Uint8Array, chunk: number): Uint8Array {
  return cat(INNER_AAD_LABEL, objectId, u32(chunk));
}

export function outerAad(objectId: Uint8Array, chunk: number, shard: number): Uint8Array {
  return cat(OUTER_AAD_LABEL, objectId, u32(chunk), u32(shard));
}

export function sealChunk(objectKey: Uint8Array, objectId: Uint8Array, chunk: number, plaintext: Uint8Array): Uint8Array {
  return xchacha.seal(objectKey, layerNonce(chunk, INNER_SHARD), plaintext, innerAad(objectId, chunk));
}

export function openChunk(objectKey: Uint8Array, objectId: Uint8Array, chunk: number, sealed: Uint8Array): Uint8Array {
  const pt = xchacha.open(objectKey, layerNonce(chunk, INNER_SHARD), sealed, innerAad(objectId, chunk));
  if (!pt) throw new KithError('SEAL_INVALID', `chunk ${chunk} of the object does not open (altered bytes or the wrong key)`);
  return pt;
}

export function sealShard(outerKey: Uint8Array, objectId: Uint8Array, chunk: number, shard: number, bytes: Uint8Array): Uint8Array {
  return xchacha.seal(outerKey, layerNonce(chunk, shard), bytes, outerAad(objectId, chunk, shard));
}

/** The shard's inner-layer bytes, or SEAL_INVALID. */
export function openShard(outerKey: Uint8Array, objectId: Uint8Array, chunk: number, shard: number, sealed: Uint8Array): Uint8Array {
  const pt = xchacha.open(outerKey, layerNonce(chunk, shard), sealed, outerAad(objectId, chunk, shard));
  if (!pt) throw new KithError('SEAL_INVALID', `shard ${shard} of chunk ${chunk} does not open (altered bytes or the wrong key)`);
  return pt;
}

/** A symmetric key HPKE-wrapped to one X25519 public key. */
export interface KeyWrap {
  recipient: Uint8Array;
  enc: Uint8Array;
  ct: Uint8Array;
}

export function wrapKey(key: Uint8Array, recipient: Uint8Array, info: Uint8Array, aad: Uint8Array, rng: Rng): KeyWrap {
  const { enc, ct } = hpkeSeal(recipient, info, aad, key, rng);
  return { recipient, enc, ct };
}

export function unwrapKey(wrap: KeyWrap, secretKey: Uint8Array, info: Uint8Array, aad: Uint8Array): Uint8Array {
  const key = hpkeOpen(secretKey, wrap.enc, info, aad, wrap.ct);
  if (key.length !== KEY_BYTES) throw new KithError('SEAL_INVALID', 'a wrapped archive key has the wrong length');
  return key;
}

/** The AAD of an outer-key wrap: objectId ‖ utf8(holder id). */
export function outerWrapAad(objectId: Uint8Array, holder: string): Uint8Array {
  return cat(objectId, utf8(holder));
}
