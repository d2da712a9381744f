// The signed manifest of one archived object (archive/README.md "Manifest"): what was sealed for
// whom, which holder has which shard of which chunk, and each shard's integrity root. Canonical
// CBOR, signed per core/signed.ts under type "kith/archive-manifest". Parsing is strict: a
// manifest that is forged, truncated or inconsistent is refused whole (ARCHIVE_MANIFEST_INVALID
// or SIGNATURE_INVALID), never half-used.
import type { CborValue, DecodeLimits } from '../core/cbor.js';
import { KithError } from '../core/errors.js';
import { readSignedObject, checkOpenedSignature, signObject } from '../core/signed.js';
import type { KeyWrap } from './seal.js';

export const MANIFEST_TYPE = 'kith/archive-manifest';
export const MANIFEST_VERSION = 1;
/** A manifest of a 64 GiB object at 1 MiB chunks and n = 9 stays well inside these. */
export const MANIFEST_LIMITS: DecodeLimits = { maxBytes: 64 * 1024 * 1024, maxDepth: 8, maxItems: 8_000_000 };

export type ObjectKind = 'file' | 'history' | 'active';

/** One shard of one chunk: who holds it, and the Merkle root of the stored (outer-sealed) bytes. */
export interface ShardEntry {
  holder: number;
  root: Uint8Array;
}

export interface ChunkEntry {
  /** Length of the inner-sealed chunk (plaintext + 16); shards are ceil(sealed / k) bytes before the outer seal. */
  sealed: number;
  shards: ShardEntry[];
}

export interface HolderEntry {
  id: string;
  household: string;
  /** The per-(object, holder) outer key, wrapped to the outer recipient. */
  outer: KeyWrap;
}

export interface ManifestBody {
  object: Uint8Array;
  kind: ObjectKind;
  /** 1 at put; each repair that moves a shard signs the next version. */
  version: number;
  createdMs: number;
  size: number;
  chunkBytes: number;
  blockBytes: number;
  k: number;
  m: number;
  meta: Record<string, string>;
  inner: KeyWrap[];
  holders: HolderEntry[];
  chunks: ChunkEntry[];
  signer: Uint8Array;
}

const wrapToCbor = (w: KeyWrap): CborValue => ({ recipient: w.recipient, enc: w.enc, ct: w.ct });

export function manifestToCbor(b: ManifestBody): CborValue {
  return {
    v: MANIFEST_VERSION,
    object: b.object,
    kind: b.kind,
    version: b.version,
    created: b.createdMs,
    size: b.size,
    chunkBytes: b.chunkBytes,
    blockBytes: b.blockBytes,
    k: b.k,
    m: b.m,
    meta: b.meta,
    inner: b.inner.map(wrapToCbor),
    holders: b.holders.map((h) => ({ id: h.id, household: h.household, outer: wrapToCbor(h.outer) })),
    chunks: b.chunks.map((c) => ({ sealed: c.sealed, shards: c.shards.map((s) => [s.holder, s.root]) })),
    signer: b.signer,
  };
}

export function signManifest(body: ManifestBody, signerSecretKey: Uint8Array): Uint8Array {
  return signObject(MANIFEST_TYPE, manifestToCbor(body), signerSecretKey);
}

function bad(why: string): never {
  throw new KithError('ARCHIVE_MANIFEST_INVALID', `archive manifest: ${why}`);
}

type Obj = Record<string, CborValue>;
const isObj = (v: CborValue | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
const uint = (v: CborValue | undefined, what: string, max = Number.MAX_SAFE_INTEGER): number =>
  typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max ? v : bad(`${what} is not an integer in 0..${max}`);
const bytes = (v: CborValue | undefined, what: string, len?: number): Uint8Array =>
  v instanceof Uint8Array && (len === undefined || v.length === len) ? v : bad(`${what} is not ${len ?? ''} bytes`);
const text = (v: CborValue | undefined, what: string): string => (typeof v === 'string' && v.length <= 256 ? v : bad(`${what} is not a short text`));
const list = (v: CborValue | undefined, what: string): CborValue[] => (Array.isArray(v) ? v : bad(`${what} is not an array`));

function wrapFrom(v: CborValue | undefined, what: string): KeyWrap {
  if (!isObj(v)) bad(`${what} is not a key wrap`);
  return { recipient: bytes(v.recipient, `${what}.recipient`, 32), enc: bytes(v.enc, `${what}.enc`, 32), ct: bytes(v.ct, `${what}.ct`, 48) };
}

export function manifestFromCbor(v: CborValue): ManifestBody {
  if (!isObj(v)) bad('body is not a map');
  if (v.v !== MANIFEST_VERSION) bad(`unknown manifest format ${String(v.v)}`);
  const kind = v.kind;
  if (kind !== 'file' && kind !== 'history' && kind !== 'active') bad('unknown kind');
  const k = uint(v.k, 'k', 255);
  const m = uint(v.m, 'm', 255);
  if (k < 1 || k + m > 256) bad('k and m out of range');
  const holders = list(v.holders, 'holders').map((h, i): HolderEntry => {
    if (!isObj(h)) bad(`holder ${i} is not a map`);
    return { id: text(h.id, `holder ${i} id`), household: text(h.household, `holder ${i} household`), outer: wrapFrom(h.outer, `holder ${i} outer`) };
  });
  const size = uint(v.size, 'size');
  const chunkBytes = uint(v.chunkBytes, 'chunkBytes', 1 << 30);
  if (chunkBytes < 1) bad('chunkBytes is zero');
  const chunks = list(v.chunks, 'chunks').map((c, ci): ChunkEntry => {
    if (!isObj(c)) bad(`chunk ${ci} is not a map`);
    const shards = list(c.shards, `chunk ${ci} shards`).map((s, si): ShardEntry => {
      const a = list(s, `chunk ${ci} shard ${si}`);
      if (a.length !== 2) bad(`chunk ${ci} shard ${si} is not [holder, root]`);
      const holder = uint(a[0], `chunk ${ci} shard ${si} holder`, holders.length - 1);
      return { holder, root: bytes(a[1], 'root', 32) };
    });
    if (shards.length !== k + m) bad(`chunk ${ci} lists ${shards.length} shards, not k + m = ${k + m}`);
    return { sealed: uint(c.sealed, `chunk ${ci} sealed`, chunkBytes + 16), shards };
  });
  if (chunks.length !== Math.ceil(size / chunkBytes)) bad(`${chunks.length} chunks do not fit size ${size}`);
  const meta = isObj(v.meta) ? v.meta : bad('meta is not a map');
  return {
    object: bytes(v.object, 'object', 32),
    kind,
    version: uint(v.version, 'version'),
    createdMs: uint(v.created, 'created'),
    size,
    chunkBytes,
    blockBytes: uint(v.blockBytes, 'blockBytes', 1 << 20) || bad('blockBytes is zero'),
    k,
    m,
    meta: Object.fromEntries(Object.entries(meta).map(([key, val]) => [key, text(val, `meta.${key}`)])),
    inner: list(v.inner, 'inner').map((w, i) => wrapFrom(w, `inner ${i}`)),
    holders,
    chunks,
    signer: bytes(v.signer, 'signer', 32),
  };
}

/** Verifies the signature against one of the owner's signing keys first, then parses strictly. */
export function openManifest(signed: Uint8Array, trustedSigners: readonly Uint8Array[]): ManifestBody {
  const opened = readSignedObject(signed, MANIFEST_TYPE, MANIFEST_LIMITS);
  const named = isObj(opened.body) ? opened.body.signer : undefined;
  const signer = named instanceof Uint8Array ? trustedSigners.find((k) => Buffer.compare(k, named) === 0) : undefined;
  if (!signer) throw new KithError('SIGNATURE_INVALID', "archive manifest is signed by a key that is not one of the owner's");
  checkOpenedSignature(opened, signer);
  return manifestFromCbor(opened.body);
}

/** Parses a signed manifest without checking its signature (only for bytes already checked once, e.g. a holder's kept root); undefined if malformed. */
export function manifestFromSigned(signed: Uint8Array): ManifestBody | undefined {
  try {
    return manifestFromCbor(readSignedObject(signed, MANIFEST_TYPE, MANIFEST_LIMITS).body);
  } catch {
    return undefined;
  }
}
