// Friend cards: what one user gives another when they pair. A signed object (core/signed.ts) of
// type "kith/friend-card", signed by the pairing node's Ed25519 key:
//
//   body = { "name": text (≤ 64 bytes, the user's display name),
//            "cards": [ node card bytes (cluster/card.ts), ... ] (1–16) }
//
// Every node card must verify and belong to the same user; the signer must be one of them. The
// card carries no secret: the pair's secret comes from the PAKE (protocol.ts).
import type { CborValue } from '../../core/cbor.js';
import { KithError, isKithError } from '../../core/errors.js';
import { bytesEqual } from '../../core/hex.js';
import { checkOpenedSignature, readSignedObject, signObject } from '../../core/signed.js';
import { openCard, type NodeCard } from '../card.js';

export const FRIEND_CARD_TYPE = 'kith/friend-card';
export const MAX_FRIEND_NODES = 16;

export interface FriendCard {
  userKey: Uint8Array;
  name: string;
  nodes: NodeCard[];
  /** The node cards as received (stored, and handed on to this user's other nodes). */
  cardBytes: Uint8Array[];
}

export function makeFriendCard(name: string, nodeCards: Uint8Array[], signSecret: Uint8Array): Uint8Array {
  return signObject(FRIEND_CARD_TYPE, { name: name.slice(0, 64), cards: nodeCards.slice(0, MAX_FRIEND_NODES) }, signSecret);
}

export function openFriendCard(bytes: Uint8Array): FriendCard {
  const bad = (why: string): never => {
    throw new KithError('CARD_INVALID', `friend card: ${why}`);
  };
  try {
    const opened = readSignedObject(bytes, FRIEND_CARD_TYPE, { maxBytes: 24 * 1024, maxDepth: 4, maxItems: 64 });
    const b = opened.body as Record<string, CborValue>;
    if (b === null || typeof b !== 'object' || Array.isArray(b) || b instanceof Uint8Array) bad('body must be a map');
    const name = b['name'];
    const cards = b['cards'];
    if (typeof name !== 'string' || new TextEncoder().encode(name).length > 64) bad('name must be text of at most 64 bytes');
    if (!Array.isArray(cards) || cards.length < 1 || cards.length > MAX_FRIEND_NODES) bad(`cards must list 1–${MAX_FRIEND_NODES} node cards`);
    const nodes = (cards as CborValue[]).map((c) => (c instanceof Uint8Array ? openCard(c) : bad('a node card must be bytes')));
    const userKey = nodes[0]!.cert.userKey;
    if (!nodes.every((n) => bytesEqual(n.cert.userKey, userKey))) bad('the node cards belong to different users');
    const signer = nodes.find((n) => {
      try {
        checkOpenedSignature(opened, n.cert.signKey);
        return true;
      } catch {
        return false;
      }
    });
    if (!signer) bad('not signed by any of its nodes');
    return { userKey, name: name as string, nodes, cardBytes: cards as Uint8Array[] };
  } catch (e) {
    if (isKithError(e, 'CARD_INVALID')) throw e;
    return bad(isKithError(e) ? e.message : 'not a friend card');
  }
}
