// Sliding replay window over 64-bit transport counters (the bitmap scheme of RFC 6479, as
// WireGuard uses it). A counter is accepted once; counters more than WINDOW_BITS behind the
// highest seen are refused as too old.

/** Spec: at least 2048 counters of reordering are tolerated. */
export const WINDOW_BITS = 2048;
const WORDS = WINDOW_BITS / 32 + 1; // one spare word so the window always covers WINDOW_BITS

// Counters go past 2^32: no 32-bit shifts on them.
const wordOf = (c: number): number => Math.floor(c / 32) % WORDS;
const bitOf = (c: number): number => 1 << (c % 32);

export class ReplayWindow {
  private readonly bits = new Uint32Array(WORDS);
  private highest = -1;

  /** True when `counter` could be new (cheap check before decrypting). */
  canAccept(counter: number): boolean {
    if (!Number.isSafeInteger(counter) || counter < 0) return false;
    if (counter > this.highest) return true;
    if (this.highest - counter >= WINDOW_BITS) return false;
    return (this.bits[wordOf(counter)]! & bitOf(counter)) === 0;
  }

  /** Marks `counter` as seen; call only after the packet authenticated. False if it was a replay. */
  accept(counter: number): boolean {
    if (!this.canAccept(counter)) return false;
    if (counter > this.highest) {
      // Clear every word between the old and the new highest (all of them after a big jump).
      const from = this.highest < 0 ? 0 : Math.floor(this.highest / 32) + 1;
      const to = Math.floor(counter / 32);
      for (let w = from; w <= to && w - from < WORDS; w++) this.bits[w % WORDS] = 0;
      this.highest = counter;
    }
    this.bits[wordOf(counter)]! |= bitOf(counter);
    return true;
  }
}
