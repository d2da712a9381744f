// HPKE (RFC 9180) base mode, single-shot, one suite: DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// ChaCha20Poly1305 (kem 0x0020, kdf 0x0001, aead 0x0003), DESIGN.md §4 "sealing to a key".
// Built from the primitives kith already carries (X25519 and ChaCha20-Poly1305 behind their
// backends, @noble/hashes HKDF-SHA256) following RFC 9180 §4.1, §5.1 and §7.1.3 step by step;
// checked against RFC 9180 Appendix A.2 (test/vectors/hpke.test.ts). Not @hpke/core: its API is
// Promise-based (WebCrypto HKDF underneath), and the archive pipeline and the mailbox seal
// synchronously; it would also add three packages for what is ~100 lines over primitives we ship.
import { extract, expand } from '@noble/hashes/hkdf.js';
import { sha256 } from '@noble/hashes/sha2.js';
import { aead } from './aead.js';
import { signatures } from './crypto.js';
import { KithError } from './errors.js';
import type { Rng } from './rng.js';
import { concatBytes } from './bytes.js';

export interface HpkeSealed {
  enc: Uint8Array;
  ct: Uint8Array;
}

export interface HpkeKeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

/** The key schedule's outputs (RFC 9180 §5.1), exported for the known-answer test. */
export interface HpkeContext {
  sharedSecret: Uint8Array;
  keyScheduleContext: Uint8Array;
  secret: Uint8Array;
  key: Uint8Array;
  baseNonce: Uint8Array;
  exporterSecret: Uint8Array;
}

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const N_SECRET = 32; // Nsecret = Nh of HKDF-SHA256
const N_SK = 32;
const N_ENC = 32;
const N_K = 32;
const N_N = 12;
const N_H = 32;
const MODE_BASE = 0x00;

function i2osp(n: number, w: number): Uint8Array {
  const out = new Uint8Array(w);
  for (let i = w - 1, v = n; i >= 0; i--, v = Math.floor(v / 256)) out[i] = v & 0xff;
  return out;
}

// suite_id for the KEM ("KEM" || I2OSP(kem_id, 2)) and for the whole suite (§5.1).
const KEM_SUITE = concatBytes(utf8('KEM'), i2osp(0x0020, 2));
const HPKE_SUITE = concatBytes(utf8('HPKE'), i2osp(0x0020, 2), i2osp(0x0001, 2), i2osp(0x0003, 2));
const HPKE_V1 = utf8('HPKE-v1');

function labeledExtract(suite: Uint8Array, salt: Uint8Array, label: string, ikm: Uint8Array): Uint8Array {
  return extract(sha256, concatBytes(HPKE_V1, suite, utf8(label), ikm), salt);
}

function labeledExpand(suite: Uint8Array, prk: Uint8Array, label: string, info: Uint8Array, length: number): Uint8Array {
  return expand(sha256, prk, concatBytes(i2osp(length, 2), HPKE_V1, suite, utf8(label), info), length);
}

/** DeriveKeyPair for X25519 (§7.1.3): the secret key is the expanded IKM, clamped by X25519 itself. */
export function hpkeDeriveKeyPair(ikm: Uint8Array): HpkeKeyPair {
  const dkpPrk = labeledExtract(KEM_SUITE, new Uint8Array(0), 'dkp_prk', ikm);
  const secretKey = labeledExpand(KEM_SUITE, dkpPrk, 'sk', new Uint8Array(0), N_SK);
  return { secretKey, publicKey: signatures.x25519PublicKey(secretKey) };
}

function extractAndExpand(dh: Uint8Array, kemContext: Uint8Array): Uint8Array {
  const eaePrk = labeledExtract(KEM_SUITE, new Uint8Array(0), 'eae_prk', dh);
  return labeledExpand(KEM_SUITE, eaePrk, 'shared_secret', kemContext, N_SECRET);
}

/** X25519 that reports a low-order peer key as a seal failure (RFC 9180 §7.1.4 ValidationError). */
function dh(secret: Uint8Array, peer: Uint8Array): Uint8Array {
  try {
    return signatures.x25519(secret, peer);
  } catch (cause) {
    throw new KithError('SEAL_INVALID', 'HPKE: the public key is not a usable X25519 key', { cause });
  }
}

/** KeySchedule (§5.1) in base mode: psk and psk_id are empty. */
function keySchedule(sharedSecret: Uint8Array, info: Uint8Array): HpkeContext {
  const empty = new Uint8Array(0);
  const pskIdHash = labeledExtract(HPKE_SUITE, empty, 'psk_id_hash', empty);
  const infoHash = labeledExtract(HPKE_SUITE, empty, 'info_hash', info);
  const keyScheduleContext = concatBytes(Uint8Array.of(MODE_BASE), pskIdHash, infoHash);
  const secret = labeledExtract(HPKE_SUITE, sharedSecret, 'secret', empty);
  return {
    sharedSecret,
    keyScheduleContext,
    secret,
    key: labeledExpand(HPKE_SUITE, secret, 'key', keyScheduleContext, N_K),
    baseNonce: labeledExpand(HPKE_SUITE, secret, 'base_nonce', keyScheduleContext, N_N),
    exporterSecret: labeledExpand(HPKE_SUITE, secret, 'exp', keyScheduleContext, N_H),
  };
}

/** SetupBaseS (§5.1.1) with a given ephemeral key pair: deterministic, for the vectors. */
export function hpkeSetupSender(recipientPublicKey: Uint8Array, info: Uint8Array, ephemeral: HpkeKeyPair): { enc: Uint8Array; ctx: HpkeContext } {
  const enc = ephemeral.publicKey;
  const shared = extractAndExpand(dh(ephemeral.secretKey, recipientPublicKey), concatBytes(enc, recipientPublicKey));
  return { enc, ctx: keySchedule(shared, info) };
}

/** SetupBaseR (§5.1.1). */
export function hpkeSetupRecipient(recipientSecretKey: Uint8Array, enc: Uint8Array, info: Uint8Array): HpkeContext {
  if (enc.length !== N_ENC) throw new KithError('SEAL_INVALID', `HPKE: enc must be ${N_ENC} bytes, got ${enc.length}`);
  const pkR = signatures.x25519PublicKey(recipientSecretKey);
  const shared = extractAndExpand(dh(recipientSecretKey, enc), concatBytes(enc, pkR));
  return keySchedule(shared, info);
}

/** ComputeNonce (§5.2): base_nonce XOR I2OSP(seq, Nn). */
export function hpkeNonce(baseNonce: Uint8Array, seq: number): Uint8Array {
  const n = Uint8Array.from(baseNonce);
  const s = i2osp(seq, N_N);
  for (let i = 0; i < N_N; i++) n[i]! ^= s[i]!;
  return n;
}

/** Context.Seal at a given sequence number (single-shot uses 0). */
export function hpkeContextSeal(ctx: HpkeContext, seq: number, aad: Uint8Array, pt: Uint8Array): Uint8Array {
  return aead.seal(ctx.key, hpkeNonce(ctx.baseNonce, seq), pt, aad);
}

/** Context.Open at a given sequence number; throws SEAL_INVALID when the tag does not verify. */
export function hpkeContextOpen(ctx: HpkeContext, seq: number, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  const pt = aead.open(ctx.key, hpkeNonce(ctx.baseNonce, seq), ct, aad);
  if (!pt) throw new KithError('SEAL_INVALID', 'HPKE: the ciphertext does not open with this key (wrong key, info or aad, or altered bytes)');
  return pt;
}

/** Seal with a given ephemeral key pair (deterministic; for the vectors and for replayable tests). */
export function hpkeSealWithEphemeral(recipientPublicKey: Uint8Array, info: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, ephemeral: HpkeKeyPair): HpkeSealed {
  const { enc, ctx } = hpkeSetupSender(recipientPublicKey, info, ephemeral);
  return { enc, ct: hpkeContextSeal(ctx, 0, aad, plaintext) };
}

/** RFC 9180 base mode, single-shot. The ephemeral key comes from rng (SeededRng in simulations). */
export function hpkeSeal(recipientPublicKey: Uint8Array, info: Uint8Array, aad: Uint8Array, plaintext: Uint8Array, rng: Rng): HpkeSealed {
  const ikm = rng.bytes(N_SK);
  const ephemeral = hpkeDeriveKeyPair(ikm);
  ikm.fill(0);
  const sealed = hpkeSealWithEphemeral(recipientPublicKey, info, aad, plaintext, ephemeral);
  ephemeral.secretKey.fill(0);
  return sealed;
}

/** Throws KithError('SEAL_INVALID', ...) when the ciphertext does not open. */
export function hpkeOpen(recipientSecretKey: Uint8Array, enc: Uint8Array, info: Uint8Array, aad: Uint8Array, ct: Uint8Array): Uint8Array {
  return hpkeContextOpen(hpkeSetupRecipient(recipientSecretKey, enc, info), 0, aad, ct);
}

/** Byte sizes of the suite, for format code that lays out sealed records. */
export const HPKE_ENC_BYTES = N_ENC;
export const HPKE_TAG_BYTES = 16;
