// Seed phrases: BIP39, 24 English words (256 bits of entropy + 8 checksum bits).
// A phrase typed by a person is checked word by word, so that a typo is named, not just refused.
import { entropyToMnemonic, mnemonicToEntropy, mnemonicToSeedSync } from '@scure/bip39';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import type { Rng } from '../core/rng.js';
import { KithError } from '../core/errors.js';

export const PHRASE_WORDS = 24;
const WORD_INDEX = new Map(wordlist.map((w, i) => [w, i]));

/** A new 24-word phrase from 32 bytes of the given randomness. */
export function generatePhrase(rng: Rng): string {
  const entropy = rng.bytes(32);
  try {
    return entropyToMnemonic(entropy, wordlist);
  } finally {
    entropy.fill(0);
  }
}

/** Words as a person might type them: any case, any whitespace between. */
export function splitPhrase(text: string): string[] {
  return text.normalize('NFKD').toLowerCase().trim().split(/\s+/).filter((w) => w.length > 0);
}

/** How many list words are near a typo (the same first three letters, else the same first letter). */
function nearCount(word: string): number {
  const byPrefix = wordlist.filter((w) => w.startsWith(word.slice(0, 3))).length;
  return byPrefix > 0 ? byPrefix : wordlist.filter((w) => w[0] === word[0]).length;
}

/**
 * Checks a phrase and returns it in normal form (lowercase, single spaces).
 * Throws PHRASE_LENGTH, PHRASE_WORD_UNKNOWN (naming the position) or PHRASE_CHECKSUM. No error
 * repeats a word, typed or suggested: a screen, a log or a --json output must not end up holding
 * most of a word of the phrase (issue 18, weak spot 14).
 */
export function parsePhrase(text: string): string {
  const words = splitPhrase(text);
  if (words.length !== PHRASE_WORDS) {
    throw new KithError('PHRASE_LENGTH', `the seed phrase has ${words.length} words; kith phrases have ${PHRASE_WORDS}`);
  }
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (!WORD_INDEX.has(w)) {
      const near = nearCount(w);
      throw new KithError('PHRASE_WORD_UNKNOWN', `word ${i + 1} of the seed phrase is not in the BIP39 English list`, {
        hint: `check word ${i + 1} against your written copy${near > 0 ? ` (${near} word${near === 1 ? '' : 's'} of the list begin${near === 1 ? 's' : ''} like it)` : ''}; every word of the list is 3 to 8 letters and its first 4 letters are enough to tell it`,
      });
    }
  }
  const phrase = words.join(' ');
  try {
    mnemonicToEntropy(phrase, wordlist).fill(0);
  } catch {
    throw new KithError('PHRASE_CHECKSUM', 'the seed phrase checksum does not match: every word is valid, but one is wrong or two are swapped');
  }
  return phrase;
}

/** BIP39 seed (64 bytes). The passphrase is empty unless the user chose one. */
export function phraseToSeed(phrase: string, passphrase = ''): Uint8Array {
  return mnemonicToSeedSync(parsePhrase(phrase), passphrase);
}
