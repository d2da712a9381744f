// Signed objects: a body in canonical CBOR, signed with Ed25519 under a domain-separation label
// per object type, so that a signature made for one kind of object can never be replayed as
// another.
//
// Wire form (canonical CBOR): { "type": text, "body": any, "sig": bytes(64) }
// Signed bytes: canonical CBOR of the array ["kith-sig-v1", type, body].
import { decodeCanonical, encodeCanonical, type CborValue, type DecodeLimits, DEFAULT_LIMITS } from './cbor.js';
import { signatures, type SignatureCheck } from './crypto.js';
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
  /** The body's bytes inside the object read (canonical, so what signingInput would encode again). */
  bodyBytes?: Uint8Array;
}

// Canonical key order puts the 64-byte signature first: a3, "sig", bytes(64), "body", …, "type", text.
const SIG_HEAD = Uint8Array.from([0xa3, 0x63, 0x73, 0x69, 0x67, 0x58, 0x40]);
const BODY_KEY = Uint8Array.from([0x64, 0x62, 0x6f, 0x64, 0x79]);
const TYPE_KEY = Uint8Array.from([0x64, 0x74, 0x79, 0x70, 0x65]);
const CONTEXT_HEAD = encodeCanonical(SIGNATURE_CONTEXT);

/** encodeCanonical(type) of the few type labels there are (every record read needs it once or twice). */
const typeTexts = new Map<string, Uint8Array>();
function typeText(type: string): Uint8Array {
  let t = typeTexts.get(type);
  if (!t) {
    t = encodeCanonical(type);
    if (typeTexts.size < 64) typeTexts.set(type, t);
  }
  return t;
}

function startsAt(bytes: Uint8Array, at: number, part: Uint8Array): boolean {
  if (at + part.length > bytes.length) return false;
  for (let i = 0; i < part.length; i++) if (bytes[at + i] !== part[i]) return false;
  return true;
}

/** The body's bytes of a canonical signed object, sliced out instead of encoded again (undefined if the layout is not the expected one). */
function bodySlice(bytes: Uint8Array, type: string): Uint8Array | undefined {
  const label = typeText(type);
  const start = SIG_HEAD.length + 64 + BODY_KEY.length;
  const end = bytes.length - TYPE_KEY.length - label.length;
  if (end <= start || !startsAt(bytes, 0, SIG_HEAD) || !startsAt(bytes, SIG_HEAD.length + 64, BODY_KEY) || !startsAt(bytes, end, TYPE_KEY) || !startsAt(bytes, end + TYPE_KEY.length, label)) return undefined;
  return bytes.subarray(start, end);
}

/**
 * The type named at the end of what looks like a signed object, read without decoding it (for
 * dispatch only: the reader of that type checks everything); undefined when the layout differs.
 */
export function peekSignedType(bytes: Uint8Array, types: readonly string[]): string | undefined {
  return types.find((type) => bodySlice(bytes, type) !== undefined);
}

/** signingInput(type, body) of an object read from canonical bytes, without encoding the body again. */
function openedSigningInput(o: OpenedObject): Uint8Array {
  if (!o.bodyBytes) return signingInput(o.type, o.body);
  const label = typeText(o.type);
  const out = new Uint8Array(1 + CONTEXT_HEAD.length + label.length + o.bodyBytes.length);
  out[0] = 0x83;
  out.set(CONTEXT_HEAD, 1);
  out.set(label, 1 + CONTEXT_HEAD.length);
  out.set(o.bodyBytes, 1 + CONTEXT_HEAD.length + label.length);
  return out;
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
  const bodyBytes = bodySlice(bytes, type);
  return bodyBytes ? { type, body, sig, bodyBytes } : { type, body, sig };
}

/** The check that an opened object was signed by `publicKey`, to run later or elsewhere (core/verify-pool.ts). */
export function signatureCheckOf(opened: OpenedObject, publicKey: Uint8Array): SignatureCheck {
  return { key: publicKey, msg: openedSigningInput(opened), sig: opened.sig };
}

/** Checks the signature of an opened object (when the signer is named in its body). */
export function checkOpenedSignature(opened: OpenedObject, publicKey: Uint8Array): void {
  if (!signatures.ed25519Verify(publicKey, openedSigningInput(opened), opened.sig)) {
    throw new KithError('SIGNATURE_INVALID', `the signature on this ${opened.type} does not verify`);
  }
}

/** Decodes and verifies a signed object made by `publicKey`; throws SIGNATURE_INVALID otherwise. */
export function verifySignedObject(bytes: Uint8Array, expectedType: string, publicKey: Uint8Array, limits?: DecodeLimits): CborValue {
  const opened = readSignedObject(bytes, expectedType, limits);
  checkOpenedSignature(opened, publicKey);
  return opened.body;
}
