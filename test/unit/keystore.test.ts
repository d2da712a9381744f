// The key file: atomic 0600 writes; missing, corrupt, mismatched and world-readable files each
// give their own code naming the file; nothing secret in any message.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { VirtualClock } from '../../core/clock.js';
import { isKithError } from '../../core/errors.js';
import { toHex } from '../../core/hex.js';
import { certifyNode } from '../../identity/create.js';
import { loadIdentity, saveIdentity, keyFilePath } from '../../identity/keystore.js';
import { GOLDEN_PHRASE } from '../golden/make-identity-golden.js';

const clock = new VirtualClock();
const made = certifyNode(clock, { phrase: GOLDEN_PHRASE, nodeIndex: 0, generation: 0, roles: ['access'], label: 'k' });

function fresh(t: { testdir(): string }): string {
  const dir = t.testdir();
  saveIdentity(dir, made);
  return dir;
}

function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'no error';
  } catch (e) {
    return isKithError(e) ? e.code : `non-kith ${(e as Error).message}`;
  }
}

t.test('saved keys load back, mode 0600, no temp files left', async (t) => {
  const dir = fresh(t);
  const id = loadIdentity(dir);
  t.equal(toHex(id.keys.sign.publicKey), toHex(made.keys.sign.publicKey));
  t.equal(fs.statSync(keyFilePath(dir)).mode & 0o777, 0o600);
  t.same(fs.readdirSync(dir), ['node.key']);
});

t.test('a missing key file is KEY_FILE_MISSING, naming the file', async (t) => {
  const dir = t.testdir();
  try {
    loadIdentity(dir);
    t.fail('loaded');
  } catch (e) {
    t.ok(isKithError(e, 'KEY_FILE_MISSING'));
    t.match((e as Error).message, keyFilePath(dir));
  }
});

t.test('a world-readable key file is refused', async (t) => {
  const dir = fresh(t);
  fs.chmodSync(keyFilePath(dir), 0o644);
  t.equal(codeOf(() => loadIdentity(dir)), 'KEY_FILE_PERMISSIONS');
});

t.test('corrupt key files: garbage, truncated, empty, mismatched keys', async (t) => {
  const dir = fresh(t);
  const file = keyFilePath(dir);
  const good = fs.readFileSync(file);
  const cases: [string, Uint8Array][] = [
    ['garbage', new TextEncoder().encode('not a key file at all')],
    ['empty', new Uint8Array(0)],
    ['truncated', good.subarray(0, good.length - 10)],
  ];
  const swapped = new Uint8Array(good);
  // Flip a bit inside the signing secret: the keys no longer match the certificate.
  const idx = Buffer.from(good).indexOf(Buffer.from(made.keys.sign.secretKey));
  t.ok(idx > 0);
  swapped[idx]! ^= 1;
  cases.push(['mismatched keys', swapped]);
  for (const [why, bytes] of cases) {
    fs.writeFileSync(file, bytes, { mode: 0o600 });
    try {
      loadIdentity(dir);
      t.fail(`${why}: loaded`);
    } catch (e) {
      t.ok(isKithError(e, 'KEY_FILE_CORRUPT'), why);
      t.match((e as Error).message, file);
      t.notMatch((e as Error).message, toHex(made.keys.sign.secretKey), 'no secret in the message');
    }
  }
});

t.test('a node.key that is a directory is reported, not a crash', async (t) => {
  const dir = t.testdir();
  fs.mkdirSync(path.join(dir, 'node.key'));
  t.equal(codeOf(() => loadIdentity(dir)), 'KEY_FILE_MISSING');
});
