// What kind of NAT this node is behind, from observed mappings: pure functions with named
// real-world cases in test/unit/nat.test.ts. Observations come from STUN servers and from the
// address members report seeing us at (the same mapping, learned for free).
//
// Terms are RFC 4787's: mapping behaviour (does the public endpoint depend on the destination?)
// and filtering behaviour (who may send in once a mapping exists?). The classic names are given
// too because people know them: full cone, restricted cone, port-restricted cone, symmetric.
import type { Endpoint } from '../core/udp.js';

export type Behaviour = 'endpoint-independent' | 'address-dependent' | 'address-port-dependent' | 'unknown';
export type NatLabel = 'none' | 'full-cone' | 'restricted-cone' | 'port-restricted-cone' | 'symmetric' | 'unknown';

export interface MappingObservation {
  /** Our local socket (host may be 0.0.0.0 for a wildcard bind). */
  local: Endpoint;
  /** Where the probe went (a STUN server or a member). */
  destination: Endpoint;
  /** The source endpoint the destination saw. */
  mapped: Endpoint;
}

/** RFC 5780 filtering tests: did an answer from another IP / another port get through? */
export interface FilteringObservation {
  fromOtherIpAndPort: boolean | undefined;
  fromOtherPortOnly: boolean | undefined;
}

export interface NatClassification {
  label: NatLabel;
  mapping: Behaviour;
  filtering: Behaviour;
  /** The public endpoint most destinations see (undefined without observations). */
  publicEndpoint: Endpoint | undefined;
  portPreserved: boolean | undefined;
  /** The public address is in 100.64.0.0/10 (RFC 6598): a carrier-grade NAT is in front of us. */
  carrierGrade: boolean;
  /** The "public" address is itself private: another NAT is in front of us. */
  doubleNat: boolean;
  observations: number;
}

const v4 = (host: string): number[] | undefined => {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : undefined;
};

export function isCarrierGrade(host: string): boolean {
  const p = v4(host);
  return p !== undefined && p[0] === 100 && p[1]! >= 64 && p[1]! <= 127;
}

/** RFC 1918 private, loopback or link-local (IPv4), or ULA / link-local (IPv6). */
export function isPrivate(host: string): boolean {
  const p = v4(host);
  if (p) {
    const [a, b] = p as [number, number];
    return a === 10 || a === 127 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254);
  }
  const h = host.toLowerCase();
  return h === '::1' || h.startsWith('fc') || h.startsWith('fd') || h.startsWith('fe80:');
}

const same = (a: Endpoint, b: Endpoint): boolean => a.host === b.host && a.port === b.port;

export function classifyNat(
  observations: readonly MappingObservation[],
  opts: { localAddresses?: readonly string[]; filtering?: FilteringObservation } = {},
): NatClassification {
  const base: NatClassification = {
    label: 'unknown', mapping: 'unknown', filtering: 'unknown', publicEndpoint: undefined, portPreserved: undefined,
    carrierGrade: false, doubleNat: false, observations: observations.length,
  };
  if (observations.length === 0) return base;
  // The most common mapped endpoint is "the" public endpoint.
  const counts = new Map<string, { e: Endpoint; n: number }>();
  for (const o of observations) {
    const k = `${o.mapped.host}:${o.mapped.port}`;
    const c = counts.get(k) ?? { e: o.mapped, n: 0 };
    c.n++;
    counts.set(k, c);
  }
  const publicEndpoint = [...counts.values()].sort((a, b) => b.n - a.n)[0]!.e;
  const local = observations[0]!.local;
  const locals = new Set([...(opts.localAddresses ?? []), local.host]);
  const result: NatClassification = {
    ...base,
    publicEndpoint,
    portPreserved: publicEndpoint.port === local.port,
    carrierGrade: isCarrierGrade(publicEndpoint.host),
  };
  // Seen at our own address and port: no NAT between us and them.
  if (observations.every((o) => locals.has(o.mapped.host) && o.mapped.port === local.port)) {
    return { ...result, label: 'none', mapping: 'endpoint-independent', filtering: 'endpoint-independent' };
  }
  // Mapping behaviour: compare what destinations on different IPs, and on the same IP but
  // different ports, saw. One destination alone says nothing about it.
  let differsByIp: boolean | undefined;
  let differsByPort: boolean | undefined;
  for (let i = 0; i < observations.length; i++) {
    for (let j = i + 1; j < observations.length; j++) {
      const a = observations[i]!;
      const b = observations[j]!;
      if (same(a.destination, b.destination)) continue;
      const differs = !same(a.mapped, b.mapped);
      if (a.destination.host !== b.destination.host) differsByIp = (differsByIp ?? false) || differs;
      else differsByPort = (differsByPort ?? false) || differs;
    }
  }
  const mapping: Behaviour =
    differsByPort ? 'address-port-dependent'
      : differsByIp ? (differsByPort === false ? 'address-dependent' : 'address-port-dependent')
        : differsByIp === false ? 'endpoint-independent' : 'unknown';
  const f = opts.filtering;
  const filtering: Behaviour =
    f?.fromOtherIpAndPort === true ? 'endpoint-independent'
      : f?.fromOtherPortOnly === true ? 'address-dependent'
        : f?.fromOtherPortOnly === false ? 'address-port-dependent' : 'unknown';
  const label: NatLabel =
    mapping === 'address-dependent' || mapping === 'address-port-dependent' ? 'symmetric'
      : mapping === 'endpoint-independent'
        ? filtering === 'endpoint-independent' ? 'full-cone' : filtering === 'address-dependent' ? 'restricted-cone' : filtering === 'address-port-dependent' ? 'port-restricted-cone' : 'unknown'
        : 'unknown';
  // Behind a NAT whose outside is private too (not CGNAT's shared space): a second NAT in front.
  const doubleNat = isPrivate(publicEndpoint.host) && !locals.has(publicEndpoint.host);
  return { ...result, mapping, filtering, label, doubleNat };
}
