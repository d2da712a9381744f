// Where things live. The data dir is, in order: --data-dir, $KITH_DATA_DIR, systemd's
// $STATE_DIRECTORY (the system service, /var/lib/kith), /var/lib/kith when running as the
// `kith` system user, else ~/.local/share/kith unless it is missing and the system service's
// /var/lib/kith is visible (root, members of the kith group).
import os from 'node:os';
import path from 'node:path';
import fs from 'node:fs';
import { KithError } from '../core/errors.js';
import { ensurePrivateDir } from '../core/files.js';
import { hasIdentity } from '../identity/keystore.js';

export const SYSTEM_DATA_DIR = '/var/lib/kith';
export const SYSTEM_CONFIG = '/etc/kith/config.toml';

export function resolveDataDir(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (flag !== undefined && flag !== '') return path.resolve(flag);
  if (env['KITH_DATA_DIR']) return path.resolve(env['KITH_DATA_DIR']);
  if (env['STATE_DIRECTORY']) return path.resolve(env['STATE_DIRECTORY'].split(':')[0]!);
  if (currentUser() === 'kith') return SYSTEM_DATA_DIR;
  const base = env['XDG_DATA_HOME'] || path.join(os.homedir(), '.local', 'share');
  const own = path.join(base, 'kith');
  // Root and members of the kith group, with no data dir of their own, talk to the system service.
  if (!fs.existsSync(own) && fs.existsSync(path.join(SYSTEM_DATA_DIR, 'agent.json'))) return SYSTEM_DATA_DIR;
  return own;
}

function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return '';
  }
}

/** The config file: --config, else /etc/kith/config.toml when it exists, else none (defaults). */
export function resolveConfigPath(flag: string | undefined): string | undefined {
  if (flag !== undefined && flag !== '') return path.resolve(flag);
  return fs.existsSync(SYSTEM_CONFIG) ? SYSTEM_CONFIG : undefined;
}

export const dataFiles = (dataDir: string) => ({
  keyFile: path.join(dataDir, 'node.key'),
  token: path.join(dataDir, 'api.token'),
  runtime: path.join(dataDir, 'agent.json'),
  store: path.join(dataDir, 'store'),
  firstStartPhrase: path.join(dataDir, 'seed-phrase.txt'),
});

/** What a kith data dir may hold (with the atomic writes' temporary files): an existing dir of only these is ours. */
const DATA_DIR_ENTRIES = ['node.key', 'api.token', 'agent.json', 'store', 'seed-phrase.txt'];
const isOurs = (name: string) => DATA_DIR_ENTRIES.includes(name) || /^\.(node\.key|api\.token|agent\.json|seed-phrase\.txt)\.\d+\.\d+\.tmp$/.test(name);

/**
 * Readies the data dir before anything is written in it. With `needIdentity` (`kith run`
 * without --init-if-missing) a dir without node.key is IDENTITY_MISSING before anything is
 * created (issue 18, weak spot 11: a --data-dir pointing at /etc made /etc/store). Then a new dir
 * is created 0700 and an existing one is checked: refused (DATA_DIR_UNSAFE) when it is another
 * user's or others can write to it, tightened to 0700 when others could only read it and it holds
 * only kith's files (weak spot 9), refused untouched when it holds anything else.
 */
export function prepareDataDir(dir: string, opts: { needIdentity?: boolean; warn?: (msg: string) => void } = {}): void {
  if (opts.needIdentity && !hasIdentity(dir)) throw new KithError('IDENTITY_MISSING', `${dir} has no identity`);
  // The system service's state dir is systemd's (StateDirectoryMode=0750): its group may read it.
  const groupMayRead = process.env['STATE_DIRECTORY']?.split(':')[0] === dir;
  const { tightenedFrom } = ensurePrivateDir(dir, { isOurs, groupMayRead });
  if (tightenedFrom !== undefined) opts.warn?.(`the data dir ${dir} had mode ${tightenedFrom.toString(8).padStart(4, '0')}: made it 0700`);
}

/** Total size in bytes of the files under a directory (0 if it does not exist). */
export function dirSizeBytes(dir: string): number {
  let total = 0;
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += dirSizeBytes(p);
    else if (e.isFile()) total += fs.statSync(p).size;
  }
  return total;
}
