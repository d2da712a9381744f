// The CLI as a user runs it, as a real process: init, recover, id, and every bad-input path,
// each with its own stable code, with nothing lost or overwritten.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { kith, RUNTIME } from '../helpers/proc.js';
import { toHex } from '../../core/hex.js';
import { deriveNodeKeys, deriveUserRoot } from '../../identity/keys.js';
import { phraseToSeed } from '../../identity/phrase.js';

const golden = JSON.parse(fs.readFileSync(new URL('../golden/identity.json', import.meta.url), 'utf8'));
t.comment(`CLI runtime: ${RUNTIME}`);

function phraseFile(dir: string, phrase: string, mode = 0o600): string {
  const f = path.join(dir, `phrase-${Math.random().toString(36).slice(2)}.txt`);
  fs.writeFileSync(f, phrase + '\n', { mode });
  fs.chmodSync(f, mode);
  return f;
}

t.test('init prints 24 words once with a warning, and id --json shows the keys', async (t) => {
  const dir = t.testdir();
  const r = kith(['init', '--data-dir', path.join(dir, 'd'), '--label', 'router']);
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /Write it on paper/);
  const words = [...r.stdout.matchAll(/^\s*\d+\. (\w+)$/gm)].map((m) => m[1]);
  t.equal(words.length, 24);
  const id = JSON.parse(kith(['id', '--data-dir', path.join(dir, 'd'), '--json']).stdout);
  t.same(Object.keys(id).sort(), ['generation', 'label', 'nodeDhKey', 'nodeIndex', 'nodeSignKey', 'roles', 'userKey']);
  t.match(id.userKey, /^[0-9a-f]{64}$/);
  t.same(id.roles, ['access', 'relay']);
  t.equal(id.label, 'router');
  // The printed words recreate exactly these keys.
  const seed = phraseToSeed(words.join(' '));
  t.equal(id.userKey, toHex(deriveUserRoot(seed).publicKey));
  t.equal(id.nodeSignKey, toHex(deriveNodeKeys(seed, 0, 0).sign.publicKey));
  t.equal(id.nodeDhKey, toHex(deriveNodeKeys(seed, 0, 0).dh.publicKey));
  const human = kith(['id', '--data-dir', path.join(dir, 'd')]);
  t.match(human.stdout, /user key\s+[0-9a-f]{64}/);
  t.notOk(fs.readdirSync(path.join(dir, 'd')).some((f) => /phrase/.test(f)), 'the phrase is not stored');
});

t.test('init --phrase-file writes a 0600 file and prints no words; --roles and --json', async (t) => {
  const dir = t.testdir();
  const pf = path.join(dir, 'words.txt');
  const r = kith(['init', '--data-dir', path.join(dir, 'd'), '--phrase-file', pf, '--roles', 'relay', '--json']);
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  t.same(out.roles, ['relay']);
  t.equal(out.phrase, undefined);
  t.equal(fs.statSync(pf).mode & 0o777, 0o600);
  t.equal(fs.readFileSync(pf, 'utf8').trim().split(' ').length, 24);
  const again = kith(['init', '--data-dir', path.join(dir, 'e'), '--phrase-file', pf]);
  t.equal(again.status, 1);
  t.match(again.stderr, /error\[PHRASE_FILE\]/);
  t.notOk(fs.existsSync(path.join(dir, 'e', 'node.key')), 'no identity made when the phrase could not be saved');
  const lost = kith(['init', '--data-dir', path.join(dir, 'f'), '--phrase-file', path.join(dir, 'nonexistent', 'p')]);
  t.match(lost.stderr, /error\[PHRASE_FILE\]/, 'a phrase file in a missing directory: PHRASE_FILE');
  t.notOk(fs.existsSync(path.join(dir, 'f', 'node.key')), 'and no identity whose phrase nobody saw');
  t.equal(kith(['init', '--data-dir', path.join(dir, 'f'), '--phrase-file', path.join(dir, 'f.txt')]).status, 0, 'a retry is not IDENTITY_EXISTS');
});

t.test('recover from a file or stdin gives exactly the golden keys, for any node and generation', async (t) => {
  const dir = t.testdir();
  for (const n of golden.nodes) {
    const d = path.join(dir, `n${n.nodeIndex}g${n.generation}`);
    const r = kith(['init', '--recover', '--data-dir', d, '--node', String(n.nodeIndex), '--generation', String(n.generation), '--phrase-file', phraseFile(dir, golden.phrase)]);
    t.equal(r.status, 0, r.stderr);
    const id = JSON.parse(kith(['id', '--json', '--data-dir', d]).stdout);
    t.equal(id.userKey, golden.userKey);
    t.equal(id.nodeSignKey, n.signPublic);
    t.equal(id.nodeDhKey, n.dhPublic);
  }
  const d = path.join(dir, 'stdin');
  const r = kith(['init', '--recover', '--data-dir', d], { input: `  ${golden.phrase.toUpperCase()}\n` });
  t.equal(r.status, 0, r.stderr);
  t.equal(JSON.parse(kith(['id', '--json', '--data-dir', d]).stdout).nodeSignKey, golden.nodes[0].signPublic);
});

t.test('bad phrases: a typo names the word; checksum; length; a world-readable file', async (t) => {
  const dir = t.testdir();
  const words = golden.phrase.split(' ');
  words[4] = 'abandn';
  const cases: [string, string[], string | undefined, RegExp][] = [
    ['typo', ['--phrase-file', phraseFile(dir, words.join(' '))], undefined, /error\[PHRASE_WORD_UNKNOWN\]: word 5 of the seed phrase[\s\S]*hint: check word 5 against your written copy \(\d+ words? of the list/],
    ['checksum', [], golden.phrase.replace(/art$/, 'zoo'), /error\[PHRASE_CHECKSUM\]/],
    ['length', [], 'abandon abandon art', /error\[PHRASE_LENGTH\]: .*has 3 words/],
    ['readable file', ['--phrase-file', phraseFile(dir, golden.phrase, 0o644)], undefined, /error\[PHRASE_FILE\]: .*mode 0644/],
    ['missing file', ['--phrase-file', path.join(dir, 'nope.txt')], undefined, /error\[PHRASE_FILE\]/],
  ];
  for (const [why, extra, input, re] of cases) {
    const d = path.join(dir, why.replace(/ /g, '-'));
    const r = kith(['init', '--recover', '--data-dir', d, ...extra], input === undefined ? {} : { input });
    t.equal(r.status, 1, why);
    t.match(r.stderr, re, why);
    const json = kith(['init', '--recover', '--json', '--data-dir', d, ...extra], input === undefined ? {} : { input });
    t.notMatch(r.stderr + json.stdout + json.stderr, /abandn|"abandon"|\bart\b|\bzoo\b/, `${why}: no word of the phrase on stderr or in --json`);
    t.notOk(fs.existsSync(path.join(d, 'node.key')), `${why}: no identity written`);
  }
});

t.test('init never overwrites an identity', async (t) => {
  const dir = t.testdir();
  const d = path.join(dir, 'd');
  t.equal(kith(['init', '--data-dir', d, '--phrase-file', path.join(dir, 'p')]).status, 0);
  const before = fs.readFileSync(path.join(d, 'node.key'));
  for (const args of [['init'], ['init', '--recover', '--phrase-file', phraseFile(dir, golden.phrase)]]) {
    const r = kith([...args, '--data-dir', d]);
    t.equal(r.status, 1);
    t.match(r.stderr, /error\[IDENTITY_EXISTS\]/);
  }
  t.same(fs.readFileSync(path.join(d, 'node.key')), before);
});

t.test('usage errors exit 2 with USAGE; --help exits 0; JSON errors on stdout', async (t) => {
  const dir = t.testdir();
  t.match(kith(['init', '--roles', 'admin', '--data-dir', dir]).stderr, /error\[USAGE\]: roles must be/);
  t.equal(kith(['init', '--node', 'x', '--data-dir', dir]).status, 2);
  t.equal(kith(['frobnicate']).status, 2);
  const help = kith(['run', '--help']);
  t.equal(help.status, 0);
  t.match(help.stdout, /--data-dir/);
  const j = kith(['id', '--json', '--data-dir', path.join(dir, 'none')]);
  t.equal(j.status, 1);
  t.equal(JSON.parse(j.stdout).error.code, 'IDENTITY_MISSING');
  t.match(j.stderr, /error\[IDENTITY_MISSING\][\s\S]*hint: run `kith init`/);
});

t.test('--data-dir falls back to $KITH_DATA_DIR', async (t) => {
  const dir = t.testdir();
  t.equal(kith(['init', '--phrase-file', path.join(dir, 'p')], { env: { KITH_DATA_DIR: path.join(dir, 'env') } }).status, 0);
  t.ok(fs.existsSync(path.join(dir, 'env', 'node.key')));
});
