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
const r = await bun.build({ entrypoints: [path.join(here, 'app.ts')], outdir: out, target: 'browser', format: 'esm', minify: true, naming: 'app.js' });
if (!r.success) {
  console.error(r.logs);
  process.exit(1);
}
for (const f of ['index.html', 'style.css']) fs.copyFileSync(path.join(here, f), path.join(out, f));
const gz = fs.readdirSync(out).reduce((n, f) => n + gzipSync(fs.readFileSync(path.join(out, f))).length, 0);
console.log(`web UI: ${fs.readdirSync(out).join(', ')} in dist/web, ${(gz / 1024).toFixed(1)} KB gzip`);
