// SWIM's dissemination component (Das et al. 2002 §4.1): state changes waiting to ride on
// outgoing pings and acks. Each entry goes out on about λ·log n messages, newest first, one entry
// per member (a newer change replaces an older one), and the queue is bounded.
import { bytesEqual } from '../core/hex.js';
import type { Gossip } from './membership-wire.js';

/** Entries kept at most: with more changes than this in flight, the oldest are dropped. */
export const MAX_QUEUED_GOSSIP = 64;

/** Messages each entry rides on: ⌈3·log2(n + 2)⌉ for n members (SWIM's λ log n, λ = 3). */
export function transmissionsFor(members: number): number {
  return Math.ceil(3 * Math.log2(members + 2));
}

export class GossipQueue {
  private queue: { g: Gossip; left: number }[] = [];

  /** Queues news about one node (replacing any older news about it), to go out first. */
  push(g: Gossip, members: number): void {
    const i = this.indexOf(g.dh);
    if (i >= 0) this.queue.splice(i, 1);
    this.queue.unshift({ g, left: transmissionsFor(members) });
    if (this.queue.length > MAX_QUEUED_GOSSIP) this.queue.length = MAX_QUEUED_GOSSIP;
  }

  /** Up to max entries for one outgoing message; each counts as sent once. */
  take(max: number): Gossip[] {
    const out: Gossip[] = [];
    for (const q of this.queue) {
      if (out.length >= max) break;
      out.push(q.g);
      q.left--;
    }
    for (let i = this.queue.length - 1; i >= 0; i--) if (this.queue[i]!.left <= 0) this.queue.splice(i, 1);
    return out;
  }

  /** Forgets queued news about a node's incarnations older than inc (a higher one overrides it). */
  dropOlder(dh: Uint8Array, inc: number): void {
    const i = this.indexOf(dh);
    if (i >= 0 && this.queue[i]!.g.inc < inc) this.queue.splice(i, 1);
  }

  private indexOf(dh: Uint8Array): number {
    return this.queue.findIndex((q) => bytesEqual(q.g.dh, dh));
  }
}
