// A holder: keeps friends' shards with per-friend quotas and accounting, answers audits with
// Merkle proofs, removes its outer layer only for the owner, refuses past quota or free disk,
// and collects shards whose lease ran out after a grace period. Narrow dependencies: a clock, a
// store, a log, and who a peer is; the transport hands it requests and sends its answers.
//
// Store layout (values canonical CBOR):
//   archive/h/s/<owner>/<object hex>/<chunk>/<shard>  → { d, r, b, x, w } (data, root, block size, lease expiry ms, outer wrap)
//   archive/h/u/<owner>                               → used bytes (uint)
// A put is one batch (record + usage), so a crash never leaves usage and records apart.
import { HOUR, type Clock } from '../core/clock.js';
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { KithError, isKithError } from '../core/errors.js';
import { toHex } from '../core/hex.js';
import { prefixEnd, type KvStore } from '../core/store.js';
import { proveBlocks } from './audit.js';
import { merkleRoot } from './merkle.js';
import { manifestFromSigned, openManifest } from './manifest.js';
import { decodeRequest, encodeResponse, MAX_SHARD_BYTES, MESSAGE_LIMITS, type Request, type Response } from './protocol.js';
import { OUTER_KEY_INFO, openShard, outerWrapAad, unwrapKey, type KeyWrap } from './seal.js';

export interface HolderDeps {
  clock: Clock;
  store: KvStore;
  log: (line: string) => void;
  /** The owner (user id) a peer node belongs to, or undefined for a node that is not a friend's or our own. */
  ownerOf: (peer: string) => string | undefined;
  /** Bytes this holder gives that owner (0 = none). */
  quotaOf: (owner: string) => number;
  /** Free bytes on the disk holding the store (statfs in the agent; a number in tests). */
  freeDiskBytes: () => Promise<number>;
  /** This holder's DH key pair, to remove its outer layer for the owner. */
  dh: { secretKey: Uint8Array; publicKey: Uint8Array };
  /** The holder's own node id as it appears in manifests (outer-wrap AAD). */
  selfId: string;
  /** A peer's Ed25519 signing key (a root must be signed by the node that sends it). */
  signKeyOf?: (peer: string) => Uint8Array | undefined;
  /** Whether an owner (user id) is this holder's own user: only they may have outer keys unwrapped here (device B). */
  isOwnUser?: (owner: string) => boolean;
}

export interface HolderOptions {
  /** Free disk never goes below this. */
  diskReserveBytes: number;
  /** Shards stay this long past their lease before they are collected. */
  leaseGraceMs: number;
}

const DAY = 24 * HOUR;

export const DEFAULT_HOLDER_OPTIONS: HolderOptions = { diskReserveBytes: 1024 ** 3, leaseGraceMs: 7 * DAY };

interface Record {
  data: Uint8Array;
  root: Uint8Array;
  blockBytes: number;
  expiresMs: number;
  wrap: KeyWrap;
}

const RECORD_LIMITS = MESSAGE_LIMITS;
const shardKey = (owner: string, object: Uint8Array, chunk: number, shard: number) => `archive/h/s/${owner}/${toHex(object)}/${chunk}/${shard}`;
const objectPrefix = (owner: string, object: Uint8Array) => `archive/h/s/${owner}/${toHex(object)}/`;
const usageKey = (owner: string) => `archive/h/u/${owner}`;
const rootKey = (owner: string) => `archive/h/r/${owner}`;

function encodeRecord(r: Record): Uint8Array {
  return encodeCanonical({ d: r.data, r: r.root, b: r.blockBytes, x: r.expiresMs, w: { recipient: r.wrap.recipient, enc: r.wrap.enc, ct: r.wrap.ct } });
}

function decodeRecord(bytes: Uint8Array): Record {
  const v = decodeCanonical(bytes, RECORD_LIMITS) as { [k: string]: CborValue };
  const w = v.w as { [k: string]: Uint8Array };
  return { data: v.d as Uint8Array, root: v.r as Uint8Array, blockBytes: v.b as number, expiresMs: v.x as number, wrap: { recipient: w.recipient!, enc: w.enc!, ct: w.ct! } };
}

export class Holder {
  /** Per-owner queue: a put's or a collection's usage read and its batch are never interleaved with another's. */
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(private readonly deps: HolderDeps, private readonly opts: HolderOptions = DEFAULT_HOLDER_OPTIONS) {}

  /** Answers one request from a peer; never throws (errors become `err` answers). */
  async handle(peer: string, payload: Uint8Array): Promise<Uint8Array> {
    try {
      const owner = this.deps.ownerOf(peer);
      if (owner === undefined) throw new KithError('ARCHIVE_NOT_OWNER', 'this node keeps shards only for friends and its own user');
      const req = decodeRequest(payload);
      if (req.t === 'rput') return encodeResponse(await this.exclusive(owner, () => this.putRoot(owner, peer, req.data)));
      return encodeResponse(await this.exclusive(owner, () => this.answer(owner, req)));
    } catch (e) {
      const k = isKithError(e) ? e : new KithError('ARCHIVE_MESSAGE_INVALID', 'the request could not be handled');
      if (!isKithError(e)) this.deps.log(`archive holder: unexpected ${(e as Error).name} on a request from ${peer.slice(0, 12)}`);
      return encodeResponse({ t: 'err', code: k.code, message: k.message });
    }
  }

  private exclusive<T>(owner: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.queues.get(owner) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.queues.set(owner, tail);
    void tail.then(() => this.queues.get(owner) === tail && this.queues.delete(owner));
    return run;
  }

  async usedBy(owner: string): Promise<number> {
    const v = await this.deps.store.get(usageKey(owner));
    return v ? (decodeCanonical(v) as number) : 0;
  }

  private async answer(owner: string, r: Request): Promise<Response> {
    switch (r.t) {
      case 'put': return this.put(owner, r);
      case 'get': {
        const rec = await this.record(owner, r.object, r.chunk, r.shard);
        if (!r.peel) return { t: 'shard', peeled: false, data: rec.data };
        if (Buffer.compare(rec.wrap.recipient, this.deps.dh.publicKey) !== 0) return { t: 'shard', peeled: false, data: rec.data };
        const key = unwrapKey(rec.wrap, this.deps.dh.secretKey, OUTER_KEY_INFO, outerWrapAad(r.object, this.deps.selfId));
        try {
          return { t: 'shard', peeled: true, data: openShard(key, r.object, r.chunk, r.shard, rec.data) };
        } finally {
          key.fill(0);
        }
      }
      case 'audit': {
        const rec = await this.record(owner, r.object, r.chunk, r.shard);
        try {
          return { t: 'proof', proofs: proveBlocks(rec.data, rec.blockBytes, r.indices) };
        } catch {
          throw new KithError('ARCHIVE_MESSAGE_INVALID', 'the audit names a block outside the shard');
        }
      }
      case 'renew': return this.renew(owner, r.object, r.expiresMs);
      case 'del': return this.del(owner, r.object);
      case 'usage': return { t: 'usage', usedBytes: await this.usedBy(owner), quotaBytes: this.deps.quotaOf(owner) };
      case 'rget': return { t: 'root', data: (await this.deps.store.get(rootKey(owner))) ?? new Uint8Array(0) };
      case 'rput': throw new KithError('ARCHIVE_MESSAGE_INVALID', 'rput is answered before');
      case 'unwrap': return this.unwrap(owner, r);
    }
  }

  /**
   * Device B's part of reading history: the outer key of one holder slot, for another node of
   * this node's own user only, and only when the wrap is to this node's key (SEAL_INVALID if it
   * does not open). The key travels inside the Noise session.
   */
  private unwrap(owner: string, r: Extract<Request, { t: 'unwrap' }>): Response {
    if (!this.deps.isOwnUser?.(owner)) throw new KithError('ARCHIVE_NOT_OWNER', 'outer keys are unwrapped only for nodes of this node\'s own user');
    if (Buffer.compare(r.wrap.recipient, this.deps.dh.publicKey) !== 0) throw new KithError('SEAL_INVALID', 'the outer key is not wrapped to this node');
    return { t: 'key', key: unwrapKey(r.wrap, this.deps.dh.secretKey, OUTER_KEY_INFO, outerWrapAad(r.object, r.holder)) };
  }

  /** Keeps the owner's newest root: a manifest signed by the sending node, not older than the one kept. */
  private async putRoot(owner: string, peer: string, data: Uint8Array): Promise<Response> {
    const key = this.deps.signKeyOf?.(peer);
    if (!key) throw new KithError('ARCHIVE_NOT_OWNER', 'this holder does not know the sending node\'s signing key');
    const next = openManifest(data, [key]);
    const old = await this.deps.store.get(rootKey(owner));
    if (old) {
      const prev = manifestFromSigned(old);
      if (prev && prev.createdMs > next.createdMs) return { t: 'ok' };
    }
    await this.deps.store.put(rootKey(owner), data);
    return { t: 'ok' };
  }

  private async record(owner: string, object: Uint8Array, chunk: number, shard: number): Promise<Record> {
    const v = await this.deps.store.get(shardKey(owner, object, chunk, shard));
    if (!v) throw new KithError('ARCHIVE_SHARD_UNKNOWN', `no shard ${chunk}/${shard} of object ${toHex(object).slice(0, 16)} here`);
    return decodeRecord(v);
  }

  private async put(owner: string, r: Extract<Request, { t: 'put' }>): Promise<Response> {
    if (r.data.length > MAX_SHARD_BYTES) throw new KithError('ARCHIVE_SHARD_INVALID', `shard of ${r.data.length} bytes is over the ${MAX_SHARD_BYTES}-byte limit`);
    if (Buffer.compare(merkleRoot(r.data, r.blockBytes), r.root) !== 0) throw new KithError('ARCHIVE_SHARD_INVALID', 'the shard does not match the root it was sent with');
    const key = shardKey(owner, r.object, r.chunk, r.shard);
    const old = await this.deps.store.get(key);
    const oldBytes = old ? decodeRecord(old).data.length : 0;
    const used = await this.usedBy(owner);
    const next = used - oldBytes + r.data.length;
    const quota = this.deps.quotaOf(owner);
    if (next > quota) throw new KithError('ARCHIVE_QUOTA_EXCEEDED', `this shard would take you to ${next} of the ${quota} bytes this holder gives you`);
    const free = await this.deps.freeDiskBytes();
    if (r.data.length - oldBytes > free - this.opts.diskReserveBytes) {
      throw new KithError('ARCHIVE_DISK_FULL', `the holder's disk has ${free} bytes free and keeps ${this.opts.diskReserveBytes} in reserve`);
    }
    const rec: Record = { data: r.data, root: r.root, blockBytes: r.blockBytes, expiresMs: r.expiresMs, wrap: r.wrap };
    await this.deps.store.batch([
      { type: 'put', key, value: encodeRecord(rec) },
      { type: 'put', key: usageKey(owner), value: encodeCanonical(next) },
    ]);
    return { t: 'ok' };
  }

  private async *records(owner: string, object?: Uint8Array): AsyncGenerator<[string, Record]> {
    const prefix = object ? objectPrefix(owner, object) : `archive/h/s/${owner}/`;
    for await (const [k, v] of this.deps.store.range({ gte: prefix, lt: prefixEnd(prefix) })) yield [k, decodeRecord(v)];
  }

  private async renew(owner: string, object: Uint8Array, expiresMs: number): Promise<Response> {
    const ops: { type: 'put'; key: string; value: Uint8Array }[] = [];
    for await (const [k, rec] of this.records(owner, object)) ops.push({ type: 'put', key: k, value: encodeRecord({ ...rec, expiresMs: Math.max(rec.expiresMs, expiresMs) }) });
    if (ops.length === 0) throw new KithError('ARCHIVE_SHARD_UNKNOWN', `no shards of object ${toHex(object).slice(0, 16)} here`);
    await this.deps.store.batch(ops);
    return { t: 'ok' };
  }

  private async del(owner: string, object: Uint8Array): Promise<Response> {
    const keys: string[] = [];
    let freed = 0;
    for await (const [k, rec] of this.records(owner, object)) (keys.push(k), (freed += rec.data.length));
    const used = await this.usedBy(owner);
    await this.deps.store.batch([...keys.map((key) => ({ type: 'del' as const, key })), { type: 'put', key: usageKey(owner), value: encodeCanonical(Math.max(0, used - freed)) }]);
    return { t: 'ok' };
  }

  /**
   * Deletes shards whose lease ended more than the grace period ago; returns how many. Each
   * owner's collection runs in that owner's queue, so a put in between never skews the usage.
   */
  async collectExpired(owners: readonly string[]): Promise<number> {
    const now = this.deps.clock.wallTime();
    let n = 0;
    for (const owner of owners) n += await this.exclusive(owner, () => this.collectOwner(owner, now));
    return n;
  }

  private async collectOwner(owner: string, now: number): Promise<number> {
    const dead: string[] = [];
    let freed = 0;
    for await (const [k, rec] of this.records(owner)) if (rec.expiresMs + this.opts.leaseGraceMs < now) (dead.push(k), (freed += rec.data.length));
    if (dead.length === 0) return 0;
    const used = await this.usedBy(owner);
    await this.deps.store.batch([...dead.map((key) => ({ type: 'del' as const, key })), { type: 'put', key: usageKey(owner), value: encodeCanonical(Math.max(0, used - freed)) }]);
    this.deps.log(`archive holder: collected ${dead.length} expired shards of ${owner.slice(0, 12)} (${freed} bytes)`);
    return dead.length;
  }
}
