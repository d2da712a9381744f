// Builds the web UI into dist/web/ at build time (npm run build; run by Bun, which bundles and
// minifies): app.js (Preact + htm + uqr and the pages), index.html, style.css. The agent serves
// these files (agent/ui-static.ts); the page loads nothing from anywhere else.
import fs from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';

const here = path.dirname(new URL(import.meta.url).pathname);
const out = path.join(here, '..', '..', 'dist', 'web');
fs.mkdirSync(out, { recursive: true });
const bun = (globalThis as unknown as { Bun: { build(o: object): Promise<{ success: boolean; logs: unknown[] }> } }).Bun;
// revoke.js (the phrase's key derivation and signing) is loaded only when a person revokes a node.
// It bundles identity/create.ts with core/crypto.ts swapped for the @noble-only shim, and cbor-env
// (a process.env switch for Node) for nothing.
const browserShims = {
  name: 'browser-shims',
  setup(b: { onResolve(o: { filter: RegExp }, fn: (a: { path: string; importer: string }) => { path: string } | undefined): void }) {
    b.onResolve({ filter: /\/crypto\.js$/ }, (a) => (a.importer.includes('/core/') ? { path: path.join(here, 'shim-crypto.ts') } : undefined));
    b.onResolve({ filter: /cbor-env\.js$/ }, () => ({ path: path.join(here, 'shim-empty.ts') }));
    b.onResolve({ filter: /^node:crypto$/ }, () => ({ path: path.join(here, 'shim-node-crypto.ts') }));
  },
};
for (const [entry, name, extra] of [['app.ts', 'app.js', {}], ['revoke.ts', 'revoke.js', { plugins: [browserShims] }]] as const) {
  const r = await bun.build({ entrypoints: [path.join(here, entry)], outdir: out, target: 'browser', format: 'esm', minify: true, naming: name, ...extra });
  if (!r.success) {
    console.error(r.logs);
    process.exit(1);
  }
}
for (const f of ['index.html', 'style.css']) fs.copyFileSync(path.join(here, f), path.join(out, f));
const first = ['index.html', 'app.js', 'style.css'];
const gz = first.reduce((n, f) => n + gzipSync(fs.readFileSync(path.join(out, f))).length, 0);
console.log(`web UI: ${fs.readdirSync(out).join(', ')} in dist/web, first load ${(gz / 1024).toFixed(1)} KB gzip, revoke.js ${(gzipSync(fs.readFileSync(path.join(out, 'revoke.js'))).length / 1024).toFixed(1)} KB gzip on demand`);
