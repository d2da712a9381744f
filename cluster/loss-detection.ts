// Which fragments are in flight to a peer, in transmission order, and which of them are lost:
// a fragment still unacknowledged while REORDER_THRESHOLD fragments sent after it have been
// acknowledged is taken as lost (fast retransmit from selective acks; RFC 6675's DupThresh).
// Timeouts are the other loss signal; cluster/reliable.ts owns that timer.
//
// Transmissions are numbered consecutively, so the flight is an array indexed by number (less
// the number of its first slot): sending, removing and finding losses cost O(1) amortised per
// fragment instead of a scan of everything in flight for each acknowledgement.

/** Later acknowledged transmissions after which an unacknowledged one counts as lost. */
export const REORDER_THRESHOLD = 3;

/** What the flight needs of a transmitted fragment. */
export interface Transmission {
  /** Order of the latest transmission (set by Flight.sent). */
  sendSeq: number;
  acked: boolean;
}

const NONE: readonly never[] = Object.freeze([]);

export class Flight<E extends { frag: Transmission }> {
  /** Slot i holds transmission number base + i, or undefined once it left the flight. */
  private slots: (E | undefined)[] = [];
  private base = 0;
  /** Slots before head are all empty. */
  private head = 0;
  private live = 0;

  /** The number the next transmission will get. */
  get nextSeq(): number {
    return this.base + this.slots.length;
  }

  /** Transmissions in flight. */
  get size(): number {
    return this.live;
  }

  /** Numbers a transmission (or retransmission) and records it as in flight. */
  sent(e: E): void {
    e.frag.sendSeq = this.nextSeq;
    this.slots.push(e);
    this.live++;
  }

  remove(frag: Transmission): void {
    const i = frag.sendSeq - this.base;
    if (i < 0 || i >= this.slots.length || this.slots[i]?.frag !== frag) return;
    this.slots[i] = undefined;
    this.live--;
    this.compact();
  }

  removeWhere(drop: (e: E) => boolean): void {
    for (let i = this.head; i < this.slots.length; i++) {
      const e = this.slots[i];
      if (e && drop(e)) {
        this.slots[i] = undefined;
        this.live--;
      }
    }
    this.compact();
  }

  /** The entries in flight, in transmission order. */
  *entries(): IterableIterator<E> {
    for (let i = this.head; i < this.slots.length; i++) {
      const e = this.slots[i];
      if (e) yield e;
    }
  }

  /**
   * Entries lost by the reordering rule once transmission number ackedSeq was acknowledged. The
   * caller removes each of them from the flight (retransmitted under a new number, or failed).
   */
  lostBefore(ackedSeq: number): readonly E[] {
    const end = Math.min(this.slots.length, ackedSeq - REORDER_THRESHOLD - this.base);
    // Mostly nothing is lost: no array per acknowledgement then.
    let lost: E[] | undefined;
    for (let i = this.head; i < end; i++) {
      const e = this.slots[i];
      if (e && !e.frag.acked) (lost ??= []).push(e);
    }
    return lost ?? NONE;
  }

  /** Moves head past empty slots; drops them from the array once they are many. */
  private compact(): void {
    while (this.head < this.slots.length && this.slots[this.head] === undefined) this.head++;
    if (this.head === this.slots.length) {
      this.base += this.slots.length;
      this.slots = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.slots.length) {
      this.base += this.head;
      this.slots = this.slots.slice(this.head);
      this.head = 0;
    }
  }
}
