// The archive in the agent: wires archive/ (holder, owner, schedule) to this agent's cluster,
// roster, store and data dir. Every node is a holder for its friends and its own user (service
// byte 0x41); the owner side archives, reads, audits and repairs this user's objects. Logic lives
// in archive/; here: who a peer is, quotas, free disk (statfs), timings per profile, and the jobs
// the API and CLI follow (put/get with progress).
import fs from 'node:fs';
import path from 'node:path';
import { HOUR, MINUTE, SECOND, type Clock } from '../core/clock.js';
import { KithError, isKithError } from '../core/errors.js';
import { fromHex, toHex } from '../core/hex.js';
import type { Log } from '../core/log.js';
import type { Rng } from '../core/rng.js';
import type { KvStore } from '../core/store.js';
import type { NodeIdentity } from '../identity/keystore.js';
import type { ClusterService } from '../cluster/cluster-service.js';
import type { RosterService } from '../cluster/roster-service.js';
import { Holder, DEFAULT_HOLDER_OPTIONS } from '../archive/holder.js';
import { ArchiveOwner, DEFAULT_OWNER_OPTIONS, type Candidate, type ObjectStatus, type OwnDevice } from '../archive/owner.js';
import { startSchedule, type Schedule } from '../archive/schedule.js';
import { manifestFromSigned, type ObjectKind } from '../archive/manifest.js';
import type { ProfileName } from './profiles.js';
import type { Emit } from './event-sources.js';
import { StreamExchange } from '../cluster/stream-exchange.js';
import { MESSAGE_LIMITS } from '../archive/protocol.js';
import { repointConversation } from './archive-history.js';

/** What each friend may keep here unless configured otherwise; own nodes are not limited (free disk still is). */
export const DEFAULT_FRIEND_QUOTA_BYTES = 10 * 1024 ** 3;

export interface ArchiveTiming { auditEveryMs: number; repairEveryMs: number; renewEveryMs: number; collectEveryMs: number; requestTimeoutMs: number; containGraceMs: number; indexEveryMs: number }

export const ARCHIVE_TIMING: Record<ProfileName, ArchiveTiming> = {
  home: { auditEveryMs: HOUR, repairEveryMs: HOUR, renewEveryMs: 24 * HOUR, collectEveryMs: 24 * HOUR, requestTimeoutMs: 30 * SECOND, containGraceMs: 48 * HOUR, indexEveryMs: 10 * MINUTE },
  // test: rounds every few minutes and a 2-minute containment, so simulations and labs see a loss repaired in minutes.
  test: { auditEveryMs: 5 * MINUTE, repairEveryMs: 5 * MINUTE, renewEveryMs: HOUR, collectEveryMs: HOUR, requestTimeoutMs: 10 * SECOND, containGraceMs: 2 * MINUTE, indexEveryMs: MINUTE },
};

export interface ArchiveJob { id: string; op: 'put' | 'get'; state: 'running' | 'done' | 'failed'; bytes: number; totalBytes: number; result?: unknown; error?: unknown }

export interface ArchiveService {
  holder: Holder;
  owner: ArchiveOwner;
  /** Starts archiving a file or every file under a directory; follow it with job(id). */
  putPath(file: string): ArchiveJob;
  /** Archives bytes (the agent's own objects: conversation history, the friend list). */
  putBytes(bytes: Uint8Array, kind: ObjectKind, meta: Record<string, string>): Promise<{ id: string }>;
  /** Starts reading an object into a file; an unknown id or an unwritable path fail here, before any job. */
  getToFile(id: string, out: string): Promise<ArchiveJob>;
  job(id: string): ArchiveJob;
  list(): Promise<{ id: string; name: string; kind: string; size: number; createdMs: number }[]>;
  verify(): Promise<unknown>;
  /** After `kith init --recover`: the index from a friend's node, every object record back. */
  recover(): Promise<unknown>;
  /**
   * A revoked access device's DH secret key (derived from the phrase by `kith node revoke`): the
   * history sealed to it is re-sealed by a round started now, in the background (each object is
   * read and written again: minutes for many). Returns how many objects the key opens, and whether
   * this node is the last access device (they are then sealed to it and each holder). `node` is
   * the node (index, generation) the key was derived for: a revoked device the archive did not
   * record (it missed the revocation) is recorded then; a node not revoked is refused
   * (ARCHIVE_RESEAL_DEVICE_LIVE), whatever is claimed.
   */
  reseal(secretKey: Uint8Array, node?: { nodeIndex: number; generation: number }): Promise<{ opened: number; oneDevice: boolean }>;
  status(): Promise<ObjectStatus[]>;
  /** What this node keeps as a holder, per owner (own user first, then friends), against the quota it gives each. */
  held(): Promise<{ user: string; name: string; usedBytes: number; quotaBytes: number }[]>;
  stop(): void;
}

/** Free bytes for an unprivileged writer on the disk holding dir (statfs; see DEPENDENCIES.md). */
export async function freeDiskBytes(dir: string): Promise<number> {
  const s = await fs.promises.statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
}

function walk(root: string): string[] {
  const st = fs.statSync(root);
  if (st.isFile()) return [root];
  if (!st.isDirectory()) throw new KithError('USAGE', `${root} is neither a file nor a directory`);
  return fs.readdirSync(root, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1)).flatMap((e) => (e.isDirectory() || e.isFile() ? walk(path.join(root, e.name)) : []));
}

/** The config's archive section (agent/config.ts); absent fields take the defaults. */
export interface ArchiveOpts {
  friendQuotaBytes?: number;
  /** Overrides the profile's containment (0 or absent: the profile's). */
  containGraceMs?: number;
}

/** A place `get` can write to: its folder exists, and it is not itself a folder (USAGE before any job starts). */
function checkOutPath(target: string): void {
  const parent = path.dirname(target);
  if (!fs.existsSync(parent) || !fs.statSync(parent).isDirectory()) throw new KithError('USAGE', `cannot write ${target}: the folder ${parent} does not exist`, { hint: 'give --out a file in an existing folder' });
  if (fs.existsSync(target) && fs.statSync(target).isDirectory()) throw new KithError('USAGE', `cannot write ${target}: it is a folder`, { hint: 'give --out a file name, not a folder' });
}

export function startArchive(deps: {
  clock: Clock; rng: Rng; store: KvStore; identity: NodeIdentity; cluster: ClusterService; roster: RosterService; log: Log; dataDir: string; profile: ProfileName;
  freeDisk?: () => Promise<number>;
  /** A file's bytes in pieces for `put` (agent/env.ts `readFile`); a read stream when absent. */
  readFile?: (file: string, pieceBytes: number) => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /** The event log: archive.progress (low), archive.job, archive.audit, archive.repair. */
  emit?: Emit;
}, opts: ArchiveOpts = {}): ArchiveService {
  const { clock, rng, store, identity, cluster, roster, log } = deps;
  const emit: Emit = deps.emit ?? (() => undefined);
  const timing = { ...ARCHIVE_TIMING[deps.profile], ...(opts.containGraceMs ? { containGraceMs: opts.containGraceMs } : {}) };
  const friendQuotaBytes = opts.friendQuotaBytes ?? DEFAULT_FRIEND_QUOTA_BYTES;
  const me = toHex(identity.cert.userKey);
  const selfId = toHex(identity.keys.dh.publicKey);
  const isFriend = (user: string) => roster.friends().some((f) => f.userKey === user && !f.blocked);
  const userOf = (peer: string) => cluster.peers().find((p) => p.id === peer && p.state !== 'revoked')?.userKey;
  const quotaOf = (owner: string) => (owner === me ? Number.MAX_SAFE_INTEGER : isFriend(owner) ? friendQuotaBytes : 0);
  const freeDisk = deps.freeDisk ?? (() => freeDiskBytes(deps.dataDir));
  const readFile = deps.readFile ?? ((file: string, pieceBytes: number) => fs.createReadStream(file, { highWaterMark: pieceBytes }));
  const holder = new Holder({
    clock, store, log: (l) => log.info(l), selfId, dh: identity.keys.dh,
    signKeyOf: (peer) => {
      const k = cluster.peers().find((p) => p.id === peer && p.state !== 'revoked')?.nodeSignKey;
      return k ? fromHex(k) : undefined;
    },
    ownerOf: (peer) => {
      const u = userOf(peer);
      return u !== undefined && (u === me || isFriend(u)) ? u : undefined;
    },
    isOwnUser: (owner) => owner === me,
    quotaOf,
    freeDiskBytes: async () => {
      try {
        return await freeDisk();
      } catch (e) {
        log.warn(`archive: cannot read free disk space (${(e as Error).message}); refusing new shards`);
        return 0;
      }
    },
  }, DEFAULT_HOLDER_OPTIONS);
  // Shards travel as exchanges over bulk streams (cluster/stream-exchange.ts): paced by the
  // holder's reading, no 4 MiB message limit. Reliable requests are still answered (older owners).
  const exchange = new StreamExchange({ clock, rng, answer: (peer, framed) => holder.handle(peer, framed) }, { maxBytes: MESSAGE_LIMITS.maxBytes, timeoutMs: timing.requestTimeoutMs });
  const port = cluster.node.services.register({
    name: 'archive',
    streams: exchange.streams,
    onMessage: (peer, body, respond) => {
      if (!respond) return;
      const framed = new Uint8Array(body.length + 1);
      framed[0] = port.byte;
      framed.set(body, 1);
      void holder.handle(peer, framed).then(respond).catch(() => undefined);
    },
  });
  exchange.attach(port);
  // A member's signed revocation is held (also one loaded from the store whose member entry a
  // crash left behind: membership shows it dead, not revoked).
  const certRevoked = (id: string) => {
    const c = cluster.node.membership.memberSpec(id)?.cert;
    return c !== undefined && roster.holdsRevocation(c.userKey, c.nodeIndex, c.generation);
  };
  /** This user's other members certified with the access role, in any state (revoked ones while membership keeps them). */
  const ownAccessMembers = (): OwnDevice[] => cluster.peers().flatMap((p) => {
    const c = p.userKey === me && p.id !== selfId ? cluster.node.membership.memberSpec(p.id)?.cert : undefined;
    return c?.roles.includes('access') ? [{ dhPublicKey: fromHex(p.id)!, nodeIndex: c.nodeIndex, generation: c.generation }] : [];
  });
  const candidates = (): Candidate[] => cluster.peers()
    .filter((p) => p.state === 'alive' && (p.userKey === me || isFriend(p.userKey)))
    .map((p) => ({ id: p.id, household: p.userKey, dhPublicKey: fromHex(p.id)! }));
  const owner = new ArchiveOwner({
    clock, rng, store, log: (l) => log.info(l),
    // A holder that refuses the stream (an older one, or one with 8 streams open) gets a reliable request.
    request: (peer, payload) => exchange.request(peer, payload).catch((e: unknown) => {
      if (isKithError(e) && e.code === 'STREAM_REFUSED') return port.request(peer, payload.subarray(1), timing.requestTimeoutMs);
      throw e;
    }),
    candidates,
    reachable: (id) => cluster.peers().some((p) => p.id === id && p.state === 'alive'),
    gone: (id) => cluster.peers().some((p) => p.id === id && p.state === 'revoked'),
    self: { id: selfId, dh: identity.keys.dh, signSecret: identity.keys.sign.secretKey, signPublic: identity.keys.sign.publicKey },
    trustedSigners: () => cluster.peers().filter((p) => p.userKey === me && p.state !== 'revoked').map((p) => fromHex(p.nodeSignKey)!),
    friends: () => roster.friends().map((f) => {
      const record = roster.friendRecordBytes(f.userKey);
      return { userKey: f.userKey, name: f.name, ...(record ? { record } : {}) };
    }),
    // Device B of history: this user's other nodes whose certificates carry the access role.
    otherAccessDevices: () => cluster.peers()
      .filter((p) => p.userKey === me && p.state !== 'revoked' && p.id !== selfId && cluster.node.membership.memberSpec(p.id)?.cert.roles.includes('access'))
      .sort((a, b) => a.nodeIndex - b.nodeIndex || (a.id < b.id ? -1 : 1))
      .map((p) => ({ id: p.id, dhPublicKey: fromHex(p.id)! })),
    isRevokedNode: (nodeIndex, generation) => roster.holdsRevocation(identity.cert.userKey, nodeIndex, generation),
    isLiveNode: (hex) => cluster.peers().some((p) => p.id === hex && p.state !== 'revoked' && !certRevoked(p.id)),
  }, { ...DEFAULT_OWNER_OPTIONS, audit: { containGraceMs: timing.containGraceMs } });
  const told = <R extends Record<string, number>>(type: string, r: R): R => (emit(type, { ...r }), r);
  // Re-sealing away from a revoked own access device (archive/reseal.ts). Membership tells every
  // watcher when a member becomes revoked (cluster/services.ts `watch`): the revocation reached
  // this node from `kith node revoke` here or from any member. Relay-only nodes hold no layer.
  // What the watcher cannot see (a revocation applied before the archive started, a crash before
  // its record was written) is reconciled against the roster's signed revocations at start and
  // first in every re-seal round: every own access device is kept with its node index and
  // generation (archive/o/device/), also once its member entry is gone.
  const ownAccess = (id: string) => ownAccessMembers().filter((d) => toHex(d.dhPublicKey) === id);
  const resealRound = async () => {
    const r = await owner.resealAll((done, total) => emit('archive.progress', { op: 'reseal', done, total }));
    // A conversation's history names its object (agent/archive-history.ts): point it at the new one.
    for (const m of r.moved) if (m.meta['conv']) await repointConversation(store, m.meta['conv'], m.to);
    if (r.resealed + r.pending > 0) log.info(`archive: re-seal round: ${r.resealed} re-sealed, ${r.pending} pending (${r.needKey} wait for the revoked device's key)${r.oneDevice > 0 ? `, ${r.oneDevice} with one access device left` : ''}`);
    const { moved: _moved, ...tally } = r;
    // An event only for a round that found something: the round runs with every repair round.
    return r.resealed + r.pending > 0 ? told('archive.reseal', tally) : tally;
  };
  const failed = (what: string) => (e: unknown) => log.warn(`archive: ${what} failed: ${isKithError(e) ? e.code : (e as Error).message}`);
  const unwatch = cluster.node.services.watch((id, state) => {
    const device = ownAccess(id);
    if (device.length === 0) return;
    const kept = owner.rememberDevices(device);
    if (state !== 'revoked') return void kept.catch(failed('keeping an own access device'));
    log.warn(`archive: own access device ${id.slice(0, 12)} revoked: re-sealing the objects with a layer sealed to it`);
    void kept.then(() => owner.deviceRevoked(fromHex(id)!)).then(() => schedule.runNow('reseal')).catch(failed('re-seal after revocation'));
  });
  const schedule: Schedule = startSchedule(clock, [
    { name: 'audit', everyMs: timing.auditEveryMs, run: async () => told('archive.audit', await owner.auditAll()) },
    { name: 'repair', everyMs: timing.repairEveryMs, firstMs: timing.repairEveryMs + 5 * MINUTE, run: async () => told('archive.repair', await owner.repairAll()) },
    // Objects left sealed to a revoked device (a holder away, its key not handed over yet) are tried again.
    { name: 'reseal', everyMs: timing.repairEveryMs, run: resealRound },
    { name: 'index', everyMs: timing.indexEveryMs, run: () => owner.publishIndex() },
    { name: 'renew', everyMs: timing.renewEveryMs, run: () => owner.renewAll() },
    { name: 'collect', everyMs: timing.collectEveryMs, run: () => holder.collectExpired([...new Set([me, ...roster.friends().map((f) => f.userKey)])]) },
  ], (l) => log.warn(l));
  // Revocations the watcher did not see: recorded now, and a round at once if there were any.
  void owner.rememberDevices(ownAccessMembers()).then(() => owner.reconcileRevoked())
    .then((now) => (now.length > 0 ? schedule.runNow('reseal') : undefined)).catch(failed('reconciling revoked access devices'));

  /** Households are user keys in archive/ messages: a person reads names (`"bob" (89405af6…)`). */
  const nameUsers = (message: string): string => message.replace(/\b[0-9a-f]{64}\b/g, (hex) => {
    const name = hex === me ? 'you' : roster.friends().find((f) => f.userKey === hex)?.name;
    return name === undefined ? hex : `${JSON.stringify(name)} (${hex.slice(0, 8)}…)`;
  });
  const jobs = new Map<string, ArchiveJob>();
  const startJob = (op: ArchiveJob['op'], totalBytes: number, run: (job: ArchiveJob) => Promise<unknown>): ArchiveJob => {
    const job: ArchiveJob = { id: toHex(rng.bytes(8)), op, state: 'running', bytes: 0, totalBytes };
    jobs.set(job.id, job);
    while (jobs.size > 64) jobs.delete(jobs.keys().next().value!);
    run(job).then((r) => Object.assign(job, { state: 'done', result: r }), (e) => Object.assign(job, { state: 'failed', error: isKithError(e) ? { ...e.toJSON(), message: nameUsers(e.message) } : { code: 'INTERNAL', message: (e as Error).message } }))
      .then(() => emit('archive.job', { job: job.id, op, state: job.state, bytes: job.bytes, totalBytes, ...(job.state === 'failed' ? { error: (job.error as { code: string }).code } : {}) }));
    return job;
  };

  return {
    holder, owner,
    putPath(file) {
      const root = path.resolve(file);
      if (!fs.existsSync(root)) throw new KithError('USAGE', `${file} does not exist`);
      const files = walk(root);
      const total = files.reduce((n, f) => n + fs.statSync(f).size, 0);
      return startJob('put', total, async (job) => {
        const out = [];
        let done = 0;
        for (const f of files) {
          const size = fs.statSync(f).size;
          const name = files.length === 1 && f === root ? path.basename(f) : path.join(path.basename(root), path.relative(root, f));
          out.push({ name, ...(await owner.put(readFile(f, 1 << 20), size, { kind: 'file', meta: { name }, onProgress: (sentBytes) => emit('archive.progress', { job: job.id, op: 'put', file: name, filesDoneBytes: done, shardBytesSent: sentBytes, totalBytes: total }) })) });
          done += size;
          job.bytes = done;
        }
        return { objects: out };
      });
    },
    putBytes: async (bytes, kind, meta) => owner.put([bytes], bytes.length, { kind, meta }),
    async getToFile(id, out) {
      const target = path.resolve(out);
      checkOutPath(target);
      const [, rec] = await owner.record(id);
      return startJob('get', manifestFromSigned(rec.signed)?.size ?? 0, async (job) => {
        const tmp = `${target}.kith-partial`;
        const fd = fs.openSync(tmp, 'w', 0o600);
        try {
          for await (const part of owner.get(id, (n) => void (job.bytes = n))) fs.writeSync(fd, part);
          fs.closeSync(fd);
          fs.renameSync(tmp, target);
        } catch (e) {
          try { fs.closeSync(fd); } catch { /* closed */ }
          fs.rmSync(tmp, { force: true });
          throw e;
        }
        return { out: target, bytes: job.bytes };
      });
    },
    job(id) {
      const j = jobs.get(id);
      if (!j) throw new KithError('ARCHIVE_OBJECT_UNKNOWN', `no archive job ${id.slice(0, 20)}`);
      return j;
    },
    async list() {
      return (await owner.status()).map((s) => ({ id: s.id, name: s.name, kind: s.kind, size: s.size, createdMs: s.createdMs }));
    },
    async verify() {
      const audit = await schedule.runNow('audit');
      const repair = await schedule.runNow('repair');
      const index = await schedule.runNow('index').catch((e: unknown) => ({ error: isKithError(e) ? e.code : 'INTERNAL' }));
      return { audit, repair, index };
    },
    status: () => owner.status(),
    held: () => Promise.all([{ userKey: me, name: roster.ownName() }, ...roster.friends().filter((f) => !f.blocked)].map(async (u) => ({
      user: u.userKey, name: u.name, usedBytes: await holder.usedBy(u.userKey), quotaBytes: quotaOf(u.userKey),
    }))),
    async recover() {
      // The friend records (with the pairs' secrets) go back into the roster, so every friend met
      // before the loss is reachable again; the answer names them without their secrets.
      const r = await owner.recover();
      const restored = await roster.restoreFriendRecords(r.friends.flatMap((f) => (f.record ? [f.record] : [])));
      log.info(`archive: recovered ${r.objects} object record(s) and ${restored} friend record(s)`);
      return { objects: r.objects, roots: r.roots, friendsRestored: restored, friends: r.friends.map((f) => ({ userKey: f.userKey, name: f.name })) };
    },
    async reseal(secretKey, node) {
      await owner.rememberDevices(ownAccessMembers());
      const opened = await owner.offerRevokedKey(secretKey, node);
      if (opened > 0) void schedule.runNow('reseal').catch(() => undefined); // the schedule logs a failed round
      return { opened, oneDevice: owner.accessDevices().length === 1 };
    },
    stop: () => {
      unwatch();
      schedule.stop();
      owner.forgetRevokedKeys();
    },
  };
}
