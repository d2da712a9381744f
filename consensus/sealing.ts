// The sealed envelope every conversation record travels and rests in on nodes that are not the
// participants' access nodes (consensus/README.md, "Encryption envelope"). The signed record
// (header, message, closing) is padded with PADME and sealed with XChaCha20-Poly1305 under the
// epoch's conversation key; what stays in clear is only what routing needs: the group (the
// conversation id), the epoch, the sending node, the sender's chain seq, and the size. The
// sending node signs the envelope (its clear fields and the ciphertext), so any node can tell a
// sender's real envelope from one a relay or forwarder made up with the same (sender, seq).
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { xaead, TAG_BYTES } from '../core/aead.js';
import { concatBytes } from '../core/bytes.js';
import { KithError } from '../core/errors.js';
import { hexBytes, idHex, toHex } from '../core/hex.js';
import type { Rng } from '../core/rng.js';
import { signatures, verifyCheck, type SignatureCheck } from '../core/crypto.js';
import { signingInput } from '../core/signed.js';
import { hashHex } from './records.js';

export const ENVELOPE_VERSION = 2;
export const AAD_LABEL = 'kith/sealed/v1';
/** The signed-object type of an envelope's sender signature (core/signed.ts signingInput). */
export const ENVELOPE_SIG_TYPE = 'kith/sealed-envelope';
/** Largest record sealed (a signed message is at most 64 KiB; headers and closings less). */
export const MAX_RECORD_BYTES = 64 * 1024;
/** Largest envelope accepted: the padded record, tag, and the clear fields. */
export const MAX_ENVELOPE_BYTES = MAX_RECORD_BYTES + MAX_RECORD_BYTES / 8 + 256;

/**
 * PADME (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and Communication with
 * PURBs", PETS 2019, Algorithm 1): the padded length for L, leaking O(log log L) bits of it, at
 * most 12% overhead.
 */
export function padme(length: number): number {
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeError(`padme of ${length}`);
  if (length < 2) return length;
  const e = Math.floor(Math.log2(length));
  const s = Math.floor(Math.log2(e)) + 1;
  const lastBits = e - s;
  const mask = 2 ** lastBits - 1;
  return Math.ceil(length / (mask + 1)) * (mask + 1);
}

/** The clear fields of an envelope (all that a relay or an observer of stored blobs sees). */
export interface EnvelopeHeader {
  /** Blob id: hex SHA-256 of the envelope bytes. */
  id: string;
  /** Group: the conversation id (hex). */
  group: string;
  /** Hash of the epoch record whose key sealed it (hex). */
  epoch: string;
  /** The sending node's signing key (hex): the chain the record belongs to. */
  sender: string;
  /** The sender's chain seq for a message; 0 for a header or a closing record. */
  seq: number;
  size: number;
}

/** nonce, ct and sig are views of `bytes` (readEnvelope): an envelope's bytes are never changed. */
export interface Envelope extends EnvelopeHeader {
  nonce: Uint8Array;
  ct: Uint8Array;
  /** The sender's Ed25519 signature (`z`); empty in a version 1 envelope (stored before signatures, never taken from the network). */
  sig: Uint8Array;
  bytes: Uint8Array;
}


/** Per (group, epoch, sender): the associated data's bytes before seq (every envelope of a chain shares them). */
const aadHeads = new Map<string, Uint8Array>();

/** The associated data: binds the ciphertext to its conversation, epoch, sender and seq. */
export function envelopeAad(h: { group: string; epoch: string; sender: string; seq: number }): Uint8Array {
  // canonical CBOR [label, g, e, s, q]: the encoding of the same array with q = 0 (last byte 0x00),
  // that byte replaced by q's head, which is all of q's encoding.
  let head: Uint8Array | undefined;
  if (h.group === lastAad.group && h.epoch === lastAad.epoch && h.sender === lastAad.sender) head = lastAad.head; // the chain of the envelope before
  else {
    const id = h.group + h.epoch + h.sender;
    head = aadHeads.get(id);
    if (!head) {
      const zero = encodeCanonical([AAD_LABEL, hexBytes(h.group), hexBytes(h.epoch), hexBytes(h.sender), 0]);
      head = zero.subarray(0, zero.length - 1);
      if (aadHeads.size >= 1024) aadHeads.clear();
      aadHeads.set(id, head);
    }
    lastAad = { group: h.group, epoch: h.epoch, sender: h.sender, head };
  }
  const q = h.seq;
  // q's canonical head (major type 0, shortest form), written here up to 2^32 − 1.
  const qLen = !Number.isSafeInteger(q) || q < 0 || q > 0xffffffff ? -1 : q < 24 ? 1 : q < 0x100 ? 2 : q < 0x10000 ? 3 : 5;
  if (qLen < 0) return concatBytes(head, encodeCanonical(q));
  const out = new Uint8Array(head.length + qLen);
  out.set(head);
  const at = head.length;
  if (qLen === 1) out[at] = q;
  else if (qLen === 2) (out[at] = 0x18), (out[at + 1] = q);
  else if (qLen === 3) (out[at] = 0x19), (out[at + 1] = q >>> 8), (out[at + 2] = q & 0xff);
  else (out[at] = 0x1a), (out[at + 1] = q >>> 24), (out[at + 2] = (q >>> 16) & 0xff), (out[at + 3] = (q >>> 8) & 0xff), (out[at + 4] = q & 0xff);
  return out;
}
let lastAad: { group: string; epoch: string; sender: string; head: Uint8Array } = { group: '', epoch: '', sender: '', head: new Uint8Array(0) };

/** Frames and pads a record: u32 big-endian length, the record, zeros up to PADME(4 + length). */
export function padRecord(record: Uint8Array): Uint8Array {
  if (record.length > MAX_RECORD_BYTES) throw new KithError('MESSAGE_REJECTED', `a record of ${record.length} bytes is over the ${MAX_RECORD_BYTES}-byte limit`);
  const out = new Uint8Array(padme(4 + record.length + TAG_BYTES) - TAG_BYTES);
  new DataView(out.buffer).setUint32(0, record.length);
  out.set(record, 4);
  return out;
}

export function unpadRecord(padded: Uint8Array): Uint8Array {
  if (padded.length < 4) throw new KithError('SEAL_INVALID', 'a sealed record is too short');
  const n = new DataView(padded.buffer, padded.byteOffset, padded.byteLength).getUint32(0);
  if (4 + n > padded.length) throw new KithError('SEAL_INVALID', 'a sealed record\'s length is beyond its end');
  for (let i = 4 + n; i < padded.length; i++) if (padded[i] !== 0) throw new KithError('SEAL_INVALID', 'a sealed record\'s padding is not zeros');
  // A view, not a copy: `padded` is the AEAD's fresh output, held by no one else.
  return new Uint8Array(padded.buffer, padded.byteOffset + 4, n);
}

/** What the sender signs: ["kith-sig-v1", "kith/sealed-envelope", [v, g, e, s, q, n, c]] in canonical CBOR. */
function envelopeSigningInput(f: { group: string; epoch: string; sender: string; seq: number; nonce: Uint8Array; ct: Uint8Array }): Uint8Array {
  return signingInput(ENVELOPE_SIG_TYPE, [ENVELOPE_VERSION, hexBytes(f.group), hexBytes(f.epoch), hexBytes(f.sender), f.seq, f.nonce, f.ct]);
}

/** Seals a record under an epoch's key and signs the envelope with the sending node's key (its chain: `sender`). */
export function sealRecord(h: { group: string; epoch: string; seq: number }, key: Uint8Array, record: Uint8Array, rng: Rng, signSecret: Uint8Array): Uint8Array {
  const head = { ...h, sender: toHex(signatures.ed25519PublicKey(signSecret)) };
  const nonce = rng.bytes(24);
  const f = { ...head, nonce, ct: xaead.seal(key, nonce, padRecord(record), envelopeAad(head)) };
  const z = signatures.ed25519Sign(signSecret, envelopeSigningInput(f));
  return encodeCanonical({ v: ENVELOPE_VERSION, g: hexBytes(f.group), e: hexBytes(f.epoch), s: hexBytes(f.sender), q: f.seq, n: f.nonce, c: f.ct, z });
}

/** True when the envelope's sender signed it (a version 1 envelope, unsigned, never is). */
export function verifyEnvelope(env: Envelope): boolean {
  const c = envelopeCheck(env);
  return c !== undefined && verifyCheck(c);
}

/** The check verifyEnvelope makes, to run later or elsewhere; undefined for an unsigned envelope (never signed). */
export function envelopeCheck(env: Envelope): SignatureCheck | undefined {
  return env.sig.length === 64 ? { key: hexBytes(env.sender), msg: envelopeSigningInput(env), sig: env.sig } : undefined;
}

const ENVELOPE_LIMITS = { maxBytes: MAX_ENVELOPE_BYTES, maxDepth: 2, maxItems: 20, views: true };

/** Reads an envelope's clear fields strictly (any node may, the key is not needed). */
export function readEnvelope(bytes: Uint8Array): Envelope {
  if (bytes.length > MAX_ENVELOPE_BYTES) throw new KithError('MESSAGE_REJECTED', `a blob of ${bytes.length} bytes is over the ${MAX_ENVELOPE_BYTES}-byte limit`);
  let v: CborValue;
  try {
    // Views: the fields live as long as the envelope, which keeps `bytes` (a copy of each field was most of a read's garbage).
    v = decodeCanonical(bytes, ENVELOPE_LIMITS);
  } catch (e) {
    throw new KithError('MESSAGE_REJECTED', 'a blob is not a sealed envelope', { cause: e });
  }
  const m = v as Record<string, CborValue>;
  const b32 = (x: CborValue | undefined) => x instanceof Uint8Array && x.length === 32;
  const signed = m?.['v'] === ENVELOPE_VERSION && m['z'] instanceof Uint8Array && m['z'].length === 64 && Object.keys(m).length === 8;
  const legacy = m?.['v'] === 1 && Object.keys(m).length === 7;
  if (m === null || typeof m !== 'object' || Array.isArray(m) || !(signed || legacy) || !b32(m['g']) || !b32(m['e']) || !b32(m['s'])
    || typeof m['q'] !== 'number' || !Number.isSafeInteger(m['q']) || m['q'] < 0 || !(m['n'] instanceof Uint8Array) || m['n'].length !== 24 || !(m['c'] instanceof Uint8Array) || m['c'].length < TAG_BYTES + 4) {
    throw new KithError('MESSAGE_REJECTED', 'a blob is not a well-formed sealed envelope');
  }
  return {
    id: hashHex(bytes), group: idHex(m['g'] as Uint8Array), epoch: idHex(m['e'] as Uint8Array), sender: idHex(m['s'] as Uint8Array), seq: m['q'] as number,
    size: bytes.length, nonce: m['n'] as Uint8Array, ct: m['c'] as Uint8Array, sig: signed ? (m['z'] as Uint8Array) : new Uint8Array(0), bytes,
  };
}

/** Opens an envelope with its epoch's key: the signed record inside (SEAL_INVALID otherwise). */
export function openRecord(env: Envelope, key: Uint8Array): Uint8Array {
  const padded = xaead.open(key, env.nonce, env.ct, envelopeAad(env));
  if (!padded) throw new KithError('SEAL_INVALID', `blob ${env.id.slice(0, 12)} does not open with the key of epoch ${env.epoch.slice(0, 12)}`);
  return unpadRecord(padded);
}
