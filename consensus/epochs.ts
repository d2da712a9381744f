// Conversation epochs: a random 32-byte conversation key per epoch, wrapped with HPKE (core/hpke.ts)
// for each current access node of each participant (the DH key of its certificate). A new epoch
// starts whenever the set of those nodes changes (enrolled, revoked, friend blocked), so a node
// removed from the set cannot open anything sealed afterwards. consensus/README.md has the wire
// format and the rules; this file is pure functions over records.
import type { CborValue } from '../core/cbor.js';
import { encodeCanonical } from '../core/cbor.js';
import { KithError, isKithError } from '../core/errors.js';
import { bytesEqual, hexBytes, toHex } from '../core/hex.js';
import { hpkeOpen, hpkeSeal } from '../core/hpke.js';
import type { Rng } from '../core/rng.js';
import { checkOpenedSignature, readSignedObject, signObject } from '../core/signed.js';
import { verifyCertificate } from '../identity/certificate.js';
import { hashHex, type Signer } from './records.js';

export const EPOCH_TYPE = 'kith/conv-epoch';
export const WRAP_INFO = 'kith/conv-key/v1';
export const MAX_EPOCH_NODES = 256;

export interface EpochRecord {
  hash: string;
  conv: string;
  number: number;
  /** Hash of the epoch record its starter held as current (empty for epoch 0). */
  prev: string;
  /** Access nodes that can read: DH key (hex) → its user (hex) and the wrapped key. */
  readers: Map<string, { user: string; enc: Uint8Array; ct: Uint8Array }>;
  /** Relay nodes that hold the ciphertext: DH key (hex) → its user (hex); routing only, no key. */
  holders: Map<string, string>;
  startedAtMs: number;
  /** The starting node: its user and signing key. */
  user: Uint8Array;
  node: string;
  bytes: Uint8Array;
}


/** HPKE info and aad of one wrapped key: the conversation, the epoch number, the reader. */
function wrapContext(conv: string, number: number, readerDh: string): { info: Uint8Array; aad: Uint8Array } {
  return { info: new TextEncoder().encode(WRAP_INFO), aad: encodeCanonical([hexBytes(conv), number, hexBytes(readerDh)]) };
}

export interface NewEpoch {
  conv: string;
  number: number;
  prev: string;
  readers: { dh: Uint8Array; user: Uint8Array }[];
  holders: { dh: Uint8Array; user: Uint8Array }[];
  startedAtMs: number;
}

/** Signs a new epoch record with a fresh key; returns the record and the key. */
export function startEpoch(e: NewEpoch, signer: Signer, rng: Rng): { bytes: Uint8Array; key: Uint8Array } {
  const byDh = new Map(e.readers.map((r) => [toHex(r.dh), r]));
  const readers = [...byDh.keys()].sort().map((k) => byDh.get(k)!);
  const hold = new Map(e.holders.filter((h) => !byDh.has(toHex(h.dh))).map((h) => [toHex(h.dh), h]));
  const holders = [...hold.keys()].sort().map((k) => ({ dh: hold.get(k)!.dh, user: hold.get(k)!.user }));
  if (readers.length === 0 || readers.length + holders.length > MAX_EPOCH_NODES) throw new KithError('CONV_INVALID', `an epoch has 1 to ${MAX_EPOCH_NODES} nodes`);
  const key = rng.bytes(32);
  const wrapped = readers.map(({ dh, user }) => {
    const { info, aad } = wrapContext(e.conv, e.number, toHex(dh));
    const s = hpkeSeal(dh, info, aad, key, rng);
    return { dh, user, enc: s.enc, ct: s.ct };
  });
  const body: Record<string, CborValue> = {
    v: 1, conv: hexBytes(e.conv), n: e.number, prev: e.prev === '' ? new Uint8Array(0) : hexBytes(e.prev),
    readers: wrapped, holders, at: e.startedAtMs, user: signer.userKey, cert: signer.certBytes,
  };
  return { bytes: signObject(EPOCH_TYPE, body, signer.signSecret), key };
}

export function openEpoch(bytes: Uint8Array): EpochRecord {
  try {
    const opened = readSignedObject(bytes, EPOCH_TYPE, { maxBytes: 128 * 1024, maxDepth: 6, maxItems: 8 * MAX_EPOCH_NODES + 64 });
    const b = opened.body as Record<string, CborValue>;
    const cert = verifyCertificate(b['cert'] as Uint8Array);
    if (!(b['user'] instanceof Uint8Array) || !bytesEqual(cert.userKey, b['user'])) throw new KithError('MESSAGE_REJECTED', 'the epoch\'s certificate belongs to another user');
    if (!cert.roles.includes('access')) throw new KithError('MESSAGE_REJECTED', 'only an access node starts an epoch');
    checkOpenedSignature(opened, cert.signKey);
    const conv = b['conv'];
    const prev = b['prev'];
    if (b['v'] !== 1 || !(conv instanceof Uint8Array) || conv.length !== 32 || !isUint(b['n']) || !isUint(b['at']) || !(prev instanceof Uint8Array) || (prev.length !== 0 && prev.length !== 32)) throw new KithError('MESSAGE_REJECTED', 'malformed epoch record');
    if ((b['n'] === 0) !== (prev.length === 0)) throw new KithError('MESSAGE_REJECTED', 'epoch 0 and only epoch 0 has no previous epoch');
    const readers = new Map<string, { user: string; enc: Uint8Array; ct: Uint8Array }>();
    for (const r of asList(b['readers'])) {
      const m = r as Record<string, CborValue>;
      if (!is32(m['dh']) || !is32(m['user']) || !(m['enc'] instanceof Uint8Array) || m['enc'].length !== 32 || !(m['ct'] instanceof Uint8Array) || m['ct'].length !== 48) throw new KithError('MESSAGE_REJECTED', 'malformed wrapped key');
      readers.set(toHex(m['dh'] as Uint8Array), { user: toHex(m['user'] as Uint8Array), enc: m['enc'] as Uint8Array, ct: m['ct'] as Uint8Array });
    }
    const holders = new Map<string, string>();
    for (const h of asList(b['holders'])) {
      const m = h as Record<string, CborValue>;
      if (!is32(m['dh']) || !is32(m['user'])) throw new KithError('MESSAGE_REJECTED', 'malformed holder');
      holders.set(toHex(m['dh'] as Uint8Array), toHex(m['user'] as Uint8Array));
    }
    if (readers.size === 0) throw new KithError('MESSAGE_REJECTED', 'an epoch without readers');
    return { hash: hashHex(bytes), conv: toHex(conv), number: b['n'] as number, prev: toHex(prev), readers, holders, startedAtMs: b['at'] as number, user: cert.userKey, node: toHex(cert.signKey), bytes };
  } catch (e) {
    if (isKithError(e, 'MESSAGE_REJECTED')) throw e;
    throw new KithError('MESSAGE_REJECTED', `epoch record does not verify: ${(e as Error).message}`, { cause: e });
  }
}

/** This node's conversation key of an epoch, or undefined when the epoch has no key for it. */
export function unwrapKey(e: EpochRecord, dh: { secretKey: Uint8Array; publicKey: Uint8Array }): Uint8Array | undefined {
  const w = e.readers.get(toHex(dh.publicKey));
  if (!w) return undefined;
  const { info, aad } = wrapContext(e.conv, e.number, toHex(dh.publicKey));
  return hpkeOpen(dh.secretKey, w.enc, info, aad, w.ct);
}

/**
 * The epoch in force among the records held: the highest number whose record chains to a
 * record held one below (epoch 0 needs none); of two started at once with the same number, the
 * one with the smaller record hash. Every node with the same records picks the same one.
 */
export function currentEpoch(records: Iterable<EpochRecord>): EpochRecord | undefined {
  const all = [...records];
  const hashes = new Set(all.map((r) => r.hash));
  const valid = all.filter((r) => r.number === 0 || (hashes.has(r.prev) && all.some((p) => p.hash === r.prev && p.number === r.number - 1 && startedByReader(r, p))));
  let best: EpochRecord | undefined;
  for (const r of valid) if (!best || r.number > best.number || (r.number === best.number && r.hash < best.hash)) best = r;
  return best;
}

/**
 * True when the epoch's starter (the user of its verified certificate) is a reader user of the
 * previous epoch: only a participant may start the next epoch, never a holder or a stranger.
 */
export function startedByReader(e: EpochRecord, prev: EpochRecord): boolean {
  const starter = toHex(e.user);
  return [...prev.readers.values()].some((r) => r.user === starter);
}

/**
 * What is wrong with an epoch 0 for the conversation header it carries (empty: nothing): its
 * starter must be the header's author (an access node of that user: openEpoch checks the role),
 * and every reader and holder must be listed as a node of a participant. The node-to-user
 * entries themselves are not signed by those users: a node checks them against the certificates
 * it holds when it seals (SealedConversations.wantedNodes), see consensus/README.md.
 */
export function epochZeroProblems(e: EpochRecord, conv: { author: Uint8Array; participants: readonly Uint8Array[] }): string[] {
  const out: string[] = [];
  if (e.number !== 0) return out;
  if (!bytesEqual(e.user, conv.author)) out.push('epoch 0 was not started by the conversation\'s author');
  const users = new Set(conv.participants.map(toHex));
  users.add(toHex(conv.author));
  const strangers = new Set([...[...e.readers.values()].map((r) => r.user), ...e.holders.values()].filter((u) => !users.has(u)));
  if (strangers.size > 0) out.push(`epoch 0 lists nodes of ${strangers.size} user(s) who are not participants`);
  return out;
}

/** True when the epoch's readers and holders are exactly these nodes (no new epoch needed). */
export function epochMatches(e: EpochRecord, readers: { dh: Uint8Array }[], holders: { dh: Uint8Array }[]): boolean {
  const want = new Set(readers.map((r) => toHex(r.dh)));
  const wantHolders = new Set(holders.map((h) => toHex(h.dh)).filter((h) => !want.has(h)));
  return want.size === e.readers.size && [...want].every((r) => e.readers.has(r)) && wantHolders.size === e.holders.size && [...e.holders.keys()].every((h) => wantHolders.has(h));
}

/** Every node an epoch routes to (readers and holders), DH keys hex. */
export function epochNodes(e: EpochRecord): Set<string> {
  return new Set([...e.readers.keys(), ...e.holders.keys()]);
}

const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const is32 = (v: unknown): boolean => v instanceof Uint8Array && v.length === 32;

function asList(v: CborValue | undefined): CborValue[] {
  if (!Array.isArray(v) || v.length > MAX_EPOCH_NODES) throw new KithError('MESSAGE_REJECTED', 'malformed epoch record');
  return v;
}

