// The cluster of one agent: one UDP socket shared by the secure transport and the STUN client,
// membership over the transport, members kept in the store, LAN addresses from the interfaces,
// STUN when configured, and rendezvous windows with a port mapper. An agent with no members sends
// nothing at all: probes, STUN and mappings all need members. The agent (agent/cluster-service.ts)
// builds it from the config and its environment; simulations build it from SimNet sockets.
import type { Clock, Timer } from '../core/clock.js';
import { KithError } from '../core/errors.js';
import { toHex } from '../core/hex.js';
import type { Log } from '../core/log.js';
import type { Rng } from '../core/rng.js';
import type { KvStore } from '../core/store.js';
import type { Endpoint, UdpSocket } from '../core/udp.js';
import type { NodeCertificate } from '../identity/certificate.js';
import type { RecordEndpoint } from './address-record.js';
import { makeCard, type NodeCard } from './card.js';
import { deleteMember, loadMembers, memberSpecFor, saveMember, saveMemberRecord } from './member-store.js';
import type { MembershipTiming, MemberView } from './membership.js';
import { classifyNat, type NatClassification } from './nat.js';
import { ClusterNode } from './node.js';
import { loadInitiationTs } from './initiation-ts.js';
import { Rendezvous, type PortMapper, type WindowParams } from './rendezvous.js';
import type { RosterMembers } from './roster-service.js';
import { StunClient } from './stun.js';

/** What a port mapper says about the router it talks to (for status). */
export interface RouterInfo {
  protocol: 'natpmp' | 'upnp';
  gateway: string;
  externalIp: string;
  doubleNat: boolean;
}

export interface NetInterface {
  address: string;
  family: string;
  internal: boolean;
}

export const isLoopback = (host: string): boolean => host.startsWith('127.') || host === '::1' || host === 'localhost';

/** LAN endpoints: every non-internal IPv4 address (or the one bound), with the cluster port; at most 4. */
export function lanEndpoints(bindHost: string, port: number, interfaces: readonly NetInterface[]): Endpoint[] {
  if (bindHost !== '0.0.0.0' && bindHost !== '::') return [{ host: bindHost, port }];
  return interfaces.filter((a) => a.family === 'IPv4' && !a.internal).map((a) => ({ host: a.address, port })).slice(0, 4);
}

export interface ClusterServiceDeps {
  clock: Clock;
  rng: Rng;
  udp: UdpSocket;
  store: KvStore;
  log: Log;
  /** This node's interfaces now (read again every interfacePollMs; reading sends nothing). */
  interfaces(): NetInterface[];
  /** Opens the router for rendezvous windows; none on loopback or when mapping is off. */
  mapper?: PortMapper & { router?(): RouterInfo | undefined };
  /** Extra handshake veto (besides every registered service's). */
  isAllowed?: (cert: NodeCertificate) => boolean;
}

export interface ClusterIdentity {
  cert: NodeCertificate;
  certBytes: Uint8Array;
  keys: { dh: { secretKey: Uint8Array; publicKey: Uint8Array }; sign: { secretKey: Uint8Array } };
}

export interface ClusterServiceOptions {
  host: string;
  timing: MembershipTiming;
  rendezvous: WindowParams;
  minGuardMs: number;
  stunServers: Endpoint[];
  stunIntervalMs: number;
  interfacePollMs: number;
}

export interface ClusterService {
  node: ClusterNode;
  /** Members as the roster (and other services) use them. */
  members: RosterMembers;
  peers(): MemberView[];
  /** The ids of the members that answer now (cheaper than filtering peers()). */
  alivePeerIds(): string[];
  card(): Promise<{ card: string; userKey: string; nodeSignKey: string; endpoints: RecordEndpoint[] }>;
  /** This node's endpoints, asking STUN first (for a person's request: a card, a pairing). */
  freshEndpoints(): Promise<RecordEndpoint[]>;
  /** Makes a node a member, its PSK and rendezvous secret derived from the pair's secret. */
  addMember(card: NodeCard, secret: Uint8Array): Promise<{ id: string; nodeSignKey: string; userKey: string; label: string }>;
  /** Removes every member certified by a user; returns how many. */
  removeUser(userKey: Uint8Array): Promise<number>;
  /** Cuts a member off for good: sessions dropped, shown as revoked, gone from the store. */
  revokeMember(id: string): Promise<void>;
  removePeer(idOrSignKey: string): Promise<void>;
  status(): Record<string, unknown>;
  stop(): Promise<void>;
}

export async function startClusterService(deps: ClusterServiceDeps, identity: ClusterIdentity, opts: ClusterServiceOptions): Promise<ClusterService> {
  const { clock, rng, udp, store, log } = deps;

  // One socket, two users: STUN answers go to the STUN client (only answers to our own
  // transactions), everything else to the transport, which stays silent to strangers.
  let transportHandler: ((d: Uint8Array, from: Endpoint) => void) | undefined;
  const stun = new StunClient({ clock, rng, send: (to, d) => udp.send(to, d) });
  udp.onMessage((d, from) => {
    if (!stun.handle(d, from)) transportHandler?.(d, from);
  });
  const transportSocket: UdpSocket = { local: udp.local, send: (to, d) => udp.send(to, d), onMessage: (fn) => (transportHandler = fn), close: () => udp.close() };

  let rendezvous: Rendezvous | undefined;
  // Logs name members by the first 16 hex digits of their node signing key, as `kith peers` does.
  const who = (id: string): string => {
    const spec = node?.membership.memberSpec(id);
    return spec ? toHex(spec.cert.signKey).slice(0, 16) : id.slice(0, 16);
  };
  const node: ClusterNode = new ClusterNode({ clock, rng, socket: transportSocket }, {
    cert: identity.cert, certBytes: identity.certBytes,
    dh: { secretKey: identity.keys.dh.secretKey, publicKey: identity.keys.dh.publicKey },
    signSecret: identity.keys.sign.secretKey,
  }, {
    timing: opts.timing,
    ...(deps.isAllowed ? { isAllowed: deps.isAllowed } : {}),
    onEndpoint: (id, ep, prev) => log.info(`member ${who(id)} at ${ep.host}:${ep.port}${prev ? ` (was ${prev.host}:${prev.port})` : ''}`),
    events: {
      state: (id, s, prev) => {
        log.info(`member ${who(id)} ${prev} → ${s}`);
        // A member we cannot reach gets knocked on at its next window; a refound one does not.
        rendezvous?.plan();
        if (s !== 'alive' && membership.counts().alive === 0) void runStun();
      },
      record: (id, bytes) => void saveMemberRecord(store, id, bytes).catch((e) => log.warn(`could not store a member's address record: ${(e as Error).message}`)),
      selfRecord: (_b, rec) => log.info(`this node's endpoints: ${rec.endpoints.map((e) => `${e.kind} ${e.host}:${e.port}`).join(', ') || 'none'} (record ${rec.seq})`),
    },
  });
  // Transport (issue 18 break 5): the last initiation timestamp accepted from each member is kept
  // in the store, so an initiation captured earlier and replayed after a restart gets no answer.
  // Set before the members are added below.
  node.transport.setInitiationTsStore(await loadInitiationTs(store, (m) => log.warn(m)));
  const membership = node.membership;
  const port = udp.local.port;
  const mapper = deps.mapper;
  rendezvous = new Rendezvous({
    clock, membership, mapper, params: opts.rendezvous, selfDh: identity.cert.dhKey, localPort: port, minGuardMs: opts.minGuardMs,
    log: (level, msg) => log[level](msg),
  });

  // Members from the store.
  for (const spec of await loadMembers(store, (key, why) => log.warn(`skipping stored member ${key}: ${why}`))) membership.add(spec);

  // LAN addresses now and whenever the interfaces change.
  let lan: Endpoint[] = [];
  const pollInterfaces = (): void => {
    const eps = lanEndpoints(opts.host, port, deps.interfaces());
    if (JSON.stringify(eps) !== JSON.stringify(lan)) {
      lan = eps;
      membership.setLocalEndpoints('lan', eps);
    }
  };
  pollInterfaces();
  const timers: Timer[] = [];
  const every = (ms: number, fn: () => void): void => {
    const idx = timers.length;
    const tick = (): void => {
      fn();
      timers[idx] = clock.setTimer(ms, tick);
    };
    timers.push(clock.setTimer(ms, tick));
  };
  every(opts.interfacePollMs, pollInterfaces);

  // STUN: only with members (a quiet appliance), at start and then now and again.
  let stunResults: { server: Endpoint; mapped: Endpoint }[] = [];
  let stunError: string | null = null;
  const runStun = async (asked = false): Promise<void> => {
    if (opts.stunServers.length === 0 || (membership.counts().members === 0 && !asked)) return;
    const results = await Promise.allSettled(opts.stunServers.map((s) => stun.binding(s)));
    stunResults = results.flatMap((r) => (r.status === 'fulfilled' ? [{ server: r.value.server, mapped: r.value.mapped }] : []));
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    stunError = failed.length ? (failed[0]!.reason as Error).message : null;
    membership.setLocalEndpoints('public', stunResults.map((r) => r.mapped).filter((e, i, a) => a.findIndex((x) => x.host === e.host && x.port === e.port) === i));
  };
  void runStun();
  every(opts.stunIntervalMs, () => void runStun());

  rendezvous.plan();

  let skewWarned = false;
  // STUN answers describe the plain mapping of our socket. Members' reports are used only
  // without STUN: a member that met us through a rendezvous window saw the window's port, which
  // would look like a new mapping per destination (symmetric) when it is not.
  const nat = (): NatClassification => classifyNat(
    stunResults.length > 0
      ? stunResults.map((r) => ({ local: udp.local, destination: r.server, mapped: r.mapped }))
      : membership.observations().map((o) => ({ local: udp.local, ...o })),
    { localAddresses: lan.map((e) => e.host) },
  );

  const findMember = (key: string): string => {
    const k = key.toLowerCase();
    const hit = membership.view().filter((v) => v.id === k || v.nodeSignKey === k || (k.length >= 8 && (v.id.startsWith(k) || v.nodeSignKey.startsWith(k))));
    if (hit.length !== 1) throw new KithError('MEMBER_UNKNOWN', hit.length === 0 ? `no member has the key ${key}` : `${key} matches ${hit.length} members: give more characters`);
    return hit[0]!.id;
  };

  const service: ClusterService = {
    node,
    members: {
      view: () => membership.view(),
      spec: (id) => membership.memberSpec(id),
      has: (id) => membership.has(id),
      ownEndpoints: () => membership.ownEndpoints(),
      freshEndpoints: () => service.freshEndpoints(),
      add: (card, secret) => service.addMember(card, secret),
      removeUser: (user) => service.removeUser(user),
      revoke: (id) => service.revokeMember(id),
      forget: (id) => service.removePeer(id),
    },
    peers: () => membership.view(),
    alivePeerIds: () => membership.aliveIds(),
    async freshEndpoints() {
      // Asked for by a person: learning our public address now is expected, not idle chatter.
      await runStun(true);
      return membership.ownEndpoints();
    },
    async card() {
      const eps = await service.freshEndpoints();
      const bytes = makeCard(identity.certBytes, eps, identity.keys.sign.secretKey);
      return { card: Buffer.from(bytes).toString('base64'), userKey: toHex(identity.cert.userKey), nodeSignKey: toHex(identity.cert.signKey), endpoints: eps };
    },
    async addMember(card, secret) {
      if (toHex(card.cert.dhKey) === membership.selfId) throw new KithError('CARD_INVALID', 'that is this node\'s own card');
      const spec = memberSpecFor(identity.cert.dhKey, card, secret);
      await saveMember(store, spec);
      const id = membership.add(spec);
      rendezvous.plan();
      void runStun();
      log.info(`added member ${who(id)} (node ${card.cert.nodeIndex} "${card.cert.label}" of user ${toHex(card.cert.userKey).slice(0, 12)}…)`);
      return { id, nodeSignKey: toHex(card.cert.signKey), userKey: toHex(card.cert.userKey), label: card.cert.label };
    },
    async removeUser(userKey) {
      const hex = toHex(userKey);
      let n = 0;
      for (const v of membership.view()) {
        if (v.userKey !== hex) continue;
        membership.remove(v.id);
        await deleteMember(store, v.id);
        n++;
      }
      rendezvous.plan();
      return n;
    },
    async revokeMember(id) {
      membership.revoke(id);
      await deleteMember(store, id);
      rendezvous.plan();
    },
    async removePeer(key) {
      const id = findMember(key);
      membership.remove(id);
      await deleteMember(store, id);
      rendezvous.plan();
    },
    status() {
      const clockEst = membership.clusterClock();
      const windowGuard = opts.rendezvous.lengthMs / 2;
      const skewTooLarge = clockEst.errorMs > windowGuard;
      if (skewTooLarge && !skewWarned) log.warn(`clock error ${clockEst.errorMs} ms is more than half a rendezvous window (${windowGuard} ms): members that both move may not meet`);
      skewWarned = skewTooLarge;
      const r = rendezvous!.status();
      const router = mapper?.router?.();
      const n = nat();
      return {
        ...membership.counts(),
        incarnation: membership.incarnation,
        endpoints: membership.ownEndpoints(),
        publicEndpoint: n.publicEndpoint ? `${n.publicEndpoint.host}:${n.publicEndpoint.port}` : null,
        nat: { type: n.label, mapping: n.mapping, filtering: n.filtering, portPreserved: n.portPreserved ?? null, carrierGrade: n.carrierGrade, doubleNat: n.doubleNat || (router?.doubleNat ?? false), observations: n.observations },
        stun: { servers: opts.stunServers.map((s) => `${s.host}:${s.port}`), results: stunResults.map((x) => `${x.mapped.host}:${x.mapped.port}`), error: stunError },
        mapping: { ...r.mapping, router: router ?? null },
        nextWindow: r.nextWindow ? { ...r.nextWindow, start: new Date(r.nextWindow.startMs).toISOString(), inMs: Math.round(r.nextWindow.startMs - membership.clusterTime()) } : null,
        clock: { offsetMs: clockEst.offsetMs, errorMs: clockEst.errorMs, members: clockEst.members, warning: skewTooLarge ? `clock error is larger than half a rendezvous window (${windowGuard} ms)` : null },
        membership: membership.stats,
        services: { ...node.services.stats, ...node.streams.stats },
      };
    },
    async stop() {
      for (const t of timers) t.cancel();
      stun.close();
      await rendezvous.stop();
      await node.close();
    },
  };
  return service;
}
