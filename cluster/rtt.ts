// The retransmission timeout from round-trip samples (RFC 6298 §2): a smoothed RTT and its mean
// deviation, RTO = SRTT + 4·RTTVAR, held between a floor and a ceiling. Callers take samples only
// from fragments sent once (Karn's rule, §3), so an ack is never matched to the wrong copy.

export class RttEstimator {
  /** Smoothed RTT; undefined before the first sample. */
  srttMs: number | undefined = undefined;
  rttvarMs = 0;
  rtoMs: number;

  constructor(private readonly o: { initialRtoMs: number; minRtoMs: number; maxRtoMs: number }) {
    this.rtoMs = o.initialRtoMs;
  }

  /** RFC 6298 §2.2 (first sample) and §2.3 (later ones, α = 1/8, β = 1/4). */
  sample(rttMs: number): void {
    if (this.srttMs === undefined) {
      this.srttMs = rttMs;
      this.rttvarMs = rttMs / 2;
    } else {
      this.rttvarMs = 0.75 * this.rttvarMs + 0.25 * Math.abs(this.srttMs - rttMs);
      this.srttMs = 0.875 * this.srttMs + 0.125 * rttMs;
    }
    this.rtoMs = Math.min(this.o.maxRtoMs, Math.max(this.o.minRtoMs, this.srttMs + 4 * this.rttvarMs));
  }

  /** A new path: nothing learnt about the old one applies. */
  reset(): void {
    this.srttMs = undefined;
    this.rttvarMs = 0;
    this.rtoMs = this.o.initialRtoMs;
  }
}
