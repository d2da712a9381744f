// The unit files: `systemd-analyze verify` prints nothing, and the system unit's offline
// exposure score is 2.0 or less. systemd-analyze checks that ExecStart exists on this machine;
// where kith is not installed as /usr/bin/kith, a copy pointing at this checkout's bin/kith.mjs
// is verified instead (every other line unchanged).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../helpers/vectors.js';

const hasAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
const opts = { skip: hasAnalyze ? false : 'systemd-analyze is not installed (apt-get install systemd)' } as const;

function unitCopy(t: { testdir(): string }, name: string): string {
  const text = fs.readFileSync(path.join(REPO_ROOT, 'systemd', name), 'utf8');
  const dir = t.testdir();
  const file = path.join(dir, name);
  const exec = fs.existsSync('/usr/bin/kith') ? text : text.replace('ExecStart=/usr/bin/kith', `ExecStart=${path.join(REPO_ROOT, 'bin', 'kith.mjs')}`);
  fs.writeFileSync(file, exec);
  return file;
}

for (const name of ['kith.service', 'kith-user.service']) {
  t.test(`systemd-analyze verify ${name} prints nothing`, opts, async (t) => {
    const user = name.includes('user');
    // A user manager needs a runtime dir; give it an empty private one.
    const env = user ? { ...process.env, XDG_RUNTIME_DIR: fs.mkdtempSync('/tmp/kith-xdg-') } : process.env;
    const r = spawnSync('systemd-analyze', ['verify', '--man=no', ...(user ? ['--user'] : []), unitCopy(t, name)], { encoding: 'utf8', env });
    if (user) fs.rmSync(env.XDG_RUNTIME_DIR!, { recursive: true, force: true });
    t.equal((r.stdout + r.stderr).trim(), '', 'no warnings');
    t.equal(r.status, 0);
  });
}

t.test('kith.service exposure is 2.0 or less', opts, async (t) => {
  const r = spawnSync('systemd-analyze', ['security', '--offline=true', unitCopy(t, 'kith.service')], { encoding: 'utf8' });
  const m = /Overall exposure level for .*: (\d+\.\d+)/.exec(r.stdout);
  t.ok(m, 'a score was printed');
  const score = Number(m![1]);
  t.comment(`exposure ${score}`);
  t.ok(score <= 2.0, `exposure ${score} <= 2.0`);
  t.notMatch(fs.readFileSync(path.join(REPO_ROOT, 'systemd', 'kith.service'), 'utf8'), /^MemoryDenyWriteExecute/m, 'no MemoryDenyWriteExecute (breaks the JIT)');
});

t.test('kith.service: Node\'s heap is capped below MemoryMax, and the directives PLATFORM.md requires', async (t) => {
  const unit = fs.readFileSync(path.join(REPO_ROOT, 'systemd', 'kith.service'), 'utf8');
  const heapMiB = Number(/^Environment=NODE_OPTIONS=.*--max-old-space-size=(\d+)/m.exec(unit)?.[1]);
  const memMatch = /^MemoryMax=(\d+)M$/m.exec(unit);
  t.ok(heapMiB > 0 && memMatch, 'both are set');
  t.match(unit, /^Environment=NODE_OPTIONS=.*--max-semi-space-size=1\b/m, 'a small young generation (start-up\'s burst is not kept; bench/startup.ts)');
  // Old space is not all of a V8 process: leave room for code, new space and native memory.
  t.ok(heapMiB + 48 <= Number(memMatch![1]), `heap ${heapMiB} MiB + 48 MiB <= MemoryMax ${memMatch![1]} MiB`);
  t.match(unit, /^Type=notify$/m);
  t.match(unit, /^NotifyAccess=all$/m, 'Node notifies from a child (systemd-notify)');
  t.match(unit, /^SystemCallErrorNumber=EPERM$/m);
  t.match(unit, /^RestrictAddressFamilies=.*AF_NETLINK/m);
  t.match(unit, /^PrivateTmp=yes$/m);
  t.notMatch(unit, /^ProcSubset=pid/m);
  t.match(unit, /^StateDirectoryMode=0750$/m, 'kith-group members can read agent.json');
  // Every directive has a comment: the line above a directive is a comment or another directive
  // of the same commented group.
  const lines = unit.split('\n');
  lines.forEach((l, i) => {
    if (/^[A-Z]\w+=/.test(l)) {
      let j = i - 1;
      while (j >= 0 && /^[A-Z]\w+=/.test(lines[j]!)) j--;
      if (!/^#/.test(lines[j] ?? '')) t.fail(`line ${i + 1} "${l}" has no comment above its group`);
    }
  });
});
