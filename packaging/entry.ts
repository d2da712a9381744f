// The entry point of the single binary and of the Node bundle (packaging/build.ts): the same
// CLI as bin/kith.mjs, bundled. cbor-extract is stubbed out by the build, so cbor-x always takes
// its pure-JS path (docs/PLATFORM.md: the native helper mis-decodes under Bun).
import { main } from '../agent/cli.js';

process.exitCode = await main(process.argv.slice(2));
