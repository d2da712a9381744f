// Address records: the endpoints a node can be reached at, signed by the node they describe, with
// a sequence number so that a newer record always beats an older one. cluster/README.md
// §Address records has the byte layout.
import type { CborValue } from '../core/cbor.js';
import { KithError } from '../core/errors.js';
import { bytesEqual } from '../core/hex.js';
import { checkOpenedSignature, readSignedObject, signObject } from '../core/signed.js';
import type { Endpoint } from '../core/udp.js';

export const ADDR_RECORD_TYPE = 'kith/addr-record';
export const ENDPOINT_KINDS = ['mapped', 'public', 'lan'] as const;
export type EndpointKind = (typeof ENDPOINT_KINDS)[number];
export const MAX_RECORD_ENDPOINTS = 8;

export interface RecordEndpoint extends Endpoint {
  kind: EndpointKind;
}

export interface AddressRecord {
  /** The node's X25519 static key: who this record describes. */
  dhKey: Uint8Array;
  /** Strictly increasing per node; the larger one wins. */
  seq: number;
  /** The signer's wall clock when it made the record (informational). */
  issuedAtMs: number;
  endpoints: RecordEndpoint[];
}

const HOST_RE = /^(?:\d{1,3}\.){3}\d{1,3}$|^[0-9a-fA-F:.]{2,45}$/;

export function signAddressRecord(r: AddressRecord, signSecret: Uint8Array): Uint8Array {
  if (r.endpoints.length > MAX_RECORD_ENDPOINTS) throw new RangeError(`an address record holds at most ${MAX_RECORD_ENDPOINTS} endpoints`);
  return signObject(ADDR_RECORD_TYPE, {
    dh: r.dhKey,
    seq: r.seq,
    ts: r.issuedAtMs,
    eps: r.endpoints.map((e) => [e.kind, e.host, e.port]),
  }, signSecret);
}

/**
 * Decodes a record and checks its signature against the node's signing key, which the caller
 * looks up from the `dh` the record names (`keyFor` returns undefined for strangers).
 * Throws SIGNATURE_INVALID or CBOR_INVALID; nothing half-checked is returned. Returns undefined
 * when `wanted` declines it (an old record: not worth verifying).
 */
export function openAddressRecord(
  bytes: Uint8Array,
  keyFor: (dhKey: Uint8Array) => Uint8Array | undefined,
  /** Checked before the (costly) signature: false skips a record we already have or have newer. */
  wanted: (dhKey: Uint8Array, seq: number) => boolean = () => true,
): AddressRecord | undefined {
  const opened = readSignedObject(bytes, ADDR_RECORD_TYPE, { maxBytes: 1024, maxDepth: 4, maxItems: 64 });
  const b = opened.body as Record<string, CborValue>;
  const bad = (why: string): never => {
    throw new KithError('SIGNATURE_INVALID', `address record: ${why}`);
  };
  if (b === null || typeof b !== 'object' || Array.isArray(b) || b instanceof Uint8Array) bad('body is not a map');
  if (Object.keys(b).length !== 4) bad('body must have exactly dh, seq, ts and eps');
  const { dh, seq, ts, eps } = b;
  if (!(dh instanceof Uint8Array) || dh.length !== 32) bad('dh must be 32 bytes');
  if (typeof seq !== 'number' || !Number.isSafeInteger(seq) || seq < 0) bad('seq must be a non-negative integer');
  if (typeof ts !== 'number' || !Number.isSafeInteger(ts) || ts < 0) bad('ts must be a non-negative integer');
  const endpoints = parseEndpoints(eps, bad);
  if (!wanted(dh as Uint8Array, seq as number)) return undefined;
  const key = keyFor(dh as Uint8Array);
  if (!key) throw new KithError('SIGNATURE_INVALID', 'address record of a node that is not a member');
  checkOpenedSignature(opened, key);
  return { dhKey: dh as Uint8Array, seq: seq as number, issuedAtMs: ts as number, endpoints };
}

/** The `eps` list of a record or card: [[kind, host, port], ...], at most 8; `bad` throws. */
export function parseEndpoints(eps: CborValue | undefined, bad: (why: string) => never): RecordEndpoint[] {
  if (!Array.isArray(eps) || eps.length > MAX_RECORD_ENDPOINTS) bad(`eps must be a list of at most ${MAX_RECORD_ENDPOINTS}`);
  const endpoints: RecordEndpoint[] = [];
  for (const e of eps as CborValue[]) {
    if (!Array.isArray(e) || e.length !== 3) bad('an endpoint is [kind, host, port]');
    const [kind, host, port] = e as CborValue[];
    if (typeof kind !== 'string' || !(ENDPOINT_KINDS as readonly string[]).includes(kind)) bad(`unknown endpoint kind ${JSON.stringify(kind)}`);
    if (typeof host !== 'string' || !HOST_RE.test(host)) bad('endpoint host must be an IP address');
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 1 || port > 65535) bad('endpoint port must be 1..65535');
    endpoints.push({ kind: kind as EndpointKind, host: host as string, port: port as number });
  }
  return endpoints;
}

export function sameEndpoints(a: readonly RecordEndpoint[], b: readonly RecordEndpoint[]): boolean {
  return a.length === b.length && a.every((e, i) => e.kind === b[i]!.kind && e.host === b[i]!.host && e.port === b[i]!.port);
}

export function isRecordOf(r: AddressRecord, dhKey: Uint8Array): boolean {
  return bytesEqual(r.dhKey, dhKey);
}
