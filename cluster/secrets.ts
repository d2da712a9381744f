// Secrets a pair or a cluster shares, derived from one 32-byte bootstrap secret given to both
// ends (`kith peer add --secret-file`), until in-person pairing hands out fresh ones. Each use has
// its own label, so no derived value can stand in for another.
//   psk(A, B)   = HMAC-BLAKE2s(secret, "kith-psk-v1" || min(dhA, dhB) || max(dhA, dhB))
//   rendezvous  = HMAC-BLAKE2s(secret, "kith-rendezvous-v1")
import { hmacBlake2s } from '../core/blake2s.js';

const utf8 = new TextEncoder();

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export function pairPsk(secret: Uint8Array, dhA: Uint8Array, dhB: Uint8Array): Uint8Array {
  const [lo, hi] = compare(dhA, dhB) <= 0 ? [dhA, dhB] : [dhB, dhA];
  const label = utf8.encode('kith-psk-v1');
  const input = new Uint8Array(label.length + 64);
  input.set(label);
  input.set(lo, label.length);
  input.set(hi, label.length + 32);
  return hmacBlake2s(secret, input);
}

export function rendezvousSecret(secret: Uint8Array): Uint8Array {
  return hmacBlake2s(secret, utf8.encode('kith-rendezvous-v1'));
}
