// A real kith agent for the web benchmarks (ui-load, ui-events): `kith init` and `kith run` from
// bin/kith.mjs on loopback ports, ready once its runtime record names it and /health answers.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const WEB = path.join(ROOT, 'dist', 'web');
export const BIN = path.join(ROOT, 'bin', 'kith.mjs');
export const CHROMIUM = process.env['KITH_CHROMIUM'] ?? '/usr/bin/chromium';
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const env = { ...process.env, KITH_DATA_DIR: '' };
const READY_WITHIN_MS = 20_000;

export interface WebAgent { port: number; token: string; stop: () => void }

/** Starts an agent in `dir` (made by `kith init`) with the config file at `config`. */
export async function startWebAgent(dir: string, config: string): Promise<WebAgent> {
  const init = spawnSync(process.execPath, [BIN, 'init', '--data-dir', dir, '--phrase-file', `${dir}.phrase`, '--json'], { encoding: 'utf8', env });
  if (init.status !== 0) throw new Error(init.stderr);
  const child = spawn(process.execPath, [BIN, 'run', '--data-dir', dir, '--config', config, '--port', '0', '--api-port', '0', '--profile', 'test'], { stdio: 'ignore', env });
  for (let i = 0; i < READY_WITHIN_MS / 50; i++) {
    try {
      const rec = JSON.parse(fs.readFileSync(path.join(dir, 'agent.json'), 'utf8'));
      if (rec.pid === child.pid && (await fetch(`http://127.0.0.1:${rec.api.port}/health`)).ok) {
        return { port: rec.api.port, token: fs.readFileSync(path.join(dir, 'api.token'), 'utf8').trim(), stop: () => void child.kill('SIGKILL') };
      }
    } catch { /* not yet */ }
    await sleep(50);
  }
  child.kill('SIGKILL');
  throw new Error(`agent not ready within ${READY_WITHIN_MS / 1000} s`);
}
