// The owner's archive: what `kith archive put|ls|get|verify|status` do, over the holder protocol.
// It keeps, in the owner's store, each object's signed manifest and the audit state of each of
// its holders, and runs the rounds the agent schedules: audits (one challenge per holder per
// object), repair (planRepair within a read budget), lease renewal. Narrow dependencies: a clock,
// an rng, a store, a request function and the list of candidate holders the cluster has now.
//
// Store layout (values canonical CBOR):
//   archive/o/obj/<object hex> → { m: bytes signed manifest, a: text JSON { holderId: HolderAudit },
//                                  r: uint repairs so far, l: uint last audit round (wall ms, 0 = never),
//                                  x: uint lease expiry given to holders (wall ms): the earliest over the holders in use,
//                                  h?: text JSON { holderId: lease expiry (wall ms) } per holder, when they differ }
//   archive/o/revoked/<DH public key hex> → { t: uint wall ms }: an own access device revoked, whose
//                                  layers this node's objects are re-sealed away from (archive/reseal.ts)
//   archive/o/device/<DH public key hex> → { n: uint node index, g: uint key generation }: an own access
//                                  device as its certificate names it, kept after its member entry is gone,
//                                  so a signed revocation of (n, g) is matched to its key (`reconcileRevoked`)
import { HOUR, type Clock } from '../core/clock.js';
import { signatures } from '../core/crypto.js';
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { KithError, isKithError } from '../core/errors.js';
import { bytesEqual, fromHex, toHex } from '../core/hex.js';
import type { Rng } from '../core/rng.js';
import { prefixEnd, type KvStore } from '../core/store.js';
import { failedByProof, freshAudit, nextAudit, type AuditOutcome, type AuditParams, type AuditState, type HolderAudit, DEFAULT_AUDIT_PARAMS } from './audit.js';
import { DEFAULT_CHUNK_BYTES } from './chunker.js';
import { HolderClient, type RequestFn } from './client.js';
import { manifestFromSigned, openManifest, signManifest, type ManifestBody, type ObjectKind } from './manifest.js';
import { getObject, objectKeyFor, outerKeyFor, peelShard, putObject, shardBytes, type FetchPeeled, type HolderSlot } from './pipeline.js';
import { choosePlacement, defaultCode } from './placement.js';
import { sealingPolicy, type AccessDevice } from './policy.js';
import { executeRepair, planRepair, type RepairCandidate } from './repair.js';
import { TAG_BYTES } from './seal.js';
import { deviceSealedTo, resealNeed, revokedIn } from './reseal.js';

const DAY = 24 * HOUR;

/** A node that may hold shards now: a friend's or one of our own, reachable. household = its user. */
export interface Candidate extends HolderSlot {}

export interface OwnerDeps {
  clock: Clock;
  rng: Rng;
  store: KvStore;
  log: (line: string) => void;
  request: RequestFn;
  candidates: () => Candidate[];
  /** Whether a holder can be asked now (membership says alive); one that cannot is not waited for. */
  reachable: (holder: string) => boolean;
  /** Whether a holder is gone for good (its node revoked): its shards count as failed at once, not contained. */
  gone?: (holder: string) => boolean;
  /** This node: its DH key pair opens the inner layer (an access device), its signing key signs manifests. */
  self: { id: string; dh: { secretKey: Uint8Array; publicKey: Uint8Array }; signSecret: Uint8Array; signPublic: Uint8Array };
  /** Signing keys of the owner's nodes whose manifests are trusted (this node's is always). */
  trustedSigners: () => Uint8Array[];
  /**
   * The friend list to keep in the index (restored for the user to see after a recovery), each
   * with its opaque signed friend record when there is one (it carries the pair's secret: the
   * index's inner layer is sealed to this user's device, so only the owner reads it back).
   */
  friends: () => IndexFriend[];
  /**
   * The owner's other access devices (certified with the access role, not revoked; id = node id
   * the request function reaches), in a stable order: the first is device B of history objects.
   * Absent or empty: this node is the only access device (the one-device warning).
   */
  otherAccessDevices?: () => AccessDevice[];
  /**
   * Whether this user's signed revocation of its node (index, generation) is held (the roster's
   * `revocation/<user>/<node>/<gen>`). Absent: none is; only the membership's watcher records revocations.
   */
  isRevokedNode?: (nodeIndex: number, generation: number) => boolean;
  /**
   * Whether a DH public key (hex) is that of a member not revoked (its signed revocation is not
   * held). Such a key, and this node's own, is never taken for re-sealing (ARCHIVE_RESEAL_DEVICE_LIVE).
   */
  isLiveNode?: (dhPublicKeyHex: string) => boolean;
}

/** An own access device as its certificate names it (node index, key generation), by its DH key. */
export interface OwnDevice { dhPublicKey: Uint8Array; nodeIndex: number; generation: number }

export interface OwnerOptions {
  leaseMs: number;
  /** Renew when less than this is left of a lease. */
  renewBeforeMs: number;
  /** Read budget of one repair round, all objects together. */
  repairReadBytesPerRound: number;
  audit: AuditParams;
  chunkBytes: number;
  /**
   * Audit budget: challenges per reachable holder per audit round, over all objects it keeps
   * (oldest proof first). A failed challenge audits every object at that holder in the same round.
   */
  auditsPerHolderPerRound: number;
}

export const DEFAULT_OWNER_OPTIONS: OwnerOptions = {
  leaseMs: 30 * DAY, renewBeforeMs: 10 * DAY, repairReadBytesPerRound: 256 * 1024 * 1024, audit: DEFAULT_AUDIT_PARAMS, chunkBytes: DEFAULT_CHUNK_BYTES,
  auditsPerHolderPerRound: 2,
};

export interface ObjectRecord {
  signed: Uint8Array;
  audits: Record<string, HolderAudit>;
  repairs: number;
  lastAuditMs: number;
  /** The lease given to holders (wall ms): the earliest of `leases` when that is present. */
  leaseMs: number;
  /** Per holder, when a renewal reached only some of them (absent: every holder has leaseMs). */
  leases?: Record<string, number>;
}

/** What a re-seal round did (after an own access device was revoked). */
export interface ResealResult {
  /** Objects archived anew away from the revoked devices. */
  resealed: number;
  /** Objects that still name a revoked device: its key is needed, or a holder or B did not answer. */
  pending: number;
  /** Of those, the ones that wait for the revoked device's key (derived from the phrase). */
  needKey: number;
  /** The objects re-sealed with only this node left as access device (ARCHIVE_ONE_ACCESS_DEVICE). */
  oneDevice: number;
  /** Old object id → new object id, with the object's meta (the agent re-points what names it). */
  moved: { from: string; to: string; meta: Record<string, string> }[];
}

export interface IndexFriend { userKey: string; name: string; record?: Uint8Array }

export interface PutResult { id: string; size: number; k: number; m: number; holders: number; households: number; warnings: { code: string; message: string }[] }
export interface ObjectStatus {
  id: string; name: string; kind: ObjectKind; size: number; createdMs: number; version: number; k: number; m: number;
  /** Per chunk, the fewest shards whose holders are not failed. */
  healthyShards: number; shards: number; households: number; lastAuditMs: number | null; repairs: number;
  holders: { id: string; household: string; state: string }[];
}

const objKey = (hex: string) => `archive/o/obj/${hex}`;
/** The current index object: { m: bytes signed manifest, x: uint lease expiry } (not itself in the index). */
const INDEX_KEY = 'archive/o/index';
const INDEX_COPIES = 8;
const INDEX_LIMITS = { maxBytes: 64 * 1024 * 1024, maxDepth: 6, maxItems: 4_000_000 };
const OBJ_PREFIX = 'archive/o/obj/';
const REVOKED_PREFIX = 'archive/o/revoked/';
const DEVICE_PREFIX = 'archive/o/device/';

const holdersInUse = (body: ManifestBody): Set<string> => new Set(body.chunks.flatMap((c) => c.shards.map((s) => body.holders[s.holder]!.id)));

function encodeRecord(r: ObjectRecord): Uint8Array {
  return encodeCanonical({ m: r.signed, a: JSON.stringify(r.audits), r: r.repairs, l: r.lastAuditMs, x: r.leaseMs, ...(r.leases ? { h: JSON.stringify(r.leases) } : {}) });
}
function decodeRecord(b: Uint8Array): ObjectRecord {
  const v = decodeCanonical(b) as { [k: string]: CborValue };
  return {
    signed: v.m as Uint8Array, audits: JSON.parse(v.a as string) as Record<string, HolderAudit>, repairs: v.r as number, lastAuditMs: v.l as number, leaseMs: v.x as number,
    ...(typeof v.h === 'string' ? { leases: JSON.parse(v.h) as Record<string, number> } : {}),
  };
}

/** The lease a holder has for a record's object (wall ms). */
const leaseOf = (r: ObjectRecord, holder: string): number => r.leases?.[holder] ?? r.leaseMs;

export class ArchiveOwner {
  readonly client: HolderClient;
  /** Objects changed since the index was last archived. */
  indexDirty = true;
  /** Revoked own access devices (hex DH public keys), as kept under archive/o/revoked/. */
  private revoked: Promise<Set<string>>;
  /**
   * Secret DH keys of revoked devices handed over for re-sealing (derived from the phrase by
   * `kith node revoke`), by hex public key. Kept in memory only, until no object needs them.
   */
  private readonly revokedSecrets = new Map<string, Uint8Array>();
  /** Own access devices seen (hex DH public key → node index and generation), as kept under archive/o/device/. */
  private readonly known: Promise<Map<string, { n: number; g: number }>>;
  constructor(private readonly deps: OwnerDeps, private readonly opts: OwnerOptions = DEFAULT_OWNER_OPTIONS) {
    this.client = new HolderClient({ request: deps.request });
    this.revoked = this.loadRevoked();
    this.known = this.loadDevices();
  }

  private async loadDevices(): Promise<Map<string, { n: number; g: number }>> {
    const out = new Map<string, { n: number; g: number }>();
    for await (const [k, v] of this.deps.store.range({ gte: DEVICE_PREFIX, lt: prefixEnd(DEVICE_PREFIX) })) {
      let d: { n?: CborValue; g?: CborValue } = {};
      try {
        d = decodeCanonical(v) as typeof d;
      } catch { /* skipped below: written again when the device is seen */ }
      if (typeof d.n === 'number' && typeof d.g === 'number') out.set(k.slice(DEVICE_PREFIX.length), { n: d.n, g: d.g });
      else this.deps.log(`archive: store entry ${k} is not { n, g }: skipped`);
    }
    return out;
  }

  private async loadRevoked(): Promise<Set<string>> {
    const out = new Set<string>();
    for await (const [k] of this.deps.store.range({ gte: REVOKED_PREFIX, lt: prefixEnd(REVOKED_PREFIX) })) out.add(k.slice(REVOKED_PREFIX.length));
    return out;
  }

  private open(r: ObjectRecord): ManifestBody {
    return openManifest(r.signed, [this.deps.self.signPublic, ...this.deps.trustedSigners()]);
  }

  private device(): AccessDevice {
    return { id: this.deps.self.id, dhPublicKey: this.deps.self.dh.publicKey };
  }

  /**
   * Who an object's (new) holder slots are sealed to: device B's key when every slot is wrapped to
   * that one key (reseal.ts `deviceSealedTo`) and it is one of our access devices, or one revoked
   * since (the holders cannot peel it either); else each holder.
   */
  private outerFor(body: ManifestBody, revoked: ReadonlySet<string>): 'holder' | Uint8Array {
    const r = deviceSealedTo(body);
    return r && (this.devices().some((d) => bytesEqual(d.dhPublicKey, r)) || revoked.has(toHex(r))) ? r : 'holder';
  }

  /** This node first (A), then the owner's other access devices (B, …). */
  accessDevices(): AccessDevice[] {
    return this.devices();
  }

  private devices(): AccessDevice[] {
    const self = this.device();
    return [self, ...(this.deps.otherAccessDevices?.() ?? []).filter((d) => !bytesEqual(d.dhPublicKey, self.dhPublicKey))];
  }

  /** Free quota per reachable candidate (a candidate that does not answer gets none). */
  private async room(cands: Candidate[]): Promise<Map<string, number>> {
    const free = new Map<string, number>();
    for (const c of cands) {
      try {
        const u = await this.client.usage(c.id);
        free.set(c.id, Math.max(0, u.quotaBytes - u.usedBytes));
      } catch {
        free.set(c.id, 0);
      }
    }
    return free;
  }

  /** Archives a stream of sizeBytes bytes (the size sizes the placement; the stream decides the manifest). */
  async put(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, sizeBytes: number, o: { kind: ObjectKind; meta?: Record<string, string>; onProgress?: (bytes: number) => void }): Promise<PutResult> {
    return this.place(input, sizeBytes, o, () => undefined);
  }

  /** put, telling `sentTo` the object id and holder of each shard as it goes (a failed re-seal deletes what it sent). */
  private async place(input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, sizeBytes: number, o: { kind: ObjectKind; meta?: Record<string, string>; onProgress?: (bytes: number) => void }, sentTo: (object: Uint8Array, holder: string) => void): Promise<PutResult> {
    const policy = sealingPolicy(o.kind, this.devices());
    const cands = this.deps.candidates();
    const free = await this.room(cands);
    const households = new Set(cands.filter((c) => (free.get(c.id) ?? 0) > 0).map((c) => c.household));
    const { k, m } = defaultCode(households.size);
    const chunks = Math.max(1, Math.ceil(sizeBytes / this.opts.chunkBytes));
    const perShard = chunks * (shardBytes(Math.min(sizeBytes, this.opts.chunkBytes) + TAG_BYTES, k) + TAG_BYTES);
    const place = choosePlacement(cands.map((c) => c.id), new Map(cands.map((c) => [c.id, c.household])), free, { k, m, shardBytes: perShard });
    const now = this.deps.clock.wallTime();
    const leaseMs = now + this.opts.leaseMs;
    let sent = 0;
    const body = await putObject(input, {
      kind: o.kind, policy, holders: cands, placement: place.holders.map((id) => cands.findIndex((c) => c.id === id)), k, m,
      chunkBytes: this.opts.chunkBytes, meta: o.meta ?? {}, signerPublicKey: this.deps.self.signPublic, rng: this.deps.rng, wallTimeMs: now,
    }, async (s) => {
      sentTo(s.object, s.holder);
      await this.client.put(s.holder, s, leaseMs);
      sent += s.bytes.length;
      o.onProgress?.(sent);
    });
    const signed = signManifest(body, this.deps.self.signSecret);
    const audits = Object.fromEntries(body.holders.map((h) => [h.id, freshAudit()]));
    await this.deps.store.put(objKey(toHex(body.object)), encodeRecord({ signed, audits, repairs: 0, lastAuditMs: 0, leaseMs }));
    this.indexDirty = true;
    return {
      id: toHex(body.object), size: body.size, k, m, holders: body.holders.length, households: new Set(body.holders.map((h) => h.household)).size,
      warnings: policy.warnings.map((w) => ({ code: w.code, message: w.message })),
    };
  }

  async record(idOrPrefix: string): Promise<[string, ObjectRecord]> {
    if (!/^[0-9a-f]{4,64}$/.test(idOrPrefix)) throw new KithError('ARCHIVE_OBJECT_UNKNOWN', `${JSON.stringify(idOrPrefix.slice(0, 80))} is not an object id (hex, at least 4 digits)`);
    const hits: [string, ObjectRecord][] = [];
    for await (const [k, v] of this.deps.store.range({ gte: objKey(idOrPrefix), lt: prefixEnd(objKey(idOrPrefix)) })) hits.push([k.slice(OBJ_PREFIX.length), decodeRecord(v)]);
    if (hits.length === 0) throw new KithError('ARCHIVE_OBJECT_UNKNOWN', `no archived object ${idOrPrefix}`, { hint: 'see `kith archive ls`' });
    if (hits.length > 1) throw new KithError('ARCHIVE_OBJECT_UNKNOWN', `${idOrPrefix} names ${hits.length} objects; give more digits`);
    return hits[0]!;
  }

  async *records(): AsyncGenerator<[string, ObjectRecord]> {
    for await (const [k, v] of this.deps.store.range({ gte: OBJ_PREFIX, lt: prefixEnd(OBJ_PREFIX) })) yield [k.slice(OBJ_PREFIX.length), decodeRecord(v)];
  }

  /**
   * Reads shards peeled. A slot whose outer key is wrapped to its holder: the holder peels. One
   * wrapped to device B (history): the stored bytes, peeled here with the slot's outer key, which
   * device B unwraps (this node itself when it is B); keys are asked once per slot per read.
   * Keyed by slot, not holder: a repair that puts a shard on a holder already in the manifest
   * gives it a second slot with its own outer key. Bytes that do not open count as bad.
   */
  private fetcher(body: ManifestBody, revoked: ReadonlySet<string>): FetchPeeled {
    const keys = new Map<number, Promise<Uint8Array>>();
    const outer = this.outerFor(body, revoked);
    const outerKey = (slot: number): Promise<Uint8Array> => {
      const h = body.holders[slot]!;
      let p = keys.get(slot);
      if (!p) {
        const me = this.deps.self.dh;
        const b = this.devices().find((d) => bytesEqual(d.dhPublicKey, h.outer.recipient));
        const gone = toHex(h.outer.recipient);
        const secret = this.revokedSecrets.get(gone);
        // A revoked device B: its key, derived from the phrase and handed over for re-sealing, opens the slot here.
        if (!b && secret) p = Promise.resolve(outerKeyFor(body, slot, secret));
        else if (!b && revoked.has(gone)) p = Promise.reject(new KithError('ARCHIVE_RESEAL_KEY_NEEDED', `the outer layer of holder ${h.id.slice(0, 12)} is sealed to a revoked access device (${gone.slice(0, 12)})`));
        else if (!b) p = Promise.reject(new KithError('SEAL_INVALID', `the outer layer of holder ${h.id.slice(0, 12)} is sealed to no access device of this user`));
        else if (bytesEqual(b.dhPublicKey, me.publicKey)) p = Promise.resolve(outerKeyFor(body, slot, me.secretKey));
        else if (!this.deps.reachable(b.id)) p = Promise.reject(new KithError('ARCHIVE_UNRECOVERABLE', `device B (${b.id.slice(0, 12)}) is not reachable: history needs both access devices`, { hint: 'start your other access device, then try again' }));
        else p = this.client.unwrap(b.id, body.object, h.id, h.outer);
        keys.set(slot, p);
      }
      return p;
    };
    return async (chunk, shard, holder) => {
      if (!this.deps.reachable(holder.id)) return undefined;
      const slot = body.chunks[chunk]!.shards[shard]!.holder;
      if (outer === 'holder') {
        const r = await this.client.get(holder.id, body.object, chunk, shard, true);
        if (!r.peeled) throw new KithError('SEAL_INVALID', `holder ${holder.id.slice(0, 12)} did not remove its layer`);
        return r.data;
      }
      const key = await outerKey(slot).catch((e: unknown) => {
        // Device B unreachable or refusing: the shard cannot be had now (not the holder's fault).
        this.deps.log(`archive: outer key for ${holder.id.slice(0, 12)}: ${isKithError(e) ? e.code : (e as Error).name}`);
        return undefined;
      });
      if (!key) return undefined;
      const r = await this.client.get(holder.id, body.object, chunk, shard, false);
      return peelShard(body, key, chunk, shard, r.data);
    };
  }

  /** The plaintext of an object, chunk by chunk; bad shards found on the way fail their holder's audit. */
  async *get(id: string, onProgress?: (bytes: number) => void): AsyncGenerator<Uint8Array> {
    const [hex, rec] = await this.record(id);
    const body = this.open(rec);
    const key = objectKeyFor(body, this.deps.self.dh.secretKey, this.deps.self.dh.publicKey);
    const report = { bad: [] as { holder: string }[], shardsRead: 0 };
    let n = 0;
    try {
      for await (const part of getObject(body, key, this.fetcher(body, await this.revoked), report as never)) {
        n += part.length;
        onProgress?.(n);
        yield part;
      }
    } finally {
      key.fill(0);
      if (report.bad.length > 0) await this.markBad(hex, report.bad.map((b) => b.holder));
    }
  }

  private async markBad(hex: string, holders: string[]): Promise<void> {
    const [, rec] = await this.record(hex);
    const now = this.deps.clock.wallTime();
    for (const h of new Set(holders)) rec.audits[h] = nextAudit(rec.audits[h] ?? freshAudit(), 'fail', now, this.opts.audit);
    await this.deps.store.put(objKey(hex), encodeRecord(rec));
  }

  /**
   * One audit round, within the audit budget: each reachable holder gets `auditsPerHolderPerRound`
   * challenges over all the objects it keeps for us, those with the oldest proof first (failed ones
   * last), so every object is proven in turn; a failure audits all its other objects this round.
   * A holder that cannot be reached counts as no answer for every object, without a request.
   */
  async auditAll(): Promise<{ pass: number; fail: number; noAnswer: number }> {
    const tally = { pass: 0, fail: 0, noAnswer: 0 };
    const recs: { hex: string; rec: ObjectRecord; body: ManifestBody; order: number }[] = [];
    for await (const [hex, rec] of this.records()) recs.push({ hex, rec, body: this.open(rec), order: this.deps.rng.below(2 ** 30) });
    const byHolder = new Map<string, typeof recs>();
    for (const r of recs) for (const h of holdersInUse(r.body)) byHolder.set(h, [...(byHolder.get(h) ?? []), r]);
    const touched = new Set<(typeof recs)[number]>();
    const apply = (r: (typeof recs)[number], h: string, outcome: AuditOutcome) => {
      tally[outcome === 'no-answer' ? 'noAnswer' : outcome]++;
      r.rec.audits[h] = nextAudit(r.rec.audits[h] ?? freshAudit(), outcome, this.deps.clock.wallTime(), this.opts.audit);
      touched.add(r);
    };
    await Promise.all([...byHolder].map(async ([h, list]) => {
      if (this.deps.gone?.(h)) return list.forEach((r) => apply(r, h, 'fail'));
      if (!this.deps.reachable(h)) return list.forEach((r) => apply(r, h, 'no-answer'));
      const due = (r: (typeof recs)[number]) => {
        const a = r.rec.audits[h];
        return a && failedByProof(a) ? Infinity : a?.lastPassMs ?? -Infinity;
      };
      const order = [...list].sort((x, y) => due(x) - due(y) || x.order - y.order);
      let budget = this.opts.auditsPerHolderPerRound;
      for (let i = 0; i < order.length && i < budget; i++) {
        const outcome = await this.client.audit(h, order[i]!.body, h, this.deps.rng);
        apply(order[i]!, h, outcome);
        if (outcome === 'fail') budget = order.length;
      }
    }));
    const now = this.deps.clock.wallTime();
    for (const r of touched) {
      // Re-read: a repair round may have written a new manifest meanwhile; only the audit states are ours.
      const cur = await this.deps.store.get(objKey(r.hex));
      if (!cur) continue;
      const rec = decodeRecord(cur);
      await this.deps.store.put(objKey(r.hex), encodeRecord({ ...rec, audits: { ...rec.audits, ...r.rec.audits }, lastAuditMs: now }));
    }
    return tally;
  }

  /** One repair round over every object within the read budget; returns bytes read and written. */
  async repairAll(): Promise<{ repaired: number; bytesRead: number; bytesWritten: number; stuck: number; deferred: number }> {
    const out = { repaired: 0, bytesRead: 0, bytesWritten: 0, stuck: 0, deferred: 0 };
    let budget = this.opts.repairReadBytesPerRound;
    const revoked = await this.revoked;
    for await (const [hex, rec] of this.records()) {
      const body = this.open(rec);
      // Sealed to a revoked access device: the re-seal round archives it anew (a full rewrite, which
      // a repair would only precede); one that waits for the revoked device's key cannot be repaired.
      const reseal = resealNeed(body, revoked, new Set(this.revokedSecrets.keys()));
      if (reseal === 'needs-key') out.stuck++;
      if (reseal !== 'none') continue;
      // Sampled audits leave a holder that is back "contained" for objects not yet re-proven: one
      // reachable now is read from (its bytes are checked when read) rather than waited for.
      // The same for one failed only by silence (off past the grace period) that is back: its shards
      // are read (they may be there) and audited again, not written off.
      // A revoked holder is failed whatever its last audit said, and lost for good like one failed
      // by a proof: its shards are rebuilt elsewhere at once, not when the chunk falls under the threshold.
      const stateOf = (h: string): AuditState => {
        const a = rec.audits[h] ?? freshAudit();
        if (this.deps.gone?.(h)) return 'failed';
        return a.state !== 'ok' && !failedByProof(a) && this.deps.reachable(h) ? 'ok' : a.state;
      };
      const lostForGood = (h: string) => this.deps.gone?.(h) === true || failedByProof(rec.audits[h] ?? freshAudit());
      // A holder failed for this object may hold it again once a grace period has passed (a wiped
      // router that is back is a good holder; one that just lied is not).
      const now = this.deps.clock.wallTime();
      const cands = this.deps.candidates().filter((c) => stateOf(c.id) !== 'failed' || now - (rec.audits[c.id]?.failedAtMs ?? 0) >= this.opts.audit.containGraceMs);
      const needing = planRepair(body, stateOf, [], { maxReadBytes: 0, lostForGood });
      if (needing.deferred.length + needing.stuck.length === 0) continue;
      const free = await this.room(cands);
      const stored = shardBytes(body.chunks[0]!.sealed, body.k) + TAG_BYTES;
      const pool: RepairCandidate[] = cands.map((c) => ({ ...c, room: Math.floor((free.get(c.id) ?? 0) / stored) }));
      const plan = planRepair(body, stateOf, pool, { maxReadBytes: budget, lostForGood });
      out.stuck += plan.stuck.length;
      out.deferred += plan.deferred.length;
      if (plan.repairs.length === 0) continue;
      const key = objectKeyFor(body, this.deps.self.dh.secretKey, this.deps.self.dh.publicKey);
      try {
        const res = await executeRepair(body, key, plan, this.fetcher(body, revoked), new Map(pool.map((c) => [c.id, c])), { outer: this.outerFor(body, revoked) }, this.deps.rng, (s) => this.client.put(s.holder, s, rec.leaseMs));
        const signed = signManifest(res.body, this.deps.self.signSecret);
        for (const h of res.body.holders) rec.audits[h.id] ??= freshAudit();
        for (const r of plan.repairs) for (const { holder } of r.rebuild) rec.audits[holder] = freshAudit();
        for (const b of res.bad) rec.audits[b.holder] = nextAudit(rec.audits[b.holder] ?? freshAudit(), 'fail', this.deps.clock.wallTime(), this.opts.audit);
        await this.deps.store.put(objKey(hex), encodeRecord({ ...rec, signed, repairs: rec.repairs + 1 }));
        this.indexDirty = true;
        budget -= res.bytesRead;
        out.repaired += plan.repairs.length;
        out.bytesRead += res.bytesRead;
        out.bytesWritten += res.bytesWritten;
        this.deps.log(`archive: repaired ${plan.repairs.length} chunks of ${hex.slice(0, 12)} (read ${res.bytesRead} B, wrote ${res.bytesWritten} B)`);
      } catch (e) {
        this.deps.log(`archive: repair of ${hex.slice(0, 12)} failed: ${isKithError(e) ? e.code : (e as Error).name}`);
      } finally {
        key.fill(0);
      }
    }
    return out;
  }

  /**
   * Keeps which node (index, generation) each own access device's DH key belongs to, for the ones
   * not kept yet (the agent calls this with its own access members at start and as they come).
   */
  async rememberDevices(devices: readonly OwnDevice[]): Promise<void> {
    const known = await this.known;
    for (const d of devices) {
      const hex = toHex(d.dhPublicKey);
      const had = known.get(hex);
      if (had && had.n === d.nodeIndex && had.g === d.generation) continue;
      known.set(hex, { n: d.nodeIndex, g: d.generation });
      await this.deps.store.put(DEVICE_PREFIX + hex, encodeCanonical({ n: d.nodeIndex, g: d.generation }));
    }
  }

  /**
   * Records as revoked every own access device kept (`rememberDevices`) whose signed revocation
   * is held (`isRevokedNode`) but that was not recorded: one revoked while the archive did not
   * watch (before it started, or a crash between the revocation and its record). Idempotent;
   * runs at start and first in every re-seal round. Returns the keys (hex) recorded now.
   */
  async reconcileRevoked(): Promise<string[]> {
    const isRevoked = this.deps.isRevokedNode;
    if (!isRevoked) return [];
    const [known, revoked] = [await this.known, await this.revoked];
    const now: string[] = [];
    for (const [hex, d] of known) {
      if (revoked.has(hex) || !isRevoked(d.n, d.g)) continue;
      await this.deviceRevoked(fromHex(hex)!);
      now.push(hex);
      this.deps.log(`archive: own access device node ${d.n} (generation ${d.g}, ${hex.slice(0, 12)}) is revoked but was not recorded for re-sealing: recorded now`);
    }
    return now;
  }

  /** How many objects have a layer sealed to this DH public key (hex): an inner wrap, or device B. */
  async sealedTo(hex: string): Promise<number> {
    let n = 0;
    for await (const [, rec] of this.records()) if (revokedIn(this.open(rec), new Set([hex])).length > 0) n++;
    return n;
  }

  /**
   * An own access device was revoked (the agent calls this when membership says so): every object
   * with a layer sealed to its key is re-sealed by the next `resealAll`. Kept in the store, so a
   * restart does not forget it.
   */
  async deviceRevoked(dhPublicKey: Uint8Array): Promise<void> {
    const hex = toHex(dhPublicKey);
    const set = await this.revoked;
    if (set.has(hex)) return;
    set.add(hex); // before the write: a key handed over meanwhile (`kith node revoke` right after) is taken
    await this.deps.store.put(REVOKED_PREFIX + hex, encodeCanonical({ t: this.deps.clock.wallTime() }));
  }

  /**
   * The secret DH key of a revoked access device, derived again from the phrase (`kith node
   * revoke` does it): history whose outer layer is sealed to that device can then be read here and
   * re-sealed. Held in memory until no object needs it. Returns how many objects it opens.
   *
   * `claimed` is the node (index, generation) the caller derived the key for. A key not recorded as
   * revoked yet is recorded now when it is a kept own access device whose signed revocation is held
   * (the archive missed the revocation); never one of a node that is not revoked
   * (ARCHIVE_RESEAL_DEVICE_LIVE). A key no object is sealed to opens 0; one that objects are sealed
   * to but that cannot be matched to a revoked node is ARCHIVE_RESEAL_KEY_UNKNOWN.
   */
  async offerRevokedKey(secretKey: Uint8Array, claimed?: { nodeIndex: number; generation: number }): Promise<number> {
    if (!(secretKey instanceof Uint8Array) || secretKey.length !== 32) throw new KithError('ARCHIVE_RESEAL_KEY_UNKNOWN', `a revoked device's key is 32 bytes, got ${secretKey?.length}`);
    const pub = signatures.x25519PublicKey(secretKey);
    const hex = toHex(pub);
    const node = claimed ? `node ${claimed.nodeIndex} (generation ${claimed.generation})` : 'the node';
    if (hex === toHex(this.deps.self.dh.publicKey) || this.deps.isLiveNode?.(hex)) {
      throw new KithError('ARCHIVE_RESEAL_DEVICE_LIVE', `the key given is that of a node that is not revoked (${hex.slice(0, 12)}); nothing was re-sealed`, { hint: 'revoke the node first (`kith node revoke <index>`), and check its index and generation in `kith node list`' });
    }
    if (!(await this.revoked).has(hex)) {
      const d = (await this.known).get(hex);
      if (d && claimed && (d.n !== claimed.nodeIndex || d.g !== claimed.generation)) {
        throw new KithError('ARCHIVE_RESEAL_KEY_UNKNOWN', `the key given is that of node ${d.n} (generation ${d.g}), not of ${node}`);
      }
      if (d && this.deps.isRevokedNode?.(d.n, d.g)) {
        await this.deviceRevoked(pub);
        this.deps.log(`archive: own access device node ${d.n} (generation ${d.g}, ${hex.slice(0, 12)}) is revoked but was not recorded for re-sealing: recorded now, with its key handed over`);
      } else if (d) {
        throw new KithError('ARCHIVE_RESEAL_DEVICE_LIVE', `the key given is that of your access device node ${d.n} (generation ${d.g}), whose revocation this node does not hold; nothing was re-sealed`, { hint: 'revoke it first (`kith node revoke <index>`), then hand its key over' });
      } else {
        const sealed = await this.sealedTo(hex);
        if (sealed === 0) return 0;
        throw new KithError('ARCHIVE_RESEAL_KEY_UNKNOWN', `${sealed} object(s) have a layer sealed to the key given (${hex.slice(0, 12)}), but this node cannot tell it is the key of a revoked node of yours (it kept no certificate naming ${node} with that key); nothing was re-sealed`);
      }
    }
    const n = await this.sealedTo(hex);
    if (n > 0) this.revokedSecrets.set(hex, Uint8Array.from(secretKey));
    return n;
  }

  /** Zeroes and forgets every revoked device's key handed over (the agent stops: nothing is kept on disk). */
  forgetRevokedKeys(): void {
    for (const secret of this.revokedSecrets.values()) secret.fill(0);
    this.revokedSecrets.clear();
  }

  /**
   * One re-seal round: each object with a layer sealed to a revoked access device is read back
   * and archived anew as a new object under today's devices (inner = this node, outer = the next
   * access device, or each holder when this node is the last one: ARCHIVE_ONE_ACCESS_DEVICE),
   * fresh keys and placement; then the old record goes and the old object is deleted at its
   * holders. Objects that cannot be read now (the revoked device's key is not here, holders away)
   * stay as they are and are tried again next round. Revoked keys no object names any more are forgotten.
   */
  async resealAll(onProgress?: (done: number, total: number) => void): Promise<ResealResult> {
    const out: ResealResult = { resealed: 0, pending: 0, needKey: 0, oneDevice: 0, moved: [] };
    await this.reconcileRevoked();
    const revoked = await this.revoked;
    if (revoked.size === 0) return out;
    const todo: [string, ManifestBody][] = [];
    // Revoked keys still named by an object left as it is (its secret, if here, is kept for the next round).
    const left = new Set<string>();
    for await (const [hex, rec] of this.records()) {
      const body = this.open(rec);
      const need = resealNeed(body, revoked, new Set(this.revokedSecrets.keys()));
      if (need === 'none') continue;
      if (need === 'needs-key') (out.needKey++, revokedIn(body, revoked).forEach((r) => left.add(r)));
      else todo.push([hex, body]);
    }
    if (out.needKey > 0) this.deps.log(`archive: ${out.needKey} history object(s) have their outer layer sealed to a revoked access device and cannot be read or re-sealed without its key: run \`kith node revoke\` for it again on this node (it derives the key from the phrase)`);
    for (const [i, [hex, body]] of todo.entries()) {
      try {
        const r = await this.resealOne(hex, body, revoked);
        out.resealed++;
        if (r.warnings.some((w) => w.code === 'ARCHIVE_ONE_ACCESS_DEVICE')) out.oneDevice++;
        out.moved.push({ from: hex, to: r.id, meta: body.meta });
        this.deps.log(`archive: re-sealed ${i + 1}/${todo.length}: ${hex.slice(0, 12)} → ${r.id.slice(0, 12)} (${r.k}+${r.m}, ${r.households} households)`);
      } catch (e) {
        out.pending++;
        revokedIn(body, revoked).forEach((r) => left.add(r));
        this.deps.log(`archive: re-seal ${i + 1}/${todo.length} of ${hex.slice(0, 12)} failed, tried again next round: ${isKithError(e) ? e.code : (e as Error).name}`);
      }
      onProgress?.(i + 1, todo.length);
    }
    out.pending += out.needKey;
    if (out.oneDevice > 0) this.deps.log(`archive: warning[ARCHIVE_ONE_ACCESS_DEVICE]: this node is your last access device: ${out.oneDevice} re-sealed history object(s) are sealed to it and to each holding relay; add a second access device with \`kith node add\` (objects archived or re-sealed after that use both)`);
    // A revoked device's key no object names any more is done with (the revocation itself is kept).
    for (const [r, secret] of [...this.revokedSecrets]) {
      if (left.has(r)) continue;
      secret.fill(0);
      this.revokedSecrets.delete(r);
    }
    if (out.resealed > 0) this.indexDirty = true;
    return out;
  }

  private async resealOne(hex: string, body: ManifestBody, revoked: ReadonlySet<string>): Promise<PutResult> {
    const key = objectKeyFor(body, this.deps.self.dh.secretKey, this.deps.self.dh.publicKey);
    const report = { bad: [] as { holder: string }[], shardsRead: 0 };
    const sent = new Map<string, Uint8Array>();
    let put: PutResult;
    try {
      put = await this.place(getObject(body, key, this.fetcher(body, revoked), report as never), body.size, { kind: body.kind, meta: body.meta }, (o, h) => void sent.set(h, o));
    } catch (e) {
      // What reached holders under the new object is taken back (their lease would collect it anyway).
      for (const [h, o] of sent) await this.client.del(h, o).catch(() => undefined);
      if (report.bad.length > 0) await this.markBad(hex, report.bad.map((b) => b.holder));
      throw e;
    } finally {
      key.fill(0);
    }
    await this.deps.store.del(objKey(hex));
    for (const h of holdersInUse(body)) await this.client.del(h, body.object).catch(() => undefined);
    return put;
  }

  /**
   * Renews leases due within renewBeforeMs at every holder still in use. A holder that cannot be
   * reached keeps its old lease while the others get the new one (per-holder leases in the record),
   * so the next round asks only the holders still due, not all of them again.
   */
  async renewAll(): Promise<number> {
    let renewed = 0;
    // The index is not renewed but archived anew (fresh placement over today's holders) when its lease runs low.
    const idx = await this.deps.store.get(INDEX_KEY);
    const idxBody = idx ? manifestFromSigned((decodeCanonical(idx) as { m: Uint8Array }).m) : undefined;
    if (!idxBody || this.deps.clock.wallTime() - idxBody.createdMs > this.opts.leaseMs - this.opts.renewBeforeMs) this.indexDirty = true;
    for await (const [hex, rec] of this.records()) {
      const now = this.deps.clock.wallTime();
      if (rec.leaseMs - now > this.opts.renewBeforeMs) continue;
      const body = this.open(rec);
      const x = now + this.opts.leaseMs;
      const leases: Record<string, number> = {};
      const missed: string[] = [];
      let due = 0;
      for (const h of holdersInUse(body)) {
        leases[h] = leaseOf(rec, h);
        if (leases[h] - now > this.opts.renewBeforeMs) continue;
        due++;
        const ok = this.deps.reachable(h) && await this.client.renew(h, body.object, x).then(() => true, () => false);
        if (!ok) {
          missed.push(h);
          continue;
        }
        leases[h] = x;
        renewed++;
      }
      if (missed.length > 0) this.deps.log(`archive: lease of ${hex.slice(0, 12)} renewed at ${due - missed.length} of ${due} holders due; not reached: ${missed.map((h) => h.slice(0, 12)).join(' ')} (asked again next round)`);
      // Re-read: a repair round may have written a new manifest meanwhile; only the leases are ours.
      const cur = await this.deps.store.get(objKey(hex));
      if (!cur) continue;
      const values = Object.values(leases);
      const earliest = values.length > 0 ? Math.min(...values) : x;
      const { leases: _old, ...rest } = decodeRecord(cur);
      await this.deps.store.put(objKey(hex), encodeRecord({ ...rest, leaseMs: earliest, ...(values.some((l) => l !== earliest) ? { leases } : {}) }));
    }
    return renewed;
  }

  /**
   * Archives the index (every object's signed manifest and the friend list, canonical CBOR
   * { v: 1, objects: [bytes], friends: [{ user, name }] }) as a `history` object, and hands its
   * signed manifest to every candidate holder as this user's root. The previous index object is
   * deleted at its holders once the new root is out. Returns the holders that took the root.
   */
  async publishIndex(): Promise<number> {
    if (!this.indexDirty) return 0;
    this.indexDirty = false;
    const objects: Uint8Array[] = [];
    for await (const [, rec] of this.records()) objects.push(rec.signed);
    const bytes = encodeCanonical({ v: 1, objects, friends: this.deps.friends().map((f) => ({ user: f.userKey, name: f.name, ...(f.record ? { rec: f.record } : {}) })) });
    let put: PutResult;
    try {
      put = await this.putIndexObject(bytes);
    } catch (e) {
      this.indexDirty = true;
      throw e;
    }
    const rootSigned = (await this.deps.store.get(INDEX_KEY))!;
    const root = decodeCanonical(rootSigned) as { m: Uint8Array; o?: Uint8Array };
    let took = 0;
    for (const c of this.deps.candidates()) await this.client.putRoot(c.id, root.m).then(() => took++, () => undefined);
    if (root.o) {
      const old = root.o;
      for (const c of this.deps.candidates()) await this.client.del(c.id, old).catch(() => undefined);
    }
    this.deps.log(`archive: index of ${objects.length} objects archived as ${put.id.slice(0, 12)}; root with ${took} holders`);
    return took;
  }

  private async putIndexObject(bytes: Uint8Array): Promise<PutResult> {
    const prev = await this.deps.store.get(INDEX_KEY);
    const prevObject = prev ? openManifest((decodeCanonical(prev) as { m: Uint8Array }).m, [this.deps.self.signPublic, ...this.deps.trustedSigners()]).object : undefined;
    // The index is put like any object but kept outside the object records.
    const cands = this.deps.candidates();
    const free = await this.room(cands);
    const households = new Set(cands.filter((c) => (free.get(c.id) ?? 0) > 0).map((c) => c.household));
    defaultCode(households.size); // refuses one household
    // Replicated, not striped: k = 1, one whole copy per holder (up to 8), so the node of any one
    // friend met again after a loss can give the index back on its own.
    const k = 1;
    const m = Math.min(cands.length, INDEX_COPIES) - 1;
    const perShard = Math.ceil(bytes.length / this.opts.chunkBytes + 1) * (shardBytes(Math.min(bytes.length, this.opts.chunkBytes) + TAG_BYTES, k) + TAG_BYTES);
    const place = choosePlacement(cands.map((c) => c.id), new Map(cands.map((c) => [c.id, c.household])), free, { k, m, shardBytes: perShard });
    const now = this.deps.clock.wallTime();
    const policy = sealingPolicy('history', [this.device()]);
    const body = await putObject([bytes], {
      kind: 'history', policy, holders: cands, placement: place.holders.map((id) => cands.findIndex((c) => c.id === id)), k, m,
      chunkBytes: this.opts.chunkBytes, meta: { name: 'kith-index' }, signerPublicKey: this.deps.self.signPublic, rng: this.deps.rng, wallTimeMs: now,
    }, (s) => this.client.put(s.holder, s, now + this.opts.leaseMs));
    const signed = signManifest(body, this.deps.self.signSecret);
    await this.deps.store.put(INDEX_KEY, encodeCanonical({ m: signed, ...(prevObject ? { o: prevObject } : {}) }));
    return { id: toHex(body.object), size: body.size, k, m, holders: body.holders.length, households: new Set(body.holders.map((h) => h.household)).size, warnings: [] };
  }

  /**
   * After `kith init --recover` and meeting a friend again: asks every candidate holder for this
   * user's root, takes the newest that opens (signed by one of our nodes, sealed to this node's
   * key), reads the index object and restores every object record. Returns what was restored.
   */
  async recover(): Promise<{ objects: number; friends: IndexFriend[]; roots: number }> {
    const trusted = [this.deps.self.signPublic, ...this.deps.trustedSigners()];
    let best: { body: ManifestBody; signed: Uint8Array } | undefined;
    let roots = 0;
    for (const c of this.deps.candidates()) {
      const r = await this.client.getRoot(c.id).catch(() => undefined);
      if (!r) continue;
      try {
        const body = openManifest(r, trusted);
        roots++;
        if (!best || body.createdMs > best.body.createdMs) best = { body, signed: r };
      } catch (e) {
        this.deps.log(`archive: root from ${c.id.slice(0, 12)} refused: ${isKithError(e) ? e.code : 'malformed'}`);
      }
    }
    if (!best) throw new KithError('ARCHIVE_OBJECT_UNKNOWN', 'no friend\'s node reachable now keeps an index of this user', { hint: 'meet a friend again (`kith pair`), wait until their node shows alive in `kith peers`, then retry' });
    const key = objectKeyFor(best.body, this.deps.self.dh.secretKey, this.deps.self.dh.publicKey);
    const parts: Uint8Array[] = [];
    try {
      for await (const p of getObject(best.body, key, this.fetcher(best.body, await this.revoked))) parts.push(p);
    } finally {
      key.fill(0);
    }
    const index = decodeCanonical(Buffer.concat(parts), INDEX_LIMITS) as { objects?: CborValue; friends?: CborValue };
    if (!Array.isArray(index.objects) || !Array.isArray(index.friends)) throw new KithError('ARCHIVE_MANIFEST_INVALID', 'the archived index is not { v, objects, friends }');
    let n = 0;
    for (const signed of index.objects) {
      if (!(signed instanceof Uint8Array)) continue;
      const body = openManifest(signed, trusted);
      const hex = toHex(body.object);
      if (await this.deps.store.get(objKey(hex))) continue;
      const audits = Object.fromEntries(body.holders.map((h) => [h.id, freshAudit()]));
      await this.deps.store.put(objKey(hex), encodeRecord({ signed, audits, repairs: 0, lastAuditMs: 0, leaseMs: this.deps.clock.wallTime() }));
      n++;
    }
    await this.deps.store.put(INDEX_KEY, encodeCanonical({ m: best.signed }));
    const friends = index.friends.flatMap((f) => (f && typeof f === 'object' && !Array.isArray(f) && !(f instanceof Uint8Array) && typeof f['user'] === 'string' ? [{ userKey: f['user'] as string, name: String(f['name'] ?? ''), ...(f['rec'] instanceof Uint8Array ? { record: f['rec'] } : {}) }] : []));
    this.indexDirty = true;
    return { objects: n, friends, roots };
  }

  async status(): Promise<ObjectStatus[]> {
    const out: ObjectStatus[] = [];
    for await (const [hex, rec] of this.records()) {
      const b = this.open(rec);
      const stateOf = (h: string) => rec.audits[h]?.state ?? 'ok';
      const healthy = Math.min(...b.chunks.map((c) => c.shards.filter((s) => stateOf(b.holders[s.holder]!.id) !== 'failed').length));
      const used = new Set(b.chunks.flatMap((c) => c.shards.map((s) => s.holder)));
      const holders = [...used].map((i) => b.holders[i]!).map((h) => ({ id: h.id, household: h.household, state: stateOf(h.id) }));
      out.push({
        id: hex, name: b.meta['name'] ?? '', kind: b.kind, size: b.size, createdMs: b.createdMs, version: b.version, k: b.k, m: b.m, healthyShards: healthy, shards: b.k + b.m,
        households: new Set(holders.map((h) => h.household)).size, lastAuditMs: rec.lastAuditMs || null, repairs: rec.repairs, holders,
      });
    }
    return out;
  }
}
