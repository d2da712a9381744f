// core/crypto.ts for the browser bundle: the @noble backend only (node:crypto does not exist in a
// page). The same interface and the same checks; swapped in by build.ts for revoke.js.
import { ed25519, x25519 } from '@noble/curves/ed25519.js';

const need = (b: Uint8Array, n: number, what: string) => {
  if (!(b instanceof Uint8Array) || b.length !== n) throw new TypeError(`expected ${what} of ${n} bytes`);
};

export const signatures = {
  name: 'noble',
  ed25519PublicKey: (s: Uint8Array) => (need(s, 32, 'an Ed25519 secret key'), ed25519.getPublicKey(s)),
  ed25519Sign: (s: Uint8Array, m: Uint8Array) => (need(s, 32, 'an Ed25519 secret key'), ed25519.sign(m, s)),
  ed25519Verify: (p: Uint8Array, m: Uint8Array, sig: Uint8Array) => {
    try { return p.length === 32 && sig.length === 64 && ed25519.verify(sig, m, p, { zip215: false }); } catch { return false; }
  },
  x25519PublicKey: (s: Uint8Array) => x25519.getPublicKey(s),
  x25519: (s: Uint8Array, p: Uint8Array) => x25519.getSharedSecret(s, p),
  x25519Generate: () => { const secretKey = x25519.utils.randomSecretKey(); return { secretKey, publicKey: x25519.getPublicKey(secretKey) }; },
};
export const nobleBackend = signatures;
