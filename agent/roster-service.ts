// The roster in the agent: this user's friends and own nodes, revocations, and how changes spread
// (cluster/roster.ts has the records and messages). Pairing hands it new friends and enrolled
// nodes; the API asks it for lists, removals, blocks and revocations; members send it roster
// messages. It keeps, in the store (0700 data dir):
//   friend/<user hex>                       the latest signed friend record (it holds the pair secret)
//   revocation/<user hex>/<node>/<gen>      signed revocations
//   node-index/<n>                          an index this node gave to a new node of the user
//
// Spreading: a change made here goes at once to every member it concerns (friend records to the
// user's own nodes; revocations to every member, the revoked node first; a new own node's card to
// every member), and each receiver passes on what was new to it, so it reaches everyone in one
// round of messages. A member that was away catches up when it is alive again: own nodes get
// every friend record and revocation, friends this user's nodes and revocations.
import type { Clock } from '../core/clock.js';
import { encodeCanonical } from '../core/cbor.js';
import { KithError, isKithError } from '../core/errors.js';
import { bytesEqual, fromHex, toHex } from '../core/hex.js';
import { prefixEnd, type KvStore } from '../core/store.js';
import { revokes, verifyRevocation, type NodeCertificate, type Revocation } from '../identity/certificate.js';
import type { NodeIdentity } from '../identity/keystore.js';
import type { NodeCard } from '../cluster/card.js';
import { makeFriendCard, MAX_FRIEND_NODES } from '../cluster/pairing/friend-card.js';
import type { PairResult, PairSelf } from '../cluster/pairing/protocol.js';
import {
  decodeRosterMessage, encodeRosterMessage, makeFriendRecord, MAX_ROSTER_RECORDS, makeWelcome, openFriendRecord, openRosterRecord,
  type FriendRecord,
} from '../cluster/roster.js';
import type { ClusterHooks, ClusterService } from './cluster-service.js';
import type { Logger } from './log.js';

const FRIEND = 'friend/';
const REVOCATION = 'revocation/';
const NODE_INDEX = 'node-index/';
/** How long `kith node revoke` waits for the revoked node to acknowledge being told. */
const TELL_REVOKED_MS = 3000;

export interface FriendView {
  userKey: string;
  name: string;
  nodes: number;
  since: string;
  blocked: boolean;
}

export interface NodeView {
  nodeIndex: number;
  generation: number;
  label: string;
  nodeSignKey: string;
  state: 'this node' | 'alive' | 'suspect' | 'dead' | 'revoked';
  endpoint: string | null;
  revokedAt: string | null;
}

export interface PairOutcome {
  kind: 'friend';
  friendUserKey: string;
  friendName: string;
  safetyNumber: string;
  nodes: number;
}

export interface EnrollOutcome {
  kind: 'node';
  nodeIndex: number;
  label: string;
  nodeSignKey: string;
}

export interface RevokeOutcome {
  nodeIndex: number;
  generation: number;
  /** The revoked node acknowledged the revocation before it was cut off. */
  toldRevokedNode: boolean;
  /** Members the revocation was sent to. */
  members: number;
}

export const friendKey = (user: Uint8Array): string => FRIEND + toHex(user);
/** The store key of a revocation, and of the one that would revoke a certificate. */
export const revocationKey = (r: Pick<Revocation, 'userKey' | 'nodeIndex' | 'generation'>): string => `${REVOCATION}${toHex(r.userKey)}/${r.nodeIndex}/${r.generation}`;

export interface RosterService {
  /** What pairing brings to an offer or a join (friend card of every own node, enrollment). */
  pairSelf(): Promise<PairSelf>;
  befriend(r: PairResult): Promise<PairOutcome>;
  enrolled(node: NodeCard): Promise<EnrollOutcome>;
  isBlocked(user: Uint8Array): boolean;
  friends(): FriendView[];
  removeFriend(key: string): Promise<FriendView>;
  blockFriend(key: string): Promise<FriendView>;
  nodes(): NodeView[];
  revoke(revocation: Uint8Array): Promise<RevokeOutcome>;
  /** True once this node learned it was revoked: it has left the cluster. */
  readonly selfRevoked: boolean;
  stats: { received: number; applied: number; rejected: number; sent: number };
}

export async function startRoster(deps: {
  clock: Clock; store: KvStore; identity: NodeIdentity; cluster: ClusterService; log: Logger; name: string;
  /** The cluster's hooks: the roster follows members' states through them. */
  hooks: ClusterHooks;
}): Promise<RosterService> {
  const { clock, store, identity, cluster, log } = deps;
  const me = identity.cert;
  const meHex = toHex(me.userKey);
  const membership = cluster.node.membership;
  const friends = new Map<string, FriendRecord>();
  const revocations = new Map<string, { revocation: Revocation; bytes: Uint8Array }>();
  const reserved = new Set<number>();
  const stats = { received: 0, applied: 0, rejected: 0, sent: 0 };
  let selfRevoked = false;

  for await (const [k, raw] of store.range({ gte: FRIEND, lt: prefixEnd(FRIEND) })) {
    try {
      const r = openFriendRecord(raw);
      friends.set(toHex(r.user), r);
    } catch (e) {
      log.warn(`store entry ${k} is not a friend record (${isKithError(e) ? e.message : 'unreadable'}): skipped`);
    }
  }
  for await (const [k, raw] of store.range({ gte: REVOCATION, lt: prefixEnd(REVOCATION) })) {
    try {
      const revocation = verifyRevocation(raw);
      revocations.set(revocationKey(revocation), { revocation, bytes: raw });
    } catch {
      log.warn(`store entry ${k} is not a revocation: skipped`);
    }
  }
  for await (const [k] of store.range({ gte: NODE_INDEX, lt: prefixEnd(NODE_INDEX) })) reserved.add(Number(k.slice(NODE_INDEX.length)));

  const isRevoked = (c: NodeCertificate): boolean => revocations.has(revocationKey(c));
  const isBlocked = (user: Uint8Array): boolean => friends.get(toHex(user))?.state === 'blocked';
  const userOf = (peer: string): string | undefined => {
    const spec = membership.memberSpec(peer);
    return spec ? toHex(spec.cert.userKey) : undefined;
  };
  const membersOf = (userHex: string): string[] => membership.view().filter((v) => v.userKey === userHex && v.state !== 'revoked').map((v) => v.id);
  const allMembers = (): string[] => membership.view().filter((v) => v.state !== 'revoked').map((v) => v.id);

  /** A member as a card: its own signed endpoints when known, else where we were told it is. */
  const cardsOf = (userHex: string): NodeCard[] => membership.view().filter((v) => v.userKey === userHex && v.state !== 'revoked').flatMap((v) => {
    const spec = membership.memberSpec(v.id);
    if (!spec) return [];
    const endpoints = v.endpoints.length > 0 ? v.endpoints : spec.endpoints.slice(0, 8).map((e) => ({ kind: 'lan' as const, host: e.host, port: e.port }));
    return [{ cert: spec.cert, certBytes: spec.certBytes, endpoints }];
  }).slice(0, MAX_FRIEND_NODES);
  /** This user's nodes, this one first, signed by this node; `endpoints` defaults to the current ones. */
  const ownFriendCard = (endpoints = membership.ownEndpoints()): Uint8Array =>
    makeFriendCard(deps.name, [{ cert: me, certBytes: identity.certBytes, endpoints }, ...cardsOf(meHex)].slice(0, MAX_FRIEND_NODES), identity.keys.sign.secretKey);
  const signer = { certBytes: identity.certBytes, signSecret: identity.keys.sign.secretKey };

  const send = (ids: readonly string[], records: Uint8Array[]): Promise<boolean>[] => {
    if (selfRevoked) return [];
    const msg = encodeRosterMessage(records);
    return ids.map((id) => {
      stats.sent++;
      return cluster.node.reliable.send(id, msg).then(() => true, (e: Error) => {
        log.debug(`roster message to ${id.slice(0, 12)} not delivered: ${e.message}`);
        return false;
      });
    });
  };

  /** Adds a user's nodes as members (not ourselves, not revoked ones); returns how many were new. */
  const addNodes = async (nodes: readonly NodeCard[], secret: Uint8Array): Promise<number> => {
    let added = 0;
    for (const n of nodes) {
      if (bytesEqual(n.cert.dhKey, me.dhKey) || isRevoked(n.cert)) continue;
      const known = membership.has(toHex(n.cert.dhKey));
      await cluster.addMember(n, secret);
      if (!known) added++;
    }
    return added;
  };

  /** Applies a friend record (ours or an own node's); passes it on when it was news. */
  const applyFriend = async (r: FriendRecord, from?: string): Promise<boolean> => {
    const hex = toHex(r.user);
    if (hex === meHex) return false;
    const held = friends.get(hex);
    if (held && held.atMs >= r.atMs) {
      // The sender is behind: it gets the newer record back (how two own nodes reconcile).
      if (from && held.atMs > r.atMs) void send([from], [held.bytes]);
      return false;
    }
    // Held before the first await: the same record arriving twice at once is applied once.
    friends.set(hex, r);
    await store.put(FRIEND + hex, r.bytes);
    if (r.state === 'friend') await addNodes(r.nodes, r.secret!);
    else await cluster.removeUser(r.user);
    stats.applied++;
    log.info(`friend ${hex.slice(0, 12)}… ("${r.name}") is now ${r.state}${from ? ` (told by own node ${from.slice(0, 12)}…)` : ''}`);
    void send(membersOf(meHex).filter((id) => id !== from), [r.bytes]);
    return true;
  };

  const changeFriend = async (r: Omit<Parameters<typeof makeFriendRecord>[1], 'atMs'>, held?: FriendRecord): Promise<FriendRecord> => {
    // Later than anything held, even with a clock that went backwards.
    const atMs = Math.max(Math.floor(clock.wallTime()), (held?.atMs ?? 0) + 1);
    const rec = openFriendRecord(makeFriendRecord(signer, { ...r, atMs }));
    await applyFriend(rec);
    return rec;
  };

  const applyRevocation = async (revocation: Revocation, bytes: Uint8Array, from?: string): Promise<boolean> => {
    const key = revocationKey(revocation);
    if (revocations.has(key)) return false;
    const userHex = toHex(revocation.userKey);
    // Only revocations that concern someone we know are kept: us, a friend, or a member's user.
    if (userHex !== meHex && !friends.has(userHex) && membersOf(userHex).length === 0) return false;
    revocations.set(key, { revocation, bytes });
    await store.put(key, bytes);
    stats.applied++;
    if (revokes(revocation, me)) {
      leave(revocation);
      return true;
    }
    const cut = membership.view().filter((v) => v.userKey === userHex && v.nodeIndex === revocation.nodeIndex && v.state !== 'revoked'
      && membership.memberSpec(v.id)?.cert.generation === revocation.generation).map((v) => v.id);
    for (const id of cut) await cluster.revokeMember(id);
    log.info(`node ${revocation.nodeIndex} of user ${userHex.slice(0, 12)}… is revoked${revocation.reason ? ` ("${revocation.reason}")` : ''}: ${cut.length} member(s) cut off`);
    void send(allMembers().filter((id) => id !== from), [bytes]);
    return true;
  };

  /** This node was revoked: it stops talking to everyone and says so. */
  const leave = (r: Revocation): void => {
    if (selfRevoked) return;
    selfRevoked = true;
    log.error(`this node (node ${r.nodeIndex} of its user) was revoked at ${new Date(r.revokedAtMs).toISOString()}${r.reason ? ` ("${r.reason}")` : ''}: it has left the cluster and will not contact anyone again`);
    // Forgotten in the store too, so that a restart does not knock on anyone's door either.
    for (const id of membership.view().map((v) => v.id)) void cluster.removePeer(id).catch((e) => log.warn(`could not forget member ${id.slice(0, 12)}: ${(e as Error).message}`));
  };

  /** A user's nodes from one of its nodes (or one of ours): members add the ones they lack. */
  const applyNodes = async (card: { userKey: Uint8Array; nodes: NodeCard[] }, fromUser: string | undefined): Promise<void> => {
    const userHex = toHex(card.userKey);
    if (fromUser !== userHex && fromUser !== meHex) return;
    let secret: Uint8Array | undefined;
    if (userHex === meHex) secret = identity.ownSecret;
    else {
      const f = friends.get(userHex);
      if (f?.state === 'friend') secret = f.secret;
    }
    if (!secret) return;
    const added = await addNodes(card.nodes, secret);
    if (added > 0) {
      stats.applied++;
      log.info(`learned ${added} new node(s) of ${userHex === meHex ? 'this user' : `friend ${userHex.slice(0, 12)}…`}`);
    }
  };

  // The transport refuses revoked nodes and blocked users' nodes in every handshake.
  deps.hooks.isAllowed = (cert) => !isRevoked(cert) && !isBlocked(cert.userKey);
  deps.hooks.onMessage = (peer, payload) => {
    if (payload[0] !== 0x52 || selfRevoked) return;
    stats.received++;
    void (async () => {
      let records: Uint8Array[];
      try {
        records = decodeRosterMessage(payload);
      } catch {
        stats.rejected++;
        return;
      }
      const fromUser = userOf(peer);
      for (const bytes of records) {
        try {
          const r = openRosterRecord(bytes);
          if (r.kind === 'revocation') await applyRevocation(r.revocation, r.bytes, peer);
          else if (r.kind === 'nodes') await applyNodes(r.card, fromUser);
          else if (fromUser === meHex && toHex(r.record.by.userKey) === meHex && !isRevoked(r.record.by)) await applyFriend(r.record, peer);
          else stats.rejected++;
        } catch (e) {
          stats.rejected++;
          log.debug(`roster record from ${peer.slice(0, 12)} dropped: ${(e as Error).message}`);
        }
      }
    })().catch((e) => log.warn(`roster message from ${peer.slice(0, 12)} failed: ${(e as Error).message}`));
  };

  // Catching up: a member that comes back (or is met for the first time) may have missed changes
  // while it was away. Own nodes get every friend record and revocation; friends get this user's
  // nodes and its revocations. Receivers ignore what they already hold.
  const catchUp = (id: string): void => {
    const user = userOf(id);
    if (!user || selfRevoked) return;
    const own = [...revocations.values()].filter((r) => toHex(r.revocation.userKey) === meHex).map((r) => r.bytes);
    const records = user === meHex
      ? [ownFriendCard(), ...[...friends.values()].map((f) => f.bytes), ...[...revocations.values()].map((r) => r.bytes)]
      : [ownFriendCard(), ...own];
    for (let i = 0; i < records.length; i += MAX_ROSTER_RECORDS) void send([id], records.slice(i, i + MAX_ROSTER_RECORDS));
  };
  deps.hooks.onState = (id, state, previous) => {
    if (state === 'alive' && previous !== 'alive') catchUp(id);
  };
  // Members that became alive while the roster was loading.
  for (const v of membership.view()) if (v.state === 'alive') catchUp(v.id);

  // A node that was revoked before a restart stays out.
  for (const { revocation } of revocations.values()) if (revokes(revocation, me)) leave(revocation);

  const findFriend = (key: string): FriendRecord => {
    const want = key.toLowerCase();
    if (!/^[0-9a-f]{8,64}$/.test(want)) throw new KithError('FRIEND_UNKNOWN', 'give a user key (hex, at least 8 digits)');
    const hits = [...friends.values()].filter((f) => toHex(f.user).startsWith(want) && f.state !== 'removed');
    if (hits.length !== 1) throw new KithError('FRIEND_UNKNOWN', hits.length ? `${want} matches ${hits.length} friends: give more digits` : `no friend with user key ${want}`);
    return hits[0]!;
  };
  const viewOf = (r: FriendRecord): FriendView => ({
    userKey: toHex(r.user), name: r.name, nodes: r.state === 'friend' ? Math.max(r.nodes.length, membersOf(toHex(r.user)).length) : 0,
    since: new Date(r.atMs).toISOString(), blocked: r.state === 'blocked',
  });

  const nextIndex = (): number => {
    let top = me.nodeIndex;
    for (const v of membership.view()) if (v.userKey === meHex) top = Math.max(top, v.nodeIndex);
    for (const { revocation } of revocations.values()) if (toHex(revocation.userKey) === meHex) top = Math.max(top, revocation.nodeIndex);
    for (const n of reserved) top = Math.max(top, n);
    const n = top + 1;
    reserved.add(n);
    void store.put(NODE_INDEX + n, encodeCanonical({ at: Math.floor(clock.wallTime()) })).catch((e) => log.warn(`could not keep node index reservation ${n}: ${(e as Error).message}`));
    return n;
  };

  const welcome = (): Uint8Array => {
    const records: Uint8Array[] = [];
    for (const f of friends.values()) {
      if (f.state !== 'friend') {
        records.push(f.bytes);
        continue;
      }
      // The friend's nodes as known now (a node added after the pairing is a member, not in the record).
      const nodes = cardsOf(toHex(f.user));
      records.push(makeFriendRecord(signer, { user: f.user, name: f.name, nodes: nodes.length ? nodes : f.nodes, secret: f.secret!, state: 'friend', atMs: f.atMs }));
    }
    return makeWelcome({ card: ownFriendCard(), friends: records, revoked: [...revocations.values()].map((r) => r.bytes) });
  };

  return {
    get selfRevoked() {
      return selfRevoked;
    },
    stats,
    isBlocked,
    async pairSelf() {
      return {
        userKey: me.userKey,
        // A person is pairing: worth asking STUN for the public address the friend will need.
        friendCard: ownFriendCard(await cluster.freshEndpoints()),
        isBlocked,
        ...(identity.ownSecret ? { enroll: { nextIndex, welcome } } : {}),
      };
    },
    async befriend(r) {
      const f = r.friend;
      const held = friends.get(toHex(f.userKey));
      await changeFriend({ user: f.userKey, name: f.name, nodes: f.nodes, secret: r.secret, state: 'friend' }, held);
      log.info(`paired with user ${toHex(f.userKey).slice(0, 12)}… ("${f.name}"), ${f.nodes.length} node(s)`);
      return { kind: 'friend', friendUserKey: toHex(f.userKey), friendName: f.name, safetyNumber: r.safetyNumber, nodes: f.nodes.length };
    },
    async enrolled(node) {
      if (!identity.ownSecret) throw new KithError('NODE_ADD_FAILED', 'this node has no own secret');
      await cluster.addMember(node, identity.ownSecret);
      log.info(`enrolled node ${node.cert.nodeIndex} ("${node.cert.label}") of this user`);
      // Every member learns the new node: own nodes and friends add it (cluster/roster.ts).
      void send(allMembers().filter((id) => id !== toHex(node.cert.dhKey)), [ownFriendCard()]);
      return { kind: 'node', nodeIndex: node.cert.nodeIndex, label: node.cert.label, nodeSignKey: toHex(node.cert.signKey) };
    },
    friends: () => [...friends.values()].filter((f) => f.state !== 'removed').map(viewOf),
    async removeFriend(key) {
      const f = findFriend(key);
      const rec = await changeFriend({ user: f.user, name: f.name, nodes: [], state: 'removed' }, f);
      log.info(`removed friend ${toHex(f.user).slice(0, 12)}…`);
      return viewOf(f);
    },
    async blockFriend(key) {
      let f: FriendRecord | undefined;
      try {
        f = findFriend(key);
      } catch (e) {
        // Blocking someone never paired with: a full user key is enough.
        if (!isKithError(e, 'FRIEND_UNKNOWN') || !fromHex(key.toLowerCase(), 32)) throw e;
      }
      const user = f?.user ?? fromHex(key.toLowerCase(), 32)!;
      if (bytesEqual(user, me.userKey)) throw new KithError('FRIEND_UNKNOWN', 'that is this node\'s own user');
      const rec = await changeFriend({ user, name: f?.name ?? '', nodes: [], state: 'blocked' }, friends.get(toHex(user)));
      log.info(`blocked user ${toHex(user).slice(0, 12)}…`);
      return viewOf(rec);
    },
    nodes() {
      const out: NodeView[] = [{
        nodeIndex: me.nodeIndex, generation: me.generation, label: me.label, nodeSignKey: toHex(me.signKey),
        state: selfRevoked ? 'revoked' : 'this node', endpoint: null, revokedAt: null,
      }];
      for (const v of membership.view()) {
        if (v.userKey !== meHex) continue;
        const cert = membership.memberSpec(v.id)!.cert;
        out.push({ nodeIndex: v.nodeIndex, generation: cert.generation, label: v.label, nodeSignKey: v.nodeSignKey, state: v.state, endpoint: v.endpoint, revokedAt: null });
      }
      for (const { revocation: r } of revocations.values()) {
        if (toHex(r.userKey) !== meHex) continue;
        const shown = out.find((n) => n.nodeIndex === r.nodeIndex && n.generation === r.generation);
        if (shown) {
          shown.state = 'revoked';
          shown.revokedAt = new Date(r.revokedAtMs).toISOString();
        } else out.push({ nodeIndex: r.nodeIndex, generation: r.generation, label: '', nodeSignKey: '', state: 'revoked', endpoint: null, revokedAt: new Date(r.revokedAtMs).toISOString() });
      }
      return out.sort((a, b) => a.nodeIndex - b.nodeIndex || a.generation - b.generation);
    },
    async revoke(bytes) {
      let r: Revocation;
      try {
        r = verifyRevocation(bytes, me.userKey);
      } catch (e) {
        throw new KithError('REVOCATION_INVALID', `not a revocation by this node's user: ${(e as Error).message}`);
      }
      if (revokes(r, me)) throw new KithError('NODE_UNKNOWN', `node ${r.nodeIndex} is this very node: revoke it from another of your nodes`);
      const target = membership.view().find((v) => v.userKey === meHex && v.nodeIndex === r.nodeIndex && membership.memberSpec(v.id)?.cert.generation === r.generation && v.state !== 'revoked');
      // An index this node gave out but whose node it has not met yet can be revoked too.
      if (target === undefined && !reserved.has(r.nodeIndex)) throw new KithError('NODE_UNKNOWN', `this user has no node ${r.nodeIndex} (generation ${r.generation}) known here`);
      // The revoked node hears it first (while it still has a session), then everyone else.
      let told = false;
      if (target) {
        const [ack] = send([target.id], [bytes]);
        let timer: { cancel(): void } | undefined;
        told = await Promise.race([ack!, new Promise<boolean>((res) => (timer = clock.setTimer(TELL_REVOKED_MS, () => res(false))))]);
        timer?.cancel();
      }
      const members = allMembers().filter((id) => id !== target?.id).length;
      await applyRevocation(r, bytes);
      return { nodeIndex: r.nodeIndex, generation: r.generation, toldRevokedNode: told, members };
    },
  };

}

/** Store helpers for `kith node add`, which fills a new data dir before its agent first runs. */
export async function storeWelcome(store: KvStore, w: { friends: readonly FriendRecord[]; revocations: readonly { revocation: Revocation; bytes: Uint8Array }[] }): Promise<void> {
  for (const f of w.friends) await store.put(friendKey(f.user), f.bytes);
  for (const r of w.revocations) await store.put(revocationKey(r.revocation), r.bytes);
}
