// Which handshake messages the transport spends Diffie-Hellman work on (cluster/README.md
// §Receiving, step 3). In normal times every message with a valid mac1 is read. Under load (more
// than `underLoadPerSec` such messages in the last second) a message is read only if it proves
// its source address (mac2 from our cookie), or if it fits a bounded budget of "identification"
// work: reading message 1 costs one X25519 to learn the initiator's static key, and a stranger
// is dropped right there, without an answer. Members' last known hosts have a reserve of their
// own, so a member that restarted on a new port or moved gets back in during a flood; strangers
// never hear anything at any load. A cookie reply goes only to a member's last endpoint.
import { SECOND } from '../core/clock.js';

/** Handshake messages a second above which mac2 (or the identification budget) is needed. */
export const UNDER_LOAD_HANDSHAKES_PER_SEC = 50;
/** Under load: messages a second from unproven addresses that may still be read (burst: 1 s worth). */
export const IDENTIFY_PER_SEC = 50;
/** Under load: a further reserve for sources on the host of a member's last endpoint, or answers to our own initiations. */
export const IDENTIFY_PRIORITY_PER_SEC = 20;
/** Under load: handshake messages a second per source address (IP and port), burst 4. */
export const PER_SOURCE_PER_SEC = 1;
export const PER_SOURCE_BURST = 4;
/** Source addresses whose allowance is remembered (the oldest is forgotten first). */
export const PER_SOURCE_TRACKED = 4096;

/** A token bucket: `ratePerSec` tokens a second, at most `burst` held; starts full. */
export class TokenBucket {
  private tokens: number;
  private atMs: number;

  constructor(private readonly ratePerSec: number, private readonly burst: number, nowMs: number) {
    this.tokens = burst;
    this.atMs = nowMs;
  }

  take(nowMs: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((nowMs - this.atMs) * this.ratePerSec) / SECOND);
    this.atMs = nowMs;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export interface AdmissionOptions {
  underLoadPerSec?: number;
  /** 0 turns the identification budget off: under load only mac2 and members' last endpoints get in (the behaviour before issue 18). */
  identifyPerSec?: number;
  identifyPriorityPerSec?: number;
}

export interface HandshakeFacts {
  /** "host:port" of the source. */
  source: string;
  mac2Valid: boolean;
  /** The source is the last authenticated endpoint of a configured peer. */
  atMemberEndpoint: boolean;
  /** The source's host is that of a configured peer's last endpoint, or this answers our own pending initiation. */
  priority: boolean;
}

/** 'read': go on with the Noise message; 'cookie': answer with a cookie reply only; the rest: drop silently. */
export type Admission = 'read' | 'cookie' | 'rate' | 'mac2';

export class HandshakeAdmission {
  private readonly underLoadPerSec: number;
  private readonly identify: TokenBucket;
  private readonly priority: TokenBucket;
  private readonly perSource = new Map<string, TokenBucket>();
  // Sliding count of the last second: this second's count plus the previous one's, weighted.
  private windowStartMs: number;
  private thisWindow = 0;
  private lastWindow = 0;

  constructor(nowMs: number, opts: AdmissionOptions = {}) {
    this.underLoadPerSec = opts.underLoadPerSec ?? UNDER_LOAD_HANDSHAKES_PER_SEC;
    const identify = opts.identifyPerSec ?? IDENTIFY_PER_SEC;
    const priority = opts.identifyPerSec === 0 ? 0 : opts.identifyPriorityPerSec ?? IDENTIFY_PRIORITY_PER_SEC;
    this.identify = new TokenBucket(identify, identify, nowMs);
    this.priority = new TokenBucket(priority, priority, nowMs);
    this.windowStartMs = nowMs;
  }

  /** Counts one handshake message with a valid mac1; true when the node is now under load. */
  private countAndCheck(nowMs: number): boolean {
    const elapsed = nowMs - this.windowStartMs;
    if (elapsed >= SECOND) {
      this.lastWindow = elapsed >= 2 * SECOND ? 0 : this.thisWindow;
      this.thisWindow = 0;
      this.windowStartMs = nowMs - (elapsed % SECOND);
    }
    this.thisWindow++;
    const weight = 1 - (nowMs - this.windowStartMs) / SECOND;
    return this.thisWindow + this.lastWindow * weight > this.underLoadPerSec;
  }

  decide(nowMs: number, f: HandshakeFacts): Admission {
    if (!this.countAndCheck(nowMs)) return 'read';
    if (!this.sourceBucket(f.source, nowMs).take(nowMs)) return 'rate';
    if (f.mac2Valid) return 'read';
    if (f.atMemberEndpoint) return 'cookie';
    if (this.identify.take(nowMs)) return 'read';
    if (f.priority && this.priority.take(nowMs)) return 'read';
    return 'mac2';
  }

  private sourceBucket(source: string, nowMs: number): TokenBucket {
    let b = this.perSource.get(source);
    if (b) return b;
    if (this.perSource.size >= PER_SOURCE_TRACKED) this.perSource.delete(this.perSource.keys().next().value!);
    b = new TokenBucket(PER_SOURCE_PER_SEC, PER_SOURCE_BURST, nowMs);
    this.perSource.set(source, b);
    return b;
  }
}
