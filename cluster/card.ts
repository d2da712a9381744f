// Node cards: the manual bootstrap before in-person pairing exists. A card is public (no
// secrets): this node's certificate and the endpoints it can be reached at, signed by the node.
// `kith card --json` prints one; `kith peer add CARD --secret-file F` on the other end makes the
// node a member, with PSK and rendezvous secret derived from a bootstrap secret both ends hold.
//
// Wire form: signed object (core/signed.ts) of type "kith/card",
//   body = { "cert": bytes (the node certificate), "eps": [[kind, host, port], ...] (≤ 8) }
// signed with the certified node's Ed25519 signing key.
import type { CborValue } from '../core/cbor.js';
import { KithError, isKithError } from '../core/errors.js';
import { checkOpenedSignature, readSignedObject, signObject } from '../core/signed.js';
import { verifyCertificate, type NodeCertificate } from '../identity/certificate.js';
import { MAX_RECORD_ENDPOINTS, parseEndpoints, type RecordEndpoint } from './address-record.js';

export const CARD_TYPE = 'kith/card';

export interface NodeCard {
  cert: NodeCertificate;
  certBytes: Uint8Array;
  endpoints: RecordEndpoint[];
}

export function makeCard(certBytes: Uint8Array, endpoints: readonly RecordEndpoint[], signSecret: Uint8Array): Uint8Array {
  return signObject(CARD_TYPE, { cert: certBytes, eps: endpoints.slice(0, MAX_RECORD_ENDPOINTS).map((e) => [e.kind, e.host, e.port]) }, signSecret);
}

/** Verifies a card: well-formed, certificate valid, signed by the certified node. CARD_INVALID otherwise. */
export function openCard(bytes: Uint8Array): NodeCard {
  const bad = (why: string, cause?: unknown): never => {
    throw new KithError('CARD_INVALID', `node card: ${why}`, cause === undefined ? {} : { cause });
  };
  try {
    const opened = readSignedObject(bytes, CARD_TYPE, { maxBytes: 4096, maxDepth: 4, maxItems: 128 });
    const b = opened.body as Record<string, CborValue>;
    if (b === null || typeof b !== 'object' || Array.isArray(b) || b instanceof Uint8Array || Object.keys(b).length !== 2) bad('body must be {cert, eps}');
    const certBytes = b['cert'];
    const eps = b['eps'];
    if (!(certBytes instanceof Uint8Array)) bad('cert must be bytes');
    const cert = verifyCertificate(certBytes as Uint8Array);
    checkOpenedSignature(opened, cert.signKey);
    const endpoints = parseEndpoints(eps, bad);
    return { cert, certBytes: certBytes as Uint8Array, endpoints };
  } catch (e) {
    if (isKithError(e, 'CARD_INVALID')) throw e;
    return bad(isKithError(e) ? e.message : 'not a card', e);
  }
}
