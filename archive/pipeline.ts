// The archive pipeline (DESIGN.md §7), streaming with bounded memory:
//   put: fixed chunks → inner seal (AES-256-GCM, object key) → systematic Reed-Solomon
//        (k data + m parity) → outer seal per holder → Merkle root (content address) → sink
//   get: fetch shards (data shards first: systematic, so no decoding while they are good) →
//        check each against the manifest → rebuild from any k → inner open → plaintext chunks
// At most one chunk and its n shards are in memory at a time (plus the manifest, ~75 bytes per
// shard); the sink's promise is the backpressure.
import type { Rng } from '../core/rng.js';
import { KithError, isKithError } from '../core/errors.js';
import { bytesEqual } from '../core/hex.js';
import { DEFAULT_CHUNK_BYTES, fixedChunks } from './chunker.js';
import type { ChunkEntry, HolderEntry, ManifestBody, ObjectKind } from './manifest.js';
import { merkleRoot } from './merkle.js';
import type { SealingPolicy } from './policy.js';
import { ReedSolomon } from './reed-solomon.js';
import {
  KEY_BYTES, OBJECT_ID_BYTES, OBJECT_KEY_INFO, OUTER_KEY_INFO, TAG_BYTES,
  openChunk, openShard, outerWrapAad, sealChunk, sealShard, unwrapKey, wrapKey, type KeyWrap,
} from './seal.js';

export const DEFAULT_BLOCK_BYTES = 16 * 1024;

export interface HolderSlot {
  id: string;
  household: string;
  dhPublicKey: Uint8Array;
}

export interface PutOptions {
  kind: ObjectKind;
  policy: SealingPolicy;
  holders: readonly HolderSlot[];
  /** placement[j] = index into holders of the holder of shard j (of every chunk); length k + m. */
  placement: readonly number[];
  k: number;
  m: number;
  chunkBytes?: number;
  blockBytes?: number;
  meta?: Record<string, string>;
  signerPublicKey: Uint8Array;
  rng: Rng;
  wallTimeMs: number;
}

/** One stored shard as it leaves the pipeline: what the holder keeps under its root. */
export interface SealedShard {
  object: Uint8Array;
  chunk: number;
  shard: number;
  holder: string;
  root: Uint8Array;
  bytes: Uint8Array;
  /** The outer key of this shard's holder slot, wrapped (sent along, so a relay can peel). */
  wrap: KeyWrap;
  /** Merkle block size of the root. */
  blockBytes: number;
}

/** Splits an inner-sealed chunk into k equal data shards (zero-padded) and adds m parity shards. */
export function erasureCode(rs: ReedSolomon, sealed: Uint8Array): Uint8Array[] {
  const size = shardBytes(sealed.length, rs.dataShards);
  const padded = new Uint8Array(size * rs.dataShards);
  padded.set(sealed);
  const data = Array.from({ length: rs.dataShards }, (_, i) => padded.subarray(i * size, (i + 1) * size));
  return [...data, ...rs.encode(data)];
}

/** Inner-level shard size: ceil(sealed / k) rounded up to a multiple of 4 (aligned table passes). */
export function shardBytes(sealedChunkBytes: number, k: number): number {
  return Math.ceil(Math.ceil(sealedChunkBytes / k) / 4) * 4;
}

function checkPutOptions(o: PutOptions): void {
  if (o.placement.length !== o.k + o.m) throw new RangeError(`placement names ${o.placement.length} holders for ${o.k + o.m} shards`);
  if (o.placement.some((h) => !Number.isInteger(h) || h < 0 || h >= o.holders.length)) throw new RangeError('placement names a holder that is not in holders');
}

/** Seals and erasure-codes a stream; every shard goes to sink (awaited); returns the unsigned manifest body. */
export async function putObject(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  o: PutOptions,
  sink: (s: SealedShard) => Promise<void>,
): Promise<ManifestBody> {
  checkPutOptions(o);
  const chunkBytes = o.chunkBytes ?? DEFAULT_CHUNK_BYTES;
  const blockBytes = o.blockBytes ?? DEFAULT_BLOCK_BYTES;
  const object = o.rng.bytes(OBJECT_ID_BYTES);
  const objectKey = o.rng.bytes(KEY_BYTES);
  const used = [...new Set(o.placement)].sort((a, b) => a - b);
  const slotOf = new Map(used.map((h, i) => [h, i]));
  const outerKeys = used.map(() => o.rng.bytes(KEY_BYTES));
  const holders: HolderEntry[] = used.map((h, i) => {
    const slot = o.holders[h]!;
    const recipient = o.policy.outer === 'holder' ? slot.dhPublicKey : o.policy.outer;
    return { id: slot.id, household: slot.household, outer: wrapKey(outerKeys[i]!, recipient, OUTER_KEY_INFO, outerWrapAad(object, slot.id), o.rng) };
  });
  const inner = o.policy.inner.map((pk) => wrapKey(objectKey, pk, OBJECT_KEY_INFO, object, o.rng));
  const rs = new ReedSolomon(o.k, o.m);
  const chunks: ChunkEntry[] = [];
  let size = 0;
  for await (const plain of fixedChunks(input, chunkBytes)) {
    const index = chunks.length;
    size += plain.length;
    const sealed = sealChunk(objectKey, object, index, plain);
    const entry: ChunkEntry = { sealed: sealed.length, shards: [] };
    const shards = erasureCode(rs, sealed);
    for (let j = 0; j < shards.length; j++) {
      const slot = slotOf.get(o.placement[j]!)!;
      const stored = sealShard(outerKeys[slot]!, object, index, j, shards[j]!);
      const root = merkleRoot(stored, blockBytes);
      entry.shards.push({ holder: slot, root });
      await sink({ object, chunk: index, shard: j, holder: holders[slot]!.id, root, bytes: stored, wrap: holders[slot]!.outer, blockBytes });
    }
    chunks.push(entry);
  }
  objectKey.fill(0);
  for (const k of outerKeys) k.fill(0);
  return {
    object, kind: o.kind, version: 1, createdMs: o.wallTimeMs, size, chunkBytes, blockBytes, k: o.k, m: o.m,
    meta: o.meta ?? {}, inner, holders, chunks, signer: o.signerPublicKey,
  };
}

/** The object key, from the secret key of one of the inner recipients (SEAL_INVALID if none opens). */
export function objectKeyFor(body: ManifestBody, innerSecretKey: Uint8Array, innerPublicKey: Uint8Array): Uint8Array {
  const wrap = body.inner.find((w) => bytesEqual(w.recipient, innerPublicKey));
  if (!wrap) throw new KithError('SEAL_INVALID', 'this device is not one of the inner recipients of the object');
  return unwrapKey(wrap, innerSecretKey, OBJECT_KEY_INFO, body.object);
}

/** The outer key of holder slot h, from the outer recipient's secret key (the holder's, or device B's). */
export function outerKeyFor(body: ManifestBody, holder: number, outerSecretKey: Uint8Array): Uint8Array {
  const h = body.holders[holder];
  if (!h) throw new RangeError(`no holder slot ${holder}`);
  return unwrapKey(h.outer, outerSecretKey, OUTER_KEY_INFO, outerWrapAad(body.object, h.id));
}

/** Removes the outer layer of a stored shard (done by whoever holds the outer recipient's key). */
export function peelShard(body: ManifestBody, outerKey: Uint8Array, chunk: number, shard: number, stored: Uint8Array): Uint8Array {
  return openShard(outerKey, body.object, chunk, shard, stored);
}

/**
 * Fetches shard j of chunk c already peeled (inner-level bytes), or undefined when it cannot be
 * had now. The reader checks the bytes against the manifest; bad bytes count as missing.
 */
export type FetchPeeled = (chunk: number, shard: number, holder: HolderEntry) => Promise<Uint8Array | undefined>;

export interface GetReport {
  /** (chunk, shard) pairs whose bytes did not match the manifest (to count as failed audits). */
  bad: { chunk: number; shard: number; holder: string }[];
  shardsRead: number;
}

/** Most k-subsets tried when the first k shards of a chunk do not open (a holder lied). */
const MAX_SUBSETS = 256;

function* subsets(items: number[], k: number, start = 0, acc: number[] = []): Generator<number[]> {
  if (acc.length === k) return yield [...acc];
  for (let i = start; i <= items.length - (k - acc.length); i++) yield* subsets(items, k, i + 1, [...acc, items[i]!]);
}

/**
 * One chunk: fetches shards (data shards first, so a healthy read decodes nothing), rebuilds and
 * opens it with the object key. Peeled shards are verified by the inner AEAD: when the first k do
 * not open, every shard is fetched and k-subsets are tried until one opens; shards that then
 * disagree with the re-encoded chunk are reported bad. Returns the plaintext and the
 * inner-sealed chunk (repair re-encodes it). ARCHIVE_UNRECOVERABLE when no k of them open the chunk.
 */
export async function readChunk(body: ManifestBody, rs: ReedSolomon, objectKey: Uint8Array, c: number, fetch: FetchPeeled, report: GetReport): Promise<{ plain: Uint8Array; sealed: Uint8Array }> {
  const entry = body.chunks[c]!;
  const size = shardBytes(entry.sealed, body.k);
  const got = new Map<number, Uint8Array>();
  const n = body.k + body.m;
  const take = async (j: number) => {
    const s = entry.shards[j]!;
    let bytes: Uint8Array | undefined;
    try {
      bytes = await fetch(c, j, body.holders[s.holder]!);
    } catch (e) {
      // A holder that errs (timeout, unknown shard, a layer that does not open) is a missing
      // shard, not a failed read; wrong bytes are reported so audits can count them.
      if (isKithError(e, 'SEAL_INVALID') || isKithError(e, 'ARCHIVE_SHARD_INVALID')) report.bad.push({ chunk: c, shard: j, holder: body.holders[s.holder]!.id });
      return;
    }
    if (!bytes) return;
    report.shardsRead++;
    if (bytes.length === size) got.set(j, bytes);
    else report.bad.push({ chunk: c, shard: j, holder: body.holders[s.holder]!.id });
  };
  for (let j = 0; j < n && got.size < body.k; j++) await take(j);
  const attempt = (use: number[]) => {
    const sealed = joinChunk(rs, entry.sealed, Array.from({ length: n }, (_, j) => (use.includes(j) ? got.get(j) : undefined)));
    try {
      return { plain: openChunk(objectKey, body.object, c, sealed), sealed };
    } catch {
      return undefined;
    }
  };
  if (got.size >= body.k) {
    const first = attempt([...got.keys()].slice(0, body.k));
    if (first) return first;
  }
  for (let j = 0; j < n; j++) if (!got.has(j)) await take(j);
  let tries = 0;
  for (const use of subsets([...got.keys()].sort((a, b) => a - b), body.k)) {
    if (++tries > MAX_SUBSETS) break;
    const ok = attempt(use);
    if (!ok) continue;
    const all = erasureCode(rs, ok.sealed);
    for (const [j, bytes] of got) if (!bytesEqual(bytes, all[j]!)) report.bad.push({ chunk: c, shard: j, holder: body.holders[entry.shards[j]!.holder]!.id });
    return ok;
  }
  throw new KithError('ARCHIVE_UNRECOVERABLE', `chunk ${c}: no ${body.k} of the ${got.size} shards fetched open it`);
}

/** Rebuilds chunk c's inner-sealed bytes from k good shards. */
export function joinChunk(rs: ReedSolomon, sealedBytes: number, shards: (Uint8Array | undefined)[]): Uint8Array {
  const all = shards.slice(0, rs.dataShards).every(Boolean) ? shards : rs.reconstruct(shards);
  const out = new Uint8Array(sealedBytes);
  let off = 0;
  for (let i = 0; i < rs.dataShards && off < sealedBytes; i++) {
    const take = Math.min(all[i]!.length, sealedBytes - off);
    out.set(all[i]!.subarray(0, take), off);
    off += take;
  }
  return out;
}

/** The plaintext, chunk by chunk, byte-identical to what was put. */
export async function* getObject(body: ManifestBody, objectKey: Uint8Array, fetch: FetchPeeled, report: GetReport = { bad: [], shardsRead: 0 }): AsyncGenerator<Uint8Array> {
  const rs = new ReedSolomon(body.k, body.m);
  let total = 0;
  for (let c = 0; c < body.chunks.length; c++) {
    const { plain } = await readChunk(body, rs, objectKey, c, fetch, report);
    total += plain.length;
    yield plain;
  }
  if (total !== body.size) throw new KithError('ARCHIVE_MANIFEST_INVALID', `object size ${total} differs from the manifest's ${body.size}`);
}
