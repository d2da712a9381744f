// The sealed envelope every conversation record travels and rests in on nodes that are not the
// participants' access nodes (consensus/README.md, "Encryption envelope"). The signed record
// (header, message, closing) is padded with PADME and sealed with XChaCha20-Poly1305 under the
// epoch's conversation key; what stays in clear is only what routing needs: the group (the
// conversation id), the epoch, the sending node, the sender's chain seq, and the size.
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { xaead, TAG_BYTES } from '../core/aead.js';
import { KithError } from '../core/errors.js';
import { toHex } from '../core/hex.js';
import type { Rng } from '../core/rng.js';
import { hashHex } from './records.js';

export const ENVELOPE_VERSION = 1;
export const AAD_LABEL = 'kith/sealed/v1';
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

export interface Envelope extends EnvelopeHeader {
  nonce: Uint8Array;
  ct: Uint8Array;
  bytes: Uint8Array;
}

const hexBytes = (h: string) => new Uint8Array(Buffer.from(h, 'hex'));

/** The associated data: binds the ciphertext to its conversation, epoch, sender and seq. */
export function envelopeAad(h: { group: string; epoch: string; sender: string; seq: number }): Uint8Array {
  return encodeCanonical([AAD_LABEL, hexBytes(h.group), hexBytes(h.epoch), hexBytes(h.sender), h.seq]);
}

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
  if (padded.subarray(4 + n).some((b) => b !== 0)) throw new KithError('SEAL_INVALID', 'a sealed record\'s padding is not zeros');
  return padded.slice(4, 4 + n);
}

export function sealRecord(h: { group: string; epoch: string; sender: string; seq: number }, key: Uint8Array, record: Uint8Array, rng: Rng): Uint8Array {
  const nonce = rng.bytes(24);
  const ct = xaead.seal(key, nonce, padRecord(record), envelopeAad(h));
  return encodeCanonical({ v: ENVELOPE_VERSION, g: hexBytes(h.group), e: hexBytes(h.epoch), s: hexBytes(h.sender), q: h.seq, n: nonce, c: ct });
}

/** Reads an envelope's clear fields strictly (any node may, the key is not needed). */
export function readEnvelope(bytes: Uint8Array): Envelope {
  if (bytes.length > MAX_ENVELOPE_BYTES) throw new KithError('MESSAGE_REJECTED', `a blob of ${bytes.length} bytes is over the ${MAX_ENVELOPE_BYTES}-byte limit`);
  let v: CborValue;
  try {
    v = decodeCanonical(bytes, { maxBytes: MAX_ENVELOPE_BYTES, maxDepth: 2, maxItems: 16 });
  } catch (e) {
    throw new KithError('MESSAGE_REJECTED', 'a blob is not a sealed envelope', { cause: e });
  }
  const m = v as Record<string, CborValue>;
  const b32 = (x: CborValue | undefined) => x instanceof Uint8Array && x.length === 32;
  if (m === null || typeof m !== 'object' || Array.isArray(m) || Object.keys(m).length !== 7 || m['v'] !== ENVELOPE_VERSION || !b32(m['g']) || !b32(m['e']) || !b32(m['s'])
    || typeof m['q'] !== 'number' || !Number.isSafeInteger(m['q']) || m['q'] < 0 || !(m['n'] instanceof Uint8Array) || m['n'].length !== 24 || !(m['c'] instanceof Uint8Array) || m['c'].length < TAG_BYTES + 4) {
    throw new KithError('MESSAGE_REJECTED', 'a blob is not a well-formed sealed envelope');
  }
  return {
    id: hashHex(bytes), group: toHex(m['g'] as Uint8Array), epoch: toHex(m['e'] as Uint8Array), sender: toHex(m['s'] as Uint8Array), seq: m['q'] as number,
    size: bytes.length, nonce: m['n'] as Uint8Array, ct: m['c'] as Uint8Array, bytes,
  };
}

/** Opens an envelope with its epoch's key: the signed record inside (SEAL_INVALID otherwise). */
export function openRecord(env: Envelope, key: Uint8Array): Uint8Array {
  const padded = xaead.open(key, env.nonce, env.ct, envelopeAad(env));
  if (!padded) throw new KithError('SEAL_INVALID', `blob ${env.id.slice(0, 12)} does not open with the key of epoch ${env.epoch.slice(0, 12)}`);
  return unpadRecord(padded);
}
