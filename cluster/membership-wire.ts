// Membership messages (cluster/README.md §Membership messages). Each is one transport payload:
// the channel byte 0x4D ('M') followed by a canonical CBOR map whose "t" names the kind.
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import type { Endpoint } from '../core/udp.js';

export const CHANNEL_MEMBERSHIP = 0x4d;

export const STATE_CODES = { alive: 0, suspect: 1, dead: 2 } as const;
export type GossipState = keyof typeof STATE_CODES;
const STATE_NAMES: GossipState[] = ['alive', 'suspect', 'dead'];

/** "Node dh is in state s at incarnation inc", as one member heard it. */
export interface Gossip {
  dh: Uint8Array;
  state: GossipState;
  inc: number;
}

export type MembershipMessage =
  | { t: 'ping'; seq: number; ts: number; inc: number; gossip: Gossip[]; records: Uint8Array[] }
  | { t: 'ack'; seq: number; ts: number; rx: number; tx: number; inc: number; seen: Endpoint; gossip: Gossip[]; records: Uint8Array[] }
  | { t: 'ping-req'; seq: number; target: Uint8Array }
  | { t: 'ind-ack'; seq: number; target: Uint8Array };

export const MAX_GOSSIP = 8;
export const MAX_RECORDS = 3;
const LIMITS = { maxBytes: 1100, maxDepth: 4, maxItems: 160 };

export function encodeMembership(m: MembershipMessage): Uint8Array {
  const body: Record<string, CborValue> = { t: m.t === 'ping' ? 'p' : m.t === 'ack' ? 'a' : m.t === 'ping-req' ? 'q' : 'k', n: m.seq };
  if (m.t === 'ping' || m.t === 'ack') {
    body['ts'] = m.ts;
    body['i'] = m.inc;
    if (m.gossip.length > 0) body['g'] = m.gossip.map((g) => [g.dh, STATE_CODES[g.state], g.inc]);
    if (m.records.length > 0) body['r'] = m.records;
  }
  if (m.t === 'ack') {
    body['rx'] = m.rx;
    body['tx'] = m.tx;
    body['see'] = [m.seen.host, m.seen.port];
  }
  if (m.t === 'ping-req' || m.t === 'ind-ack') body['tgt'] = m.target;
  const cbor = encodeCanonical(body);
  const out = new Uint8Array(cbor.length + 1);
  out[0] = CHANNEL_MEMBERSHIP;
  out.set(cbor, 1);
  return out;
}

const isUint = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0 && v <= max;
const isKey = (v: unknown): v is Uint8Array => v instanceof Uint8Array && v.length === 32;

/** Decodes one message; undefined for anything malformed (the caller counts and drops it). */
export function decodeMembership(payload: Uint8Array): MembershipMessage | undefined {
  if (payload[0] !== CHANNEL_MEMBERSHIP) return undefined;
  let v: CborValue;
  try {
    v = decodeCanonical(payload.subarray(1), LIMITS);
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) return undefined;
  const m = v as Record<string, CborValue>;
  const seq = m['n'];
  if (!isUint(seq, 0xffffffff)) return undefined;
  switch (m['t']) {
    case 'p':
    case 'a': {
      const { ts, i } = m;
      if (!isUint(ts) || !isUint(i)) return undefined;
      const gossip = decodeGossip(m['g']);
      const records = decodeRecords(m['r']);
      if (!gossip || !records) return undefined;
      if (m['t'] === 'p') return { t: 'ping', seq, ts, inc: i, gossip, records };
      const { rx, tx, see } = m;
      if (!isUint(rx) || !isUint(tx) || !Array.isArray(see) || see.length !== 2) return undefined;
      const [host, port] = see;
      if (typeof host !== 'string' || host.length > 45 || !isUint(port, 65535)) return undefined;
      return { t: 'ack', seq, ts, rx, tx, inc: i, seen: { host, port }, gossip, records };
    }
    case 'q':
    case 'k': {
      const target = m['tgt'];
      if (!isKey(target)) return undefined;
      return { t: m['t'] === 'q' ? 'ping-req' : 'ind-ack', seq, target };
    }
    default:
      return undefined;
  }
}

function decodeGossip(g: CborValue | undefined): Gossip[] | undefined {
  if (g === undefined) return [];
  if (!Array.isArray(g) || g.length > MAX_GOSSIP) return undefined;
  const out: Gossip[] = [];
  for (const e of g) {
    if (!Array.isArray(e) || e.length !== 3) return undefined;
    const [dh, s, inc] = e;
    if (!isKey(dh) || !isUint(s, 2) || !isUint(inc)) return undefined;
    out.push({ dh, state: STATE_NAMES[s]!, inc });
  }
  return out;
}

function decodeRecords(r: CborValue | undefined): Uint8Array[] | undefined {
  if (r === undefined) return [];
  if (!Array.isArray(r) || r.length > MAX_RECORDS) return undefined;
  return r.every((x) => x instanceof Uint8Array && x.length <= 1024) ? (r as Uint8Array[]) : undefined;
}
