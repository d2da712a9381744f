// The roster: who a user's nodes know, and how changes spread between them and to friends.
// Three signed records travel in roster messages (cluster/README.md, "Roster"):
//
//   kith/node-revocation  signed by a user's root key (identity/certificate.ts): that node is cut off
//   kith/friend-card      signed by one of a user's nodes (pairing/friend-card.ts): that user's
//                         nodes, sent to members when one is added, for them to add the new one
//   kith/friend-record    signed by one of the user's own nodes: a friendship, its removal or block,
//                         sent only to the user's own nodes (it carries the pair's secret)
//
// Friend record body (canonical CBOR map, exactly these keys; `secret` only when state is "friend"):
//   by      bytes   the signing node's certificate (kith/node-cert)
//   user    bytes32 the friend's user key
//   name    text    ≤ 64 bytes, the friend's display name
//   nodes   [[cert bytes, eps]] 0–16 of the friend's nodes (friend-card.ts encoding)
//   secret  bytes32 the pair's secret (psk and rendezvous secret derive from it)
//   state   text    "friend" | "removed" | "blocked"
//   at      uint    ms since the epoch; a newer record replaces an older one, equal ones are ignored
//
// A roster message is one reliable-delivery message of the roster service (byte 0x52 'R',
// cluster/services.ts, put in front by the service port), then canonical CBOR
// { "t": "recs", "r": [record bytes, 1–64] }. encode/decode here handle what follows the byte.
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { KithError, isKithError } from '../core/errors.js';
import { bytesEqual } from '../core/hex.js';
import { checkOpenedSignature, readSignedObject, signObject } from '../core/signed.js';
import { REVOCATION_TYPE, verifyCertificate, verifyRevocation, type NodeCertificate, type Revocation } from '../identity/certificate.js';
import type { NodeCard } from './card.js';
import { encodeNodes, FRIEND_CARD_TYPE, MAX_NAME_BYTES, openFriendCard, parseNodes, truncateUtf8, type FriendCard } from './pairing/friend-card.js';

export const FRIEND_RECORD_TYPE = 'kith/friend-record';
export const MAX_ROSTER_RECORDS = 64;
const MAX_RECORD_BYTES = 24 * 1024;
const LIMITS = { maxBytes: MAX_RECORD_BYTES, maxDepth: 8, maxItems: 600 };

export type FriendState = 'friend' | 'removed' | 'blocked';
const STATES: readonly FriendState[] = ['friend', 'removed', 'blocked'];

export interface FriendRecord {
  by: NodeCertificate;
  user: Uint8Array;
  name: string;
  nodes: NodeCard[];
  secret: Uint8Array | undefined;
  state: FriendState;
  atMs: number;
  bytes: Uint8Array;
}

export interface FriendRecordInput {
  user: Uint8Array;
  name: string;
  nodes: readonly NodeCard[];
  secret?: Uint8Array;
  state: FriendState;
  atMs: number;
}

export function makeFriendRecord(signer: { certBytes: Uint8Array; signSecret: Uint8Array }, r: FriendRecordInput): Uint8Array {
  if ((r.state === 'friend') !== (r.secret !== undefined)) throw new RangeError('a friend record has a secret exactly when its state is "friend"');
  const body: Record<string, CborValue> = {
    by: signer.certBytes, user: r.user, name: truncateUtf8(r.name, MAX_NAME_BYTES),
    nodes: encodeNodes(r.nodes), state: r.state, at: Math.floor(r.atMs),
  };
  if (r.secret) body['secret'] = r.secret;
  return signObject(FRIEND_RECORD_TYPE, body, signer.signSecret);
}

/** Verifies a friend record (signature by the node in `by`, shape); ROSTER_INVALID otherwise. */
export function openFriendRecord(bytes: Uint8Array): FriendRecord {
  const bad = (why: string): never => {
    throw new KithError('ROSTER_INVALID', `friend record: ${why}`);
  };
  try {
    const opened = readSignedObject(bytes, FRIEND_RECORD_TYPE, LIMITS);
    const b = opened.body as Record<string, CborValue>;
    if (b === null || typeof b !== 'object' || Array.isArray(b) || b instanceof Uint8Array) return bad('body must be a map');
    const state = b['state'] as FriendState;
    if (!STATES.includes(state)) bad('state must be friend, removed or blocked');
    const keys = Object.keys(b).sort().join();
    if (keys !== (state === 'friend' ? 'at,by,name,nodes,secret,state,user' : 'at,by,name,nodes,state,user')) bad(`unexpected keys ${keys}`);
    if (!(b['by'] instanceof Uint8Array)) bad('by must be a certificate');
    const by = verifyCertificate(b['by'] as Uint8Array);
    checkOpenedSignature(opened, by.signKey);
    const user = b['user'];
    if (!(user instanceof Uint8Array) || user.length !== 32) return bad('user must be 32 bytes');
    const name = b['name'];
    if (typeof name !== 'string' || new TextEncoder().encode(name).length > MAX_NAME_BYTES) bad('name must be text of at most 64 bytes');
    const nodes = parseNodes(b['nodes'], bad, { allowEmpty: true });
    if (nodes.some((n) => !bytesEqual(n.cert.userKey, user))) bad('a node of another user');
    if (state === 'friend' && nodes.length === 0) bad('a friend with no nodes');
    const secret = b['secret'];
    if (state === 'friend' && (!(secret instanceof Uint8Array) || secret.length !== 32)) bad('secret must be 32 bytes');
    const at = b['at'];
    if (typeof at !== 'number' || !Number.isSafeInteger(at) || at < 0) bad('at must be a time in ms');
    return { by, user, name: name as string, nodes, secret: state === 'friend' ? (secret as Uint8Array) : undefined, state, atMs: at as number, bytes };
  } catch (e) {
    if (isKithError(e, 'ROSTER_INVALID')) throw e;
    return bad(isKithError(e) ? e.message : 'not a friend record');
  }
}

export type RosterRecord =
  | { kind: 'revocation'; revocation: Revocation; bytes: Uint8Array }
  | { kind: 'nodes'; card: FriendCard; bytes: Uint8Array }
  | { kind: 'friend'; record: FriendRecord };

/** Opens one record of any roster kind (by its envelope's type); ROSTER_INVALID otherwise. */
export function openRosterRecord(bytes: Uint8Array): RosterRecord {
  let type: CborValue | undefined;
  try {
    const v = decodeCanonical(bytes, LIMITS) as Record<string, CborValue>;
    type = v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) ? v['type'] : undefined;
  } catch (e) {
    throw new KithError('ROSTER_INVALID', `roster record: ${isKithError(e) ? e.message : 'not canonical CBOR'}`);
  }
  try {
    if (type === REVOCATION_TYPE) return { kind: 'revocation', revocation: verifyRevocation(bytes), bytes };
    if (type === FRIEND_CARD_TYPE) return { kind: 'nodes', card: openFriendCard(bytes), bytes };
    if (type === FRIEND_RECORD_TYPE) return { kind: 'friend', record: openFriendRecord(bytes) };
  } catch (e) {
    if (isKithError(e, 'ROSTER_INVALID')) throw e;
    throw new KithError('ROSTER_INVALID', `roster record: ${isKithError(e) ? e.message : 'malformed'}`);
  }
  throw new KithError('ROSTER_INVALID', `roster record of unknown type ${JSON.stringify(type)}`);
}

export function encodeRosterMessage(records: readonly Uint8Array[]): Uint8Array {
  if (records.length < 1 || records.length > MAX_ROSTER_RECORDS) throw new RangeError(`a roster message carries 1–${MAX_ROSTER_RECORDS} records`);
  return encodeCanonical({ t: 'recs', r: [...records] });
}

/** The records of a roster message body (after the service byte; still unverified), or ROSTER_INVALID. */
export function decodeRosterMessage(body: Uint8Array): Uint8Array[] {
  const bad = (why: string): never => {
    throw new KithError('ROSTER_INVALID', `roster message: ${why}`);
  };
  let v: CborValue;
  try {
    v = decodeCanonical(body, { maxBytes: MAX_ROSTER_RECORDS * MAX_RECORD_BYTES, maxDepth: 2, maxItems: MAX_ROSTER_RECORDS + 4 });
  } catch (e) {
    return bad(isKithError(e) ? e.message : 'not canonical CBOR');
  }
  const m = v as Record<string, CborValue>;
  if (m === null || typeof m !== 'object' || Array.isArray(m) || m instanceof Uint8Array || m['t'] !== 'recs' || Object.keys(m).length !== 2) bad('must be {t: "recs", r}');
  const r = m['r'];
  if (!Array.isArray(r) || r.length < 1 || r.length > MAX_ROSTER_RECORDS || !r.every((x) => x instanceof Uint8Array && x.length <= MAX_RECORD_BYTES)) bad(`r must list 1–${MAX_ROSTER_RECORDS} records`);
  return r as Uint8Array[];
}

// ------------------------------------------------------------------ enrollment welcome

/**
 * What an existing node gives a new node of the same user at the end of `kith node add`:
 *   { "card": friend card bytes (this user's nodes, signed by the existing node),
 *     "friends": [friend record bytes, ≤ 256], "revoked": [revocation bytes of any user the node knows, ≤ 256] }
 */
export interface Welcome {
  own: FriendCard;
  friends: FriendRecord[];
  revocations: { revocation: Revocation; bytes: Uint8Array }[];
}

const MAX_WELCOME_ITEMS = 256;

export function makeWelcome(parts: { card: Uint8Array; friends: readonly Uint8Array[]; revoked: readonly Uint8Array[] }): Uint8Array {
  return encodeCanonical({ card: parts.card, friends: parts.friends.slice(0, MAX_WELCOME_ITEMS), revoked: parts.revoked.slice(0, MAX_WELCOME_ITEMS) });
}

/** Verifies a welcome for `userKey`: every part must belong to that user; ROSTER_INVALID otherwise. */
export function openWelcome(bytes: Uint8Array, userKey: Uint8Array): Welcome {
  const bad = (why: string): never => {
    throw new KithError('ROSTER_INVALID', `welcome: ${why}`);
  };
  let v: Record<string, CborValue>;
  try {
    v = decodeCanonical(bytes, { maxBytes: 2 * 1024 * 1024, maxDepth: 2, maxItems: 2 * MAX_WELCOME_ITEMS + 8 }) as Record<string, CborValue>;
  } catch (e) {
    return bad(isKithError(e) ? e.message : 'not canonical CBOR');
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || Object.keys(v).sort().join() !== 'card,friends,revoked') bad('must be {card, friends, revoked}');
  if (!(v['card'] instanceof Uint8Array)) bad('card must be bytes');
  let own: FriendCard;
  try {
    own = openFriendCard(v['card'] as Uint8Array);
  } catch (e) {
    return bad((e as Error).message);
  }
  if (!bytesEqual(own.userKey, userKey)) bad('the card is another user\'s');
  const list = (k: string): Uint8Array[] => {
    const a = v[k];
    if (!Array.isArray(a) || a.length > MAX_WELCOME_ITEMS || !a.every((x) => x instanceof Uint8Array)) bad(`${k} must list at most ${MAX_WELCOME_ITEMS} byte strings`);
    return a as Uint8Array[];
  };
  const friends = list('friends').map(openFriendRecord);
  if (friends.some((f) => !bytesEqual(f.by.userKey, userKey))) bad('a friend record signed by another user\'s node');
  const revocations = list('revoked').map((b) => {
    try {
      return { revocation: verifyRevocation(b), bytes: b };
    } catch (e) {
      return bad((e as Error).message);
    }
  });
  return { own, friends, revocations };
}
