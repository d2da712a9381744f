// SimNet: many hosts on one VirtualClock, with seeded latency, jitter, loss, duplication,
// reordering, bandwidth limits, partitions, NAT boxes and address changes. Its sockets are the
// same UdpSocket interface as real ones, so protocol code runs unchanged on both.
// A trace hash over every delivery (time, addresses and the datagram's bytes) lets a test check
// that one seed always replays the same run, byte for byte.
import { sha256 } from '@noble/hashes/sha2.js';
import type { VirtualClock } from './clock.js';
import { SeededRng } from './rng.js';
import type { Endpoint, UdpSocket } from './udp.js';

export interface LinkParams {
  latencyMs: number;
  /** Extra delay drawn uniformly from [0, jitterMs): also what reorders packets. */
  jitterMs: number;
  /** Probability that a datagram is lost. */
  loss: number;
  /** Probability that a datagram is delivered twice. */
  duplicate: number;
  /** Bytes per second the link carries (0 = unlimited); excess waits in the queue. */
  bandwidthBps: number;
  /** Most bytes queued before tail drop (with a bandwidth limit). */
  queueBytes: number;
}

export const DEFAULT_LINK: LinkParams = { latencyMs: 10, jitterMs: 0, loss: 0, duplicate: 0, bandwidthBps: 0, queueBytes: 256 * 1024 };

export type NatType = 'full-cone' | 'address-restricted' | 'port-restricted' | 'symmetric';

interface Mapping {
  insideHost: string;
  insidePort: number;
  publicPort: number;
  /** For symmetric NATs, the one destination this mapping serves. */
  dest?: string;
  /** Remote addresses/endpoints the inside sent to (filtering for restricted NATs). */
  contacted: Set<string>;
  lastUsedMs: number;
}

export class NatBox {
  private mappings: Mapping[] = [];
  private nextPort = 40000;

  constructor(
    readonly net: SimNet,
    public publicIp: string,
    readonly type: NatType,
    readonly mappingTimeoutMs: number,
  ) {}

  /** Outbound: the public port for this flow (creating or refreshing a mapping). */
  outbound(from: Endpoint, to: Endpoint): number {
    const now = this.net.clock.now();
    this.expire(now);
    const dest = `${to.host}:${to.port}`;
    let m = this.mappings.find((x) => x.insideHost === from.host && x.insidePort === from.port && (this.type !== 'symmetric' || x.dest === dest));
    if (!m) {
      m = { insideHost: from.host, insidePort: from.port, publicPort: this.nextPort++, contacted: new Set(), lastUsedMs: now, ...(this.type === 'symmetric' ? { dest } : {}) };
      this.mappings.push(m);
    }
    m.contacted.add(this.type === 'address-restricted' ? to.host : dest);
    m.lastUsedMs = now;
    return m.publicPort;
  }

  /** Inbound to publicIp:port from a remote: the inside endpoint, or undefined (dropped). */
  inbound(port: number, from: Endpoint): Endpoint | undefined {
    const now = this.net.clock.now();
    this.expire(now);
    const m = this.mappings.find((x) => x.publicPort === port);
    if (!m) return undefined;
    const key = this.type === 'address-restricted' ? from.host : `${from.host}:${from.port}`;
    if (this.type !== 'full-cone' && !m.contacted.has(key)) return undefined;
    if (this.type === 'symmetric' && m.dest !== `${from.host}:${from.port}`) return undefined;
    return { host: m.insideHost, port: m.insidePort };
  }

  /** Every mapping is forgotten (a router reboot, or a new public address). */
  reset(): void {
    this.mappings = [];
  }

  get mappingCount(): number {
    this.expire(this.net.clock.now());
    return this.mappings.length;
  }

  private expire(now: number): void {
    this.mappings = this.mappings.filter((m) => now - m.lastUsedMs < this.mappingTimeoutMs);
  }
}

class SimSocket implements UdpSocket {
  handler: ((data: Uint8Array, from: Endpoint) => void) | undefined;
  closed = false;

  constructor(readonly host: SimHost, readonly port: number) {}

  get local(): Endpoint {
    return { host: this.host.address, port: this.port };
  }

  send(to: Endpoint, data: Uint8Array): void {
    if (!this.closed) this.host.net.transmit(this, to, new Uint8Array(data));
  }

  onMessage(fn: (data: Uint8Array, from: Endpoint) => void): void {
    this.handler = fn;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.host.sockets.delete(this.port);
  }
}

export class SimHost {
  readonly sockets = new Map<number, SimSocket>();
  bytesSent = 0;
  packetsSent = 0;
  private nextEphemeral = 50000;

  constructor(readonly net: SimNet, public address: string, public nat: NatBox | undefined) {}

  bind(port = 0): UdpSocket {
    const p = port === 0 ? this.nextEphemeral++ : port;
    if (this.sockets.has(p)) throw new Error(`port ${p} in use on ${this.address}`);
    const s = new SimSocket(this, p);
    this.sockets.set(p, s);
    return s;
  }

  /** The host gets a new address (DHCP lease, moving house); sockets keep their ports. */
  setAddress(address: string): void {
    this.net.rehome(this, address);
  }
}

export class SimNet {
  readonly rng: SeededRng;
  private readonly hosts = new Map<string, SimHost>();
  private readonly nats = new Map<string, NatBox>();
  private readonly links = new Map<string, LinkParams>();
  private readonly busyUntil = new Map<string, number>();
  private readonly queued = new Map<string, number>();
  private blocked = new Set<string>();
  defaults: LinkParams = { ...DEFAULT_LINK };
  /** Undefined when made with `{ trace: false }` (a big run that never compares traces saves the hashing). */
  private readonly trace: ReturnType<typeof sha256.create> | undefined;
  delivered = 0;
  dropped = 0;

  constructor(readonly clock: VirtualClock, readonly seed: string | number, opts: { trace?: boolean } = {}) {
    this.rng = new SeededRng(`simnet:${seed}`);
    this.trace = opts.trace === false ? undefined : sha256.create();
    // A livelock the clock detects names this seed.
    clock.seed ??= String(seed);
  }

  host(address: string, opts: { behind?: NatBox } = {}): SimHost {
    if (this.hosts.has(address)) throw new Error(`address ${address} already used`);
    const h = new SimHost(this, address, opts.behind);
    this.hosts.set(address, h);
    return h;
  }

  nat(publicIp: string, type: NatType, mappingTimeoutMs = 30_000): NatBox {
    const n = new NatBox(this, publicIp, type, mappingTimeoutMs);
    this.nats.set(publicIp, n);
    return n;
  }

  /** The NAT gets a new public address: every mapping is lost, as with a real ISP change. */
  renumberNat(nat: NatBox, publicIp: string): void {
    this.nats.delete(nat.publicIp);
    nat.publicIp = publicIp;
    nat.reset();
    this.nats.set(publicIp, nat);
  }

  rehome(h: SimHost, address: string): void {
    this.hosts.delete(h.address);
    h.address = address;
    this.hosts.set(address, h);
  }

  /** Link parameters between the public faces of two hosts (symmetric). */
  setLink(a: string, b: string, p: Partial<LinkParams>): void {
    this.links.set(this.linkKey(a, b), { ...this.linkParams(a, b), ...p });
  }

  /** Nothing passes between the two groups (by public address) until heal(). */
  partition(groupA: string[], groupB: string[]): void {
    for (const a of groupA) for (const b of groupB) this.blocked.add(this.linkKey(a, b));
  }

  heal(): void {
    this.blocked.clear();
  }

  /**
   * A hex digest of every delivery so far (virtual time, source, destination, length and bytes):
   * equal for equal seeds and inputs only if every random choice came from seeded generators.
   */
  traceHash(): string {
    if (!this.trace) throw new RangeError('traceHash() of a SimNet made with { trace: false }');
    return Buffer.from(this.trace.clone().digest()).toString('hex');
  }

  private linkKey(a: string, b: string): string {
    return a < b ? `${a}|${b}` : `${b}|${a}`;
  }

  private linkParams(a: string, b: string): LinkParams {
    return this.links.get(this.linkKey(a, b)) ?? this.defaults;
  }

  transmit(from: SimSocket, to: Endpoint, data: Uint8Array): void {
    const host = from.host;
    host.bytesSent += data.length;
    host.packetsSent++;
    let src: Endpoint = from.local;
    // Traffic to a host behind the same NAT stays on the LAN; everything else is translated.
    const sameLan = host.nat !== undefined && this.hosts.get(to.host)?.nat === host.nat;
    if (host.nat && !sameLan) src = { host: host.nat.publicIp, port: host.nat.outbound(src, to) };
    const key = this.linkKey(src.host, to.host);
    if (this.blocked.has(key)) {
      this.dropped++;
      return;
    }
    const p = this.linkParams(src.host, to.host);
    if (p.loss > 0 && this.rng.float() < p.loss) {
      this.dropped++;
      return;
    }
    let sendAt = this.clock.now();
    if (p.bandwidthBps > 0) {
      const dirKey = `${src.host}>${to.host}`;
      const queued = this.queued.get(dirKey) ?? 0;
      if (queued + data.length > p.queueBytes) {
        this.dropped++;
        return;
      }
      const start = Math.max(sendAt, this.busyUntil.get(dirKey) ?? 0);
      const done = start + (data.length * 1000) / p.bandwidthBps;
      this.busyUntil.set(dirKey, done);
      this.queued.set(dirKey, queued + data.length);
      this.clock.setTimer(done - sendAt, () => this.queued.set(dirKey, (this.queued.get(dirKey) ?? data.length) - data.length));
      sendAt = done;
    }
    const copies = p.duplicate > 0 && this.rng.float() < p.duplicate ? 2 : 1;
    for (let i = 0; i < copies; i++) {
      const delay = sendAt - this.clock.now() + p.latencyMs + (p.jitterMs > 0 ? this.rng.float() * p.jitterMs : 0);
      this.clock.setTimer(delay, () => this.deliver(src, to, data));
    }
  }

  private deliver(src: Endpoint, to: Endpoint, data: Uint8Array): void {
    let dest: Endpoint | undefined = to;
    const nat = this.nats.get(to.host);
    if (nat) dest = nat.inbound(to.port, src);
    const host = dest ? this.hosts.get(dest.host) : undefined;
    const sock = dest ? host?.sockets.get(dest.port) : undefined;
    // A host behind a NAT is reachable only through it.
    const sameLan = host?.nat !== undefined && this.hosts.get(src.host)?.nat === host?.nat;
    if (!sock || sock.closed || (host!.nat !== undefined && nat === undefined && !sameLan)) {
      this.dropped++;
      return;
    }
    this.delivered++;
    if (this.trace) {
      this.trace.update(new TextEncoder().encode(`${this.clock.now().toFixed(3)} ${src.host}:${src.port}>${dest!.host}:${dest!.port} ${data.length}|`));
      this.trace.update(data);
    }
    try {
      sock.handler?.(new Uint8Array(data), src);
    } catch {
      /* a handler's exception never stops the simulation; protocol code counts its own drops */
    }
  }
}
