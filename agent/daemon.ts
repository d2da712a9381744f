// `kith run`: the composition root. Opens the store (which locks the data dir), loads the
// identity, binds the cluster UDP socket and the local API, records where it listens, and tells
// systemd it is ready. Everything opened is closed again, in reverse order, on stop or on a
// failed start, so a failure never leaves a port bound or the store locked.
// Everything it takes from the world comes from an AgentEnv (agent/env.ts): the real machine for
// `kith run`, or a simulation in which many whole agents share one virtual clock and network.
import fs from 'node:fs';
import type { Hono } from 'hono';
import { toHex } from '../core/hex.js';
import type { Rng } from '../core/rng.js';
import { KithError } from '../core/errors.js';
import { readPrivateFile, writeFileAtomic } from '../core/files.js';
import type { KvStore } from '../core/store.js';
import { formatEndpoint, type UdpSocket } from '../core/udp.js';
import { aead } from '../core/aead.js';
import { hasIdentity, loadIdentity, type NodeIdentity } from '../identity/keystore.js';
import { parseRoles } from '../identity/certificate.js';
import { createApi, type ApiDeps } from './api.js';
import { Access } from './access.js';
import { startEventSources } from './event-sources.js';
import { companionLinkHost } from './access-net.js';
import { EventLog } from './events.js';
import { isLoopback, startCluster, type ClusterService } from './cluster-service.js';
import { realEnv, type AgentEnv } from './env.js';
import { startRoster, type RosterService } from './roster-service.js';
import { startPairing, type PairingService } from './pairing-service.js';
import { startArchive, type ArchiveService } from './archive-service.js';
import { archiveClosedConversations } from './archive-history.js';
import { startSchedule } from '../archive/schedule.js';
import { MINUTE, SECOND } from '../core/clock.js';
import { dispatchConvOp, startConversationSync } from './conv-ops.js';
import { startMailbox, type MailboxService } from './mailbox-service.js';
import type { ConvSync } from '../consensus/sync.js';
import type { Conversations } from '../consensus/conversations.js';
import type { SealedConversations } from '../consensus/sealed-conversations.js';
import { defaultConfig, loadConfigFile, type Config } from './config.js';
import type { HttpServer } from './http-server.js';
import { viewIdentity } from './identity-view.js';
import { initIdentity } from './init.js';
import { readDisplayName, writeDisplayName } from './display-name.js';
import type { Feed } from '../consensus/feed.js';
import { migrateStore } from './store-schema.js';
import { createLogger, type Logger } from './log.js';
import type { Notifier } from './notify.js';
import { dataFiles, dirSizeBytes, prepareDataDir } from './paths.js';
import { PROFILES, type ProfileName } from './profiles.js';
import { removeRuntimeRecord, withLockHolder, writeRuntimeRecord } from './runtime-file.js';
import { RUNTIME, VERSION } from './version.js';

export interface RunOptions {
  dataDir: string;
  configPath?: string;
  port?: number;
  apiPort?: number;
  profile?: ProfileName;
  /** Create an identity on first start (npm start); its phrase goes to a 0600 file in the data dir. */
  initIfMissing?: boolean;
}

export interface RunningAgent {
  config: Config;
  identity: NodeIdentity;
  clusterPort: number;
  apiPort: number;
  log: Logger;
  /** The local API in-process: `app.fetch(new Request(...))` with `Authorization: Bearer <token>`. */
  app: Hono;
  token: string;
  cluster: ClusterService;
  roster: RosterService;
  pairing: PairingService;
  /** The mailbox: relay (on relay nodes), client, outbox (agent/mailbox-service.ts). */
  mailbox: MailboxService;
  /** Conversations that travel: sync (every node) and the sealing layer (access nodes only). */
  conversations: { convs: Conversations; sync: ConvSync; sealed: SealedConversations | undefined };
  /** This node's application delivery log (consensus/feed.ts): every accepted message once. */
  feed: Feed;
  archive: ArchiveService;
  stop(): Promise<void>;
}

/** The name friends see: the configured node label, else the OS user's name. */
export function displayName(config: Config, userName: () => string = realEnv().userName): string {
  return config.node.label || userName();
}

/** Resolves the config file plus flags into one Config. */
export function effectiveConfig(opts: RunOptions): Config {
  const config = opts.configPath !== undefined ? loadConfigFile(opts.configPath) : defaultConfig();
  if (opts.port !== undefined) config.cluster.port = opts.port;
  if (opts.apiPort !== undefined) config.api.port = opts.apiPort;
  if (opts.profile !== undefined) config.agent.profile = opts.profile;
  return config;
}

/** Reads the API token, or creates one (32 random bytes, hex) in a 0600 file. */
function loadOrCreateToken(file: string, rng: Rng): string {
  if (!fs.existsSync(file)) writeFileAtomic(file, toHex(rng.bytes(32)) + '\n', 0o600);
  const token = readPrivateFile(file, { missing: 'KEY_FILE_MISSING', permissions: 'KEY_FILE_PERMISSIONS' }, 'API token file').toString('utf8').trim();
  if (!/^[0-9a-f]{64}$/.test(token)) throw new KithError('KEY_FILE_CORRUPT', `API token file ${file} is corrupt`, { hint: `delete ${file}; the agent writes a new one on start` });
  return token;
}

/** Runs an agent in `env` (the real machine unless told otherwise: any part may be replaced). */
export async function runAgent(opts: RunOptions, given: Partial<AgentEnv> = {}): Promise<RunningAgent> {
  const env: AgentEnv = { ...realEnv(), ...given };
  const { clock, rng } = env;
  const config = effectiveConfig(opts);
  const log = env.log ?? createLogger(config.agent.logLevel);
  const profile = PROFILES[config.agent.profile];
  const files = dataFiles(opts.dataDir);
  prepareDataDir(opts.dataDir, { needIdentity: !opts.initIfMissing, warn: (m) => log.warn(m) });

  const cleanups: (() => Promise<void> | void)[] = [];
  const closeAll = async (): Promise<void> => {
    for (const c of cleanups.reverse()) {
      try {
        await c();
      } catch (e) {
        log.warn(`shutdown step failed: ${(e as Error).message}`);
      }
    }
    cleanups.length = 0;
  };

  try {
    const store: KvStore = await env.openStore(files.store).catch((e) => Promise.reject(withLockHolder(e, files.runtime)));
    cleanups.push(() => store.close());
    await migrateStore(store, log);

    if (!hasIdentity(opts.dataDir) && opts.initIfMissing) {
      const { identity } = initIdentity({ clock, rng }, {
        dataDir: opts.dataDir,
        nodeIndex: 0,
        generation: 0,
        roles: parseRoles('access,relay'),
        phraseFile: files.firstStartPhrase,
        ...(config.node.label ? { label: config.node.label } : {}),
      });
      log.warn(`created a new identity (user ${viewIdentity(identity).userKey.slice(0, 16)}…); its 24-word seed phrase is in ${files.firstStartPhrase}: write it down, then delete that file`);
    }
    if (!hasIdentity(opts.dataDir)) throw new KithError('IDENTITY_MISSING', `${opts.dataDir} has no identity`);
    const identity = loadIdentity(opts.dataDir);
    const token = loadOrCreateToken(files.token, rng);

    const udp: UdpSocket = await env.bindUdp({ host: config.cluster.host, port: config.cluster.port });
    cleanups.push(() => udp.close());
    // The cluster owns the socket: transport, membership, STUN, rendezvous. Until members are
    // added (cards, pairing), every initiation is from a stranger: dropped unanswered, counted.
    const mode = config.nat.portMapping;
    const mapper = mode !== 'off' && !isLoopback(config.cluster.host) ? env.portMapper(mode, config.nat.gateway || undefined) : undefined;
    const cluster = await startCluster({ clock, rng, udp, store, log, interfaces: env.interfaces, ...(mapper ? { mapper } : {}) }, identity, config, profile);
    cleanups.push(() => cluster.stop());
    const transport = cluster.node.transport;
    // Friends, own nodes and revocations: it registers with the cluster's services (the transport
    // refuses revoked nodes and blocked users; roster messages and members' states go to it).
    const named = readDisplayName(opts.dataDir, displayName(config, env.userName));
    const onOwnName = (name: string, atMs: number) => {
      try {
        writeDisplayName(opts.dataDir, name, atMs);
      } catch (e) {
        log.warn(`display name not saved: ${(e as Error).message}`);
      }
    };
    const roster = await startRoster({ clock, store, identity, cluster, log, name: named.name, nameAtMs: named.setAtMs, onOwnName });
    // The event log behind /api/v1/events (agent/events.ts); services emit into it.
    const events = new EventLog(clock);
    const emit = (type: string, data: Record<string, unknown>) => void events.emit(type, data);
    const pairing = startPairing({ emit,
      clock, rng, roster, log, host: config.cluster.host, defaultTtlMs: profile.pairOfferTtlMs,
      tcp: env.tcp, interfaces: env.interfaces, discovery: env.discovery(config.cluster.host, clock, log),
    });
    cleanups.push(() => pairing.stop());
    // The archive: holder for friends and own nodes, owner of this user's objects (agent/archive-service.ts).
    const archive = startArchive({ emit, clock, rng, store, identity, cluster, roster, log, dataDir: opts.dataDir, profile: config.agent.profile,
      ...(env.freeDiskBytes ? { freeDisk: () => env.freeDiskBytes!(opts.dataDir) } : {}), ...(env.readFile ? { readFile: env.readFile } : {}) },
      { friendQuotaBytes: config.archive.friendQuotaMiB * 1024 * 1024, containGraceMs: config.archive.containGraceSec * SECOND });
    cleanups.push(() => archive.stop());

    const startedAtMs = clock.wallTime();
    // Conversations that travel: sync as the cluster's conversations service, sealed end to end.
    let mailbox: MailboxService | undefined;
    const users = () => [{ userKey: toHex(identity.cert.userKey), name: roster.ownName() }, ...roster.friends().filter((f) => !f.blocked).map((f) => ({ userKey: f.userKey, name: f.name }))];
    const conversations = await startConversationSync({ store, clock, rng, identity, cluster, isBlocked: (u) => roster.isBlocked(u), isSelfRevoked: () => roster.selfRevoked, log, users, emit, away: (g, item, nodes) => mailbox?.away(g, item, nodes), onConversation: (id) => events.emit('conv.new', { conv: id }), verifyPool: env.verifyPool(log) });
    cleanups.push(() => conversations.stop());
    // The friend cluster as a mailbox for whoever is away (relay nodes serve it, every node pulls).
    const nameOf = (u: string) => (u === toHex(identity.cert.userKey) ? roster.ownName() : roster.friends().find((f) => f.userKey === u)?.name);
    mailbox = await startMailbox({ store, clock, rng, identity, cluster, sync: conversations.sync, config: config.mailbox, log, nameOf, emit });
    cleanups.push(() => mailbox?.stop());
    const convOps = conversations.ops;
    // Closed conversations into the archive (agent/archive-history.ts: the agent joins consensus and archive).
    const history = startSchedule(clock, [{ name: 'history', everyMs: 10 * MINUTE, run: () => archiveClosedConversations({ store, conv: convOps, archive, log: (l) => log.info(l) }) }], (l) => log.warn(l));
    cleanups.push(() => history.stop());
    // Browser sessions and companion clients (agent/access.ts); clients are kept in the store.
    const access = new Access({ clock, rng, store });
    await access.load();
    let companion: HttpServer | undefined;
    const companionHost = config.api.companionHost;
    const apiDeps: ApiDeps = {
      token,
      listen: () => ({ host: config.api.host, port: http.port }),
      access,
      links: {
        local: () => `http://${config.api.host.includes(':') ? `[${config.api.host}]` : config.api.host}:${http.port}`,
        companion: () => (companionHost === '' ? undefined : `http://${companionLinkHost(companionHost, env.interfaces())}:${companion?.port ?? config.api.companionPort}`),
        // Brings the listener in line with the clients now (a no-op when it already is), so a
        // listener that could not open (its port taken) is tried again by the next `client add`.
        companionOpen: () => syncCompanion(access.clientCount()),
      },
      cluster,
      pairing,
      roster,
      wallTime: () => clock.wallTime(),
      archive,
      conv: (op, body) => dispatchConvOp(convOps, op, body),
      mailbox: () => mailbox!.status(),
      convOps,
      events,
      identity: () => ({ ...viewIdentity(identity) }),
      status: async () => ({
        running: true,
        pid: env.pid,
        runtime: RUNTIME,
        version: VERSION,
        profile: config.agent.profile,
        uptimeMs: clock.wallTime() - startedAtMs,
        dataDir: opts.dataDir,
        storeBytes: dirSizeBytes(files.store),
        cluster: { host: config.cluster.host, port: udp.local.port, transport: transport.stats, ...cluster.status(), roster: { ...roster.stats, selfRevoked: roster.selfRevoked } },
        api: { host: config.api.host, port: http.port },
        identity: viewIdentity(identity),
      }),
    };
    const sources = startEventSources({ clock, events, peers: () => cluster.peers(), watchStates: (fn) => cluster.node.services.watch(fn), friends: () => roster.friends(), feed: conversations.feed });
    cleanups.push(() => sources.stop());
    const api = createApi(apiDeps);
    const http: HttpServer = await env.serveApi(api, config.api.host, config.api.port);
    cleanups.push(() => http.close());
    // The companion listener beyond loopback: open exactly while a client exists (and configured).
    const companionApp = companionHost === '' ? undefined : createApi({ ...apiDeps, lan: true, listen: () => ({ host: companionHost, port: companion?.port ?? config.api.companionPort }) });
    let companionBusy: Promise<void> = Promise.resolve();
    /** One step after the ones before it; the step's own promise rejects with why it failed (the chain goes on). */
    const syncCompanion = (count: number): Promise<void> => {
      const step = companionBusy.then(async () => {
        if (companionApp === undefined) return;
        if (count > 0 && companion === undefined) {
          companion = await env.serveApi(companionApp, companionHost, config.api.companionPort);
          log.info(`companion API listening on http://${companionHost}:${companion.port} for ${count} client(s)`);
        } else if (count === 0 && companion !== undefined) {
          await companion.close();
          companion = undefined;
          log.info('companion API closed: no companion clients');
        }
      });
      companionBusy = step.catch((e) => log.warn(`companion API: ${(e as Error).message}`));
      return step;
    };
    // In the background a failure is the chain's warning only (the step's rejection is handled).
    const syncInBackground = (count: number): void => void syncCompanion(count).catch(() => undefined);
    syncInBackground(access.clientCount());
    const offClients = access.onClientsChanged(syncInBackground);
    cleanups.push(async () => {
      offClients();
      await companionBusy;
      await companion?.close();
    });

    writeRuntimeRecord(files.runtime, {
      pid: env.pid,
      runtime: RUNTIME,
      version: VERSION,
      startedAtMs,
      cluster: { host: config.cluster.host, port: udp.local.port },
      api: { host: config.api.host, port: http.port },
      profile: config.agent.profile,
    });
    cleanups.push(() => removeRuntimeRecord(files.runtime, env.pid));

    const notifier: Notifier = env.notifier({ clock, log, maxIntervalMs: profile.watchdogMaxIntervalMs });
    cleanups.push(() => notifier.stopping());
    const where = `cluster UDP ${formatEndpoint(udp.local)}, API http://${config.api.host}:${http.port}`;
    notifier.ready(`serving ${where}`);
    if (env.trimStartup) cleanups.push(env.trimStartup({ clock, log }));
    // The cipher sessions use (libsodium's native build where one fits this machine, else its
    // WebAssembly; `kith run` loads it before starting): said once, since it sets what the
    // transport can carry. Not awaited here: a simulated world's agents must not wait on the host.
    log.info(`kith ${VERSION} on ${RUNTIME} ready: node ${identity.cert.nodeIndex} of user ${viewIdentity(identity).userKey.slice(0, 16)}…, ${where}, profile ${config.agent.profile}, data ${opts.dataDir}, ChaCha20-Poly1305 ${aead.name}`);

    let stopping: Promise<void> | undefined;
    return {
      config,
      identity,
      clusterPort: udp.local.port,
      apiPort: http.port,
      log,
      app: api,
      token,
      cluster,
      roster,
      pairing,
      mailbox,
      conversations: { convs: conversations.convs, sync: conversations.sync, sealed: conversations.sealed },
      feed: conversations.feed,
      archive,
      stop() {
        stopping ??= closeAll();
        return stopping;
      },
    };
  } catch (e) {
    await closeAll();
    throw e;
  }
}
