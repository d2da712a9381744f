// Pairing codes, QR content and safety numbers: pure functions.
//
//   code        "<4 digits>-<word>-<word>", e.g. "4096-violin-harbor". The digits (1000–9999)
//               pick the offer on the LAN and are not secret; the two words, from the BIP39
//               English list (2048 words, so 22 bits), are what the guesser lacks. With one guess
//               per offer, a stranger's chance is 1 in 4,194,304.
//   QR content  "kith:pair?c=<code>&a=<host>:<port>": the code plus the offer's LAN endpoint, so a
//               scanner needs no discovery.
//   PRS         (the CPace password) utf8("kith-pair-v1 " + code)
//   safety      SHA-512("kith-safety-v1" || min(userA, userB) || max(userA, userB)): the first
//               16 bytes as four groups of five digits (each a big-endian u32 mod 100000). The
//               same for both sides, different for any other pair of users.
import { sha512 } from '@noble/hashes/sha2.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { KithError } from '../../core/errors.js';
import type { Rng } from '../../core/rng.js';
import type { Endpoint } from '../../core/udp.js';

const WORDS = new Map(wordlist.map((w, i) => [w, i]));

export interface PairCode {
  /** The offer number, 1000–9999. */
  offer: number;
  words: [string, string];
  /** The canonical text form. */
  text: string;
}

export function newCode(rng: Rng): PairCode {
  const offer = 1000 + rng.below(9000);
  const words: [string, string] = [wordlist[rng.below(2048)]!, wordlist[rng.below(2048)]!];
  return { offer, words, text: `${offer}-${words[0]}-${words[1]}` };
}

/** Reads a code as a person types it: any case, spaces or hyphens between the parts. */
export function parseCode(input: string): PairCode {
  const parts = input.trim().toLowerCase().split(/[\s\-_.]+/).filter(Boolean);
  const bad = (why: string): never => {
    throw new KithError('PAIR_CODE_INVALID', `pairing code ${JSON.stringify(input.slice(0, 60))}: ${why}`);
  };
  if (parts.length !== 3) bad('expected <digits>-<word>-<word>');
  const [d, w1, w2] = parts as [string, string, string];
  if (!/^\d{4}$/.test(d) || Number(d) < 1000) bad('it must start with four digits (1000–9999)');
  for (const w of [w1, w2]) if (!WORDS.has(w)) bad(`"${w}" is not a word of the list`);
  return { offer: Number(d), words: [w1, w2], text: `${d}-${w1}-${w2}` };
}

export function pakePassword(code: PairCode): Uint8Array {
  return new TextEncoder().encode(`kith-pair-v1 ${code.text}`);
}

export function qrContent(code: PairCode, endpoint: Endpoint): string {
  return `kith:pair?c=${code.text}&a=${endpoint.host}:${endpoint.port}`;
}

/** A typed code, or a scanned QR's content (which also names the offer's endpoint). */
export function parsePairTarget(input: string): { code: PairCode; endpoint?: Endpoint } {
  const s = input.trim();
  if (!s.toLowerCase().startsWith('kith:pair?')) return { code: parseCode(s) };
  const q = new URLSearchParams(s.slice('kith:pair?'.length));
  const code = parseCode(q.get('c') ?? '');
  const a = q.get('a');
  if (a === null) return { code };
  const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(a);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535 || m[1]!.split('.').some((o) => Number(o) > 255)) {
    throw new KithError('PAIR_CODE_INVALID', `QR content: ${JSON.stringify(a.slice(0, 40))} is not an IPv4 host:port`);
  }
  return { code, endpoint: { host: m[1]!, port: Number(m[2]) } };
}

function compare(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export function safetyNumber(userA: Uint8Array, userB: Uint8Array): string {
  const [lo, hi] = compare(userA, userB) <= 0 ? [userA, userB] : [userB, userA];
  const h = sha512(concatBytes(new TextEncoder().encode('kith-safety-v1'), lo, hi));
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  return [0, 4, 8, 12].map((o) => String(v.getUint32(o) % 100000).padStart(5, '0')).join(' ');
}
