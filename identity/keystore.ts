// The node's key file in the data dir. It holds the node's own secret keys and certificate; the
// user root secret and the seed phrase are never stored (they live on paper).
//
// <data-dir>/node.key, mode 0600, canonical CBOR map:
//   v 1, node uint, gen uint, signSecret bytes(32), dhSecret bytes(32), cert bytes (kith/node-cert),
//   own bytes(32) (the user's own secret, identity/keys.ts; absent in key files made before it)
import path from 'node:path';
import fs from 'node:fs';
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { KithError, isKithError } from '../core/errors.js';
import { readPrivateFile, writeFileAtomic } from '../core/files.js';
import { bytesEqual } from '../core/hex.js';
import { signatures } from '../core/crypto.js';
import { verifyCertificate, type NodeCertificate } from './certificate.js';
import type { NodeKeys } from './keys.js';

export const KEY_FILE = 'node.key';

export interface NodeIdentity {
  keys: NodeKeys;
  certBytes: Uint8Array;
  cert: NodeCertificate;
  /** The secret the user's own nodes share; undefined for a key file from before it existed. */
  ownSecret?: Uint8Array;
}

export function keyFilePath(dataDir: string): string {
  return path.join(dataDir, KEY_FILE);
}

export function hasIdentity(dataDir: string): boolean {
  return fs.existsSync(keyFilePath(dataDir));
}

export function saveIdentity(dataDir: string, id: { keys: NodeKeys; certBytes: Uint8Array; ownSecret?: Uint8Array }): void {
  const body = encodeCanonical({
    ...(id.ownSecret ? { own: id.ownSecret } : {}),
    v: 1,
    node: id.keys.nodeIndex,
    gen: id.keys.generation,
    signSecret: id.keys.sign.secretKey,
    dhSecret: id.keys.dh.secretKey,
    cert: id.certBytes,
  });
  writeFileAtomic(keyFilePath(dataDir), body, 0o600);
}

/** Loads and checks the key file: its keys must be the ones its certificate names. */
export function loadIdentity(dataDir: string): NodeIdentity {
  const file = keyFilePath(dataDir);
  const raw = readPrivateFile(file, { missing: 'KEY_FILE_MISSING', permissions: 'KEY_FILE_PERMISSIONS' }, 'key file');
  const corrupt = (why: string, cause?: unknown): never => {
    throw new KithError('KEY_FILE_CORRUPT', `key file ${file} is corrupt: ${why}`, { cause });
  };
  let v: CborValue;
  try {
    v = decodeCanonical(new Uint8Array(raw));
  } catch (e) {
    return corrupt('it is not a kith key file', e);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) return corrupt('it is not a kith key file');
  const { node, gen, signSecret, dhSecret, cert, own } = v as Record<string, CborValue>;
  if (v['v'] !== 1) corrupt(`unsupported version ${String(v['v'])}`);
  if (!(signSecret instanceof Uint8Array) || signSecret.length !== 32) return corrupt('signing key missing');
  if (!(dhSecret instanceof Uint8Array) || dhSecret.length !== 32) return corrupt('DH key missing');
  if (!(cert instanceof Uint8Array)) return corrupt('certificate missing');
  if (own !== undefined && (!(own instanceof Uint8Array) || own.length !== 32)) return corrupt('own secret malformed');
  let parsed: NodeCertificate;
  try {
    parsed = verifyCertificate(cert);
  } catch (e) {
    return corrupt(isKithError(e) ? e.message : 'certificate unreadable', e);
  }
  const signPub = signatures.ed25519PublicKey(signSecret);
  const dhPub = signatures.x25519PublicKey(dhSecret);
  if (!bytesEqual(signPub, parsed.signKey) || !bytesEqual(dhPub, parsed.dhKey)) corrupt('its keys do not match its certificate');
  if (parsed.nodeIndex !== node || parsed.generation !== gen) corrupt('node index or generation does not match its certificate');
  return {
    keys: {
      nodeIndex: parsed.nodeIndex,
      generation: parsed.generation,
      sign: { secretKey: signSecret, publicKey: signPub },
      dh: { secretKey: dhSecret, publicKey: dhPub },
    },
    certBytes: cert,
    cert: parsed,
    ...(own instanceof Uint8Array ? { ownSecret: own } : {}),
  };
}
