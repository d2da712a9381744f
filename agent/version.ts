// Which kith this is: the version and the git commit it was built from, and the runtime.
// A built binary or bundle (packaging/build.ts) has both baked in at build time (`define`); a
// source checkout reads the version from package.json and the commit from .git, if there is one.
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

// Replaced by packaging/build.ts; undeclared (typeof "undefined") when running from sources.
declare const __KITH_VERSION__: string | undefined;
declare const __KITH_COMMIT__: string | undefined;

const BUILT_VERSION = typeof __KITH_VERSION__ === 'string' ? __KITH_VERSION__ : undefined;
const BUILT_COMMIT = typeof __KITH_COMMIT__ === 'string' ? __KITH_COMMIT__ : undefined;

/** package.json sits two levels up from both agent/ (Bun, sources) and dist/agent/ (Node). */
function readVersion(): string {
  const require = createRequire(import.meta.url);
  for (const p of ['../package.json', '../../package.json']) {
    try {
      const pkg = require(p) as { name?: string; version?: string };
      if (pkg.name === 'kith' && pkg.version) return pkg.version;
    } catch {
      /* try the next */
    }
  }
  return '0.0.0';
}

/** The checked-out commit of the source tree holding this file, without running git. */
export function checkoutCommit(startDir: string): string | undefined {
  for (let dir = startDir, i = 0; i < 4; dir = path.dirname(dir), i++) {
    const dotGit = path.join(dir, '.git');
    try {
      // A worktree's .git is a file "gitdir: <dir>"; its refs live in the common dir.
      const st = fs.statSync(dotGit);
      const gitDir = st.isFile() ? path.resolve(dir, fs.readFileSync(dotGit, 'utf8').replace(/^gitdir:\s*/, '').trim()) : dotGit;
      const head = fs.readFileSync(path.join(gitDir, 'HEAD'), 'utf8').trim();
      if (/^[0-9a-f]{40}$/.test(head)) return head;
      const ref = /^ref: (.+)$/.exec(head)?.[1];
      if (ref === undefined) return undefined;
      const common = fs.existsSync(path.join(gitDir, 'commondir'))
        ? path.resolve(gitDir, fs.readFileSync(path.join(gitDir, 'commondir'), 'utf8').trim()) : gitDir;
      for (const base of [gitDir, common]) {
        try {
          return fs.readFileSync(path.join(base, ref), 'utf8').trim();
        } catch { /* packed? */ }
      }
      const packed = fs.readFileSync(path.join(common, 'packed-refs'), 'utf8');
      return new RegExp(`^([0-9a-f]{40}) ${ref.replace(/[/.]/g, '\\$&')}$`, 'm').exec(packed)?.[1];
    } catch {
      /* not here: look one folder up */
    }
  }
  return undefined;
}

export const VERSION = BUILT_VERSION ?? readVersion();
export const RUNTIME = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined'
  ? `bun ${(process.versions as Record<string, string>)['bun']}`
  : `node ${process.versions.node}`;

let commit: string | null | undefined;
/** The short commit (12 hex digits), or undefined when neither built in nor in a checkout. */
export function commitId(): string | undefined {
  if (commit === undefined) {
    const full = BUILT_COMMIT ?? (() => {
      try {
        return checkoutCommit(path.dirname(fileURLToPath(import.meta.url)));
      } catch {
        return undefined;
      }
    })();
    commit = full ? full.slice(0, 12) + (full.endsWith('-dirty') ? '-dirty' : '') : null;
  }
  return commit ?? undefined;
}

/** What `kith --version` prints: "0.1.0 (commit 0123456789ab, bun 1.4.5)". */
export function versionLine(): string {
  return `${VERSION} (commit ${commitId() ?? 'unknown'}, ${RUNTIME})`;
}
