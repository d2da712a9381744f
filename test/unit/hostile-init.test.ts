// Creating an identity when the seed phrase cannot be saved: nothing may be created whose phrase
// nobody ever saw (issue 18, break 4). `kith init --phrase-file` and `kith run --init-if-missing`
// both go through initIdentity with a phrase file.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { hasIdentity } from '../../identity/keystore.js';
import { initIdentity } from '../../agent/init.js';
import { codeOf } from '../helpers/codes.js';

const deps = () => ({ clock: new VirtualClock(), rng: new SeededRng('init') });
const opts = (dataDir: string, phraseFile: string) => ({ dataDir, phraseFile, nodeIndex: 0, generation: 0, roles: ['access' as const] });


t.test('a phrase file in a directory that does not exist: PHRASE_FILE, no identity, and a retry works', async (t) => {
  const dir = t.testdir();
  const d = path.join(dir, 'data');
  t.equal(codeOf(() => initIdentity(deps(), opts(d, path.join(dir, 'nonexistent', 'p')))), 'PHRASE_FILE');
  t.notOk(hasIdentity(d), 'no node.key was written');
  const made = initIdentity(deps(), opts(d, path.join(dir, 'p')));
  t.equal(fs.readFileSync(path.join(dir, 'p'), 'utf8').trim(), made.phrase, 'the retry writes the phrase of the identity it made');
});

t.test('a seed-phrase.txt that already exists (run --init-if-missing): PHRASE_FILE, no identity, the file untouched', async (t) => {
  const d = t.testdir({ 'seed-phrase.txt': 'an older phrase\n' });
  const file = path.join(d, 'seed-phrase.txt');
  t.equal(codeOf(() => initIdentity(deps(), opts(d, file))), 'PHRASE_FILE');
  t.notOk(hasIdentity(d), 'no node.key was written');
  t.equal(fs.readFileSync(file, 'utf8'), 'an older phrase\n');
});

t.test('when the key file cannot be written, the phrase file just written is removed again', async (t) => {
  const dir = t.testdir({ 'data': 'a file where the data dir should be' });
  const pf = path.join(dir, 'p');
  t.equal(codeOf(() => initIdentity(deps(), opts(path.join(dir, 'data'), pf))), 'DATA_DIR');
  t.notOk(fs.existsSync(pf), 'no phrase file naming an identity that does not exist');
});
