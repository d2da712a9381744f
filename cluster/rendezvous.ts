// Rendezvous windows: when, and on which external port, a node opens its router for members
// who lost track of it. Nothing stays mapped: in each period of `periodMs` every node has one
// window of `lengthMs`, at an offset and on a port that only holders of the cluster's rendezvous
// secret can compute:
//
//   h      = HMAC-BLAKE2s(secret, "kith-rdv-v1" || dhKey(32) || u64be(period))
//   start  = period * periodMs + (u32be(h[0..4]) mod (periodMs - lengthMs))     (cluster time, ms)
//   port   = portMin + (u16be(h[4..6]) mod (portMax - portMin + 1))
//
// "Cluster time" is the wall clock corrected by the members' median offset (membership's
// clusterClock). The node keeps its window open `guardMs` longer on each side, where guardMs
// covers its measured clock error, so a member whose clock is off by less than that still meets
// it; members aim at the middle of the window.
import { hmacBlake2s } from '../core/blake2s.js';
import type { Clock, Timer } from '../core/clock.js';
import type { Endpoint } from '../core/udp.js';
import { isKithError } from '../core/errors.js';
import type { Membership } from './membership.js';

export interface WindowParams {
  periodMs: number;
  lengthMs: number;
  portMin: number;
  portMax: number;
}

export interface RendezvousWindow {
  period: number;
  startMs: number;
  endMs: number;
  port: number;
}

const LABEL = new TextEncoder().encode('kith-rdv-v1');

export function validateWindowParams(p: WindowParams): void {
  if (!(p.periodMs > 0 && p.lengthMs > 0 && p.lengthMs < p.periodMs)) throw new RangeError('rendezvous windows need 0 < length < period');
  if (!(Number.isInteger(p.portMin) && Number.isInteger(p.portMax) && p.portMin >= 1024 && p.portMax <= 65535 && p.portMin <= p.portMax)) {
    throw new RangeError('rendezvous ports must be a range within 1024..65535');
  }
}

/** The window of one node in one period. */
export function windowIn(secret: Uint8Array, dhKey: Uint8Array, period: number, p: WindowParams): RendezvousWindow {
  const input = new Uint8Array(LABEL.length + 32 + 8);
  input.set(LABEL);
  input.set(dhKey, LABEL.length);
  new DataView(input.buffer).setBigUint64(LABEL.length + 32, BigInt(period));
  const h = hmacBlake2s(secret, input);
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  const startMs = period * p.periodMs + (v.getUint32(0) % (p.periodMs - p.lengthMs));
  return { period, startMs, endMs: startMs + p.lengthMs, port: p.portMin + (v.getUint16(4) % (p.portMax - p.portMin + 1)) };
}

/** The window in progress at `nowMs`, or else the next one. */
export function currentOrNextWindow(secret: Uint8Array, dhKey: Uint8Array, nowMs: number, p: WindowParams): RendezvousWindow {
  const period = Math.floor(nowMs / p.periodMs);
  const w = windowIn(secret, dhKey, period, p);
  return nowMs < w.endMs ? w : windowIn(secret, dhKey, period + 1, p);
}

/** The guard a node adds to each side of its window: its clock error, at least `minMs`. */
export function guardFor(clockErrorMs: number, minMs: number): number {
  return Math.max(minMs, Math.ceil(2 * Math.abs(clockErrorMs)));
}

// ---------------------------------------------------------------- the controller


/** Port mapping on the home router (agent/port-mapper.ts wraps UPnP IGD and NAT-PMP). */
export interface PortMapper {
  readonly protocol: string;
  /** Resolves to the mapping and the lease the router granted (ms; 0 = until removed). */
  map(internalPort: number, externalPort: number, lifetimeMs: number): Promise<{ externalHost: string; externalPort: number; lifetimeMs: number }>;
  /** Removes the mapping of an internal port. */
  unmap(internalPort: number, externalPort: number): Promise<void>;
  close(): Promise<void>;
}

export interface RendezvousStatus {
  nextWindow: { startMs: number; endMs: number; port: number } | null;
  /** error and errorCode: why the last mapping failed (errorCode is the KithError code, e.g. PORT_MAPPING_NO_GATEWAY). */
  mapping: { state: 'off' | 'idle' | 'mapping' | 'open' | 'failed'; protocol: string | null; externalHost: string | null; externalPort: number | null; error: string | null; errorCode: string | null };
}

/**
 * Opens this node's windows (maps the port for the window, plus a guard for clock error, then
 * removes the mapping) and, for members that cannot be reached, knocks on their windows: a
 * handshake to each public address they last published, on their window port, mid-window.
 */
export class Rendezvous {
  private timers: Timer[] = [];
  /** The timer that closes an open window: kept apart, so re-planning never strands a mapping. */
  private closing: Timer | undefined;
  /** Renews a lease the router granted shorter than the window. */
  private renewing: Timer | undefined;
  private mapping: RendezvousStatus['mapping'];
  private stopped = false;

  constructor(
    private readonly deps: {
      clock: Clock;
      membership: Membership;
      mapper: PortMapper | undefined;
      params: WindowParams;
      selfDh: Uint8Array;
      localPort: number;
      minGuardMs: number;
      log?: (level: 'info' | 'warn', msg: string) => void;
    },
  ) {
    validateWindowParams(deps.params);
    this.mapping = { state: deps.mapper ? 'idle' : 'off', protocol: deps.mapper?.protocol ?? null, externalHost: null, externalPort: null, error: null, errorCode: null };
  }

  /** Distinct rendezvous secrets of the members (one schedule per secret). */
  private secrets(): Uint8Array[] {
    const seen = new Map<string, Uint8Array>();
    for (const v of this.deps.membership.view()) {
      const s = this.deps.membership.memberSpec(v.id)?.rendezvousSecret;
      if (s && v.state !== 'revoked') seen.set(Buffer.from(s).toString('hex'), s);
    }
    return [...seen.values()];
  }

  /** Cluster time → local monotonic delay. */
  private delayUntil(clusterMs: number): number {
    return Math.max(0, clusterMs - this.deps.membership.clusterTime());
  }

  /** (Re)plans every timer: call after members change and periodically. */
  plan(): void {
    for (const t of this.timers) t.cancel();
    this.timers = [];
    if (this.stopped) return;
    const now = this.deps.membership.clusterTime();
    const guard = guardFor(this.deps.membership.clusterClock().errorMs, this.deps.minGuardMs);
    for (const secret of this.secrets()) {
      const w = currentOrNextWindow(secret, this.deps.selfDh, now + guard, this.deps.params);
      this.timers.push(this.deps.clock.setTimer(this.delayUntil(w.startMs - guard), () => void this.open(w, guard)));
    }
    for (const id of this.deps.membership.unreachable()) {
      const spec = this.deps.membership.memberSpec(id);
      if (!spec) continue;
      const w = currentOrNextWindow(spec.rendezvousSecret, spec.cert.dhKey, now, this.deps.params);
      const mid = Math.max(now, (w.startMs + w.endMs) / 2);
      this.timers.push(this.deps.clock.setTimer(this.delayUntil(mid), () => this.knock(id, w)));
    }
    // Re-plan after the earliest period boundary passes (and at least every period).
    this.timers.push(this.deps.clock.setTimer(Math.min(this.deps.params.periodMs, this.deps.params.periodMs - (now % this.deps.params.periodMs) + 1), () => this.plan()));
  }

  private knock(id: string, w: RendezvousWindow): void {
    const hosts = new Set(this.deps.membership.knownEndpoints(id).map((e) => e.host));
    const targets: Endpoint[] = [...hosts].map((host) => ({ host, port: w.port }));
    if (targets.length > 0) this.deps.membership.reach(id, targets);
  }

  private async open(w: RendezvousWindow, guard: number): Promise<void> {
    if (!this.deps.mapper || this.stopped) return;
    this.mapping = { ...this.mapping, state: 'mapping', error: null, errorCode: null };
    if (!(await this.mapUntil(w, guard))) return;
    this.closing?.cancel();
    this.closing = this.deps.clock.setTimer(this.delayUntil(w.endMs + guard), () => void this.close(w));
  }

  /**
   * Maps the window's port until its end (plus guard). A router that grants a shorter lease
   * (NAT-PMP may) is asked again at half the lease, until the window closes.
   */
  private async mapUntil(w: RendezvousWindow, guard: number): Promise<boolean> {
    const mapper = this.deps.mapper;
    if (!mapper || this.stopped) return false;
    const remaining = Math.max(1000, w.endMs + guard - this.deps.membership.clusterTime());
    try {
      const m = await mapper.map(this.deps.localPort, w.port, remaining);
      this.mapping = { ...this.mapping, protocol: mapper.protocol, state: 'open', externalHost: m.externalHost, externalPort: m.externalPort };
      this.deps.membership.setLocalEndpoints('mapped', [{ host: m.externalHost, port: m.externalPort }]);
      this.renewing?.cancel();
      this.renewing = undefined;
      if (m.lifetimeMs > 0 && m.lifetimeMs < remaining && !this.stopped) {
        this.renewing = this.deps.clock.setTimer(Math.max(100, m.lifetimeMs / 2), () => {
          this.renewing = undefined;
          if (this.mapping.state === 'open') void this.mapUntil(w, guard);
        });
      }
      return true;
    } catch (e) {
      this.mapping = { ...this.mapping, protocol: mapper.protocol, state: 'failed', error: (e as Error).message, errorCode: isKithError(e) ? e.code : null };
      this.deps.log?.('warn', `rendezvous window: port mapping failed: ${(e as Error).message}`);
      return false;
    }
  }

  private async close(w: RendezvousWindow): Promise<void> {
    this.closing = undefined;
    this.renewing?.cancel();
    this.renewing = undefined;
    try {
      await this.deps.mapper?.unmap(this.deps.localPort, w.port);
    } catch (e) {
      this.deps.log?.('warn', `rendezvous window: removing the mapping failed: ${(e as Error).message}`);
    }
    this.mapping = { ...this.mapping, state: 'idle', externalPort: null };
    this.deps.membership.setLocalEndpoints('mapped', []);
    this.plan();
  }

  status(): RendezvousStatus {
    const now = this.deps.membership.clusterTime();
    const ws = this.secrets().map((s) => currentOrNextWindow(s, this.deps.selfDh, now, this.deps.params)).sort((a, b) => a.startMs - b.startMs);
    const w = ws[0];
    return { nextWindow: w ? { startMs: w.startMs, endMs: w.endMs, port: w.port } : null, mapping: { ...this.mapping } };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.closing?.cancel();
    this.renewing?.cancel();
    for (const t of this.timers) t.cancel();
    this.timers = [];
    if (this.mapping.state === 'open' && this.mapping.externalPort !== null) {
      try {
        await this.deps.mapper?.unmap(this.deps.localPort, this.mapping.externalPort);
      } catch {
        /* best effort on shutdown; the lease expires by itself */
      }
    }
    await this.deps.mapper?.close();
  }
}
