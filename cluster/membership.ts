// Membership: who is in the cluster, who is reachable, where, and what the cluster's clock says.
//
// SWIM with a full mesh (friend clusters are small): every node probes every member at intervals
// drawn uniformly from [T/2, 3T/2]. A probe round is a direct ping (re-sent twice within the ack
// timeout while no answer comes), then pings through k other members (ping-req); a failed round
// makes the member suspect, and a suspect that stays silent for the suspicion time is dead.
// Incarnation numbers let a live node refute a suspicion about itself. Gossip (state changes and
// signed address records) piggybacks on pings and acks; a node pushes its own record to every
// member at once when its endpoints change. Dead members are retried at every address known for
// them, with backoff, for as long as they are members.
//
// Acks carry the address the prober was seen from and NTP-style timestamps: this node learns its
// public address from its members and estimates each member's clock offset.
//
// Everything comes in through `deps`: Clock, Rng, the transport (a MemberLink) — so the same code
// runs on real sockets and in a seeded simulation of many nodes.
//
// This file is SWIM's state machine: members, probe rounds, suspicion, what arrives. Its parts:
//   gossip-queue.ts    state changes waiting to piggyback on pings and acks
//   own-record.ts      this node's signed address record, and the addresses members see us at
//   cluster-clock.ts   the NTP-style offset samples and the cluster clock
//   membership-wire.ts the messages' encoding
import type { Clock, Timer } from '../core/clock.js';
import type { Rng } from '../core/rng.js';
import type { Endpoint } from '../core/udp.js';
import { bytesEqual, toHex } from '../core/hex.js';
import type { NodeCertificate } from '../identity/certificate.js';
import { MAX_PAYLOAD } from './transport.js';
import { openAddressRecord, type AddressRecord, type EndpointKind, type RecordEndpoint } from './address-record.js';
import { addSample, bestSample, clockSample, clusterClock, round1, type ClockSample } from './cluster-clock.js';
import { GossipQueue } from './gossip-queue.js';
import { MAX_GOSSIP, MAX_RECORDS, decodeMembership, encodeMembership, type Gossip, type MembershipMessage } from './membership-wire.js';
import { OwnRecord, reflexiveEndpoints } from './own-record.js';
import type { MemberLink, MemberSpec, MemberState, MemberView, MembershipEvents, MembershipTiming } from './membership-types.js';

export type { MemberLink, MemberSpec, MemberState, MemberView, MembershipEvents, MembershipTiming } from './membership-types.js';

interface Member {
  id: string;
  spec: MemberSpec;
  state: MemberState;
  inc: number;
  lastHeardMs: number | undefined;
  rttMs: number | undefined;
  samples: ClockSample[];
  record: { bytes: Uint8Array; rec: AddressRecord } | undefined;
  /** Highest record seq of each node this member has acknowledged receiving from us. */
  told: Map<string, number>;
  /** How this member last saw us (its report in an ack). */
  seenUs: Endpoint | undefined;
  seenUsAtMs: number;
  probeTimer: Timer | undefined;
  roundTimer: Timer | undefined;
  suspicionTimer: Timer | undefined;
  reconnectTimer: Timer | undefined;
  reconnectDelayMs: number;
  /** When another member last confirmed (ind-ack) that this member answers it. */
  indirectOkMs: number | undefined;
}

interface OutstandingPing {
  member: string;
  sentMs: number;
  sentWall: number;
  records: [string, number][];
  /** Set when this ping was sent for a ping-req: whom to tell, under which seq. */
  onBehalfOf?: { requester: string; seq: number };
}

const STATE_RANK: Record<'alive' | 'suspect' | 'dead', number> = { alive: 0, suspect: 1, dead: 2 };
const MAX_OUTSTANDING = 4096;

export class Membership {
  readonly stats = { pingsSent: 0, acksSent: 0, received: 0, dropped: 0, recordsAccepted: 0, recordsRejected: 0, falseSuspicionsRefuted: 0 };
  private readonly members = new Map<string, Member>();
  private readonly outstanding = new Map<number, OutstandingPing>();
  private readonly gossip = new GossipQueue();
  private nextSeq = 1;
  private inc: number;
  private readonly own: OwnRecord;
  private stopped = false;
  readonly selfId: string;

  constructor(
    private readonly deps: {
      clock: Clock;
      rng: Rng;
      link: MemberLink;
      self: { cert: NodeCertificate; signSecret: Uint8Array };
      timing: MembershipTiming;
      events?: MembershipEvents;
      /** Starting incarnation (default: wall-clock ms, which grows across restarts). */
      incarnation?: number;
      /** Starting record sequence number (default: wall-clock ms). */
      recordSeq?: number;
    },
  ) {
    this.selfId = toHex(deps.self.cert.dhKey);
    this.inc = deps.incarnation ?? Math.floor(deps.clock.wallTime());
    this.own = new OwnRecord(deps, deps.recordSeq ?? Math.floor(deps.clock.wallTime()));
  }

  get incarnation(): number {
    return this.inc;
  }

  // ------------------------------------------------------------------ members

  /** Adds (or updates) a member and starts reaching it. Returns its id (hex of its DH key). */
  add(spec: MemberSpec): string {
    const id = toHex(spec.cert.dhKey);
    if (id === this.selfId) throw new RangeError('a node cannot be its own member');
    this.deps.link.addPeer({ dhKey: spec.cert.dhKey, psk: spec.psk, ...(spec.endpoints[0] ? { endpoint: spec.endpoints[0] } : {}), keepaliveMs: this.deps.timing.keepaliveMs });
    const existing = this.members.get(id);
    if (existing) {
      existing.spec = spec;
      if (spec.record) this.acceptRecord(spec.record, false);
      return id;
    }
    const m: Member = {
      id, spec, state: 'dead', inc: 0, lastHeardMs: undefined, rttMs: undefined, samples: [],
      record: undefined, told: new Map(), seenUs: undefined, seenUsAtMs: 0, probeTimer: undefined, roundTimer: undefined,
      suspicionTimer: undefined, reconnectTimer: undefined, reconnectDelayMs: this.deps.timing.probeIntervalMs, indirectOkMs: undefined,
    };
    this.members.set(id, m);
    if (spec.record) this.acceptRecord(spec.record, false);
    // Not heard from yet: "dead" until it answers; the first attempt goes out at once.
    this.scheduleReconnect(m, 0);
    return id;
  }

  /** Forgets a member: its sessions end at once and nothing more is sent to it. */
  remove(id: string): void {
    const m = this.members.get(id);
    if (!m) return;
    this.cancelTimers(m);
    this.members.delete(id);
    this.deps.link.removePeer(id);
  }

  /** Marks a member revoked: sessions dropped, never contacted again, kept for display. */
  revoke(id: string): void {
    const m = this.members.get(id);
    if (!m || m.state === 'revoked') return;
    this.cancelTimers(m);
    this.deps.link.removePeer(id);
    // Its round trip and clock samples describe a member that is gone: shown no more.
    m.rttMs = undefined;
    m.samples = [];
    this.setState(m, 'revoked');
  }

  /** How many members there are, and how many answer: cheaper than view() for a count. */
  counts(): { members: number; alive: number } {
    let alive = 0;
    for (const m of this.members.values()) if (m.state === 'alive') alive++;
    return { members: this.members.size, alive };
  }

  /** The ids of the members that answer now: what sync asks for every item, without building views. */
  aliveIds(): string[] {
    const out: string[] = [];
    for (const m of this.members.values()) if (m.state === 'alive') out.push(m.id);
    return out;
  }

  stateOf(id: string): MemberState | undefined {
    return this.members.get(id)?.state;
  }

  has(id: string): boolean {
    return this.members.has(id);
  }

  view(): MemberView[] {
    const now = this.deps.clock.now();
    return [...this.members.values()].map((m) => {
      const best = bestSample(m.samples);
      const ep = this.deps.link.peerInfo(m.id)?.endpoint;
      return {
        id: m.id,
        nodeSignKey: toHex(m.spec.cert.signKey),
        userKey: toHex(m.spec.cert.userKey),
        nodeIndex: m.spec.cert.nodeIndex,
        label: m.spec.cert.label,
        state: m.state,
        incarnation: m.inc,
        endpoint: ep ? `${ep.host}:${ep.port}` : null,
        rttMs: m.rttMs === undefined ? null : round1(m.rttMs),
        lastSeenMs: m.lastHeardMs === undefined ? null : Math.round(now - m.lastHeardMs),
        clockOffsetMs: best ? round1(best.offsetMs) : null,
        clockErrorMs: best ? round1(best.delayMs / 2) : null,
        recordSeq: m.record?.rec.seq ?? null,
        endpoints: m.record?.rec.endpoints ?? [],
      };
    });
  }

  /** Everything known about reaching a member, best first (for rendezvous and reconnects). */
  knownEndpoints(id: string): Endpoint[] {
    const m = this.members.get(id);
    return m ? this.endpointsOf(m) : [];
  }

  memberSpec(id: string): MemberSpec | undefined {
    return this.members.get(id)?.spec;
  }

  /** Ids of members that do not answer now (suspect or dead), for rendezvous attempts. */
  unreachable(): string[] {
    return [...this.members.values()].filter((m) => m.state === 'dead' || m.state === 'suspect').map((m) => m.id);
  }

  /** What alive members report seeing us at, with where they are: input for classifyNat. */
  observations(): { destination: Endpoint; mapped: Endpoint }[] {
    const out: { destination: Endpoint; mapped: Endpoint }[] = [];
    for (const m of this.members.values()) {
      const dest = this.deps.link.peerInfo(m.id)?.endpoint;
      if (m.state === 'alive' && m.seenUs && dest) out.push({ destination: dest, mapped: m.seenUs });
    }
    return out;
  }

  // ------------------------------------------------------------------ clock

  /**
   * This node's estimate of the cluster clock: the median of the members' offsets (ours counts
   * as 0), and an error bound from the round trips of the samples used.
   */
  clusterClock(): { offsetMs: number; errorMs: number; members: number } {
    return clusterClock([...this.members.values()].filter((m) => m.state === 'alive').map((m) => bestSample(m.samples)).filter((s): s is ClockSample => s !== undefined));
  }

  /** Wall time corrected by the cluster's median offset: what rendezvous schedules use. */
  clusterTime(): number {
    return this.deps.clock.wallTime() + this.clusterClock().offsetMs;
  }

  // ------------------------------------------------------------------ own endpoints and record

  /** Sets this node's endpoints of one kind (LAN interfaces, STUN results, a mapped port). */
  setLocalEndpoints(kind: EndpointKind, endpoints: readonly Endpoint[]): void {
    this.own.setLocal(kind, endpoints);
    this.refreshSelfRecord();
  }

  /** The endpoints this node publishes now. */
  ownEndpoints(): RecordEndpoint[] {
    return this.own.record?.rec.endpoints ?? this.own.compose(this.reflexiveEndpoints());
  }

  /**
   * Public endpoints members report seeing us at: distinct, newest report first, and only reports
   * from the last three probe intervals (an address we had before a move fades out).
   */
  reflexiveEndpoints(): Endpoint[] {
    const reports = [...this.members.values()].flatMap((m) => (m.seenUs && m.state === 'alive' ? [{ seenUs: m.seenUs, atMs: m.seenUsAtMs }] : []));
    return reflexiveEndpoints(reports, this.own.lanHosts(), this.deps.clock.now() - 3 * this.deps.timing.probeIntervalMs);
  }

  /** Re-signs our record if our endpoints changed; then tells every member at once. */
  private refreshSelfRecord(): void {
    if (this.stopped) return;
    const fresh = this.own.refresh(this.reflexiveEndpoints());
    if (!fresh) return;
    this.deps.events?.selfRecord?.(fresh.bytes, fresh.rec);
    if (fresh.first && this.members.size === 0) return;
    // Our address changed: contact every member now (each ping carries the new record), and
    // retry the unreachable ones at once: they may be reachable from where we are now.
    for (const m of this.members.values()) {
      if (m.state === 'revoked') continue;
      if (m.state === 'dead') this.scheduleReconnect(m, 0);
      else this.sendPing(m);
    }
  }

  // ------------------------------------------------------------------ probing

  private scheduleProbe(m: Member): void {
    m.probeTimer?.cancel();
    const T = this.deps.timing.probeIntervalMs;
    const delay = T / 2 + this.deps.rng.below(Math.max(1, Math.floor(T)));
    m.probeTimer = this.deps.clock.setTimer(delay, () => {
      m.probeTimer = undefined;
      this.startRound(m);
    });
  }

  /** One probe round: direct ping (re-sent while unanswered), then indirect pings, then judge. */
  private startRound(m: Member): void {
    if (this.stopped || (m.state !== 'alive' && m.state !== 'suspect')) return;
    const t = this.deps.timing;
    const started = this.deps.clock.now();
    const heardSince = (): boolean => m.lastHeardMs !== undefined && m.lastHeardMs >= started;
    this.sendPing(m);
    const retry = (n: number): void => {
      m.roundTimer = this.deps.clock.setTimer(t.ackTimeoutMs / 3, () => {
        if (heardSince()) return this.endRound(m, true);
        if (n < 2) {
          this.sendPing(m);
          return retry(n + 1);
        }
        this.askOthers(m);
        m.roundTimer = this.deps.clock.setTimer(t.indirectTimeoutMs, () => {
          const ok = heardSince() || (m.indirectOkMs !== undefined && m.indirectOkMs >= started);
          // Up, but not for us: our path to it broke (it moved, or our NAT lost the mapping).
          // Handshake to every address known for it; its record may name one that works.
          if (ok && !heardSince()) this.reach(m);
          this.endRound(m, ok);
        });
      });
    };
    retry(0);
  }

  private endRound(m: Member, ok: boolean): void {
    m.roundTimer = undefined;
    if (this.stopped || (m.state !== 'alive' && m.state !== 'suspect')) return;
    if (ok) {
      this.scheduleProbe(m);
      return;
    }
    if (m.state === 'alive') this.suspect(m, m.inc);
    // While suspect, rounds follow each other back to back until the suspicion ends either way.
    if (m.state === 'suspect') this.startRound(m);
  }

  private suspect(m: Member, inc: number): void {
    this.raiseIncarnation(m, inc);
    this.setState(m, 'suspect');
    this.enqueueGossip({ dh: m.spec.cert.dhKey, state: 'suspect', inc: m.inc });
    m.suspicionTimer?.cancel();
    m.suspicionTimer = this.deps.clock.setTimer(this.deps.timing.suspicionMs, () => {
      m.suspicionTimer = undefined;
      if (m.state === 'suspect') this.declareDead(m);
    });
  }

  private declareDead(m: Member): void {
    m.roundTimer?.cancel();
    m.probeTimer?.cancel();
    m.roundTimer = m.probeTimer = undefined;
    this.setState(m, 'dead');
    this.enqueueGossip({ dh: m.spec.cert.dhKey, state: 'dead', inc: m.inc });
    m.reconnectDelayMs = this.deps.timing.probeIntervalMs;
    this.scheduleReconnect(m, m.reconnectDelayMs);
  }

  /** Tries every known address of a dead member, then again later with backoff, indefinitely. */
  private scheduleReconnect(m: Member, delayMs: number): void {
    m.reconnectTimer?.cancel();
    m.reconnectTimer = this.deps.clock.setTimer(delayMs, () => {
      m.reconnectTimer = undefined;
      if (this.stopped || m.state !== 'dead') return;
      this.reach(m);
      m.reconnectDelayMs = Math.min(this.deps.timing.reconnectMaxMs, Math.max(this.deps.timing.probeIntervalMs, m.reconnectDelayMs * 2));
      const jitter = this.deps.rng.below(Math.max(1, Math.floor(m.reconnectDelayMs / 4)));
      this.scheduleReconnect(m, m.reconnectDelayMs + jitter);
    });
  }

  /** A handshake to every known endpoint of a member, with a ping queued behind it. */
  reach(id: string | Member, extra: readonly Endpoint[] = []): void {
    const m = typeof id === 'string' ? this.members.get(id) : id;
    if (!m || m.state === 'revoked' || this.stopped) return;
    const eps = [...this.endpointsOf(m), ...extra].filter((e, i, a) => a.findIndex((x) => x.host === e.host && x.port === e.port) === i);
    if (eps.length === 0) return;
    this.deps.link.connect(m.id, eps);
    this.sendPing(m);
  }

  private endpointsOf(m: Member): Endpoint[] {
    const out: Endpoint[] = [];
    const add = (e: Endpoint | undefined): void => {
      if (e && !out.some((o) => o.host === e.host && o.port === e.port)) out.push({ host: e.host, port: e.port });
    };
    add(this.deps.link.peerInfo(m.id)?.endpoint);
    for (const e of m.record?.rec.endpoints ?? []) add(e);
    for (const e of m.spec.endpoints) add(e);
    return out;
  }

  private askOthers(m: Member): void {
    const helpers = [...this.members.values()].filter((h) => h !== m && h.state === 'alive');
    const k = Math.min(this.deps.timing.indirectProbes, helpers.length);
    for (let i = 0; i < k; i++) {
      const j = i + this.deps.rng.below(helpers.length - i);
      [helpers[i], helpers[j]] = [helpers[j]!, helpers[i]!];
      const seq = this.takeSeq();
      this.outstanding.set(seq, { member: m.id, sentMs: this.deps.clock.now(), sentWall: this.deps.clock.wallTime(), records: [] });
      this.sendTo(helpers[i]!, { t: 'ping-req', seq, target: m.spec.cert.dhKey });
    }
  }

  // ------------------------------------------------------------------ sending

  private takeSeq(): number {
    const seq = this.nextSeq;
    this.nextSeq = this.nextSeq >= 0xffffffff ? 1 : this.nextSeq + 1;
    if (this.outstanding.size >= MAX_OUTSTANDING) this.outstanding.delete(this.outstanding.keys().next().value!);
    return seq;
  }

  private sendPing(m: Member, onBehalfOf?: OutstandingPing['onBehalfOf']): void {
    if (this.stopped || m.state === 'revoked') return;
    const seq = this.takeSeq();
    const { gossip, records, recordIds } = this.piggyback(m);
    const now = this.deps.clock.now();
    const wall = Math.floor(this.deps.clock.wallTime());
    this.outstanding.set(seq, { member: m.id, sentMs: now, sentWall: wall, records: recordIds, ...(onBehalfOf ? { onBehalfOf } : {}) });
    this.stats.pingsSent++;
    this.sendTo(m, { t: 'ping', seq, ts: wall, inc: this.inc, gossip, records });
  }

  private sendTo(m: Member, msg: MembershipMessage): void {
    let bytes = encodeMembership(msg);
    // Piggybacked gossip must never push a message over one datagram: shed records, then gossip.
    while (bytes.length > MAX_PAYLOAD && (msg.t === 'ping' || msg.t === 'ack') && (msg.records.length > 0 || msg.gossip.length > 0)) {
      if (msg.records.length > 0) msg.records.pop();
      else msg.gossip.pop();
      bytes = encodeMembership(msg);
    }
    try {
      this.deps.link.send(m.id, bytes);
    } catch {
      /* a member removed meanwhile */
    }
  }

  /** Gossip entries and the records this member has not yet acknowledged from us. */
  private piggyback(m: Member): { gossip: Gossip[]; records: Uint8Array[]; recordIds: [string, number][] } {
    // Gossip about a member goes to that member too: that is how a suspect learns to refute.
    const gossip = this.gossip.take(MAX_GOSSIP);
    const records: Uint8Array[] = [];
    const recordIds: [string, number][] = [];
    const candidates: [string, { bytes: Uint8Array; rec: AddressRecord }][] = [];
    if (this.own.record) candidates.push([this.selfId, this.own.record]);
    for (const o of this.members.values()) if (o !== m && o.record && o.state !== 'revoked') candidates.push([o.id, o.record]);
    for (const [owner, r] of candidates) {
      if (records.length >= MAX_RECORDS) break;
      if ((m.told.get(owner) ?? -1) >= r.rec.seq) continue;
      records.push(r.bytes);
      recordIds.push([owner, r.rec.seq]);
    }
    return { gossip, records, recordIds };
  }

  private enqueueGossip(g: Gossip): void {
    this.gossip.push(g, this.members.size);
  }

  // ------------------------------------------------------------------ receiving

  /** Every membership payload from the transport enters here (already authenticated as `peer`). */
  receive(peer: string, payload: Uint8Array, from: Endpoint | undefined): void {
    this.stats.received++;
    const m = this.members.get(peer);
    const msg = decodeMembership(payload);
    if (!m || !msg || m.state === 'revoked' || this.stopped) {
      this.stats.dropped++;
      return;
    }
    // The sender's own incarnation first: a restarted member's first packet must not be taken
    // for its old life (and gossiped as such) by heard() below.
    if (msg.t === 'ping' || msg.t === 'ack') this.raiseIncarnation(m, msg.inc);
    this.heard(m);
    switch (msg.t) {
      case 'ping': {
        this.absorb(msg.gossip, msg.records);
        const { gossip, records } = this.piggyback(m);
        const rx = Math.floor(this.deps.clock.wallTime());
        const seen = from ?? this.deps.link.peerInfo(m.id)?.endpoint ?? { host: '0.0.0.0', port: 0 };
        this.stats.acksSent++;
        this.sendTo(m, { t: 'ack', seq: msg.seq, ts: msg.ts, rx, tx: Math.floor(this.deps.clock.wallTime()), inc: this.inc, seen, gossip, records });
        return;
      }
      case 'ack': {
        const out = this.outstanding.get(msg.seq);
        if (out && out.member === m.id) {
          this.outstanding.delete(msg.seq);
          const now = this.deps.clock.now();
          const t4 = this.deps.clock.wallTime();
          m.rttMs = now - out.sentMs;
          addSample(m.samples, clockSample(out.sentWall, msg.rx, msg.tx, t4));
          for (const [owner, seq] of out.records) if ((m.told.get(owner) ?? -1) < seq) m.told.set(owner, seq);
          if (out.onBehalfOf) {
            const req = this.members.get(out.onBehalfOf.requester);
            if (req) this.sendTo(req, { t: 'ind-ack', seq: out.onBehalfOf.seq, target: m.spec.cert.dhKey });
          }
        }
        this.absorb(msg.gossip, msg.records);
        this.noteSeenUs(m, msg.seen);
        return;
      }
      case 'ping-req': {
        const target = this.members.get(toHex(msg.target));
        if (!target || target === m || target.state === 'revoked') return;
        this.sendPing(target, { requester: m.id, seq: msg.seq });
        return;
      }
      case 'ind-ack': {
        const out = this.outstanding.get(msg.seq);
        const target = this.members.get(toHex(msg.target));
        if (!out || !target || out.member !== target.id) return;
        this.outstanding.delete(msg.seq);
        // Second-hand, but proof enough that the target is up: the round succeeds.
        target.indirectOkMs = this.deps.clock.now();
        if (target.state === 'suspect') this.recover(target);
        return;
      }
    }
  }

  /** Any authenticated packet from a member: it is alive. */
  private heard(m: Member): void {
    m.lastHeardMs = this.deps.clock.now();
    if (m.state === 'suspect' || m.state === 'dead') this.recover(m);
  }

  private recover(m: Member): void {
    m.suspicionTimer?.cancel();
    m.reconnectTimer?.cancel();
    m.suspicionTimer = m.reconnectTimer = undefined;
    this.setState(m, 'alive');
    this.enqueueGossip({ dh: m.spec.cert.dhKey, state: 'alive', inc: m.inc });
    if (!m.probeTimer && !m.roundTimer) this.scheduleProbe(m);
  }

  private noteSeenUs(m: Member, seen: Endpoint): void {
    const prev = m.seenUs;
    m.seenUs = seen;
    m.seenUsAtMs = this.deps.clock.now();
    if (!prev || prev.host !== seen.host || prev.port !== seen.port) this.refreshSelfRecord();
  }

  private absorb(gossip: readonly Gossip[], records: readonly Uint8Array[]): void {
    for (const r of records) this.acceptRecord(r, true);
    for (const g of gossip) this.applyGossip(g);
  }

  /**
   * SWIM: a higher incarnation overrides everything said about a member's older ones. Queued
   * gossip about an older incarnation is dropped, so that we never pass on what we know is stale.
   */
  private raiseIncarnation(m: Member, inc: number): void {
    if (inc <= m.inc) return;
    m.inc = inc;
    this.gossip.dropOlder(m.spec.cert.dhKey, inc);
  }

  private applyGossip(g: Gossip): void {
    if (bytesEqual(g.dh, this.deps.self.cert.dhKey)) {
      // Someone suspects us (or thinks us dead): refute with a higher incarnation, at once.
      if (g.state !== 'alive' && g.inc >= this.inc) {
        this.inc = g.inc + 1;
        this.stats.falseSuspicionsRefuted++;
        this.enqueueGossip({ dh: this.deps.self.cert.dhKey, state: 'alive', inc: this.inc });
        for (const m of this.members.values()) if (m.state === 'alive' || m.state === 'suspect') this.sendPing(m);
      }
      return;
    }
    const m = this.members.get(toHex(g.dh));
    if (!m || m.state === 'revoked') return;
    const current = m.state as 'alive' | 'suspect' | 'dead';
    const recentlyHeard = m.lastHeardMs !== undefined && this.deps.clock.now() - m.lastHeardMs < this.deps.timing.ackTimeoutMs;
    if (g.state === 'alive') {
      if (g.inc > m.inc) {
        this.raiseIncarnation(m, g.inc);
        // A refutation: a member we gave up on is alive by others' first-hand word; try it now.
        if (current === 'suspect') this.recover(m);
        else if (current === 'dead') this.scheduleReconnect(m, 0);
      }
      return;
    }
    if (g.inc < m.inc || (g.inc === m.inc && STATE_RANK[g.state] <= STATE_RANK[current])) return;
    if (recentlyHeard) return; // first-hand evidence beats hearsay
    this.raiseIncarnation(m, g.inc);
    if (g.state === 'suspect' && current === 'alive') this.suspect(m, g.inc);
    else if (g.state === 'dead' && current !== 'dead') this.declareDead(m);
  }

  /** Accepts a signed address record if it is a member's and newer than what we hold. */
  private acceptRecord(bytes: Uint8Array, fromNetwork: boolean): void {
    let rec: AddressRecord | undefined;
    try {
      rec = openAddressRecord(
        bytes,
        (dh) => {
          const o = this.members.get(toHex(dh));
          return o && o.state !== 'revoked' ? o.spec.cert.signKey : undefined;
        },
        (dh, seq) => {
          if (bytesEqual(dh, this.deps.self.cert.dhKey)) return false; // our own, echoed back
          const o = this.members.get(toHex(dh));
          return !o?.record || o.record.rec.seq < seq;
        },
      );
      if (!rec) return;
    } catch {
      // Our own record comes back to us too; that is not an error.
      if (fromNetwork) this.stats.recordsRejected++;
      return;
    }
    const o = this.members.get(toHex(rec.dhKey))!;
    if (o.record && o.record.rec.seq >= rec.seq) return;
    const hosts = (r: AddressRecord | undefined): string => [...new Set((r?.endpoints ?? []).filter((e) => e.kind !== 'lan').map((e) => e.host))].sort().join(',');
    const moved = hosts(o.record?.rec) !== hosts(rec);
    o.record = { bytes, rec };
    this.stats.recordsAccepted++;
    this.deps.events?.record?.(o.id, bytes, rec);
    if (!fromNetwork) return;
    // A member we cannot reach has published where it is now: try there at once. A live member
    // whose record no longer lists the address we talk to has moved: its packets may not get
    // through our NAT until we send to its new address, so send there now.
    if (o.state === 'dead') this.scheduleReconnect(o, 0);
    else {
      const cur = this.deps.link.peerInfo(o.id)?.endpoint;
      if (moved || !cur || !rec.endpoints.some((e) => e.host === cur.host && e.port === cur.port)) this.reach(o);
    }
    // A member's public address changed: pass the news on to everyone now, not at the next probe.
    if (moved) for (const m of this.members.values()) if (m !== o && m.state === 'alive' && (m.told.get(o.id) ?? -1) < rec.seq) this.sendPing(m);
  }

  /** The transport saw an authenticated packet from a new address of a member (roaming). */
  endpointChanged(id: string): void {
    const m = this.members.get(id);
    if (m) this.heard(m);
  }

  // ------------------------------------------------------------------ bookkeeping

  private setState(m: Member, state: MemberState): void {
    const prev = m.state;
    if (prev === state) return;
    m.state = state;
    if (state === 'alive') m.reconnectDelayMs = this.deps.timing.probeIntervalMs;
    this.deps.events?.state?.(m.id, state, prev);
  }

  private cancelTimers(m: Member): void {
    for (const t of [m.probeTimer, m.roundTimer, m.suspicionTimer, m.reconnectTimer]) t?.cancel();
    m.probeTimer = m.roundTimer = m.suspicionTimer = m.reconnectTimer = undefined;
  }

  stop(): void {
    this.stopped = true;
    for (const m of this.members.values()) this.cancelTimers(m);
  }
}
