// This node's own signed address record (cluster/README.md, "Address records"): the endpoints
// it publishes — mapped ports, configured public addresses, what members report seeing us at,
// LAN interfaces, in that order — re-signed under a higher seq whenever they change.
import type { Clock } from '../core/clock.js';
import type { Endpoint } from '../core/udp.js';
import type { NodeCertificate } from '../identity/certificate.js';
import {
  MAX_RECORD_ENDPOINTS, sameEndpoints, signAddressRecord,
  type AddressRecord, type EndpointKind, type RecordEndpoint,
} from './address-record.js';

/** One member's report, in an ack, of the address it saw our ping come from. */
export interface SeenReport {
  seenUs: Endpoint;
  atMs: number;
}

/**
 * Public endpoints members report seeing us at: distinct, newest report first, only reports made
 * since freshSinceMs (an address we had before a move fades out), and never one of our LAN hosts.
 */
export function reflexiveEndpoints(reports: readonly SeenReport[], lanHosts: ReadonlySet<string>, freshSinceMs: number): Endpoint[] {
  const sorted = reports.filter((r) => r.atMs >= freshSinceMs && !lanHosts.has(r.seenUs.host)).sort((a, b) => b.atMs - a.atMs);
  const seen: Endpoint[] = [];
  for (const { seenUs: e } of sorted) if (!seen.some((s) => s.host === e.host && s.port === e.port)) seen.push(e);
  return seen;
}

export class OwnRecord {
  private readonly local: Record<EndpointKind, RecordEndpoint[]> = { mapped: [], public: [], lan: [] };
  private current: { bytes: Uint8Array; rec: AddressRecord } | undefined;
  /** The next record's seq is at least this (a restart starts above its last life's seqs). */
  private seqFloor: number;

  constructor(private readonly deps: { clock: Clock; self: { cert: NodeCertificate; signSecret: Uint8Array } }, firstSeq: number) {
    this.seqFloor = firstSeq;
  }

  /** The signed record, once there is one. */
  get record(): { bytes: Uint8Array; rec: AddressRecord } | undefined {
    return this.current;
  }

  setLocal(kind: EndpointKind, endpoints: readonly Endpoint[]): void {
    this.local[kind] = endpoints.map((e) => ({ kind, host: e.host, port: e.port }));
  }

  lanHosts(): Set<string> {
    return new Set(this.local.lan.map((e) => e.host));
  }

  /** Our endpoints in publishing order, at most MAX_RECORD_ENDPOINTS, each once. */
  compose(reflexive: readonly Endpoint[]): RecordEndpoint[] {
    const out: RecordEndpoint[] = [];
    const add = (e: RecordEndpoint): void => {
      if (out.length < MAX_RECORD_ENDPOINTS && !out.some((o) => o.host === e.host && o.port === e.port)) out.push(e);
    };
    for (const e of this.local.mapped) add(e);
    for (const e of this.local.public) add(e);
    for (const e of reflexive) add({ kind: 'public', host: e.host, port: e.port });
    for (const e of this.local.lan) add(e);
    return out;
  }

  /** Re-signs the record if the endpoints changed: the new one (first: there was none), or undefined. */
  refresh(reflexive: readonly Endpoint[]): { bytes: Uint8Array; rec: AddressRecord; first: boolean } | undefined {
    const eps = this.compose(reflexive);
    if (this.current && sameEndpoints(this.current.rec.endpoints, eps)) return undefined;
    const seq = Math.max(this.seqFloor, (this.current?.rec.seq ?? 0) + 1);
    this.seqFloor = seq + 1;
    const rec: AddressRecord = { dhKey: this.deps.self.cert.dhKey, seq, issuedAtMs: Math.floor(this.deps.clock.wallTime()), endpoints: eps };
    const bytes = signAddressRecord(rec, this.deps.self.signSecret);
    const first = this.current === undefined;
    this.current = { bytes, rec };
    return { bytes, rec, first };
  }
}
