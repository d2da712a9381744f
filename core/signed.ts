// Signed objects: a body in canonical CBOR, signed with Ed25519 under a domain-separation label
// per object type, so that a signature made for one kind of object can never be replayed as
// another.
//
// Wire form (canonical CBOR): { "type": text, "body": any, "sig": bytes(64) }
// Signed bytes: canonical CBOR of the array ["kith-sig-v1", type, body].
import { decodeCanonical, encodeCanonical, type CborValue, type DecodeLimits, DEFAULT_LIMITS } from './cbor.js';
import { signatures } from './crypto.js';
import { KithError } from './errors.js';

export const SIGNATURE_CONTEXT = 'kith-sig-v1';

export function signingInput(type: string, body: CborValue): Uint8Array {
  return encodeCanonical([SIGNATURE_CONTEXT, type, body]);
}

export function signObject(type: string, body: CborValue, secretKey: Uint8Array): Uint8Array {
  const sig = signatures.ed25519Sign(secretKey, signingInput(type, body));
  return encodeCanonical({ type, body, sig });
}

export interface OpenedObject {
  type: string;
  body: CborValue;
  sig: Uint8Array;
}

/** Decodes a signed object's envelope without checking the signature (the signer is in the body). */
export function readSignedObject(bytes: Uint8Array, expectedType: string, limits: DecodeLimits = DEFAULT_LIMITS): OpenedObject {
  const v = decodeCanonical(bytes, limits);
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
    throw new KithError('SIGNATURE_INVALID', `expected a signed ${expectedType}, got something else`);
  }
  const { type, body, sig } = v as Record<string, CborValue>;
  if (type !== expectedType) throw new KithError('SIGNATURE_INVALID', `expected a signed ${expectedType}, got ${JSON.stringify(type)}`);
  if (!(sig instanceof Uint8Array) || sig.length !== 64) throw new KithError('SIGNATURE_INVALID', `signed ${expectedType} has no 64-byte signature`);
  if (body === undefined || Object.keys(v).length !== 3) throw new KithError('SIGNATURE_INVALID', `signed ${expectedType} must have exactly type, body and sig`);
  return { type, body, sig };
}

/** Checks the signature of an opened object (when the signer is named in its body). */
export function checkOpenedSignature(opened: OpenedObject, publicKey: Uint8Array): void {
  if (!signatures.ed25519Verify(publicKey, signingInput(opened.type, opened.body), opened.sig)) {
    throw new KithError('SIGNATURE_INVALID', `the signature on this ${opened.type} does not verify`);
  }
}

/** Decodes and verifies a signed object made by `publicKey`; throws SIGNATURE_INVALID otherwise. */
export function verifySignedObject(bytes: Uint8Array, expectedType: string, publicKey: Uint8Array, limits?: DecodeLimits): CborValue {
  const opened = readSignedObject(bytes, expectedType, limits);
  checkOpenedSignature(opened, publicKey);
  return opened.body;
}
