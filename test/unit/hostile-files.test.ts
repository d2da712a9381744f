// The data dir and the store's files must be private even when the dir existed before kith
// (issue 18, weak spot 9), and a --data-dir that points somewhere else (through a symlink, at a
// stand-in for /etc) must not be written into (weak spot 11).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { judgePrivateDir } from '../../core/files.js';
import { prepareDataDir } from '../../agent/paths.js';
import { openLevelStore } from '../../agent/level-store.js';
import { codeOf } from '../helpers/codes.js';

const modeOf = (p: string) => fs.statSync(p).mode & 0o777;


t.test('judgePrivateDir: named cases', async (t) => {
  const me = 1000;
  const cases: [string, { uid: number; mode: number }, { empty: boolean; ours: boolean }, string][] = [
    ['our own 0700 dir', { uid: me, mode: 0o40700 }, { empty: false, ours: false }, 'use'],
    ['a fresh 0755 dir made by mkdir -p', { uid: me, mode: 0o40755 }, { empty: true, ours: false }, 'tighten'],
    ['a 0755 data dir of an older kith', { uid: me, mode: 0o40755 }, { empty: false, ours: true }, 'tighten'],
    ['a 0750 dir shared with a group', { uid: me, mode: 0o40750 }, { empty: false, ours: true }, 'tighten'],
    ['a 0775 dir the group can write to', { uid: me, mode: 0o40775 }, { empty: true, ours: true }, 'refuse'],
    ['a 0777 dir', { uid: me, mode: 0o40777 }, { empty: true, ours: true }, 'refuse'],
    ['/tmp (1777)', { uid: 0, mode: 0o41777 }, { empty: false, ours: false }, 'refuse'],
    ['another user\'s 0700 dir', { uid: 1001, mode: 0o40700 }, { empty: true, ours: true }, 'refuse'],
    ['/etc: 0755, full of other files', { uid: me, mode: 0o40755 }, { empty: false, ours: false }, 'refuse'],
  ];
  for (const [name, st, contents, want] of cases) {
    const v = judgePrivateDir(st, me, contents);
    t.equal(v.use ? (v.tighten ? 'tighten' : 'use') : 'refuse', want, name);
  }
});

t.test('an existing 0755 data dir is made 0700; store files made 0644 before are made 0600', async (t) => {
  const d = path.join(t.testdir(), 'data');
  fs.mkdirSync(d, { mode: 0o755 });
  fs.chmodSync(d, 0o755);
  const s = await openLevelStore(path.join(d, 'store'));
  await s.put('friend/x', new Uint8Array([1, 2, 3]));
  await s.close();
  for (const f of fs.readdirSync(path.join(d, 'store'))) fs.chmodSync(path.join(d, 'store', f), 0o644);
  fs.chmodSync(path.join(d, 'store'), 0o755);
  const warnings: string[] = [];
  prepareDataDir(d, { warn: (m) => warnings.push(m) });
  t.equal(modeOf(d), 0o700, 'the data dir is 0700');
  t.match(warnings.join('\n'), /had mode 0755: made it 0700/, 'and says so');
  const again = await openLevelStore(path.join(d, 'store'));
  await again.close();
  t.equal(modeOf(path.join(d, 'store')), 0o700, 'store/ is 0700');
  const loose = fs.readdirSync(path.join(d, 'store')).filter((f) => (modeOf(path.join(d, 'store', f)) & 0o077) !== 0);
  t.same(loose, [], 'no store file is readable by others');
});

t.test('a dir others can write to, or another user\'s, is refused and left as it was', async (t) => {
  const open = path.join(t.testdir(), 'open');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  t.equal(codeOf(() => prepareDataDir(open)), 'DATA_DIR_UNSAFE', '0777: DATA_DIR_UNSAFE');
  t.equal(modeOf(open), 0o777, 'untouched');
  t.same(fs.readdirSync(open), [], 'nothing written');
  if (process.getuid?.() === 0) {
    const theirs = path.join(t.testdir(), 'theirs');
    fs.mkdirSync(theirs, { mode: 0o700 });
    fs.chownSync(theirs, 12345, 12345);
    t.equal(codeOf(() => prepareDataDir(theirs)), 'DATA_DIR_UNSAFE', 'another user\'s dir: DATA_DIR_UNSAFE');
    t.equal(fs.statSync(theirs).uid, 12345, 'untouched');
  } else {
    t.comment('not root: the other-owner case needs chown (the judgePrivateDir table covers the decision)');
  }
});

t.test('a --data-dir symlinked to a stand-in for /etc: nothing is created or changed there', async (t) => {
  const dir = t.testdir({ etc: { passwd: 'root:x:0:0::/root:/bin/sh\n', hostname: 'box\n' } });
  const etc = path.join(dir, 'etc');
  fs.chmodSync(etc, 0o755);
  const link = path.join(dir, 'kith-data');
  fs.symlinkSync(etc, link);
  t.equal(codeOf(() => prepareDataDir(link, { needIdentity: true })), 'IDENTITY_MISSING', 'kith run: IDENTITY_MISSING first');
  t.equal(codeOf(() => prepareDataDir(link)), 'DATA_DIR_UNSAFE', 'kith init there: DATA_DIR_UNSAFE (others can read it and it holds other files)');
  t.same(fs.readdirSync(etc).sort(), ['hostname', 'passwd'], 'nothing was created');
  t.equal(modeOf(etc), 0o755, 'and its mode is as it was');
});
