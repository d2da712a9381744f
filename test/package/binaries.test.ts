// The portable builds: the arm64 single binary under qemu-user (--version, then a self-test:
// init, status, a consensus method), the x64 binary and the Node bundle the same way natively.
// Runs in .ci/run's package step (KITH_PACKAGE_TEST=1); skipped elsewhere with the reason.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/vectors.js';

const OUT = path.join(REPO_ROOT, 'packaging', 'out');
const QEMU = ['qemu-aarch64-static', '-L', '/usr/aarch64-linux-gnu'];
const hasQemu = spawnSync('sh', ['-c', 'command -v qemu-aarch64-static && test -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6']).status === 0;
// Skipped as a whole file outside the package step, so the main run counts nothing for it.
if (process.env['KITH_PACKAGE_TEST'] !== '1') t.plan(0, 'package tests run in their own CI step (.ci/run sets KITH_PACKAGE_TEST=1)');

const version = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const commit = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT, encoding: 'utf8' }).stdout.trim().slice(0, 12);

// The Wikipedia Schulze example (also in test/proc/cli-consensus.test.ts): E wins.
const SCHULZE = {
  options: ['A', 'B', 'C', 'D', 'E'],
  ballots: [['ACBED', 5], ['ADECB', 5], ['BEDAC', 8], ['CABED', 3], ['CAEBD', 7], ['CBADE', 2], ['DCEBA', 7], ['EBADC', 8]]
    .map(([r, n]) => ({ ranking: (r as string).split(''), count: n })),
};

function build(only: string): void {
  const r = spawnSync(path.join(REPO_ROOT, 'node_modules', '.bin', 'bun'), ['packaging/build.ts', '--only', only], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`build ${only} failed: ${r.stderr}${r.stdout}`);
  t.comment(r.stdout.trim());
}

/** --version, init, status, method test with one build; `cmd` runs it. */
function selfTest(t: Test, cmd: string[], runtime: RegExp): void {
  const dir = t.testdir({ 'sch.json': JSON.stringify(SCHULZE) });
  // An empty cwd with a .env: a binary must not read it (autoloadDotenv: false).
  fs.writeFileSync(path.join(dir, '.env'), 'KITH_DATA_DIR=/nonexistent\n');
  const kith = (args: string[]) => {
    const r = spawnSync(cmd[0]!, [...cmd.slice(1), ...args], { cwd: dir, encoding: 'utf8', timeout: 90_000, env: { PATH: process.env['PATH'], HOME: dir } });
    return { status: r.status, out: r.stdout ?? '', err: r.stderr ?? '' };
  };
  const v = kith(['--version']);
  t.equal(v.status, 0, v.err);
  t.match(v.out, new RegExp(`^${version.replace(/\./g, '\\.')} \\(commit ${commit}(-dirty)?, `));
  t.match(v.out, runtime);
  const data = path.join(dir, 'data');
  const init = kith(['init', '--data-dir', data, '--phrase-file', path.join(dir, 'phrase.txt'), '--json']);
  t.equal(init.status, 0, init.err);
  t.equal(JSON.parse(init.out).dataDir, data);
  const status = kith(['status', '--data-dir', data, '--json']);
  t.equal(status.status, 0, status.err);
  t.same([JSON.parse(status.out).identity.userKey, JSON.parse(status.out).running], [JSON.parse(init.out).userKey, false]);
  // Without --data-dir: the home default, not the .env's KITH_DATA_DIR.
  const dflt = kith(['status', '--json']);
  t.equal(dflt.status, 0, dflt.err);
  t.equal(JSON.parse(dflt.out).dataDir, path.join(dir, '.local', 'share', 'kith'), '.env was not read');
  const m = kith(['method', 'test', '--method', 'schulze', '--input', 'sch.json', '--json']);
  t.equal(m.status, 0, m.err);
  t.same(JSON.parse(m.out).outcome.winners, ['E']);
}

function tests(): void {
  t.test('arm64 binary under qemu-user: --version and a self-test', { skip: (hasQemu ? false : 'qemu-user-static and libstdc++6-arm64-cross are needed') }, async (t) => {
    build('arm64');
    selfTest(t, [...QEMU, path.join(OUT, 'kith-linux-arm64')], /bun \d/);
  });

  t.test('x64 binary: --version and a self-test', async (t) => {
    build('x64');
    selfTest(t, [path.join(OUT, 'kith-linux-x64')], /bun \d/);
  });

  t.test('the Node bundle (armv7, mips): the same on the system Node', async (t) => {
    build('node');
    const tarball = path.join(OUT, `kith-${version}-node.tar.xz`);
    t.ok(fs.existsSync(tarball));
    // Unpacked elsewhere, it must find LevelDB's prebuild next to itself.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kith-node-bundle-'));
    t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }));
    t.equal(spawnSync('tar', ['-C', dir, '-xJf', tarball]).status, 0);
    selfTest(t, ['node', path.join(dir, 'kith-node', 'kith.mjs')], /node \d/);
  });
}

if (process.env['KITH_PACKAGE_TEST'] === '1') tests();
