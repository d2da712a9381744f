// BIP39 (test/vectors/data/bip39: trezor/python-mnemonic vectors.json, English, passphrase "TREZOR";
// english.txt, the canonical list).
import t from 'tap';
import { createHash } from 'node:crypto';
import { wordlist } from '@scure/bip39/wordlists/english.js';
import { mnemonicToEntropy, mnemonicToSeedSync } from '@scure/bip39';
import { parsePhrase, phraseToSeed, generatePhrase } from '../../identity/phrase.js';
import { toHex } from '../../core/hex.js';
import { SeededRng } from '../../core/rng.js';
import { isKithError } from '../../core/errors.js';
import { readJsonVector, readVector } from '../helpers/vectors.js';

const english = readJsonVector<{ english: [string, string, string, string][] }>('bip39/vectors.json').english;

t.test('the word list is the canonical English list', async (t) => {
  const text = readVector('bip39/english.txt');
  t.equal(createHash('sha256').update(text).digest('hex'), '2f5eed53a4727b4bf8880d8f3f199efc90e58503646d9ff8eff3a2ed3b24dbda');
  t.same(text.trim().split('\n'), wordlist);
});

t.test('every English vector: entropy and seed (passphrase TREZOR)', async (t) => {
  t.equal(english.length, 24);
  for (const [entropy, mnemonic, seed] of english) {
    t.equal(toHex(mnemonicToEntropy(mnemonic, wordlist)), entropy);
    t.equal(toHex(phraseToSeed24(mnemonic, 'TREZOR')), seed);
  }
});

// kith accepts 24-word phrases only (parsePhrase); the 12- and 18-word vectors check the library.
function phraseToSeed24(m: string, pass: string): Uint8Array {
  return m.split(' ').length === 24 ? phraseToSeed(m, pass) : mnemonicToSeedSync(m, pass);
}

t.test('a typo names its position, never the word', async (t) => {
  const good = english.find((v) => v[1].split(' ').length === 24)![1];
  const words = good.split(' ');
  words[6] = 'vilin';
  const err = catchErr(() => parsePhrase(words.join(' ')));
  t.ok(isKithError(err, 'PHRASE_WORD_UNKNOWN'));
  t.match(err.message, /word 7 /);
  t.notMatch(`${err.message} ${(err as { hint?: string }).hint}`, /vil|violin/, 'neither the typed word nor a suggestion is repeated');
});

t.test('a swapped pair of words fails the checksum, not a crash', async (t) => {
  const good = english.find((v) => v[1].split(' ').length === 24 && new Set(v[1].split(' ')).size > 20)![1];
  const words = good.split(' ');
  [words[0], words[1]] = [words[1]!, words[0]!];
  t.ok(isKithError(catchErr(() => parsePhrase(words.join(' '))), 'PHRASE_CHECKSUM'));
});

t.test('wrong lengths and odd spacing', async (t) => {
  t.ok(isKithError(catchErr(() => parsePhrase('abandon abandon')), 'PHRASE_LENGTH'));
  t.ok(isKithError(catchErr(() => parsePhrase('')), 'PHRASE_LENGTH'));
  const good = english.find((v) => v[1].split(' ').length === 24)![1];
  t.equal(parsePhrase(`  ${good.toUpperCase().replace(/ /g, '\n\t ')}  `), good);
});

t.test('generated phrases are 24 valid words', async (t) => {
  const rng = new SeededRng('bip39-gen');
  for (let i = 0; i < 20; i++) t.equal(parsePhrase(generatePhrase(rng)).split(' ').length, 24);
});

function catchErr(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    return e as Error;
  }
  throw new Error('expected a throw');
}
