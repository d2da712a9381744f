// A careless admin and a power cut against `kith run` as a real process: a data dir that existed
// with loose modes (issue 18, weak spot 9), a --data-dir symlinked elsewhere (11), a stale
// agent.json whose PID now belongs to another process (12); and the rows marked "held": damaged
// key and token files give their codes and stay untouched, shell metacharacters in arguments run
// nothing. One identity is made once and copied, so the file stays quick.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { spawn, spawnSync } from 'node:child_process';
import { kith, startAgent, RUNTIME } from '../helpers/proc.js';

t.comment(`agent runtime: ${RUNTIME}`);

const modeOf = (p: string) => fs.statSync(p).mode & 0o777;
let template: string;

/** A copy of the one initialized data dir (node.key, and api.token from one start), mode 0700. */
function dataDir(dir: string, name = 'data'): string {
  const d = path.join(dir, name);
  fs.cpSync(template, d, { recursive: true });
  fs.chmodSync(d, 0o700);
  return d;
}

t.before(async () => {
  const dir = t.testdir();
  template = path.join(dir, 'template');
  const r = kith(['init', '--data-dir', template, '--phrase-file', path.join(dir, 'phrase')]);
  if (r.status !== 0) throw new Error(r.stderr);
  const a = await startAgent(t, template);
  await a.stop();
});

t.test('a data dir and store left readable by others are made private when the agent starts', async (t) => {
  const dir = t.testdir();
  const d = dataDir(dir);
  // As an older kith (or a careless admin) left it: 0755 dir, 0644 store files.
  fs.chmodSync(d, 0o755);
  fs.chmodSync(path.join(d, 'store'), 0o755);
  for (const f of fs.readdirSync(path.join(d, 'store'))) fs.chmodSync(path.join(d, 'store', f), 0o644);
  const a = await startAgent(t, d);
  t.equal(modeOf(d), 0o700, 'the data dir is 0700 again');
  t.match(a.output(), /had mode 0755: made it 0700/, 'and the log says so');
  const loose: string[] = [];
  const walk = (p: string) => {
    for (const e of fs.readdirSync(p, { withFileTypes: true })) {
      const f = path.join(p, e.name);
      if (e.isDirectory()) walk(f);
      if (e.name !== 'agent.json' && (modeOf(f) & 0o077) !== 0) loose.push(`${path.relative(d, f)} ${modeOf(f).toString(8)}`);
    }
  };
  walk(d);
  t.same(loose, [], 'no file but agent.json can be read by others');
  await a.stop();
  const open = path.join(dir, 'open');
  fs.mkdirSync(open);
  fs.chmodSync(open, 0o777);
  const r = kith(['init', '--data-dir', open, '--phrase-file', path.join(dir, 'open.phrase')]);
  t.match(r.stderr, /error\[DATA_DIR_UNSAFE\]/, 'a dir anyone can write to is refused');
  t.same(fs.readdirSync(open), [], 'and nothing is written into it');
  t.notOk(fs.existsSync(path.join(dir, 'open.phrase')), 'not even the phrase');
});

t.test('a --data-dir symlinked to a stand-in for /etc: IDENTITY_MISSING before anything is created', async (t) => {
  const dir = t.testdir({ etc: { passwd: 'root:x:0:0::/root:/bin/sh\n', hosts: '127.0.0.1 localhost\n' } });
  fs.chmodSync(path.join(dir, 'etc'), 0o755);
  fs.symlinkSync(path.join(dir, 'etc'), path.join(dir, 'data'));
  const r = kith(['run', '--data-dir', path.join(dir, 'data'), '--port', '0', '--api-port', '0']);
  t.equal(r.status, 1);
  t.match(r.stderr, /error\[IDENTITY_MISSING\]/);
  t.same(fs.readdirSync(path.join(dir, 'etc')).sort(), ['hosts', 'passwd'], 'no store, no token, nothing');
  t.equal(modeOf(path.join(dir, 'etc')), 0o755, 'and its mode unchanged');
});

t.test('a stale agent.json whose PID now belongs to another process does not keep the agent from starting', async (t) => {
  const d = dataDir(t.testdir());
  const other = spawn('sleep', ['60'], { stdio: 'ignore' });
  t.teardown(() => void other.kill('SIGKILL'));
  fs.writeFileSync(path.join(d, 'agent.json'), JSON.stringify({ pid: other.pid, runtime: 'node', version: '0.1.0', startedAtMs: 0, cluster: { host: '0.0.0.0', port: 5484 }, api: { host: '127.0.0.1', port: 5485 }, profile: 'home' }));
  const a = await startAgent(t, d);
  t.pass(`started although agent.json named PID ${other.pid} (alive: sleep)`);
  const second = kith(['run', '--data-dir', d, '--port', '0', '--api-port', '0']);
  t.match(second.stderr, new RegExp(`error\\[AGENT_ALREADY_RUNNING\\].*PID ${a.pid}`), 'a second agent is still refused by the store\'s lock, naming the PID');
  await a.stop();
});

t.test('damaged key and token files give their codes and stay as they were', async (t) => {
  const dir = t.testdir();
  const cases: [string, (d: string) => void, string, string][] = [
    ['node.key readable by others', (d) => fs.chmodSync(path.join(d, 'node.key'), 0o644), 'KEY_FILE_PERMISSIONS', 'node.key'],
    ['node.key truncated', (d) => fs.truncateSync(path.join(d, 'node.key'), 40), 'KEY_FILE_CORRUPT', 'node.key'],
    ['node.key bit-flipped', (d) => {
      const b = fs.readFileSync(path.join(d, 'node.key'));
      b[b.length - 5]! ^= 0x10;
      fs.writeFileSync(path.join(d, 'node.key'), b);
    }, 'KEY_FILE_CORRUPT', 'node.key'],
    ['api.token not hex', (d) => fs.writeFileSync(path.join(d, 'api.token'), 'not a token\n', { mode: 0o600 }), 'KEY_FILE_CORRUPT', 'api.token'],
    ['api.token readable by others', (d) => fs.chmodSync(path.join(d, 'api.token'), 0o644), 'KEY_FILE_PERMISSIONS', 'api.token'],
  ];
  for (const [why, damage, code, file] of cases) {
    const d = dataDir(dir, why.replace(/\W+/g, '-'));
    damage(d);
    const before = fs.readFileSync(path.join(d, file));
    const beforeMode = modeOf(path.join(d, file));
    const r = kith(['run', '--data-dir', d, '--port', '0', '--api-port', '0']);
    t.equal(r.status, 1, why);
    t.match(r.stderr, new RegExp(`error\\[${code}\\]`), `${why}: ${code}`);
    t.same(fs.readFileSync(path.join(d, file)), before, `${why}: the file is untouched`);
    t.equal(modeOf(path.join(d, file)), beforeMode, `${why}: and so is its mode`);
  }
});

t.test('shell metacharacters in arguments execute nothing', async (t) => {
  const dir = t.testdir();
  const marker = path.join(dir, 'pwned');
  // In paths a relative marker (a slash would make it a directory), looked for in the cwd too.
  const rel = `kith-pwned-${process.pid}`;
  const p = [`$(touch ${marker})`, `\`touch ${marker}\``, `; touch ${marker}`, `| touch ${marker} &&`, `'"; touch ${marker}; echo "'`].join(' ');
  const d = path.join(dir, `data $(touch ${rel}); touch ${rel} \`touch ${rel}\``);
  t.equal(kith(['init', '--data-dir', d, '--label', p.slice(0, 64), '--phrase-file', path.join(dir, `p; touch ${rel}`)]).status, 0, 'init with them in the label and the paths');
  t.match(JSON.parse(kith(['id', '--json', '--data-dir', d]).stdout).label, /^\$\(touch /, 'the label is kept as text');
  kith(['peer', 'add', p, '--secret-file', p, '--data-dir', d]);
  kith(['pair', '--code', p, '--data-dir', d]);
  kith(['config', 'check', '--config', p]);
  const a = await startAgent(t, d);
  await a.stop();
  t.notOk(fs.existsSync(marker), 'no command ran');
  t.notOk(fs.existsSync(path.join(process.cwd(), rel)) || fs.existsSync(path.join(dir, rel)), 'not even from a path');
});

const canMount = process.getuid?.() === 0 && process.platform === 'linux';

t.test('a full disk under the CLI: DISK_FULL with its hint, never INTERNAL, and no identity half made', {
  skip: canMount ? false : 'needs root to mount a small tmpfs',
}, async (t) => {
  const mnt = fs.mkdtempSync(path.join(os.tmpdir(), 'kith-cli-full-'));
  t.teardown(() => (spawnSync('umount', [mnt], { timeout: 10_000 }), fs.rmSync(mnt, { recursive: true, force: true })));
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mnt], { timeout: 10_000 }).status !== 0) throw new Error('mount failed although root');
  fs.mkdirSync(path.join(mnt, 'data'), { mode: 0o700 });
  for (let i = 0; i < 64; i++) {
    try {
      fs.appendFileSync(path.join(mnt, 'filler'), new Uint8Array(16 * 1024));
    } catch {
      break;
    }
  }
  const secret = kith(['secret', 'new', '--out', path.join(mnt, 'secret')]);
  t.match(secret.stderr, /error\[DISK_FULL\][\s\S]*hint: free space/, '`secret new`: DISK_FULL');
  const init = kith(['init', '--data-dir', path.join(mnt, 'data'), '--phrase-file', path.join(mnt, 'phrase')]);
  t.match(init.stderr, /error\[DISK_FULL\]/, '`init`: DISK_FULL');
  t.notOk(fs.existsSync(path.join(mnt, 'data', 'node.key')), 'no identity whose phrase was not saved');
  t.notMatch(secret.stderr + init.stderr, /INTERNAL/);
});
