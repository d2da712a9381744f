// BLAKE2s (RFC 7693) and HMAC-BLAKE2s (RFC 2104, block size 64) for Noise, native where the
// runtime has them (Node: both; Bun: the hash, with HMAC built on it by RFC 2104) and @noble/hashes
// otherwise. A start-up probe checks the native path against noble before it is used; the Noise
// vectors check both (test/vectors/noise.test.ts and the Bun smoke test).
import * as nodeCrypto from 'node:crypto';
import { blake2s as nobleBlake2s } from '@noble/hashes/blake2.js';
import { hmac as nobleHmac } from '@noble/hashes/hmac.js';

const BLOCK = 64;

function nativeHash(data: Uint8Array): Uint8Array {
  return new Uint8Array(nodeCrypto.createHash('blake2s256').update(data).digest());
}

/** RFC 2104 over the native hash: H((K ^ opad) || H((K ^ ipad) || m)). */
function hmacOverNativeHash(key: Uint8Array, data: Uint8Array): Uint8Array {
  const k = new Uint8Array(BLOCK);
  k.set(key.length > BLOCK ? nativeHash(key) : key);
  const inner = new Uint8Array(BLOCK + data.length);
  const outer = new Uint8Array(BLOCK + 32);
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = k[i]! ^ 0x36;
    outer[i] = k[i]! ^ 0x5c;
  }
  inner.set(data, BLOCK);
  outer.set(nativeHash(inner), BLOCK);
  return nativeHash(outer);
}

function nativeHmac(key: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(nodeCrypto.createHmac('blake2s256', key).update(data).digest());
}

type HashFn = (data: Uint8Array) => Uint8Array;
type HmacFn = (key: Uint8Array, data: Uint8Array) => Uint8Array;

function agrees(h: HashFn | undefined, m: HmacFn | undefined): boolean {
  try {
    const key = new Uint8Array(32).map((_, i) => i * 7);
    const long = new Uint8Array(100).map((_, i) => i);
    const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));
    if (h && !same(h(long), nobleBlake2s(long))) return false;
    if (m && !(same(m(key, long), nobleHmac(nobleBlake2s, key, long)) && same(m(long, key), nobleHmac(nobleBlake2s, long, key)))) return false;
    return true;
  } catch {
    return false;
  }
}

const hashImpl: HashFn = agrees(nativeHash, undefined) ? nativeHash : (d) => nobleBlake2s(d);
const hmacImpl: HmacFn = agrees(undefined, nativeHmac)
  ? nativeHmac
  : agrees(undefined, hmacOverNativeHash)
    ? hmacOverNativeHash
    : (k, d) => nobleHmac(nobleBlake2s, k, d);

export const blake2sHash: HashFn = hashImpl;
export const hmacBlake2s: HmacFn = hmacImpl;
export const blake2sBackend = `${hashImpl === nativeHash ? 'native' : 'noble'} hash, ${hmacImpl === nativeHmac ? 'native' : hmacImpl === hmacOverNativeHash ? 'RFC 2104 over native' : 'noble'} HMAC`;
export const nobleReference = { hash: (d: Uint8Array) => nobleBlake2s(d), hmac: (k: Uint8Array, d: Uint8Array) => nobleHmac(nobleBlake2s, k, d) };
