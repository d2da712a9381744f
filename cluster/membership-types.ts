// The public shapes of membership (cluster/membership.ts): its timings, what it needs from the
// transport, what it is told about a member, what it shows, and the events it raises. Types only.
import type { Endpoint } from '../core/udp.js';
import type { NodeCertificate } from '../identity/certificate.js';
import type { AddressRecord, RecordEndpoint } from './address-record.js';
import type { PeerConfig } from './transport.js';

export type MemberState = 'alive' | 'suspect' | 'dead' | 'revoked';

export interface MembershipTiming {
  /** T: mean interval between probes of one member. */
  probeIntervalMs: number;
  /** How long a direct ping waits for its ack (the ping is re-sent twice within it). */
  ackTimeoutMs: number;
  /** How long pings through other members wait after that. */
  indirectTimeoutMs: number;
  /** Members asked to ping a silent member on our behalf (k). */
  indirectProbes: number;
  /** How long a suspect may stay silent before it is declared dead. */
  suspicionMs: number;
  /** Empty keepalives after this much silence on our side, to hold NAT mappings (0 = none): set
   *  on the transport for every member (the transport alone defaults to none). */
  keepaliveMs: number;
  /** Longest pause between attempts to reach a dead member. */
  reconnectMaxMs: number;
}

/** The operations membership needs from the transport (cluster/transport.ts implements them). */
export interface MemberLink {
  addPeer(cfg: PeerConfig): string;
  removePeer(id: string): void;
  send(id: string, payload: Uint8Array): void;
  connect(id: string, endpoints?: readonly Endpoint[]): void;
  peerInfo(id: string): { endpoint: Endpoint | undefined } | undefined;
}

/** What is known about a member when it is added (from its card, pairing, or the store). */
export interface MemberSpec {
  cert: NodeCertificate;
  certBytes: Uint8Array;
  psk: Uint8Array;
  /** Secret from which this member's rendezvous windows are derived. */
  rendezvousSecret: Uint8Array;
  endpoints: readonly Endpoint[];
  record?: Uint8Array;
}

export interface MemberView {
  id: string;
  nodeSignKey: string;
  userKey: string;
  nodeIndex: number;
  label: string;
  state: MemberState;
  incarnation: number;
  endpoint: string | null;
  rttMs: number | null;
  lastSeenMs: number | null;
  clockOffsetMs: number | null;
  clockErrorMs: number | null;
  recordSeq: number | null;
  endpoints: RecordEndpoint[];
}

export interface MembershipEvents {
  state?(id: string, state: MemberState, previous: MemberState): void;
  /** A member's newer signed address record was accepted (persist it). */
  record?(id: string, bytes: Uint8Array, record: AddressRecord): void;
  /** This node's own record changed (new endpoints). */
  selfRecord?(bytes: Uint8Array, record: AddressRecord): void;
}
