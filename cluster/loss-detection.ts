// Which fragments are in flight to a peer, in transmission order, and which of them are lost:
// a fragment still unacknowledged while REORDER_THRESHOLD fragments sent after it have been
// acknowledged is taken as lost (fast retransmit from selective acks; RFC 6675's DupThresh).
// Timeouts are the other loss signal; cluster/reliable.ts owns those timers.

/** Later acknowledged transmissions after which an unacknowledged one counts as lost. */
export const REORDER_THRESHOLD = 3;

/** What the flight needs of a transmitted fragment. */
export interface Transmission {
  /** Order of the latest transmission (set by Flight.sent). */
  sendSeq: number;
  acked: boolean;
}

export class Flight<E extends { frag: Transmission }> {
  private entries: E[] = [];
  private seq = 0;

  /** The number the next transmission will get. */
  get nextSeq(): number {
    return this.seq;
  }

  /** Numbers a transmission (or retransmission) and records it as in flight. */
  sent(e: E): void {
    e.frag.sendSeq = this.seq++;
    this.entries.push(e);
  }

  remove(frag: Transmission): void {
    const i = this.entries.findIndex((x) => x.frag === frag);
    if (i >= 0) this.entries.splice(i, 1);
  }

  removeWhere(drop: (e: E) => boolean): void {
    this.entries = this.entries.filter((e) => !drop(e));
  }

  /** Entries lost by the reordering rule once transmission number ackedSeq was acknowledged. */
  lostBefore(ackedSeq: number): E[] {
    return this.entries.filter((x) => !x.frag.acked && x.frag.sendSeq < ackedSeq - REORDER_THRESHOLD);
  }
}
