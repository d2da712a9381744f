// Builds what gets installed: Bun single binaries (linux x64 and arm64, glibc; x64 musl) with
// LevelDB's prebuilt addon and libsodium's (sodium-native, glibc only) embedded, and a Node bundle for devices Bun cannot target (armv7,
// mips), then prints every artefact with its size. Output in packaging/out/ (git-ignored).
//   node_modules/.bin/bun packaging/build.ts [--only x64,arm64,x64-musl,node] [--commit <sha>]
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { BunPlugin } from 'bun';

const ROOT = path.resolve(import.meta.dir, '..');
const OUT = path.join(ROOT, 'packaging', 'out');
const ENTRY = path.join(ROOT, 'packaging', 'entry.ts');
const LEVEL_PREBUILDS = path.join(ROOT, 'node_modules', 'classic-level', 'prebuilds');
const SODIUM_PREBUILDS = path.join(ROOT, 'node_modules', 'sodium-native', 'prebuilds');
/** The Linux CPUs sodium-native 5.1.0 has a (glibc) prebuild for; elsewhere kith uses libsodium's WebAssembly. */
const SODIUM_CPUS = ['linux-x64', 'linux-arm64'];

interface Target { name: string; bun?: string; addon?: string; sodium?: string }
/** Bun's compile targets and the classic-level and sodium-native prebuilds each one embeds. */
export const TARGETS: readonly Target[] = [
  { name: 'x64', bun: 'bun-linux-x64', addon: 'linux-x64/classic-level.node', sodium: 'linux-x64/sodium-native.node' },
  { name: 'arm64', bun: 'bun-linux-arm64', addon: 'linux-arm64/classic-level.armv8.node', sodium: 'linux-arm64/sodium-native.node' },
  { name: 'x64-musl', bun: 'bun-linux-x64-musl', addon: 'linux-x64/classic-level.musl.node' },
  { name: 'node' },
];

const arg = (name: string): string | undefined => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
};

function gitCommit(): string {
  const r = spawnSync('git', ['rev-parse', 'HEAD'], { cwd: ROOT, encoding: 'utf8' });
  const sha = r.status === 0 ? r.stdout.trim() : '';
  const dirty = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: ROOT, encoding: 'utf8' }).stdout?.trim();
  return sha ? sha + (dirty ? '-dirty' : '') : 'unknown';
}

/**
 * classic-level finds its addon with node-gyp-build at run time, in the build machine's
 * node_modules. For a binary, its binding.js becomes a static require of one prebuild, which Bun
 * embeds; for the Node bundle, node-gyp-build looks in the `classic-level` folder shipped next to
 * the bundle. sodium-native's binding.js (require-addon) gets the same treatment, and where no
 * prebuild fits (musl) it throws, which core/aead-native.ts takes as "use the WebAssembly build".
 * cbor-extract (optional, native, broken under Bun) becomes an empty module.
 */
function packagingPlugin(t: Target): BunPlugin {
  const { addon, sodium } = t;
  return {
    name: 'kith-packaging',
    setup(build) {
      build.onLoad({ filter: /classic-level[\\/]binding\.js$/ }, () => ({
        loader: 'js',
        contents: addon !== undefined
          ? `module.exports = require(${JSON.stringify(path.join(LEVEL_PREBUILDS, addon))});`
          : `const p = require('node:path'), fs = require('node:fs');
             module.exports = require('node-gyp-build')(p.join(p.dirname(fs.realpathSync(process.argv[1])), 'classic-level'));`,
      }));
      build.onLoad({ filter: /sodium-native[\\/]binding\.js$/ }, () => ({
        loader: 'js',
        contents: t.bun === undefined
          ? `const p = require('node:path'), fs = require('node:fs');
             module.exports = require(p.join(p.dirname(fs.realpathSync(process.argv[1])), 'sodium-native', 'prebuilds', process.platform + '-' + process.arch, 'sodium-native.node'));`
          : sodium !== undefined
            ? `module.exports = require(${JSON.stringify(path.join(SODIUM_PREBUILDS, sodium))});`
            : `throw new Error('no sodium-native addon in this build');`,
      }));
      build.onResolve({ filter: /^cbor-extract$/ }, () => ({ path: 'cbor-extract', namespace: 'kith-stub' }));
      build.onLoad({ filter: /.*/, namespace: 'kith-stub' }, () => ({ loader: 'js', contents: 'module.exports = undefined;' }));
    },
  };
}

async function buildOne(t: Target, define: Record<string, string>): Promise<string[]> {
  const common = { entrypoints: [ENTRY], define, minify: true, plugins: [packagingPlugin(t)] };
  if (t.bun !== undefined) {
    const outfile = path.join(OUT, `kith-linux-${t.name}`);
    const r = await Bun.build({
      ...common,
      compile: { target: t.bun as 'bun-linux-x64', outfile, autoloadDotenv: false, autoloadBunfig: false },
    } as Parameters<typeof Bun.build>[0]);
    if (!r.success) throw new AggregateError(r.logs, `bun build for ${t.bun} failed`);
    return [outfile];
  }
  // The Node bundle: one ES module plus classic-level's prebuilds for every Linux CPU it ships.
  const dir = path.join(OUT, 'kith-node');
  fs.rmSync(dir, { recursive: true, force: true });
  const r = await Bun.build({ ...common, target: 'node', format: 'esm', naming: 'kith.mjs', outdir: dir });
  if (!r.success) throw new AggregateError(r.logs, 'bun build for node failed');
  const mjs = path.join(dir, 'kith.mjs');
  fs.writeFileSync(mjs, '#!/usr/bin/env node\n' + fs.readFileSync(mjs, 'utf8').replace(/^#!.*\n/, ''));
  fs.chmodSync(mjs, 0o755);
  // The web UI next to the bundle (agent/ui-static.ts looks in ./web/ beside it).
  if (!fs.existsSync(path.join(ROOT, 'dist', 'web', 'index.html'))) throw new Error('dist/web is missing (the web UI): run npm run build first');
  fs.cpSync(path.join(ROOT, 'dist', 'web'), path.join(dir, 'web'), { recursive: true });
  for (const cpu of ['linux-x64', 'linux-arm64', 'linux-arm']) {
    fs.cpSync(path.join(LEVEL_PREBUILDS, cpu), path.join(dir, 'classic-level', 'prebuilds', cpu), { recursive: true });
  }
  for (const cpu of SODIUM_CPUS) {
    fs.mkdirSync(path.join(dir, 'sodium-native', 'prebuilds', cpu), { recursive: true });
    fs.copyFileSync(path.join(SODIUM_PREBUILDS, cpu, 'sodium-native.node'), path.join(dir, 'sodium-native', 'prebuilds', cpu, 'sodium-native.node'));
  }
  const tarball = path.join(OUT, `kith-${define.__KITH_VERSION__!.slice(1, -1)}-node.tar.xz`);
  const tar = spawnSync('tar', ['-C', OUT, '--owner=0', '--group=0', '-cJf', tarball, 'kith-node'], { stdio: 'inherit' });
  if (tar.status !== 0) throw new Error('tar failed');
  return [mjs, tarball];
}

const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

async function main(): Promise<void> {
  const only = arg('--only')?.split(',');
  const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  const commit = arg('--commit') ?? gitCommit();
  const define = { __KITH_VERSION__: JSON.stringify(version), __KITH_COMMIT__: JSON.stringify(commit) };
  fs.mkdirSync(OUT, { recursive: true });
  console.log(`kith ${version}, commit ${commit}: building into ${path.relative(ROOT, OUT)}/`);
  let failed = 0;
  for (const t of TARGETS.filter((t) => only === undefined || only.includes(t.name))) {
    const t0 = performance.now();
    try {
      const files = await buildOne(t, define);
      for (const f of files) console.log(`  ${t.name.padEnd(9)} ${path.relative(ROOT, f).padEnd(40)} ${mib(fs.statSync(f).size).padStart(10)}  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      console.error(`  ${t.name.padEnd(9)} FAILED: ${(e as Error).message}`);
      for (const l of (e as AggregateError).errors ?? []) console.error(`    ${String(l)}`);
    }
  }
  if (failed > 0) process.exit(1);
}

if (import.meta.main) await main();
