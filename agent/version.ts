import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
/** package.json sits two levels up from both agent/ (Bun, sources) and dist/agent/ (Node). */
function readVersion(): string {
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

export const VERSION = readVersion();
export const RUNTIME = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined'
  ? `bun ${(process.versions as Record<string, string>)['bun']}`
  : `node ${process.versions.node}`;
