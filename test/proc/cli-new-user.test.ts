// Rough edges a new user hit with `init --recover` and `run`, as real processes: a failed command
// leaves no data dir behind, and a recovery says that two machines may now share one key.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { kith, RUNTIME } from '../helpers/proc.js';

const golden = JSON.parse(fs.readFileSync(new URL('../golden/identity.json', import.meta.url), 'utf8'));
t.comment(`CLI runtime: ${RUNTIME}`);

t.test('a failed init --recover or run leaves no new data dir; an existing one is kept', async (t) => {
  const dir = t.testdir({ existing: { 'notes.txt': 'mine' } });
  const typo = kith(['init', '--recover', '--data-dir', path.join(dir, 'new', 'kith')], { input: 'abandon abandon art\n' });
  t.match(typo.stderr, /error\[PHRASE_LENGTH\]/);
  const run = kith(['run', '--data-dir', path.join(dir, 'fresh'), '--port', '0', '--api-port', '0']);
  t.match(run.stderr, /error\[IDENTITY_MISSING\]/);
  const old = kith(['run', '--data-dir', path.join(dir, 'existing'), '--port', '0', '--api-port', '0']);
  t.match(old.stderr, /error\[IDENTITY_MISSING\]/);
  t.same(fs.readdirSync(dir).sort(), ['existing'], 'neither new/ nor fresh/ is left behind');
  t.equal(fs.readFileSync(path.join(dir, 'existing', 'notes.txt'), 'utf8'), 'mine', 'what was there stays');
});

t.test('init --recover warns that another machine may run with the same node key', async (t) => {
  const dir = t.testdir();
  const r = kith(['init', '--recover', '--node', '2', '--generation', '1', '--json', '--data-dir', path.join(dir, 'd')], { input: golden.phrase + '\n' });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stderr, /^warning: this machine now holds the keys of node 2 \(generation 1\)\. If another machine still runs as that node, the two share one key/);
  t.match(r.stderr, /kith node add/);
  t.match(r.stderr, /--generation 2 and revoke the old one/);
  t.match(JSON.parse(r.stdout).warning, /share one key/);
});
