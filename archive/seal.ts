// The two sealing layers of the archive (DESIGN.md §7), byte for byte as archive/README.md
// specifies them.
//   inner: each chunk under the object key, AES-256-GCM, nonce and AAD naming object and chunk;
//          the object key HPKE-wrapped to each inner recipient.
//   outer: each erasure-coded shard under a per-(object, holder) key, AES-256-GCM, nonce and AAD
//          naming object, chunk and shard; that key HPKE-wrapped to the outer recipient (the
//          holding relay, or the owner's second access device for history).
// The bulk AEAD is AES-256-GCM (node:crypto, native on Node and Bun), not the XChaCha20-Poly1305
// of DESIGN.md §4: measured in bench/archive.ts, Bun has no native ChaCha20-Poly1305 and noble's
// runs at ~30-40 MB/s there against ~1 GB/s for AES-256-GCM, which capped the whole pipeline at
// ~10 MB/s on Bun; on Node the two are close. One format on both runtimes. GCM's 96-bit nonce is
// safe here because every key is fresh (per object, per holder slot) and nonces are counters.
import { createCipheriv, createDecipheriv } from 'node:crypto';
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

/** AES-256-GCM with a 12-byte nonce and the 16-byte tag appended. */
export const bulk = {
  seal(key: Uint8Array, nonce12: Uint8Array, pt: Uint8Array, ad: Uint8Array): Uint8Array {
    const c = createCipheriv('aes-256-gcm', key, nonce12, { authTagLength: TAG_BYTES });
    c.setAAD(ad);
    const out = new Uint8Array(pt.length + TAG_BYTES);
    out.set(c.update(pt), 0);
    c.final();
    out.set(c.getAuthTag(), pt.length);
    return out;
  },
  /** The plaintext, or undefined when the tag does not verify. */
  open(key: Uint8Array, nonce12: Uint8Array, sealed: Uint8Array, ad: Uint8Array): Uint8Array | undefined {
    if (sealed.length < TAG_BYTES) return undefined;
    try {
      const d = createDecipheriv('aes-256-gcm', key, nonce12, { authTagLength: TAG_BYTES });
      d.setAAD(ad);
      d.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
      const body = d.update(sealed.subarray(0, sealed.length - TAG_BYTES));
      d.final();
      return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
    } catch {
      return undefined;
    }
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

/** nonce = u32be(chunk) ‖ u32be(shard) ‖ 4 zero bytes; inner chunks use shard = 0xffffffff. */
export function layerNonce(chunk: number, shard: number): Uint8Array {
  return cat(u32(chunk), u32(shard), new Uint8Array(4));
}

const INNER_SHARD = 0xffffffff;

export function innerAad(objectId: Uint8Array, chunk: number): Uint8Array {
  return cat(INNER_AAD_LABEL, objectId, u32(chunk));
}

export function outerAad(objectId: Uint8Array, chunk: number, shard: number): Uint8Array {
  return cat(OUTER_AAD_LABEL, objectId, u32(chunk), u32(shard));
}

export function sealChunk(objectKey: Uint8Array, objectId: Uint8Array, chunk: number, plaintext: Uint8Array): Uint8Array {
  return bulk.seal(objectKey, layerNonce(chunk, INNER_SHARD), plaintext, innerAad(objectId, chunk));
}

export function openChunk(objectKey: Uint8Array, objectId: Uint8Array, chunk: number, sealed: Uint8Array): Uint8Array {
  const pt = bulk.open(objectKey, layerNonce(chunk, INNER_SHARD), sealed, innerAad(objectId, chunk));
  if (!pt) throw new KithError('SEAL_INVALID', `chunk ${chunk} of the object does not open (altered bytes or the wrong key)`);
  return pt;
}

export function sealShard(outerKey: Uint8Array, objectId: Uint8Array, chunk: number, shard: number, bytes: Uint8Array): Uint8Array {
  return bulk.seal(outerKey, layerNonce(chunk, shard), bytes, outerAad(objectId, chunk, shard));
}

/** The shard's inner-layer bytes, or SEAL_INVALID. */
export function openShard(outerKey: Uint8Array, objectId: Uint8Array, chunk: number, shard: number, sealed: Uint8Array): Uint8Array {
  const pt = bulk.open(outerKey, layerNonce(chunk, shard), sealed, outerAad(objectId, chunk, shard));
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
