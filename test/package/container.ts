// A Debian root booted with systemd-nspawn for the package tests: a debootstrap --variant=minbase
// root cached under /var/cache/kith-test (made once per machine, copied fresh per test file),
// booted with `systemd-nspawn -b` on a private network (loopback only), commands run inside with
// nsenter. Every wait is bounded; stop() powers it off and kills nspawn by PID if it hangs.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export const CACHE_DIR = process.env['KITH_ROOT_CACHE'] ?? '/var/cache/kith-test';
const SUITE = 'bookworm';
const MIRROR = 'http://deb.debian.org/debian';
const INCLUDE = 'systemd,systemd-sysv,adduser,libstdc++6,dbus';

export interface Run { status: number | null; stdout: string; stderr: string }

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Missing tools or privileges, as a skip message; undefined when the tests can run. */
export function cannotRun(): string | undefined {
  if (process.env['KITH_PACKAGE_TEST'] !== '1') return 'package tests run in their own CI step (.ci/run sets KITH_PACKAGE_TEST=1)';
  if (process.getuid?.() !== 0) return 'package tests need root (debootstrap, systemd-nspawn, dpkg)';
  for (const tool of ['debootstrap', 'systemd-nspawn', 'dpkg-deb', 'lintian', 'nsenter']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (.ci/run installs it)`;
  }
  return undefined;
}

/** The pristine root, made by debootstrap on first use; returns its path and how long it took. */
export function pristineRoot(): { dir: string; madeMs: number } {
  const dir = path.join(CACHE_DIR, `${SUITE}-minbase`);
  if (fs.existsSync(path.join(dir, 'usr', 'bin', 'deb-systemd-helper'))) return { dir, madeMs: 0 };
  const partial = `${dir}.partial`;
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(CACHE_DIR, { recursive: true });
  const t0 = Date.now();
  const r = spawnSync('debootstrap', ['--variant=minbase', `--include=${INCLUDE}`, SUITE, partial, MIRROR], { encoding: 'utf8', timeout: 600_000 });
  if (r.status !== 0) throw new Error(`debootstrap failed: ${(r.stderr || r.stdout).slice(-2000)}`);
  fs.renameSync(partial, dir);
  return { dir, madeMs: Date.now() - t0 };
}

export class Container {
  private nspawn: ChildProcess | undefined;
  private leader = 0;
  constructor(readonly root: string, readonly log: string) {}

  /** Copies the pristine root and boots it; resolves once systemd reports running or degraded. */
  async boot(pristine: string): Promise<void> {
    fs.rmSync(this.root, { recursive: true, force: true });
    const cp = spawnSync('cp', ['-a', pristine, this.root]);
    if (cp.status !== 0) throw new Error('copying the root failed');
    const out = fs.openSync(this.log, 'w');
    this.nspawn = spawn('systemd-nspawn', ['--quiet', '--keep-unit', '--register=no', '--private-network', '-b', '-D', this.root],
      { stdio: ['ignore', out, out] });
    fs.closeSync(out);
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && this.leader === 0) {
      await sleep(200);
      const children = this.nspawn.pid === undefined ? '' : readChildren(this.nspawn.pid);
      this.leader = Number(children.split(/\s+/)[0] || 0);
    }
    if (this.leader === 0) throw new Error('systemd-nspawn started no init');
    while (Date.now() < deadline) {
      const s = this.sh('systemctl is-system-running').stdout.trim();
      if (s === 'running' || s === 'degraded') return;
      await sleep(300);
    }
    throw new Error(`the container did not finish booting: ${this.sh('systemctl is-system-running').stdout}`);
  }

  /** Runs a shell command inside (as root, with the container's PATH). */
  sh(cmd: string, timeoutMs = 120_000): Run {
    const r = spawnSync('nsenter', ['-t', String(this.leader), '-m', '-u', '-i', '-n', '-p', '--', '/bin/sh', '-c', cmd],
      { encoding: 'utf8', timeout: timeoutMs, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C.UTF-8', HOME: '/root' } });
    return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  /** Polls a command until its output matches; returns the last output. */
  async waitFor(cmd: string, want: RegExp, timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      last = this.sh(cmd).stdout;
      if (want.test(last)) return last;
      await sleep(250);
    }
    return last;
  }

  copyIn(file: string, inside: string): void {
    fs.copyFileSync(file, path.join(this.root, inside));
  }

  async stop(): Promise<void> {
    const child = this.nspawn;
    if (child?.pid === undefined || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    if (this.leader) this.sh('systemctl poweroff', 10_000);
    await Promise.race([exited, sleep(20_000)]);
    if (child.exitCode === null) {
      child.kill('SIGKILL');
      await Promise.race([exited, sleep(5_000)]);
    }
  }

  remove(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}

function readChildren(pid: number): string {
  try {
    return fs.readdirSync(`/proc/${pid}/task`).map((t) => fs.readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8')).join(' ').trim();
  } catch {
    return '';
  }
}
