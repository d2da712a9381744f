#!/usr/bin/env node
// The `kith` command. Bun runs the TypeScript sources directly; Node runs the JavaScript that
// `npm install` / `npm ci` compiled into dist/ (the package's prepare script).
import { existsSync } from 'node:fs';

// cbor-x's optional native helper mis-decodes under Bun; the pure-JS path is used everywhere.
process.env.CBOR_NATIVE_ACCELERATION_DISABLED = 'true';

const isBun = typeof globalThis.Bun !== 'undefined';
const entry = new URL(isBun ? '../agent/cli.ts' : '../dist/agent/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write(
    'error[BUILD_MISSING]: the compiled CLI (dist/agent/cli.js) is missing\n' +
      '  hint: run `npm install` (or `npm run build`) in the kith folder; it compiles the TypeScript\n',
  );
  process.exit(1);
}
const { main } = await import(entry.href);
process.exitCode = await main(process.argv.slice(2));
