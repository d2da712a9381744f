// Network-namespace plumbing shared by the labs in test/netns: why a lab cannot run here (a
// skip's reason), removing namespaces with every process still in them, and one `ip` call that
// throws with its stderr.
import { spawnSync } from 'node:child_process';

/** Why namespaces cannot be made here, or undefined; `probe` is a namespace name only this lab uses. */
export function netnsUnavailable(probe: string): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (ip netns)';
  if (spawnSync('sh', ['-c', 'command -v ip']).status !== 0) return 'ip is missing (apt-get install iproute2)';
  const made = spawnSync('ip', ['netns', 'add', probe]);
  if (made.status !== 0) return `cannot create network namespaces: ${made.stderr.toString().trim()}`;
  spawnSync('ip', ['netns', 'del', probe]);
  return undefined;
}

/** Kills every process left in these namespaces (by PID) and deletes them; missing ones are fine. */
export function removeNamespaces(names: readonly string[]): void {
  for (const n of names) {
    for (const pid of (spawnSync('ip', ['netns', 'pids', n], { encoding: 'utf8' }).stdout ?? '').split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    spawnSync('ip', ['netns', 'del', n]);
  }
}

/** Runs `ip ARGS`, throwing with its stderr when it fails. */
export function ip(args: string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}
