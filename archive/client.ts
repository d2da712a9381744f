// The owner's side of the archive protocol: typed calls to one holder over a request function
// (cluster reliable `request` in the agent, an in-memory link in tests), and one audit as an
// outcome for the audit state machine: a proof that checks is a pass, a wrong proof or a missing
// shard a failure, no answer (timeout, unreachable) only "no-answer".
import type { Rng } from '../core/rng.js';
import { checkProofs, chooseBlocks, type AuditOutcome } from './audit.js';
import type { ManifestBody } from './manifest.js';
import { shardBytes, type SealedShard } from './pipeline.js';
import { decodeResponse, encodeRequest, errorFromResponse, type Request, type Response } from './protocol.js';
import { TAG_BYTES, type KeyWrap } from './seal.js';
import { KithError, isKithError } from '../core/errors.js';

export type RequestFn = (peer: string, payload: Uint8Array) => Promise<Uint8Array>;

export class HolderClient {
  constructor(private readonly deps: { request: RequestFn }) {}

  private async call<T extends Response['t']>(peer: string, req: Request, want: T): Promise<Extract<Response, { t: T }>> {
    const res = decodeResponse(await this.deps.request(peer, encodeRequest(req)));
    if (res.t === 'err') throw errorFromResponse(res);
    if (res.t !== want) throw new KithError('ARCHIVE_MESSAGE_INVALID', `holder answered ${res.t} to ${req.t}`);
    return res as Extract<Response, { t: T }>;
  }

  async put(peer: string, s: SealedShard, expiresMs: number): Promise<void> {
    await this.call(peer, { t: 'put', object: s.object, chunk: s.chunk, shard: s.shard, root: s.root, blockBytes: s.blockBytes, expiresMs, wrap: s.wrap, data: s.bytes }, 'ok');
  }

  /** The stored bytes, or (peel) the bytes with the holder's layer removed when the outer layer is the holder's. */
  async get(peer: string, object: Uint8Array, chunk: number, shard: number, peel: boolean): Promise<{ peeled: boolean; data: Uint8Array }> {
    const r = await this.call(peer, { t: 'get', object, chunk, shard, peel }, 'shard');
    return { peeled: r.peeled, data: r.data };
  }

  async renew(peer: string, object: Uint8Array, expiresMs: number): Promise<void> {
    await this.call(peer, { t: 'renew', object, expiresMs }, 'ok');
  }

  async del(peer: string, object: Uint8Array): Promise<void> {
    await this.call(peer, { t: 'del', object }, 'ok');
  }

  async usage(peer: string): Promise<{ usedBytes: number; quotaBytes: number }> {
    const r = await this.call(peer, { t: 'usage' }, 'usage');
    return { usedBytes: r.usedBytes, quotaBytes: r.quotaBytes };
  }

  async putRoot(peer: string, signedIndexManifest: Uint8Array): Promise<void> {
    await this.call(peer, { t: 'rput', data: signedIndexManifest }, 'ok');
  }

  /** Device B (peer, one of the owner's own access devices) unwraps the outer key of a holder slot. */
  async unwrap(peer: string, object: Uint8Array, holder: string, wrap: KeyWrap): Promise<Uint8Array> {
    return (await this.call(peer, { t: 'unwrap', object, holder, wrap }, 'key')).key;
  }

  /** The owner's root this holder keeps (a signed manifest), or undefined. */
  async getRoot(peer: string): Promise<Uint8Array | undefined> {
    const r = await this.call(peer, { t: 'rget' }, 'root');
    return r.data.length > 0 ? r.data : undefined;
  }

  /** Audits one random shard of `body` held by `holderId`: random blocks, proofs checked against the manifest. */
  async audit(peer: string, body: ManifestBody, holderId: string, rng: Rng, blocks = 2): Promise<AuditOutcome> {
    const held = body.chunks.flatMap((c, ci) => c.shards.flatMap((s, si) => (body.holders[s.holder]!.id === holderId ? [{ ci, si, root: s.root, sealed: c.sealed }] : [])));
    if (held.length === 0) return 'pass';
    const pick = held[rng.below(held.length)]!;
    const stored = shardBytes(pick.sealed, body.k) + TAG_BYTES;
    const indices = chooseBlocks(stored, body.blockBytes, rng, blocks);
    try {
      const r = await this.call(peer, { t: 'audit', object: body.object, chunk: pick.ci, shard: pick.si, indices }, 'proof');
      return checkProofs(pick.root, stored, body.blockBytes, indices, r.proofs) ? 'pass' : 'fail';
    } catch (e) {
      // A holder that answers, but not with a valid proof, fails; silence is only "no-answer".
      if (isKithError(e) && (e.code.startsWith('ARCHIVE_') || e.code === 'CBOR_INVALID')) return 'fail';
      return 'no-answer';
    }
  }
}
