// Node certificates and revocations, both signed by the user root key (core/signed.ts envelope).
//
// kith/node-cert body (canonical CBOR map):
//   v        uint   1
//   user     bytes  32  user root public key (ed25519) — the user id, and the signer
//   node     uint       node index n (< 2^31)
//   gen      uint       generation g (< 2^31)
//   sign     bytes  32  node signing public key (ed25519, m/5484'/1'/n'/g')
//   dh       bytes  32  node DH public key (X25519, m/5484'/2'/n'/g')
//   roles    [text]     non-empty, sorted, unique subset of "access", "relay"
//   label    text       0..64 UTF-8 bytes, for people ("living-room router")
//   issuedAt uint       milliseconds since the Unix epoch
//
// kith/node-revocation body:
//   v, user, node, gen as above (the certificate being revoked); revokedAt uint (ms since epoch);
//   reason text (0..200 bytes).
import type { CborValue } from '../core/cbor.js';
import { KithError, isKithError } from '../core/errors.js';
import { bytesEqual } from '../core/hex.js';
import { checkOpenedSignature, readSignedObject, signObject } from '../core/signed.js';
import { MAX_INDEX } from './keys.js';

export const CERT_TYPE = 'kith/node-cert';
export const REVOCATION_TYPE = 'kith/node-revocation';
export const ROLES = ['access', 'relay'] as const;
export type Role = (typeof ROLES)[number];
export const MAX_LABEL_BYTES = 64;
const MAX_REASON_BYTES = 200;

export interface NodeCertificate {
  userKey: Uint8Array;
  nodeIndex: number;
  generation: number;
  signKey: Uint8Array;
  dhKey: Uint8Array;
  roles: Role[];
  label: string;
  issuedAtMs: number;
}

export interface Revocation {
  userKey: Uint8Array;
  nodeIndex: number;
  generation: number;
  revokedAtMs: number;
  reason: string;
}

/** Parses "relay,access" into sorted unique roles; throws USAGE for anything else. */
export function parseRoles(text: string): Role[] {
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  const bad = parts.filter((p) => !(ROLES as readonly string[]).includes(p));
  if (parts.length === 0 || bad.length > 0) {
    throw new KithError('USAGE', `roles must be a comma-separated list of ${ROLES.join(', ')}, got ${JSON.stringify(text)}`);
  }
  return normalizeRoles(parts as Role[]);
}

function normalizeRoles(roles: Role[]): Role[] {
  return [...new Set(roles)].sort();
}

function certBody(c: NodeCertificate): CborValue {
  return {
    v: 1,
    user: c.userKey,
    node: c.nodeIndex,
    gen: c.generation,
    sign: c.signKey,
    dh: c.dhKey,
    roles: normalizeRoles(c.roles),
    label: c.label,
    issuedAt: c.issuedAtMs,
  };
}

export function issueCertificate(rootSecret: Uint8Array, cert: NodeCertificate): Uint8Array {
  checkLabel(cert.label);
  return signObject(CERT_TYPE, certBody(cert), rootSecret);
}

export function issueRevocation(rootSecret: Uint8Array, r: Revocation): Uint8Array {
  if (new TextEncoder().encode(r.reason).length > MAX_REASON_BYTES) throw new RangeError(`a revocation reason is at most ${MAX_REASON_BYTES} bytes`);
  return signObject(REVOCATION_TYPE, { v: 1, user: r.userKey, node: r.nodeIndex, gen: r.generation, revokedAt: r.revokedAtMs, reason: r.reason }, rootSecret);
}

function checkLabel(label: string): void {
  if (new TextEncoder().encode(label).length > MAX_LABEL_BYTES) throw new KithError('USAGE', `a node label is at most ${MAX_LABEL_BYTES} bytes`);
}

/** Reads a field of a decoded body, or throws CERT_INVALID naming it. */
class BodyReader {
  constructor(private readonly body: Record<string, CborValue>, private readonly what: string) {}

  bytes(key: string, len: number): Uint8Array {
    const v = this.body[key];
    if (!(v instanceof Uint8Array) || v.length !== len) this.bad(`${key} must be ${len} bytes`);
    return v as Uint8Array;
  }

  uint(key: string, max: number): number {
    const v = this.body[key];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) this.bad(`${key} must be an integer 0..${max}`);
    return v as number;
  }

  text(key: string, maxBytes: number): string {
    const v = this.body[key];
    if (typeof v !== 'string' || new TextEncoder().encode(v).length > maxBytes) this.bad(`${key} must be text of at most ${maxBytes} bytes`);
    return v as string;
  }

  exactKeys(keys: string[]): void {
    const have = Object.keys(this.body).sort();
    if (have.join() !== [...keys].sort().join()) this.bad(`fields must be exactly ${keys.join(', ')}`);
    if (this.body['v'] !== 1) this.bad(`unsupported version ${String(this.body['v'])}`);
  }

  bad(why: string): never {
    throw new KithError('CERT_INVALID', `malformed ${this.what}: ${why}`);
  }
}

function bodyOf(v: CborValue, what: string): BodyReader {
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
    throw new KithError('CERT_INVALID', `malformed ${what}: body is not a map`);
  }
  return new BodyReader(v, what);
}

/** Re-labels envelope and encoding failures as CERT_INVALID, keeping the reason. */
function asCertError<T>(what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (isKithError(e, 'CBOR_INVALID') || isKithError(e, 'SIGNATURE_INVALID')) {
      throw new KithError('CERT_INVALID', `${what} rejected: ${e.message}`, { cause: e });
    }
    throw e;
  }
}

/**
 * Verifies a certificate: canonical, well-formed, signed by the user key it names and, when
 * `expectedUser` is given, by that user. Throws CERT_INVALID for anything else.
 */
export function verifyCertificate(bytes: Uint8Array, expectedUser?: Uint8Array): NodeCertificate {
  return asCertError('node certificate', () => {
    const opened = readSignedObject(bytes, CERT_TYPE);
    const r = bodyOf(opened.body, 'node certificate');
    r.exactKeys(['v', 'user', 'node', 'gen', 'sign', 'dh', 'roles', 'label', 'issuedAt']);
    const userKey = r.bytes('user', 32);
    if (expectedUser !== undefined && !bytesEqual(userKey, expectedUser)) r.bad('it belongs to another user');
    checkOpenedSignature(opened, userKey);
    const rolesRaw = (opened.body as Record<string, CborValue>)['roles'];
    if (!Array.isArray(rolesRaw) || rolesRaw.length === 0 || !rolesRaw.every((x) => (ROLES as readonly CborValue[]).includes(x))) {
      r.bad(`roles must be a non-empty list of ${ROLES.join(', ')}`);
    }
    const roles = rolesRaw as Role[];
    if (normalizeRoles(roles).join() !== roles.join()) r.bad('roles must be sorted and unique');
    return {
      userKey,
      nodeIndex: r.uint('node', MAX_INDEX),
      generation: r.uint('gen', MAX_INDEX),
      signKey: r.bytes('sign', 32),
      dhKey: r.bytes('dh', 32),
      roles,
      label: r.text('label', MAX_LABEL_BYTES),
      issuedAtMs: r.uint('issuedAt', Number.MAX_SAFE_INTEGER),
    };
  });
}

export function verifyRevocation(bytes: Uint8Array, expectedUser?: Uint8Array): Revocation {
  return asCertError('node revocation', () => {
    const opened = readSignedObject(bytes, REVOCATION_TYPE);
    const r = bodyOf(opened.body, 'node revocation');
    r.exactKeys(['v', 'user', 'node', 'gen', 'revokedAt', 'reason']);
    const userKey = r.bytes('user', 32);
    if (expectedUser !== undefined && !bytesEqual(userKey, expectedUser)) r.bad('it belongs to another user');
    checkOpenedSignature(opened, userKey);
    return {
      userKey,
      nodeIndex: r.uint('node', MAX_INDEX),
      generation: r.uint('gen', MAX_INDEX),
      revokedAtMs: r.uint('revokedAt', Number.MAX_SAFE_INTEGER),
      reason: r.text('reason', MAX_REASON_BYTES),
    };
  });
}

/** True when the revocation names this certificate's user, node index and generation. */
export function revokes(r: Revocation, c: NodeCertificate): boolean {
  return bytesEqual(r.userKey, c.userKey) && r.nodeIndex === c.nodeIndex && r.generation === c.generation;
}
