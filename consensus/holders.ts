// Which participants' nodes hold a message, as far as this node knows: what its peers said in
// sync's HAVE (per sender chain the highest contiguous seq they hold, consensus/sync.ts), this
// node itself, and the author. Kept in memory: after a restart it is learned again from the next
// HAVE of each peer (anti-entropy sends one at least every resync interval). Only direct peers
// send HAVE, so the nodes of a participant who is not this user's friend are never counted here
// (they are reached through shared friends; their receipts say they got the conversation).
import type { EpochRecord } from './epochs.js';

export interface HeldBy {
  user: string;
  /** That user's nodes known to hold the message. */
  nodes: number;
  /** That user's nodes in the conversation's current epoch (readers and relay holders). */
  of: number;
}

export class Holders {
  /** group → peer (DH hex) → sender chain → highest contiguous seq. */
  private readonly tips = new Map<string, Map<string, Map<string, number>>>();

  constructor(private readonly self: string) {}

  /** For ConvSync's onHave: a peer's HAVE for a group (tips only grow, a stale HAVE changes nothing). */
  onHave(group: string, peer: string, tips: ReadonlyMap<string, number>): void {
    let g = this.tips.get(group);
    if (!g) this.tips.set(group, (g = new Map()));
    let p = g.get(peer);
    if (!p) g.set(peer, (p = new Map()));
    for (const [chain, seq] of tips) if (seq > (p.get(chain) ?? 0)) p.set(chain, seq);
  }

  /** Per participant: how many of their nodes hold message `seq` of `chain` (this node holds what it shows). */
  heldBy(m: { conv: string; chain: string; seq: number; authorHex: string }, participants: readonly string[], epoch: EpochRecord | undefined): HeldBy[] {
    const userOf = new Map<string, string>();
    for (const [dh, r] of epoch?.readers ?? []) userOf.set(dh, r.user);
    for (const [dh, u] of epoch?.holders ?? []) userOf.set(dh, u);
    const holding = new Set<string>([this.self]);
    for (const [peer, tips] of this.tips.get(m.conv) ?? []) if ((tips.get(m.chain) ?? 0) >= m.seq) holding.add(peer);
    return participants.map((user) => {
      const mine = [...userOf].filter(([, u]) => u === user).map(([dh]) => dh);
      let nodes = mine.filter((dh) => holding.has(dh)).length;
      if (user === m.authorHex) nodes = Math.max(1, nodes); // its author's node wrote it
      return { user, nodes, of: Math.max(mine.length, nodes) };
    });
  }
}
