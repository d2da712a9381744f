// Which participants' nodes hold a message, as far as this node knows (consensus/README.md,
// "Holders"): per group, per node, per sender chain the highest contiguous seq that node holds.
// Learned first hand from direct peers (sync's HAVE, or a digest equal to this node's) and second
// hand from `held` messages: every node tells its group peers what it knows of the group's nodes
// (itself included), so the nodes of a participant who is not this user's friend are known
// through the friends' nodes in between. Tips only grow, so merging is a max, each peer is told
// only what grew since it was last told (forgotten when the peer goes down or comes up again),
// and the gossip stops once nobody learns anything new. Kept in memory: after a restart it is learned again.
import type { CborValue } from '../core/cbor.js';
import { SECOND, type Clock, type Timer } from '../core/clock.js';
import { hexBytes, toHex } from '../core/hex.js';
import { epochNodes, type EpochRecord } from './epochs.js';

export interface HeldBy {
  user: string;
  /** That user's nodes known to hold the message. */
  nodes: number;
  /** That user's nodes in the conversation's current epoch (readers and relay holders). */
  of: number;
}

/** A `held` message carries at most this many [group, node, chain, seq] entries. */
export const HELD_ENTRIES_MAX = 512;
/** Changes are told at most this often per group (a catch-up of 10,000 items is one message, not 10,000). */
export const HELD_FLUSH_MS = 1 * SECOND;

export interface HoldersDeps {
  /** This node's DH key (hex). */
  self: string;
  clock: Clock;
  /** The group's current epoch: its nodes are the only ones told about and learned of. */
  epoch(group: string): EpochRecord | undefined;
  /** What this node itself holds of a group: per sender chain the highest contiguous seq. */
  ownTips(group: string): ReadonlyMap<string, number>;
  /** Members reachable now. */
  peers(): string[];
  /** Sends one `held` message (a sync message of the conversations service) without waiting. */
  send(peer: string, message: Record<string, CborValue>): void;
}

const is32 = (v: CborValue | undefined): v is Uint8Array => v instanceof Uint8Array && v.length === 32;

export class Holders {
  readonly stats = { heldIn: 0, heldOut: 0, ignored: 0 };
  /** group → node (DH hex) → sender chain → highest contiguous seq. */
  private readonly tips = new Map<string, Map<string, Map<string, number>>>();
  /** peer → "group/node/chain" → the seq last told to it: a flush sends only what grew since. */
  private readonly told = new Map<string, Map<string, number>>();
  /** peer → groups it had been told about when it went down: told everything again when it comes up. */
  private readonly retell = new Map<string, Set<string>>();
  private readonly dirty = new Set<string>();
  private timer: Timer | undefined;
  private closed = false;

  constructor(private readonly deps: HoldersDeps) {}

  /** For ConvSync's onHave: a peer's own tips for a group, first hand. */
  onHave(group: string, peer: string, tips: ReadonlyMap<string, number>): void {
    const known = this.tips.get(group)?.has(peer) === true;
    // A peer seen for the first time is told everything known (what it was told is per peer).
    if (this.merge(group, peer, tips) || !known) this.changed(group);
  }

  /**
   * A member became reachable: it may have restarted and forgotten everything (holders are kept
   * in memory), so what it was told is forgotten here too, and the next flush tells it all again.
   */
  peerUp(peer: string): void {
    const groups = new Set([...(this.retell.get(peer) ?? []), ...this.groupsTold(peer)]);
    this.retell.delete(peer);
    this.told.delete(peer);
    for (const group of groups) this.changed(group);
  }

  /**
   * A member went down (membership's dead or revoked): what it was told is forgotten now, so
   * whatever state it comes back in (restarted, or a membership that never saw it come up
   * again), the next flush that reaches it tells it everything, and a node that never comes back
   * is not remembered. Its groups are kept to be marked changed when it comes up.
   */
  peerDown(peer: string): void {
    const groups = this.groupsTold(peer);
    this.told.delete(peer);
    if (groups.size === 0) return;
    const kept = this.retell.get(peer) ?? new Set<string>();
    for (const g of groups) kept.add(g);
    this.retell.set(peer, kept);
  }

  private groupsTold(peer: string): Set<string> {
    return new Set([...(this.told.get(peer)?.keys() ?? [])].map((k) => k.slice(0, k.indexOf('/'))));
  }

  /** For ConvSync's onItem: what this node holds of the group grew. */
  onStored(group: string): void {
    this.changed(group);
  }

  /** A peer's `held` message: [group, node, chain, seq] entries for groups it is a node of. Never throws. */
  receive(peer: string, m: Record<string, CborValue>): void {
    const h = m['h'];
    if (!Array.isArray(h) || h.length > HELD_ENTRIES_MAX) return void this.stats.ignored++;
    this.stats.heldIn++;
    const nodesOf = new Map<string, Set<string> | undefined>();
    for (const e of h) {
      if (!Array.isArray(e) || e.length !== 4 || !is32(e[0]) || !is32(e[1]) || !is32(e[2]) || typeof e[3] !== 'number' || !Number.isSafeInteger(e[3]) || e[3] < 1) {
        this.stats.ignored++;
        continue;
      }
      const [group, node, chain] = [toHex(e[0]), toHex(e[1]), toHex(e[2])];
      if (!nodesOf.has(group)) {
        const epoch = this.deps.epoch(group);
        nodesOf.set(group, epoch ? epochNodes(epoch) : undefined);
      }
      const nodes = nodesOf.get(group);
      // Only from a node of the group, and only about its nodes (not this one: it knows itself).
      if (!nodes?.has(peer) || !nodes.has(node) || node === this.deps.self) {
        this.stats.ignored++;
        continue;
      }
      if (this.merge(group, node, new Map([[chain, e[3]]]))) this.changed(group);
      this.noteTold(peer, `${group}/${node}/${chain}`, e[3]); // it knows what it told: not sent back
    }
  }

  /** Per participant: how many of their nodes hold message `seq` of `chain` (this node holds what it shows). */
  heldBy(m: { conv: string; chain: string; seq: number; authorHex: string }, participants: readonly string[], epoch: EpochRecord | undefined): HeldBy[] {
    const userOf = new Map<string, string>();
    for (const [dh, r] of epoch?.readers ?? []) userOf.set(dh, r.user);
    for (const [dh, u] of epoch?.holders ?? []) userOf.set(dh, u);
    const holding = new Set<string>([this.deps.self]);
    for (const [node, tips] of this.tips.get(m.conv) ?? []) if ((tips.get(m.chain) ?? 0) >= m.seq) holding.add(node);
    return participants.map((user) => {
      const mine = [...userOf].filter(([, u]) => u === user).map(([dh]) => dh);
      let nodes = mine.filter((dh) => holding.has(dh)).length;
      if (user === m.authorHex) nodes = Math.max(1, nodes); // its author's node wrote it
      return { user, nodes, of: Math.max(mine.length, nodes) };
    });
  }

  close(): void {
    this.closed = true;
    this.timer?.cancel();
    this.timer = undefined;
  }

  /** True when a tip grew. */
  private merge(group: string, node: string, tips: ReadonlyMap<string, number>): boolean {
    let g = this.tips.get(group);
    if (!g) this.tips.set(group, (g = new Map()));
    let n = g.get(node);
    if (!n) g.set(node, (n = new Map()));
    let grew = false;
    for (const [chain, seq] of tips) if (seq > (n.get(chain) ?? 0)) (n.set(chain, seq), (grew = true));
    return grew;
  }

  private noteTold(peer: string, key: string, seq: number): void {
    let told = this.told.get(peer);
    if (!told) this.told.set(peer, (told = new Map()));
    if (seq > (told.get(key) ?? 0)) told.set(key, seq);
  }

  private changed(group: string): void {
    this.dirty.add(group);
    if (this.timer || this.closed) return;
    this.timer = this.deps.clock.setTimer(HELD_FLUSH_MS, () => {
      this.timer = undefined;
      this.flush();
    });
  }

  /** Tells every reachable node of each changed group what this node knows of the group's nodes. */
  private flush(): void {
    const groups = [...this.dirty];
    this.dirty.clear();
    const peers = new Set(this.deps.peers());
    const out = new Map<string, CborValue[]>();
    for (const group of groups) {
      const epoch = this.deps.epoch(group);
      if (!epoch) continue;
      const nodes = epochNodes(epoch);
      const table: [string, ReadonlyMap<string, number>][] = [[this.deps.self, this.deps.ownTips(group)], ...(this.tips.get(group) ?? [])];
      for (const peer of nodes) {
        if (!peers.has(peer)) continue;
        const entries = out.get(peer) ?? [];
        const told = this.told.get(peer);
        for (const [node, tips] of table) {
          if (node === peer || !nodes.has(node)) continue; // it knows itself; nodes that left are not told about
          for (const [chain, seq] of tips) {
            const key = `${group}/${node}/${chain}`;
            // Only what grew since this peer was last told (or told this node): tips only grow, so
            // an older entry would change nothing there.
            if (seq <= 0 || seq <= (told?.get(key) ?? 0)) continue;
            this.noteTold(peer, key, seq);
            entries.push([hexBytes(group), hexBytes(node), hexBytes(chain), seq]);
          }
        }
        if (entries.length > 0) out.set(peer, entries);
      }
    }
    for (const [peer, entries] of out) {
      for (let i = 0; i < entries.length; i += HELD_ENTRIES_MAX) {
        this.stats.heldOut++;
        this.deps.send(peer, { t: 'held', h: entries.slice(i, i + HELD_ENTRIES_MAX) });
      }
    }
  }
}
