// Friend cards: what one user gives another when they pair. A signed object (core/signed.ts) of
// type "kith/friend-card", signed by the pairing node's Ed25519 key:
//
//   body = { "name": text (≤ 64 bytes, the user's display name),
//            "nameAt": uint (optional, v2: ms since the Unix epoch when the user set that name),
//            "nodes": [ [cert bytes (kith/node-cert), [[kind, host, port], ...] (≤ 8)], ... ] (1–16) }
//
// A card without "nameAt" (v1, older agents) reads as nameAt 0. Receivers keep the name with the
// highest nameAt per user (cluster/roster-service.ts): the name is signed by a node the user's
// key certified, so only the user's own nodes can set it. Names are untrusted text for display.
//
// Every certificate must verify and name the same user, at most once per DH key; the signer must
// be one of them. The signer vouches for the endpoints of the user's other nodes (it knows them as
// members), so one card lists every node. No secret: the pair's secret comes from the PAKE.
import type { CborValue } from '../../core/cbor.js';
import { KithError, isKithError } from '../../core/errors.js';
import { bytesEqual, toHex } from '../../core/hex.js';
import { checkOpenedSignature, readSignedObject, signObject } from '../../core/signed.js';
import { verifyCertificate } from '../../identity/certificate.js';
import { MAX_RECORD_ENDPOINTS, parseEndpoints } from '../address-record.js';
import type { NodeCard } from '../card.js';

export const FRIEND_CARD_TYPE = 'kith/friend-card';
export const MAX_FRIEND_NODES = 16;
export const MAX_NAME_BYTES = 64;

export interface FriendCard {
  userKey: Uint8Array;
  name: string;
  /** When the user set the name (ms since the epoch); 0 in v1 cards (absent: 0). */
  nameAtMs?: number;
  nodes: NodeCard[];
}

/** Nodes as they travel in friend cards, friend records and enrollment: [[cert, eps], ...]. */
export function encodeNodes(nodes: readonly NodeCard[]): CborValue {
  return nodes.slice(0, MAX_FRIEND_NODES).map((n) => [n.certBytes, n.endpoints.slice(0, MAX_RECORD_ENDPOINTS).map((e) => [e.kind, e.host, e.port])]);
}

/** Parses and verifies a node list: 1–16 certificates of one user, no DH key twice. */
export function parseNodes(v: CborValue | undefined, bad: (why: string) => never, opts: { allowEmpty?: boolean } = {}): NodeCard[] {
  if (!Array.isArray(v) || v.length > MAX_FRIEND_NODES || (v.length === 0 && !opts.allowEmpty)) bad(`nodes must list ${opts.allowEmpty ? 0 : 1}–${MAX_FRIEND_NODES} nodes`);
  const nodes = (v as CborValue[]).map((entry): NodeCard => {
    if (!Array.isArray(entry) || entry.length !== 2 || !(entry[0] instanceof Uint8Array)) return bad('a node must be [cert, endpoints]');
    let cert;
    try {
      cert = verifyCertificate(entry[0]);
    } catch (e) {
      return bad(isKithError(e) ? e.message : 'a bad certificate');
    }
    return { cert, certBytes: entry[0], endpoints: parseEndpoints(entry[1], bad) };
  });
  const user = nodes[0]?.cert.userKey;
  if (user && !nodes.every((n) => bytesEqual(n.cert.userKey, user))) bad('the nodes belong to different users');
  if (new Set(nodes.map((n) => toHex(n.cert.dhKey))).size !== nodes.length) bad('a node is listed twice');
  return nodes;
}

export function makeFriendCard(name: string, nodes: readonly NodeCard[], signSecret: Uint8Array, nameAtMs = 0): Uint8Array {
  const at = Math.max(0, Math.floor(nameAtMs));
  return signObject(FRIEND_CARD_TYPE, { name: truncateUtf8(name, MAX_NAME_BYTES), ...(at > 0 ? { nameAt: at } : {}), nodes: encodeNodes(nodes) }, signSecret);
}

/** At most `max` UTF-8 bytes, cut on a character boundary. */
export function truncateUtf8(s: string, max: number): string {
  let out = s;
  while (new TextEncoder().encode(out).length > max) out = out.slice(0, -1);
  return out;
}

export function openFriendCard(bytes: Uint8Array): FriendCard {
  const bad = (why: string): never => {
    throw new KithError('CARD_INVALID', `friend card: ${why}`);
  };
  try {
    const opened = readSignedObject(bytes, FRIEND_CARD_TYPE, { maxBytes: 24 * 1024, maxDepth: 8, maxItems: 512 });
    const b = opened.body as Record<string, CborValue>;
    if (b === null || typeof b !== 'object' || Array.isArray(b) || b instanceof Uint8Array) bad('body must be {name, nodes}');
    const keys = Object.keys(b).sort().join(',');
    if (keys !== 'name,nodes' && keys !== 'name,nameAt,nodes') bad('body must be {name, nodes} or {name, nameAt, nodes}');
    const nameAt = b['nameAt'] ?? 0;
    if (typeof nameAt !== 'number' || !Number.isSafeInteger(nameAt) || nameAt < 0) bad('nameAt must be a whole number of ms');
    const name = b['name'];
    if (typeof name !== 'string' || new TextEncoder().encode(name).length > MAX_NAME_BYTES) bad('name must be text of at most 64 bytes');
    const nodes = parseNodes(b['nodes'], bad);
    const signer = nodes.find((n) => {
      try {
        checkOpenedSignature(opened, n.cert.signKey);
        return true;
      } catch {
        return false;
      }
    });
    if (!signer) bad('not signed by any of its nodes');
    return { userKey: nodes[0]!.cert.userKey, name: name as string, nameAtMs: nameAt as number, nodes };
  } catch (e) {
    if (isKithError(e, 'CARD_INVALID')) throw e;
    return bad(isKithError(e) ? e.message : 'not a friend card');
  }
}
