// A failed command removes the data dir it created, and only that.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { firstMissingDir, undoNewDirOnFailure } from '../../agent/fresh-dir.js';

const fail = (dir: string) => () => {
  fs.mkdirSync(dir, { recursive: true });
  fs.mkdirSync(path.join(dir, 'store'));
  throw new Error('IDENTITY_MISSING');
};

t.test('firstMissingDir names the outermost directory mkdir -p would create', async (t) => {
  const root = t.testdir({ have: {} });
  t.equal(firstMissingDir(path.join(root, 'have')), undefined);
  t.equal(firstMissingDir(path.join(root, 'have', 'a', 'b')), path.join(root, 'have', 'a'));
});

t.test('a new data dir (and the parents made for it) is removed when the command fails', async (t) => {
  const root = t.testdir();
  const dir = path.join(root, 'home', 'kith');
  await t.rejects(undoNewDirOnFailure(dir, fail(dir)), /IDENTITY_MISSING/);
  t.same(fs.readdirSync(root), [], 'nothing left behind');
});

t.test('a data dir that existed is kept, with what was in it, when the command fails', async (t) => {
  const root = t.testdir({ kith: { 'node.key': 'x' } });
  const dir = path.join(root, 'kith');
  await t.rejects(undoNewDirOnFailure(dir, fail(dir)), /IDENTITY_MISSING/);
  t.ok(fs.existsSync(path.join(dir, 'node.key')), 'the existing file is still there');
});

t.test('a new data dir is kept when the command succeeds', async (t) => {
  const root = t.testdir();
  const dir = path.join(root, 'kith');
  t.equal(await undoNewDirOnFailure(dir, () => (fs.mkdirSync(dir), 7)), 7);
  t.ok(fs.existsSync(dir));
});
