// The roster service: this user's friends and own nodes, revocations, and how changes spread
// (records and messages in roster.ts, store entries in roster-store.ts, the protocol in
// cluster/README.md "Roster"). Pairing hands it new friends and enrolled nodes; the agent's API
// asks it for lists, removals, blocks and revocations; members send it roster messages.
//
// Spreading: a change made here goes at once to every member it concerns (friend records to the
// user's own nodes; revocations to every member, the revoked node first; a new own node's card to
// every member), and each receiver passes on what was new to it, so it reaches everyone in one
// round of messages. A member that was away catches up when it is alive again: own nodes get
// every friend record and revocation, friends this user's nodes and revocations.
import { SECOND, type Clock } from '../core/clock.js';
import { KithError, isKithError } from '../core/errors.js';
import { bytesEqual, fromHex, toHex } from '../core/hex.js';
import type { Log } from '../core/log.js';
import type { KvStore } from '../core/store.js';
import { revokes, verifyRevocation, type NodeCertificate, type Revocation } from '../identity/certificate.js';
import { resolveUserRef } from '../identity/user-ref.js';
import { decodeCanonical, encodeCanonical } from '../core/cbor.js';
import { printable } from '../core/printable.js';
import type { RecordEndpoint } from './address-record.js';
import type { NodeCard } from './card.js';
import type { MemberSpec, MemberState, MemberView } from './membership.js';
import { makeFriendCard, MAX_FRIEND_NODES } from './pairing/friend-card.js';
import type { PairResult, PairSelf } from './pairing/protocol.js';
import {
  decodeRosterMessage, encodeRosterMessage, makeFriendRecord, MAX_ROSTER_RECORDS, makeWelcome, openFriendRecord, openRosterRecord,
  type FriendRecord, type FriendRecordInput,
} from './roster.js';
import { friendKey, loadRoster, revocationKey, saveReservation, type HeldRevocation } from './roster-store.js';
import type { ServicePort, ServiceSpec } from './services.js';

/** How long `kith node revoke` waits for the revoked node to acknowledge being told. */
export const TELL_REVOKED_MS = 3000;
/**
 * How long a node that learns it was revoked keeps its sessions before forgetting its members:
 * long enough for its acknowledgement of the revocation to go out (acks leave on the next turn
 * of the event loop), so the revoking node hears that it was told.
 */
export const LEAVE_GRACE_MS = 1 * SECOND;

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
  /** The user was a friend before this pairing (a re-pairing): undoing it restores that friendship. */
  alreadyFriends?: boolean;
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

/** The cluster as the roster sees it: members to read, add, cut off and forget. */
export interface RosterMembers {
  view(): MemberView[];
  spec(id: string): MemberSpec | undefined;
  has(id: string): boolean;
  ownEndpoints(): RecordEndpoint[];
  /** This node's endpoints after asking STUN (a person is pairing). */
  freshEndpoints(): Promise<RecordEndpoint[]>;
  add(card: NodeCard, secret: Uint8Array): Promise<unknown>;
  /** Removes every member of a user; returns how many. */
  removeUser(user: Uint8Array): Promise<number>;
  /** Cuts a member off for good (sessions dropped, shown as revoked, gone from the store). */
  revoke(id: string): Promise<void>;
  /** Forgets a member (here and in the store). */
  forget(id: string): Promise<void>;
}

/** This node as the roster needs it. */
export interface RosterSelf {
  cert: NodeCertificate;
  certBytes: Uint8Array;
  signSecret: Uint8Array;
  /** The secret of the user's own nodes; without it this node cannot enroll new ones. */
  ownSecret?: Uint8Array;
  /** The name friends see. */
  name: string;
  /** When the user set it (ms since the epoch; 0: a default, never set). */
  nameAtMs?: number;
}

export interface RosterDeps {
  clock: Clock;
  store: KvStore;
  members: RosterMembers;
  log: Log;
  /** Registers the roster's handlers (node.services.register) and returns its port. */
  register(spec: ServiceSpec): ServicePort;
  /** An own node set a newer display name: keep it (the agent writes it to its data dir). */
  onOwnName?(name: string, atMs: number): void;
}

/**
 * The 1 + highest index of this user known here: this node's, every own member's, every revoked
 * one's and every index given out before (kept in the store), so two machines enrolled through the
 * same node never collide.
 */
export function nextNodeIndex(known: Iterable<number>): number {
  let top = 0;
  for (const n of known) top = Math.max(top, n);
  return top + 1;
}

export class RosterService {
  readonly stats = { received: 0, applied: 0, rejected: 0, sent: 0 };
  private selfRevokedFlag = false;
  /** A paired user's friend record before the pairing (undefined: none), until it is undone or confirmed. */
  private readonly beforePairing = new Map<string, FriendRecord | undefined>();
  private applying: Promise<void> = Promise.resolve();
  private readonly me: NodeCertificate;
  private readonly meHex: string;
  private readonly port: ServicePort;

  /** Loads the roster from the store, then registers with the cluster. */
  static async start(deps: RosterDeps, self: RosterSelf): Promise<RosterService> {
    const held = await loadRoster(deps.store, (k, why) => deps.log.warn(`store entry ${k}: ${why}: skipped`));
    const roster = new RosterService(deps, self, held.friends, held.revocations, held.reserved);
    await roster.cutHeldRevoked();
    return roster;
  }

  /**
   * A revocation is kept before its members are cut off (applyRevocation): after a crash between
   * the two, the member is still in the store and would come back as merely dead. At start each
   * member whose certificate a held revocation names is cut off as the revocation would have.
   */
  private async cutHeldRevoked(): Promise<void> {
    const members = this.deps.members;
    for (const v of members.view()) {
      const cert = members.spec(v.id)?.cert;
      if (v.state === 'revoked' || cert === undefined || !this.isRevoked(cert)) continue;
      await members.revoke(v.id);
      this.deps.log.info(`node ${cert.nodeIndex} of user ${v.userKey.slice(0, 12)}… is revoked (a revocation held here): member ${toHex(cert.signKey).slice(0, 16)} cut off at start`);
    }
  }

  private constructor(
    private readonly deps: RosterDeps,
    private readonly self: RosterSelf,
    private readonly friendRecs: Map<string, FriendRecord>,
    private readonly revocations: Map<string, HeldRevocation>,
    private readonly reserved: Set<number>,
  ) {
    this.me = self.cert;
    this.meHex = toHex(self.cert.userKey);
    // The transport refuses revoked nodes and blocked users' nodes in every handshake.
    this.port = deps.register({
      name: 'roster',
      onMessage: (peer, body) => this.receive(peer, body),
      onState: (id, state, previous) => this.stateChanged(id, state, previous),
      isAllowed: (cert) => !this.isRevoked(cert) && !this.isBlocked(cert.userKey),
    });
    // Members that became alive while the roster was loading.
    for (const v of deps.members.view()) if (v.state === 'alive') this.catchUp(v.id);
    // A node that was revoked before a restart stays out.
    for (const { revocation } of revocations.values()) if (revokes(revocation, this.me)) this.leave(revocation);
  }

  /** True once this node learned it was revoked: it has left the cluster. */
  get selfRevoked(): boolean {
    return this.selfRevokedFlag;
  }

  isBlocked = (user: Uint8Array): boolean => this.friendRecs.get(toHex(user))?.state === 'blocked';

  private isRevoked(c: NodeCertificate): boolean {
    return this.revocations.has(revocationKey(c));
  }

  /** Whether a signed revocation of that user's node (index, generation) is held here (kept in the store, also across restarts). */
  holdsRevocation(userKey: Uint8Array, nodeIndex: number, generation: number): boolean {
    return this.revocations.has(revocationKey({ userKey, nodeIndex, generation }));
  }

  private userOf(peer: string): string | undefined {
    const spec = this.deps.members.spec(peer);
    return spec ? toHex(spec.cert.userKey) : undefined;
  }

  private membersOf(userHex: string): string[] {
    return this.deps.members.view().filter((v) => v.userKey === userHex && v.state !== 'revoked').map((v) => v.id);
  }

  private allMembers(): string[] {
    return this.deps.members.view().filter((v) => v.state !== 'revoked').map((v) => v.id);
  }

  /** A user's members as cards: their own signed endpoints when known, else where we were told they are. */
  private cardsOf(userHex: string): NodeCard[] {
    const members = this.deps.members;
    return members.view().filter((v) => v.userKey === userHex && v.state !== 'revoked').flatMap((v) => {
      const spec = members.spec(v.id);
      if (!spec) return [];
      const endpoints = v.endpoints.length > 0 ? v.endpoints : spec.endpoints.slice(0, 8).map((e) => ({ kind: 'lan' as const, host: e.host, port: e.port }));
      return [{ cert: spec.cert, certBytes: spec.certBytes, endpoints }];
    }).slice(0, MAX_FRIEND_NODES);
  }

  /** This user's nodes, this one first, signed by this node; `endpoints` defaults to the current ones. */
  private ownFriendCard(endpoints = this.deps.members.ownEndpoints()): Uint8Array {
    const nodes = [{ cert: this.me, certBytes: this.self.certBytes, endpoints }, ...this.cardsOf(this.meHex)].slice(0, MAX_FRIEND_NODES);
    return makeFriendCard(this.self.name, nodes, this.self.signSecret, this.self.nameAtMs ?? 0);
  }

  /** This user's display name, as friends see it. */
  ownName(): string {
    return this.self.name;
  }

  /** `kith name set`: the new name goes to every member in this node's card (friends and own nodes). */
  setName(name: string, atMs: number): string {
    this.self.name = name;
    this.self.nameAtMs = Math.max(Math.floor(atMs), (this.self.nameAtMs ?? 0) + 1);
    this.deps.onOwnName?.(this.self.name, this.self.nameAtMs);
    void this.send(this.allMembers(), [this.ownFriendCard()]);
    return name;
  }

  /**
   * A card's name, if newer than the one held (by nameAt, kept per user in `name-at/<user>`): an
   * own node's renames this user, a friend's renames that friend (a changed friend record, which
   * reaches the own nodes). Never anyone else's: the card's nodes are the user's own.
   */
  private async applyName(card: { userKey: Uint8Array; name: string; nameAtMs?: number }): Promise<void> {
    const userHex = toHex(card.userKey);
    const at = card.nameAtMs ?? 0;
    if (userHex === this.meHex) {
      if (at > (this.self.nameAtMs ?? 0)) {
        this.self.name = card.name;
        this.self.nameAtMs = at;
        this.deps.onOwnName?.(card.name, at);
        this.deps.log.info(`this user's display name is now "${printable(card.name)}" (set on an own node)`);
      }
      return;
    }
    const f = this.friendRecs.get(userHex);
    if (f?.state !== 'friend' || f.name === card.name) return;
    const held = await this.deps.store.get(`name-at/${userHex}`);
    if (at <= (held ? (decodeCanonical(held) as number) : 0)) return;
    await this.deps.store.put(`name-at/${userHex}`, encodeCanonical(at));
    await this.changeFriend({ user: f.user, name: card.name, nodes: f.nodes, secret: f.secret!, state: 'friend' }, f);
    this.deps.log.info(`friend ${userHex.slice(0, 12)}… is now called "${printable(card.name)}"`);
  }

  /** A member as logs name it: the first 16 hex digits of its node signing key, as `kith peers` shows. */
  private who(id: string): string {
    const spec = this.deps.members.spec(id);
    return spec ? toHex(spec.cert.signKey).slice(0, 16) : id.slice(0, 16);
  }

  private send(ids: readonly string[], records: Uint8Array[]): Promise<boolean>[] {
    if (this.selfRevokedFlag) return [];
    const msg = encodeRosterMessage(records);
    return ids.map((id) => {
      this.stats.sent++;
      return this.port.send(id, msg).then(() => true, (e: Error) => {
        this.deps.log.debug(`roster message to ${this.who(id)} not delivered: ${e.message}`);
        return false;
      });
    });
  }

  /** Adds a user's nodes as members (not ourselves, not revoked ones); returns how many were new. */
  private async addNodes(nodes: readonly NodeCard[], secret: Uint8Array): Promise<number> {
    let added = 0;
    for (const n of nodes) {
      // A node that learned it was revoked (perhaps while this was under way) adds nobody.
      if (this.selfRevokedFlag) break;
      if (bytesEqual(n.cert.dhKey, this.me.dhKey) || this.isRevoked(n.cert)) continue;
      const known = this.deps.members.has(toHex(n.cert.dhKey));
      await this.deps.members.add(n, secret);
      if (!known) added++;
    }
    return added;
  }

  /** Applies a friend record (ours or an own node's); passes it on when it was news. */
  private async applyFriend(r: FriendRecord, from?: string): Promise<boolean> {
    const hex = toHex(r.user);
    if (hex === this.meHex) return false;
    const held = this.friendRecs.get(hex);
    if (held && held.atMs >= r.atMs) {
      // The sender is behind: it gets the newer record back (how two own nodes reconcile).
      if (from && held.atMs > r.atMs) void this.send([from], [held.bytes]);
      return false;
    }
    // Held before the first await: the same record arriving twice at once is applied once.
    this.friendRecs.set(hex, r);
    await this.deps.store.put(friendKey(r.user), r.bytes);
    if (r.state === 'friend') await this.addNodes(r.nodes, r.secret!);
    else await this.deps.members.removeUser(r.user);
    this.stats.applied++;
    this.deps.log.info(`friend ${hex.slice(0, 12)}… ("${printable(r.name)}") is now ${r.state}${from ? ` (told by own node ${this.who(from)})` : ''}`);
    void this.send(this.membersOf(this.meHex).filter((id) => id !== from), [r.bytes]);
    return true;
  }

  private async changeFriend(r: Omit<FriendRecordInput, 'atMs'>, held?: FriendRecord): Promise<FriendRecord> {
    // Later than anything held, even with a clock that went backwards.
    const atMs = Math.max(Math.floor(this.deps.clock.wallTime()), (held?.atMs ?? 0) + 1);
    const rec = openFriendRecord(makeFriendRecord(this.self, { ...r, atMs }));
    await this.applyFriend(rec);
    return rec;
  }

  private async applyRevocation(revocation: Revocation, bytes: Uint8Array, from?: string): Promise<boolean> {
    const key = revocationKey(revocation);
    if (this.revocations.has(key)) return false;
    const userHex = toHex(revocation.userKey);
    // Only revocations that concern someone we know are kept: us, a friend, or a member's user.
    if (userHex !== this.meHex && !this.friendRecs.has(userHex) && this.membersOf(userHex).length === 0) return false;
    this.revocations.set(key, { revocation, bytes });
    await this.deps.store.put(key, bytes);
    this.stats.applied++;
    if (revokes(revocation, this.me)) {
      this.leave(revocation);
      return true;
    }
    const members = this.deps.members;
    const cut = members.view().filter((v) => v.userKey === userHex && v.nodeIndex === revocation.nodeIndex && v.state !== 'revoked'
      && members.spec(v.id)?.cert.generation === revocation.generation).map((v) => v.id);
    for (const id of cut) await members.revoke(id);
    this.deps.log.info(`node ${revocation.nodeIndex} of user ${userHex.slice(0, 12)}… is revoked${revocation.reason ? ` ("${revocation.reason}")` : ''}: ${cut.length} member(s) cut off`);
    void this.send(this.allMembers().filter((id) => id !== from), [bytes]);
    return true;
  }

  /** This node was revoked: it stops talking to everyone and says so. */
  private leave(r: Revocation): void {
    if (this.selfRevokedFlag) return;
    this.selfRevokedFlag = true;
    this.deps.log.error(`this node (node ${r.nodeIndex} of its user) was revoked at ${new Date(r.revokedAtMs).toISOString()}${r.reason ? ` ("${r.reason}")` : ''}: it has left the cluster and will not contact anyone again`);
    // Forgotten in the store too, so that a restart does not knock on anyone's door either.
    this.deps.clock.setTimer(LEAVE_GRACE_MS, () => {
      for (const id of this.deps.members.view().map((v) => v.id)) {
        const who = this.who(id);
        void this.deps.members.forget(id).catch((e) => this.deps.log.warn(`could not forget member ${who}: ${(e as Error).message}`));
      }
    });
  }

  /** A user's nodes from one of its nodes (or one of ours): members add the ones they lack. */
  private async applyNodes(card: { userKey: Uint8Array; name: string; nameAtMs?: number; nodes: NodeCard[] }, fromUser: string | undefined): Promise<void> {
    const userHex = toHex(card.userKey);
    if (fromUser !== userHex && fromUser !== this.meHex) return;
    const f = this.friendRecs.get(userHex);
    const secret = userHex === this.meHex ? this.self.ownSecret : f?.state === 'friend' ? f.secret : undefined;
    if (!secret) return;
    await this.applyName(card);
    const added = await this.addNodes(card.nodes, secret);
    if (added > 0) {
      this.stats.applied++;
      this.deps.log.info(`learned ${added} new node(s) of ${userHex === this.meHex ? 'this user' : `friend ${userHex.slice(0, 12)}…`}`);
    }
  }

  /**
   * Roster messages are applied one at a time, in arrival order: a revocation of this node that
   * arrives while an earlier message is still adding members is applied after it, so nothing is
   * added back once this node has left.
   */
  private receive(peer: string, body: Uint8Array): void {
    if (this.selfRevokedFlag) return;
    this.stats.received++;
    this.applying = this.applying.then(() => this.applyMessage(peer, body)).catch((e) => this.deps.log.warn(`roster message from ${this.who(peer)} failed: ${(e as Error).message}`));
  }

  private async applyMessage(peer: string, body: Uint8Array): Promise<void> {
    let records: Uint8Array[];
    try {
      records = decodeRosterMessage(body);
    } catch {
      this.stats.rejected++;
      return;
    }
    const fromUser = this.userOf(peer);
    for (const bytes of records) {
      if (this.selfRevokedFlag) return;
      try {
        const r = openRosterRecord(bytes);
        if (r.kind === 'revocation') await this.applyRevocation(r.revocation, r.bytes, peer);
        else if (r.kind === 'nodes') await this.applyNodes(r.card, fromUser);
        else if (fromUser === this.meHex && toHex(r.record.by.userKey) === this.meHex && !this.isRevoked(r.record.by)) await this.applyFriend(r.record, peer);
        else this.stats.rejected++;
      } catch (e) {
        this.stats.rejected++;
        this.deps.log.debug(`roster record from ${this.who(peer)} dropped: ${(e as Error).message}`);
      }
    }
  }

  private stateChanged(id: string, state: MemberState, previous: MemberState): void {
    if (state === 'alive' && previous !== 'alive') this.catchUp(id);
  }

  /**
   * Catching up: a member that comes back (or is met for the first time) may have missed changes
   * while it was away. Own nodes get every friend record and revocation; friends get this user's
   * nodes and its revocations. Receivers ignore what they already hold.
   */
  private catchUp(id: string): void {
    const user = this.userOf(id);
    if (!user || this.selfRevokedFlag) return;
    const all = [...this.revocations.values()];
    const records = user === this.meHex
      ? [this.ownFriendCard(), ...[...this.friendRecs.values()].map((f) => f.bytes), ...all.map((r) => r.bytes)]
      : [this.ownFriendCard(), ...all.filter((r) => toHex(r.revocation.userKey) === this.meHex).map((r) => r.bytes)];
    for (let i = 0; i < records.length; i += MAX_ROSTER_RECORDS) void this.send([id], records.slice(i, i + MAX_ROSTER_RECORDS));
  }

  /** A friend (or blocked user) by key, unique key prefix or name (identity/user-ref.ts). */
  private findFriend(key: string): FriendRecord {
    const held = [...this.friendRecs.values()].filter((f) => f.state !== 'removed');
    const { userKey } = resolveUserRef(key, held.map((f) => ({ userKey: toHex(f.user), name: f.name })));
    return this.friendRecs.get(userKey)!;
  }

  private viewOf(r: FriendRecord): FriendView {
    return {
      userKey: toHex(r.user), name: r.name, nodes: r.state === 'friend' ? Math.max(r.nodes.length, this.membersOf(toHex(r.user)).length) : 0,
      since: new Date(r.atMs).toISOString(), blocked: r.state === 'blocked',
    };
  }

  /** Gives out the next node index (nextNodeIndex) and keeps the reservation. */
  private allotIndex(): number {
    const own = (u: Uint8Array | string) => (typeof u === 'string' ? u : toHex(u)) === this.meHex;
    const n = nextNodeIndex([
      this.me.nodeIndex,
      ...this.deps.members.view().filter((v) => own(v.userKey)).map((v) => v.nodeIndex),
      ...[...this.revocations.values()].filter((r) => own(r.revocation.userKey)).map((r) => r.revocation.nodeIndex),
      ...this.reserved,
    ]);
    this.reserved.add(n);
    void saveReservation(this.deps.store, n, this.deps.clock.wallTime()).catch((e) => this.deps.log.warn(`could not keep node index reservation ${n}: ${(e as Error).message}`));
    return n;
  }

  /** What a new own node gets: this user's nodes, every friend (with its nodes as known now), every revocation. */
  private welcome(): Uint8Array {
    const records: Uint8Array[] = [];
    for (const f of this.friendRecs.values()) {
      if (f.state !== 'friend') {
        records.push(f.bytes);
        continue;
      }
      // The friend's nodes as known now (a node added after the pairing is a member, not in the record).
      const nodes = this.cardsOf(toHex(f.user));
      records.push(makeFriendRecord(this.self, { user: f.user, name: f.name, nodes: nodes.length ? nodes : f.nodes, secret: f.secret!, state: 'friend', atMs: f.atMs }));
    }
    return makeWelcome({ card: this.ownFriendCard(), friends: records, revoked: [...this.revocations.values()].map((r) => r.bytes) });
  }

  /** What pairing brings to an offer or a join (friend card of every own node, enrollment). */
  async pairSelf(): Promise<PairSelf> {
    return {
      userKey: this.me.userKey,
      // A person is pairing: worth asking STUN for the public address the friend will need.
      friendCard: this.ownFriendCard(await this.deps.members.freshEndpoints()),
      isBlocked: this.isBlocked,
      ...(this.self.ownSecret ? { enroll: { nextIndex: () => this.allotIndex(), welcome: () => this.welcome() } } : {}),
    };
  }

  previewPairing(r: PairResult): PairOutcome {
    const hex = toHex(r.friend.userKey);
    const before = this.friendRecs.get(hex)?.state === 'friend';
    return { kind: 'friend', friendUserKey: hex, friendName: r.friend.name, safetyNumber: r.safetyNumber, nodes: r.friend.nodes.length, alreadyFriends: before };
  }

  async befriend(r: PairResult): Promise<PairOutcome> {
    const f = r.friend;
    const outcome = this.previewPairing(r);
    const hex = outcome.friendUserKey;
    const held = this.friendRecs.get(hex);
    this.beforePairing.set(hex, held?.state === 'friend' ? held : undefined);
    if ((f.nameAtMs ?? 0) > 0) await this.deps.store.put(`name-at/${hex}`, encodeCanonical(f.nameAtMs)); // an older card later does not rename them back
    await this.changeFriend({ user: f.userKey, name: f.name, nodes: f.nodes, secret: r.secret, state: 'friend' }, held);
    this.deps.log.info(`paired with user ${hex.slice(0, 12)}… ("${printable(f.name)}"), ${f.nodes.length} node(s)`);
    return outcome;
  }

  /**
   * `kith pair --verify` was answered "no": the user goes back to what they were before the last
   * pairing with them, a friend as before (with the old secret) or no friend. Only once per pairing.
   */
  async undoPairing(userKeyHex: string): Promise<FriendView> {
    const hex = userKeyHex.toLowerCase();
    const current = this.friendRecs.get(hex);
    if (!this.beforePairing.has(hex) || current === undefined) throw new KithError('FRIEND_UNKNOWN', `no pairing with user ${hex.slice(0, 16)} to undo`);
    const before = this.beforePairing.get(hex);
    this.beforePairing.delete(hex);
    const rec = before
      ? await this.changeFriend({ user: before.user, name: before.name, nodes: before.nodes, secret: before.secret!, state: 'friend' }, current)
      : await this.changeFriend({ user: current.user, name: current.name, nodes: [], state: 'removed' }, current);
    this.deps.log.info(`pairing with user ${hex.slice(0, 12)}… undone: ${before ? 'the friendship is as it was before' : 'not a friend'}`);
    return this.viewOf(rec);
  }

  async enrolled(node: NodeCard): Promise<EnrollOutcome> {
    if (!this.self.ownSecret) throw new KithError('NODE_ADD_FAILED', 'this node has no own secret');
    await this.deps.members.add(node, this.self.ownSecret);
    this.deps.log.info(`enrolled node ${node.cert.nodeIndex} ("${node.cert.label}") of this user`);
    // Every member learns the new node: own nodes and friends add it (cluster/roster.ts).
    void this.send(this.allMembers().filter((id) => id !== toHex(node.cert.dhKey)), [this.ownFriendCard()]);
    return { kind: 'node', nodeIndex: node.cert.nodeIndex, label: node.cert.label, nodeSignKey: toHex(node.cert.signKey) };
  }

  /** The signed friend record held for a user (hex key), if any: the archive keeps it in this user's index. */
  friendRecordBytes(userKey: string): Uint8Array | undefined {
    return this.friendRecs.get(userKey)?.bytes;
  }

  /**
   * Friend records back from this user's archive after `kith init --recover`: each is applied like
   * one from an own node (signed by a node of this user that is not revoked; newer than what is
   * held), which adds the friend's nodes with the pair's secret, so the friends met before the
   * loss are reachable again without pairing. Returns how many were applied; bad ones are skipped.
   */
  async restoreFriendRecords(records: readonly Uint8Array[]): Promise<number> {
    let applied = 0;
    for (const bytes of records) {
      try {
        const r = openFriendRecord(bytes);
        if (toHex(r.by.userKey) === this.meHex && !this.isRevoked(r.by) && (await this.applyFriend(r))) applied++;
      } catch (e) {
        this.deps.log.warn(`archived friend record skipped: ${(e as Error).message}`);
      }
    }
    return applied;
  }

  friends(): FriendView[] {
    return [...this.friendRecs.values()].filter((f) => f.state !== 'removed').map((f) => this.viewOf(f));
  }

  async removeFriend(key: string): Promise<FriendView> {
    const f = this.findFriend(key);
    await this.changeFriend({ user: f.user, name: f.name, nodes: [], state: 'removed' }, f);
    this.deps.log.info(`removed friend ${toHex(f.user).slice(0, 12)}…`);
    return this.viewOf(f);
  }

  async blockFriend(key: string): Promise<FriendView> {
    let f: FriendRecord | undefined;
    try {
      f = this.findFriend(key);
    } catch (e) {
      // Blocking someone never paired with: a full user key is enough.
      if (!isKithError(e, 'FRIEND_UNKNOWN') || !fromHex(key.toLowerCase(), 32)) throw e;
    }
    const user = f?.user ?? fromHex(key.toLowerCase(), 32)!;
    if (bytesEqual(user, this.me.userKey)) throw new KithError('FRIEND_UNKNOWN', 'that is this node\'s own user');
    const rec = await this.changeFriend({ user, name: f?.name ?? '', nodes: [], state: 'blocked' }, this.friendRecs.get(toHex(user)));
    this.deps.log.info(`blocked user ${toHex(user).slice(0, 12)}…`);
    return this.viewOf(rec);
  }

  nodes(): NodeView[] {
    const me = this.me;
    const out: NodeView[] = [{
      nodeIndex: me.nodeIndex, generation: me.generation, label: me.label, nodeSignKey: toHex(me.signKey),
      state: this.selfRevokedFlag ? 'revoked' : 'this node', endpoint: null, revokedAt: null,
    }];
    for (const v of this.deps.members.view()) {
      if (v.userKey !== this.meHex) continue;
      const cert = this.deps.members.spec(v.id)!.cert;
      out.push({ nodeIndex: v.nodeIndex, generation: cert.generation, label: v.label, nodeSignKey: v.nodeSignKey, state: v.state, endpoint: v.endpoint, revokedAt: null });
    }
    for (const { revocation: r } of this.revocations.values()) {
      if (toHex(r.userKey) !== this.meHex) continue;
      const revokedAt = new Date(r.revokedAtMs).toISOString();
      const shown = out.find((n) => n.nodeIndex === r.nodeIndex && n.generation === r.generation);
      if (shown) Object.assign(shown, { state: 'revoked', revokedAt });
      else out.push({ nodeIndex: r.nodeIndex, generation: r.generation, label: '', nodeSignKey: '', state: 'revoked', endpoint: null, revokedAt });
    }
    return out.sort((a, b) => a.nodeIndex - b.nodeIndex || a.generation - b.generation);
  }

  /** `kith node revoke`: the revoked node hears it first (while it still has a session), then everyone else. */
  async revoke(bytes: Uint8Array): Promise<RevokeOutcome> {
    let r: Revocation;
    try {
      r = verifyRevocation(bytes, this.me.userKey);
    } catch (e) {
      throw new KithError('REVOCATION_INVALID', `not a revocation by this node's user: ${(e as Error).message}`);
    }
    if (revokes(r, this.me)) throw new KithError('NODE_UNKNOWN', `node ${r.nodeIndex} is this very node: revoke it from another of your nodes`);
    const members = this.deps.members;
    const target = members.view().find((v) => v.userKey === this.meHex && v.nodeIndex === r.nodeIndex && members.spec(v.id)?.cert.generation === r.generation && v.state !== 'revoked');
    // An index this node gave out but whose node it has not met yet can be revoked too.
    if (target === undefined && !this.reserved.has(r.nodeIndex)) throw new KithError('NODE_UNKNOWN', `this user has no node ${r.nodeIndex} (generation ${r.generation}) known here`);
    let told = false;
    if (target) {
      const [ack] = this.send([target.id], [bytes]);
      let timer: { cancel(): void } | undefined;
      told = await Promise.race([ack!, new Promise<boolean>((res) => (timer = this.deps.clock.setTimer(TELL_REVOKED_MS, () => res(false))))]);
      timer?.cancel();
    }
    const count = this.allMembers().filter((id) => id !== target?.id).length;
    await this.applyRevocation(r, bytes);
    return { nodeIndex: r.nodeIndex, generation: r.generation, toldRevokedNode: told, members: count };
  }
}
