// The tie rule every agent computes the same way: among tied options, the one whose
// SHA-256(utf8(seed) || 0x00 || utf8(option)) is smallest (bytewise) wins the tie. The seed is the
// conversation id, so no option name is favoured across conversations, and nobody can steer a
// tie without changing the conversation. `kith method test` uses the empty seed.
import { sha256 } from '@noble/hashes/sha2.js';

export function tieKey(seed: string, option: string): string {
  const enc = new TextEncoder();
  const s = enc.encode(seed);
  const o = enc.encode(option);
  const buf = new Uint8Array(s.length + 1 + o.length);
  buf.set(s);
  buf.set(o, s.length + 1);
  return Buffer.from(sha256(buf)).toString('hex');
}

/** Orders options by the tie rule (first = wins the tie). */
export function tieOrder(seed: string, options: readonly string[]): string[] {
  return [...options].map((o) => [tieKey(seed, o), o] as const).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map((x) => x[1]);
}

export function breakTie(seed: string, tied: readonly string[]): string {
  if (tied.length === 0) throw new RangeError('breakTie of nothing');
  return tieOrder(seed, tied)[0]!;
}
