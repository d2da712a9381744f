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
import { ArchiveOwner, DEFAULT_OWNER_OPTIONS, type Candidate } from '../archive/owner.js';
import { startSchedule, type Schedule } from '../archive/schedule.js';
import type { ObjectKind } from '../archive/manifest.js';
import type { ProfileName } from './profiles.js';

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
  getToFile(id: string, out: string): ArchiveJob;
  job(id: string): ArchiveJob;
  list(): Promise<{ id: string; name: string; kind: string; size: number; createdMs: number }[]>;
  verify(): Promise<unknown>;
  /** After `kith init --recover`: the index from a friend's node, every object record back. */
  recover(): Promise<unknown>;
  status(): Promise<unknown>;
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

export function startArchive(deps: {
  clock: Clock; rng: Rng; store: KvStore; identity: NodeIdentity; cluster: ClusterService; roster: RosterService; log: Log; dataDir: string; profile: ProfileName;
  freeDisk?: () => Promise<number>;
}): ArchiveService {
  const { clock, rng, store, identity, cluster, roster, log } = deps;
  const timing = ARCHIVE_TIMING[deps.profile];
  const me = toHex(identity.cert.userKey);
  const selfId = toHex(identity.keys.dh.publicKey);
  const isFriend = (user: string) => roster.friends().some((f) => f.userKey === user && !f.blocked);
  const userOf = (peer: string) => cluster.peers().find((p) => p.id === peer && p.state !== 'revoked')?.userKey;
  const freeDisk = deps.freeDisk ?? (() => freeDiskBytes(deps.dataDir));
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
    quotaOf: (owner) => (owner === me ? Number.MAX_SAFE_INTEGER : isFriend(owner) ? DEFAULT_FRIEND_QUOTA_BYTES : 0),
    freeDiskBytes: async () => {
      try {
        return await freeDisk();
      } catch (e) {
        log.warn(`archive: cannot read free disk space (${(e as Error).message}); refusing new shards`);
        return 0;
      }
    },
  }, DEFAULT_HOLDER_OPTIONS);
  const port = cluster.node.services.register({
    name: 'archive',
    onMessage: (peer, body, respond) => {
      if (!respond) return;
      const framed = new Uint8Array(body.length + 1);
      framed[0] = port.byte;
      framed.set(body, 1);
      void holder.handle(peer, framed).then(respond).catch(() => undefined);
    },
  });
  const candidates = (): Candidate[] => cluster.peers()
    .filter((p) => p.state === 'alive' && (p.userKey === me || isFriend(p.userKey)))
    .map((p) => ({ id: p.id, household: p.userKey, dhPublicKey: fromHex(p.id)! }));
  const owner = new ArchiveOwner({
    clock, rng, store, log: (l) => log.info(l),
    request: (peer, payload) => port.request(peer, payload.subarray(1), timing.requestTimeoutMs),
    candidates,
    reachable: (id) => cluster.peers().some((p) => p.id === id && p.state === 'alive'),
    gone: (id) => cluster.peers().some((p) => p.id === id && p.state === 'revoked'),
    self: { id: selfId, dh: identity.keys.dh, signSecret: identity.keys.sign.secretKey, signPublic: identity.keys.sign.publicKey },
    trustedSigners: () => cluster.peers().filter((p) => p.userKey === me && p.state !== 'revoked').map((p) => fromHex(p.nodeSignKey)!),
    friends: () => roster.friends().map((f) => ({ userKey: f.userKey, name: f.name })),
    // Device B of history: this user's other nodes whose certificates carry the access role.
    otherAccessDevices: () => cluster.peers()
      .filter((p) => p.userKey === me && p.state !== 'revoked' && p.id !== selfId && cluster.node.membership.memberSpec(p.id)?.cert.roles.includes('access'))
      .sort((a, b) => a.nodeIndex - b.nodeIndex || (a.id < b.id ? -1 : 1))
      .map((p) => ({ id: p.id, dhPublicKey: fromHex(p.id)! })),
  }, { ...DEFAULT_OWNER_OPTIONS, audit: { containGraceMs: timing.containGraceMs } });
  const schedule: Schedule = startSchedule(clock, [
    { name: 'audit', everyMs: timing.auditEveryMs, run: () => owner.auditAll() },
    { name: 'repair', everyMs: timing.repairEveryMs, firstMs: timing.repairEveryMs + 5 * MINUTE, run: () => owner.repairAll() },
    { name: 'index', everyMs: timing.indexEveryMs, run: () => owner.publishIndex() },
    { name: 'renew', everyMs: timing.renewEveryMs, run: () => owner.renewAll() },
    { name: 'collect', everyMs: timing.collectEveryMs, run: () => holder.collectExpired([...new Set([me, ...roster.friends().map((f) => f.userKey)])]) },
  ], (l) => log.warn(l));

  const jobs = new Map<string, ArchiveJob>();
  const startJob = (op: ArchiveJob['op'], totalBytes: number, run: (job: ArchiveJob) => Promise<unknown>): ArchiveJob => {
    const job: ArchiveJob = { id: toHex(rng.bytes(8)), op, state: 'running', bytes: 0, totalBytes };
    jobs.set(job.id, job);
    while (jobs.size > 64) jobs.delete(jobs.keys().next().value!);
    run(job).then((r) => Object.assign(job, { state: 'done', result: r }), (e) => Object.assign(job, { state: 'failed', error: isKithError(e) ? e.toJSON() : { code: 'INTERNAL', message: (e as Error).message } }));
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
          out.push({ name, ...(await owner.put(fs.createReadStream(f, { highWaterMark: 1 << 20 }), size, { kind: 'file', meta: { name }, onProgress: () => undefined })) });
          done += size;
          job.bytes = done;
        }
        return { objects: out };
      });
    },
    putBytes: async (bytes, kind, meta) => owner.put([bytes], bytes.length, { kind, meta }),
    getToFile(id, out) {
      const target = path.resolve(out);
      return startJob('get', 0, async (job) => {
        await owner.record(id);
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
    recover: () => owner.recover(),
    stop: () => schedule.stop(),
  };
}
