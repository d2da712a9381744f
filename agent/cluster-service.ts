// The cluster inside the agent: one UDP socket shared by the secure transport and the STUN
// client, membership over the transport, members kept in the store, LAN addresses read from the
// interfaces, STUN when configured, and rendezvous windows with NAT-PMP or UPnP IGD mappings.
// An agent with no members sends nothing at all: probes, STUN and mappings all need members.
import os from 'node:os';
import type { Clock, Timer } from '../core/clock.js';
import { KithError } from '../core/errors.js';
import { toHex } from '../core/hex.js';
import type { Rng } from '../core/rng.js';
import type { KvStore } from '../core/store.js';
import type { Endpoint, UdpSocket } from '../core/udp.js';
import type { NodeIdentity } from '../identity/keystore.js';
import type { RecordEndpoint } from '../cluster/address-record.js';
import { makeCard, openCard, type NodeCard } from '../cluster/card.js';
import { deleteMember, loadMembers, memberSpecFor, saveMember, saveMemberRecord } from '../cluster/member-store.js';
import type { MemberState, MemberView } from '../cluster/membership.js';
import { classifyNat, type NatClassification } from '../cluster/nat.js';
import { ClusterNode } from '../cluster/node.js';
import { loadInitiationTs } from '../cluster/initiation-ts.js';
import { Rendezvous } from '../cluster/rendezvous.js';
import type { MessageHandler } from '../cluster/reliable.js';
import type { NodeCertificate } from '../identity/certificate.js';
import { StunClient } from '../cluster/stun.js';
import type { Config } from './config.js';
import type { Logger } from './log.js';
import { createPortMapper, type RouterInfo } from './port-mapper.js';
import type { Profile } from './profiles.js';

export interface ClusterService {
  node: ClusterNode;
  peers(): MemberView[];
  card(): Promise<{ card: string; userKey: string; nodeSignKey: string; endpoints: RecordEndpoint[] }>;
  /** This node's endpoints, asking STUN first (for a person's request: a card, a pairing). */
  freshEndpoints(): Promise<RecordEndpoint[]>;
  addPeer(cardBase64: string, secretHex: string): Promise<{ id: string; nodeSignKey: string; userKey: string; label: string }>;
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

export const isLoopback = (host: string): boolean => host.startsWith('127.') || host === '::1' || host === 'localhost';

/** LAN endpoints: every non-internal IPv4 address (or the one bound), with the cluster port. */
export function lanEndpoints(bindHost: string, port: number): Endpoint[] {
  if (bindHost !== '0.0.0.0' && bindHost !== '::') return [{ host: bindHost, port }];
  const out: Endpoint[] = [];
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) out.push({ host: a.address, port });
  }
  return out.slice(0, 4);
}

function parseStunServers(text: string): Endpoint[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(s);
    if (!m) throw new KithError('CONFIG_INVALID', `nat.stunServers: ${JSON.stringify(s)} is not an IPv4 host:port`);
    return { host: m[1]!, port: Number(m[2]) };
  });
}

/** Filled in by services started after the cluster (the roster): consulted on every use. */
export interface ClusterHooks {
  /** A verified certificate in a handshake: false refuses it (revoked, blocked). */
  isAllowed?: (cert: NodeCertificate) => boolean;
  /** Reliable messages from members. */
  onMessage?: MessageHandler;
  /** A member's state changed (alive, suspect, dead, revoked). */
  onState?: (id: string, state: MemberState, previous: MemberState) => void;
}

export async function startCluster(deps: {
  clock: Clock; rng: Rng; udp: UdpSocket; store: KvStore; identity: NodeIdentity; config: Config; profile: Profile; log: Logger;
  hooks?: ClusterHooks;
}): Promise<ClusterService> {
  const { clock, rng, udp, store, identity, config, profile, log } = deps;
  const hooks = deps.hooks ?? {};
  const stunServers = parseStunServers(config.nat.stunServers);

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
  const node = new ClusterNode({ clock, rng, socket: transportSocket }, {
    cert: identity.cert, certBytes: identity.certBytes,
    dh: { secretKey: identity.keys.dh.secretKey, publicKey: identity.keys.dh.publicKey },
    signSecret: identity.keys.sign.secretKey,
  }, {
    timing: profile.membership,
    isAllowed: (cert) => hooks.isAllowed?.(cert) ?? true,
    onMessage: (peer, payload, respond) => hooks.onMessage?.(peer, payload, respond),
    onEndpoint: (id, ep, prev) => log.info(`member ${who(id)} at ${ep.host}:${ep.port}${prev ? ` (was ${prev.host}:${prev.port})` : ''}`),
    events: {
      state: (id, s, prev) => {
        log.info(`member ${who(id)} ${prev} → ${s}`);
        // A member we cannot reach gets knocked on at its next window; a refound one does not.
        rendezvous?.plan();
        if (s !== 'alive' && membership.counts().alive === 0) void runStun();
        hooks.onState?.(id, s, prev);
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

  const mappingMode = config.nat.portMapping;
  const mapper = mappingMode !== 'off' && !isLoopback(config.cluster.host) ? createPortMapper(mappingMode, config.nat.gateway || undefined) : undefined;
  rendezvous = new Rendezvous({
    clock, membership, mapper, params: profile.rendezvous, selfDh: identity.cert.dhKey, localPort: port, minGuardMs: profile.minGuardMs,
    log: (level, msg) => log[level](msg),
  });

  // Members from the store.
  for (const spec of await loadMembers(store, (key, why) => log.warn(`skipping stored member ${key}: ${why}`))) membership.add(spec);

  // LAN addresses now and whenever the interfaces change (reading them sends nothing).
  let lan: Endpoint[] = [];
  const pollInterfaces = (): void => {
    const eps = lanEndpoints(config.cluster.host, port);
    if (JSON.stringify(eps) !== JSON.stringify(lan)) {
      lan = eps;
      membership.setLocalEndpoints('lan', eps);
    }
  };
  pollInterfaces();
  const timers: Timer[] = [];
  const every = (ms: number, fn: () => void): void => {
    const tick = (): void => {
      fn();
      timers[idx] = clock.setTimer(ms, tick);
    };
    const idx = timers.length;
    timers.push(clock.setTimer(ms, tick));
  };
  every(profile.interfacePollMs, pollInterfaces);

  // STUN: only with members (a quiet appliance), at start and then now and again.
  let stunResults: { server: Endpoint; mapped: Endpoint }[] = [];
  let stunError: string | null = null;
  const runStun = async (asked = false): Promise<void> => {
    if (stunServers.length === 0 || (membership.counts().members === 0 && !asked)) return;
    const results = await Promise.allSettled(stunServers.map((s) => stun.binding(s)));
    stunResults = results.flatMap((r) => (r.status === 'fulfilled' ? [{ server: r.value.server, mapped: r.value.mapped }] : []));
    const failed = results.filter((r) => r.status === 'rejected') as PromiseRejectedResult[];
    stunError = failed.length ? (failed[0]!.reason as Error).message : null;
    membership.setLocalEndpoints('public', stunResults.map((r) => r.mapped).filter((e, i, a) => a.findIndex((x) => x.host === e.host && x.port === e.port) === i));
  };
  void runStun();
  every(profile.stunIntervalMs, () => void runStun());

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
    peers: () => membership.view(),
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
    async addPeer(cardBase64, secretHex) {
      if (!/^[0-9a-fA-F]{64}$/.test(secretHex)) throw new KithError('SECRET_INVALID', 'the bootstrap secret must be 64 hex digits');
      if (!/^[A-Za-z0-9+/=\s]+$/.test(cardBase64)) throw new KithError('CARD_INVALID', 'the card must be base64');
      const card = openCard(new Uint8Array(Buffer.from(cardBase64, 'base64')));
      const secret = new Uint8Array(Buffer.from(secretHex, 'hex'));
      try {
        return await service.addMember(card, secret);
      } finally {
        secret.fill(0);
      }
    },
    async addMember(card, secret) {
      if (toHex(card.cert.dhKey) === membership.selfId) throw new KithError('CARD_INVALID', 'that is this node\'s own card');
      const spec = memberSpecFor(identity.cert.dhKey, card, secret);
      await saveMember(store, spec);
      const id = membership.add(spec);
      rendezvous.plan();
      void runStun();
      log.info(`added member ${id.slice(0, 12)}… (node ${card.cert.nodeIndex} "${card.cert.label}" of user ${toHex(card.cert.userKey).slice(0, 12)}…)`);
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
      const windowGuard = profile.rendezvous.lengthMs / 2;
      const skewTooLarge = clockEst.errorMs > windowGuard;
      if (skewTooLarge && !skewWarned) log.warn(`clock error ${clockEst.errorMs} ms is more than half a rendezvous window (${windowGuard} ms): members that both move may not meet`);
      skewWarned = skewTooLarge;
      const r = rendezvous!.status();
      const router: RouterInfo | undefined = mapper?.router();
      const n = nat();
      return {
        ...membership.counts(),
        incarnation: membership.incarnation,
        endpoints: membership.ownEndpoints(),
        publicEndpoint: n.publicEndpoint ? `${n.publicEndpoint.host}:${n.publicEndpoint.port}` : null,
        nat: { type: n.label, mapping: n.mapping, filtering: n.filtering, portPreserved: n.portPreserved ?? null, carrierGrade: n.carrierGrade, doubleNat: n.doubleNat || (router?.doubleNat ?? false), observations: n.observations },
        stun: { servers: stunServers.map((s) => `${s.host}:${s.port}`), results: stunResults.map((x) => `${x.mapped.host}:${x.mapped.port}`), error: stunError },
        mapping: { ...r.mapping, router: router ?? null },
        nextWindow: r.nextWindow ? { ...r.nextWindow, start: new Date(r.nextWindow.startMs).toISOString(), inMs: Math.round(r.nextWindow.startMs - membership.clusterTime()) } : null,
        clock: { offsetMs: clockEst.offsetMs, errorMs: clockEst.errorMs, members: clockEst.members, warning: skewTooLarge ? `clock error is larger than half a rendezvous window (${windowGuard} ms)` : null },
        membership: membership.stats,
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
