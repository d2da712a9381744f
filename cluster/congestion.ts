// The congestion window of one peer's path: LEDBAT-like (RFC 6817). The window grows while the
// queueing delay (the lowest of the last few RTTs, above the lowest RTT of the last ten minutes)
// is under TARGET_DELAY_MS and shrinks in proportion when it is above, with slow start until
// delay first builds up. A round trip is congestion when it lost more than LOSS_TOLERANCE of its
// fragments, or ended with the queue at over twice the target (someone else is filling it). A
// few losses on a path whose queue is ours and short (radio, a lossy last mile) are just
// retransmitted; loss-driven AIMD would collapse to a few percent of such a link. Congestion cuts
// the window to CONGESTION_BETA of itself, once per RTT.
import { MINUTE } from '../core/clock.js';

/** Queueing delay the window aims for: low enough not to hurt interactive traffic on the link. */
export const TARGET_DELAY_MS = 25;
export const MIN_CWND = 2;
const INITIAL_CWND = 4;
/** Slow start stops here at the latest (≈ 300 kB in flight). */
const INITIAL_SSTHRESH = 256;
/** Fraction of a round trip's fragments that may be lost before the loss counts as congestion. */
export const LOSS_TOLERANCE = 0.05;
/** The window after a congestion signal, as a fraction of itself (CUBIC's β; RFC 6817 uses 0.5). */
export const CONGESTION_BETA = 0.7;
/** RTT samples in the "current delay" filter (RFC 6817 §3.4.2: the minimum of the last few). */
const CURRENT_DELAY_SAMPLES = 4;
/** The base RTT is the minimum over this many one-minute buckets (RFC 6817's BASE_HISTORY). */
const BASE_HISTORY_MINUTES = 10;

export class CongestionWindow {
  /** Fragments allowed in flight (fractional; the sender uses its floor). */
  cwnd = INITIAL_CWND;
  ssthresh = INITIAL_SSTHRESH;
  slowStart = true;
  /** Lowest RTT per minute, newest last (at most BASE_HISTORY_MINUTES). */
  private baseHistory: { minute: number; minMs: number }[] = [];
  baseRttMs = Infinity;
  private recentRtts: number[] = [];
  queueDelayMs = 0;
  private lastCutMs = -Infinity;
  /** The current round trip: it ends when a fragment sent at or after roundEndSeq is acknowledged. */
  private roundEndSeq = 0;
  private roundAcked = 0;
  private roundLost = 0;

  /** A new path (a new peer, or one that roamed): start again from the initial window. */
  resetPath(): void {
    this.cwnd = INITIAL_CWND;
    this.ssthresh = INITIAL_SSTHRESH;
    this.slowStart = true;
    this.baseHistory = [];
    this.baseRttMs = Infinity;
    this.recentRtts = [];
    this.queueDelayMs = 0;
    this.lastCutMs = -Infinity;
  }

  /** Fragments lost (timed out or detected from later acks), counted towards this round. */
  lost(n: number): void {
    this.roundLost += n;
  }

  /** Nothing acknowledged for two timeouts: the path stalled or changed; start again small. */
  stalled(): void {
    this.cwnd = MIN_CWND;
    this.slowStart = true;
  }

  /**
   * An acknowledged fragment (sent as number sendSeq; nextSendSeq is the next number to be
   * sent), with its RTT sample if it has one: counts it towards its round, judges the round at
   * its end, then updates the window.
   */
  acked(nowMs: number, sendSeq: number, nextSendSeq: number, rttMs: number | undefined, srttMs: number): void {
    this.countRound(nowMs, sendSeq, nextSendSeq, srttMs);
    this.grow(nowMs, rttMs);
  }

  /**
   * At the round's end, a round that lost more than LOSS_TOLERANCE of its fragments, or ended
   * with the queue at over twice the target (a queue someone else keeps full, which the additive
   * decrease would take many RTTs to leave), is congestion.
   */
  private countRound(nowMs: number, sendSeq: number, nextSendSeq: number, srttMs: number): void {
    this.roundAcked++;
    if (sendSeq < this.roundEndSeq) return;
    const lost = this.roundLost;
    // Three losses at least: at a 1% random loss rate a window of 30 loses two in 4% of its
    // round trips, three in 0.4%.
    if ((lost >= 3 && lost > LOSS_TOLERANCE * (this.roundAcked + lost)) || this.queueDelayMs > 2 * TARGET_DELAY_MS) this.congestion(nowMs, srttMs);
    this.roundEndSeq = nextSendSeq;
    this.roundAcked = 0;
    this.roundLost = 0;
  }

  /** Shrinks the window to CONGESTION_BETA of itself and ends slow start, at most once per RTT. */
  private congestion(nowMs: number, srttMs: number): void {
    this.slowStart = false;
    if (nowMs - this.lastCutMs < srttMs) return;
    this.lastCutMs = nowMs;
    this.ssthresh = Math.max(MIN_CWND, Math.floor(this.cwnd * CONGESTION_BETA));
    this.cwnd = this.ssthresh;
  }

  /** Takes an RTT sample into the base history (per minute) and the current-delay filter. */
  private sampleDelay(nowMs: number, rttMs: number): void {
    const minute = Math.floor(nowMs / MINUTE);
    const last = this.baseHistory[this.baseHistory.length - 1];
    if (last && last.minute === minute) last.minMs = Math.min(last.minMs, rttMs);
    else this.baseHistory.push({ minute, minMs: rttMs });
    // Recomputed over the buckets only when the oldest minute leaves (once a minute at most).
    if (this.baseHistory.length > BASE_HISTORY_MINUTES) {
      this.baseHistory.shift();
      this.baseRttMs = Math.min(...this.baseHistory.map((b) => b.minMs));
    } else this.baseRttMs = Math.min(this.baseRttMs, rttMs);
    this.recentRtts.push(rttMs);
    if (this.recentRtts.length > CURRENT_DELAY_SAMPLES) this.recentRtts.shift();
    let current = Infinity;
    for (const r of this.recentRtts) if (r < current) current = r;
    this.queueDelayMs = current - this.baseRttMs;
  }

  /** LEDBAT-style window update for one acknowledged fragment with an RTT sample (or none). */
  private grow(nowMs: number, rttMs: number | undefined): void {
    if (rttMs !== undefined) this.sampleDelay(nowMs, rttMs);
    if (this.slowStart && this.queueDelayMs < TARGET_DELAY_MS / 2 && this.cwnd < this.ssthresh) {
      this.cwnd += 1;
      return;
    }
    this.slowStart = false;
    const offTarget = (TARGET_DELAY_MS - this.queueDelayMs) / TARGET_DELAY_MS;
    this.cwnd = Math.max(MIN_CWND, this.cwnd + Math.max(-1, offTarget) / this.cwnd);
  }
}
