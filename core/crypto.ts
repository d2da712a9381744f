// The crypto primitives kith uses, behind one small interface with interchangeable backends
// (DESIGN.md §4). `node:crypto` is used where the runtime has the primitive natively; the
// audited pure-JS @noble libraries are the reference and the fallback. Every backend passes the
// same known-answer vectors (test/vectors/crypto-backends.test.ts).
import * as nodeCrypto from 'node:crypto';
import { ed25519, x25519 } from '@noble/curves/ed25519.js';

export interface SignatureBackend {
  readonly name: string;
  /** Ed25519 public key of a 32-byte secret seed (RFC 8032 §5.1.5). */
  ed25519PublicKey(secret: Uint8Array): Uint8Array;
  ed25519Sign(secret: Uint8Array, message: Uint8Array): Uint8Array;
  /** Strict RFC 8032 verification; false (never a throw) for any malformed key or signature. */
  ed25519Verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean;
  /** X25519 public key of a 32-byte secret (RFC 7748 §6.1). */
  x25519PublicKey(secret: Uint8Array): Uint8Array;
  /** X25519 shared secret; throws RangeError for a low-order peer key (all-zero output). */
  x25519(secret: Uint8Array, peerPublic: Uint8Array): Uint8Array;
  /** A fresh X25519 key pair from the backend's own CSPRNG (Noise ephemerals made without an Rng). */
  x25519Generate(): { secretKey: Uint8Array; publicKey: Uint8Array };
}

function need(bytes: Uint8Array, len: number, what: string): void {
  if (!(bytes instanceof Uint8Array) || bytes.length !== len) {
    throw new TypeError(`expected ${what} of ${len} bytes, got ${bytes instanceof Uint8Array ? bytes.length : typeof bytes}`);
  }
}

function isAllZero(b: Uint8Array): boolean {
  let acc = 0;
  for (const x of b) acc |= x;
  return acc === 0;
}

export const nobleBackend: SignatureBackend = {
  name: 'noble',
  ed25519PublicKey(secret) {
    need(secret, 32, 'an Ed25519 secret key');
    return ed25519.getPublicKey(secret);
  },
  ed25519Sign(secret, message) {
    need(secret, 32, 'an Ed25519 secret key');
    return ed25519.sign(message, secret);
  },
  ed25519Verify(publicKey, message, signature) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    try {
      return ed25519.verify(signature, message, publicKey, { zip215: false });
    } catch {
      return false;
    }
  },
  x25519PublicKey(secret) {
    need(secret, 32, 'an X25519 secret key');
    return x25519.getPublicKey(secret);
  },
  x25519(secret, peerPublic) {
    need(secret, 32, 'an X25519 secret key');
    need(peerPublic, 32, 'an X25519 public key');
    let out: Uint8Array;
    try {
      out = x25519.getSharedSecret(secret, peerPublic);
    } catch (cause) {
      throw new RangeError('X25519 with a low-order public key', { cause });
    }
    if (isAllZero(out)) throw new RangeError('X25519 with a low-order public key');
    return out;
  },
  x25519Generate() {
    const secretKey = x25519.utils.randomSecretKey();
    return { secretKey, publicKey: x25519.getPublicKey(secretKey) };
  },
};

// DER wrappers that turn raw 32-byte keys into KeyObjects (RFC 8410 §7 / §4).
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

// Building KeyObjects is what costs on Node (DER import ~120-700 µs against ~50 µs for the DH
// itself; JWK import of a public key ~11 µs), so: private KeyObjects are cached per secret-key
// array (a WeakMap: they go when the array goes, so ephemeral secrets do not linger), public ones
// are imported from JWK and cached by value (they are public).
const privateCache = new WeakMap<Uint8Array, nodeCrypto.KeyObject>();
const publicCache = new Map<string, nodeCrypto.KeyObject>();
const PUBLIC_CACHE_MAX = 512;

// A placeholder public half for X25519 JWK imports: OpenSSL derives the public key from `d` and
// ignores `x` (the start-up probe below checks the RFC 7748 public key made this way, so a
// runtime that did otherwise would fall back to noble).
const JWK_X_PLACEHOLDER = 'A'.repeat(43);

function privateKey(prefix: Buffer, secret: Uint8Array): nodeCrypto.KeyObject {
  const hit = privateCache.get(secret);
  if (hit && hit.asymmetricKeyType === (prefix === PKCS8_ED25519 ? 'ed25519' : 'x25519')) return hit;
  // X25519 from JWK (~0.03 ms), not DER (~0.3 ms on Node 20): every Noise ephemeral is imported
  // once, from the transport's Rng. Ed25519 stays DER (signing uses the public half).
  const k = prefix === PKCS8_X25519
    ? nodeCrypto.createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d: Buffer.from(secret).toString('base64url'), x: JWK_X_PLACEHOLDER }, format: 'jwk' })
    : nodeCrypto.createPrivateKey({ key: Buffer.concat([prefix, secret]), format: 'der', type: 'pkcs8' });
  privateCache.set(secret, k);
  return k;
}

function publicKeyObject(prefix: Buffer, pub: Uint8Array): nodeCrypto.KeyObject {
  const crv = prefix === SPKI_ED25519 ? 'Ed25519' : 'X25519';
  const id = crv + Buffer.from(pub).toString('base64url');
  const hit = publicCache.get(id);
  if (hit) return hit;
  const k = nodeCrypto.createPublicKey({ key: { kty: 'OKP', crv, x: Buffer.from(pub).toString('base64url') }, format: 'jwk' });
  if (publicCache.size >= PUBLIC_CACHE_MAX) publicCache.delete(publicCache.keys().next().value!);
  publicCache.set(id, k);
  return k;
}

function rawPublic(key: nodeCrypto.KeyObject): Uint8Array {
  return new Uint8Array(Buffer.from(key.export({ format: 'jwk' }).x!, 'base64url'));
}

export const nativeBackend: SignatureBackend = {
  name: 'node:crypto',
  ed25519PublicKey(secret) {
    need(secret, 32, 'an Ed25519 secret key');
    return rawPublic(nodeCrypto.createPublicKey(privateKey(PKCS8_ED25519, secret)));
  },
  ed25519Sign(secret, message) {
    need(secret, 32, 'an Ed25519 secret key');
    return new Uint8Array(nodeCrypto.sign(null, message, privateKey(PKCS8_ED25519, secret)));
  },
  ed25519Verify(publicKey, message, signature) {
    if (publicKey.length !== 32 || signature.length !== 64) return false;
    // OpenSSL accepts some encodings that RFC 8032 strict verification rejects (non-canonical
    // points); noble with zip215=false is the reference, so keys noble rejects are rejected here.
    try {
      if (!isCanonicalPoint(publicKey)) return false;
      return nodeCrypto.verify(null, message, publicKeyObject(SPKI_ED25519, publicKey), signature);
    } catch {
      return false;
    }
  },
  x25519PublicKey(secret) {
    need(secret, 32, 'an X25519 secret key');
    return rawPublic(nodeCrypto.createPublicKey(privateKey(PKCS8_X25519, secret)));
  },
  x25519(secret, peerPublic) {
    need(secret, 32, 'an X25519 secret key');
    need(peerPublic, 32, 'an X25519 public key');
    let out: Uint8Array;
    try {
      out = new Uint8Array(
        nodeCrypto.diffieHellman({ privateKey: privateKey(PKCS8_X25519, secret), publicKey: publicKeyObject(SPKI_X25519, peerPublic) }),
      );
    } catch (cause) {
      throw new RangeError('X25519 with a low-order public key', { cause });
    }
    if (isAllZero(out)) throw new RangeError('X25519 with a low-order public key');
    return out;
  },
  x25519Generate() {
    // Not generateKeyPairSync: on Node 20 the KeyGenJob behind a generated pair locks the key's
    // mutex in its destructor, and V8 may run that destructor (a weak callback) in a GC that
    // strikes while the same mutex is held by an export or a diffieHellman on the key: the main
    // thread then waits on itself forever (1 in ~20 000 pairs; issue 13's cluster50 hang). A
    // random secret imported like any other key never meets a KeyGenJob.
    const secretKey = new Uint8Array(nodeCrypto.randomBytes(32));
    return { secretKey, publicKey: nativeBackend.x25519PublicKey(secretKey) };
  },
};

/**
 * RFC 8032 §5.1.3 step 1: the y coordinate must be below p = 2^255 - 19 (a canonical encoding).
 * OpenSSL accepts non-canonical y; strict verification (and noble with zip215=false) does not.
 * Checked on the bytes, so the native path never loads noble's precomputed tables.
 */
function isCanonicalPoint(pub: Uint8Array): boolean {
  if ((pub[31]! & 0x7f) !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (pub[i] !== 0xff) return true;
  return pub[0]! < 0xed;
}

// RFC 8032 §7.1 TEST 1: the probe that decides whether node:crypto can serve as the backend.
const PROBE_SECRET = '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60';
const PROBE_PUBLIC = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a';
// RFC 7748 §6.1: Alice's private key and public key.
const PROBE_X_SECRET = '77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a';
const PROBE_X_PUBLIC = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';

/** Picks the backend: native where the runtime has the primitives and they give the RFC answers. */
function probeNative(): boolean {
  try {
    const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
    return hex(nativeBackend.ed25519PublicKey(Buffer.from(PROBE_SECRET, 'hex'))) === PROBE_PUBLIC &&
      hex(nativeBackend.x25519PublicKey(Buffer.from(PROBE_X_SECRET, 'hex'))) === PROBE_X_PUBLIC;
  } catch {
    return false;
  }
}

export const signatures: SignatureBackend = probeNative() ? nativeBackend : nobleBackend;

/** One Ed25519 signature to check: `sig` over `msg` under the public key `key`. */
export interface SignatureCheck {
  key: Uint8Array;
  msg: Uint8Array;
  sig: Uint8Array;
}

/**
 * Checks many signatures at once, each verdict what `signatures.ed25519Verify` gives for it, in
 * order (core/verify-pool.ts: on worker threads). A rejection means no verdicts: check inline.
 */
export type VerifyMany = (checks: readonly SignatureCheck[]) => Promise<boolean[]>;

/** A check on this thread, with the process's backend. */
export function verifyCheck(c: SignatureCheck): boolean {
  return signatures.ed25519Verify(c.key, c.msg, c.sig);
}
