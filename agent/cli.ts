// The `kith` command line. Every command takes --data-dir, --json and --help. Errors print
// `error[CODE]: what failed` and a hint on stderr (or {"error": {...}} on stdout with --json)
// and exit non-zero: 2 for usage mistakes, 1 for everything else.
import { Command, CommanderError, Option } from 'commander';
import fs from 'node:fs';
import { realClock } from '../core/clock.js';
import { cryptoRng } from '../core/rng.js';
import { KithError, isKithError } from '../core/errors.js';
import { MAX_INDEX } from '../identity/keys.js';
import { parseRoles } from '../identity/certificate.js';
import { hasIdentity, keyFilePath, loadIdentity } from '../identity/keystore.js';
import { configDoc, loadConfigFile } from './config.js';
import { formatIdentity, viewIdentity } from './identity-view.js';
import { initIdentity, readPhraseFile } from './init.js';
import { undoNewDirOnFailure } from './fresh-dir.js';
import { dataFiles, dirSizeBytes, resolveConfigPath, resolveDataDir } from './paths.js';
import { PROFILE_NAMES, type ProfileName } from './profiles.js';
import { printable } from './printable.js';
import { readRuntimeRecord } from './runtime-file.js';
import { versionLine } from './version.js';
import { addMethodCommands } from './cli-method.js';
import { addConvCommands } from './cli-conv.js';
import { addNameCommands } from './cli-name.js';
import { writeDisplayName } from './display-name.js';
import { checkDisplayName } from '../identity/user-ref.js';
import { addClusterCommands } from './cli-cluster.js';
import { addPairCommands } from './cli-pair.js';
import { addNodeCommands } from './cli-node.js';
import { addMailboxCommands } from './cli-mailbox.js';
import { addUiCommands } from './cli-ui.js';
import { addArchiveCommands } from './cli-archive.js';
import readline from 'node:readline';

/** The options every command takes (the sub-command files take this type from here). */
export interface CommonOpts {
  dataDir?: string;
  json?: boolean;
}

/** Where a command writes; tests pass their own. */
export interface CliIo {
  out(text: string): void;
  err(text: string): void;
  readStdin(): Promise<string>;
  /** One line from stdin (an answer to a question). */
  readLine?(): Promise<string>;
  stdinIsTty: boolean;
}

const processIo: CliIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
  readStdin: async () => {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  },
  readLine: () =>
    new Promise((resolve) => {
      const rl = readline.createInterface({ input: process.stdin });
      let got = false;
      rl.once('line', (l) => {
        got = true;
        rl.close();
        resolve(l);
      });
      rl.once('close', () => {
        if (!got) resolve('');
      });
    }),
  stdinIsTty: Boolean(process.stdin.isTTY),
};

function intArg(name: string, min: number, max: number) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      throw new KithError('USAGE', `${name} must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}`);
    }
    return Number(v);
  };
}

function withCommon(cmd: Command): Command {
  return cmd
    .option('--data-dir <dir>', 'data directory (default: $KITH_DATA_DIR, /var/lib/kith for the service, else ~/.local/share/kith)')
    .option('--json', 'print machine-readable JSON');
}

function emit(io: CliIo, opts: CommonOpts, json: unknown, human: string): void {
  io.out(opts.json ? JSON.stringify(json) + '\n' : human + '\n');
}

const PHRASE_WARNING = [
  'Your seed phrase (24 words). Write it on paper and keep it somewhere safe.',
  'It is shown only this once. Anyone who has it can act as you; without it a lost',
  'identity cannot be recovered. kith does not store it.',
];

/** What `init --recover` says: the phrase gives these keys to every machine recovered with them. */
export function sharedKeyWarning(nodeIndex: number, generation: number): string {
  return `this machine now holds the keys of node ${nodeIndex} (generation ${generation}). If another machine still runs as that node, ` +
    `the two share one key and each will be taken for the other: stop one of them. For an extra machine, run \`kith node add\` ` +
    `(or init --recover --node <an index no machine uses>); to replace a machine for good, recover with --generation ${generation + 1} ` +
    `and revoke the old one (\`kith node revoke ${nodeIndex} --generation ${generation}\`).`;
}

async function readPhrase(io: CliIo, file: string | undefined): Promise<string> {
  if (file !== undefined) return readPhraseFile(file);
  if (io.stdinIsTty) io.err('Enter your 24-word seed phrase, then press Enter and Ctrl-D:\n');
  return io.readStdin();
}

/** Whether this user may read a file (false when it is missing or private to another user). */
function canRead(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

async function fetchStatus(apiPort: number, token: string): Promise<Record<string, unknown> | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${apiPort}/api/status`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(2000) });
    return res.ok ? ((await res.json()) as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

export function buildProgram(io: CliIo): Command {
  const program = new Command('kith')
    .description('kith: private friend clusters between the machines of people who have met')
    .version(versionLine(), '-V, --version')
    .showHelpAfterError(false)
    .exitOverride()
    // Commander's own error line is dropped: main() reports every usage mistake once, as error[USAGE].
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s), outputError: () => {} });

  withCommon(program.command('init'))
    .description('create this data dir\'s identity: a new seed phrase, or --recover an existing one')
    .option('--recover', 'recreate the identity from an existing phrase (from --phrase-file or stdin)')
    .option('--phrase-file <file>', 'new identity: write the phrase to this new 0600 file; --recover: read it from this 0600 file')
    .option('--node <n>', 'node index to certify (0 for the first machine)', intArg('--node', 0, MAX_INDEX), 0)
    .option('--generation <g>', 'key generation of the node (raise it to replace the node\'s keys)', intArg('--generation', 0, MAX_INDEX), 0)
    .option('--roles <roles>', 'comma-separated roles: relay, access', 'relay,access')
    .option('--label <text>', 'name of this node shown to people (default: the host name)')
    .option('--name <text>', 'your display name, as friends see it (default: the OS account name; `kith name set` changes it)')
    // A failed init (a mistyped phrase, a phrase file that cannot be written) leaves no new data dir.
    .action((o: CommonOpts & { recover?: boolean; phraseFile?: string; node: number; generation: number; roles: string; label?: string; name?: string }) => undoNewDirOnFailure(resolveDataDir(o.dataDir), async () => {
      const dataDir = resolveDataDir(o.dataDir);
      const roles = parseRoles(o.roles);
      if (o.name !== undefined) checkDisplayName(o.name); // before anything is written
      if (hasIdentity(dataDir)) throw new KithError('IDENTITY_EXISTS', `${dataDir} already has an identity (node.key); nothing was changed`);
      let phrase: string | undefined;
      if (o.recover) phrase = await readPhrase(io, o.phraseFile);
      else if (o.phraseFile !== undefined && fs.existsSync(o.phraseFile)) {
        throw new KithError('PHRASE_FILE', `${o.phraseFile} already exists; kith will not overwrite it`, { hint: 'choose a new file name for --phrase-file' });
      }
      const made = initIdentity({ clock: realClock, rng: cryptoRng }, {
        dataDir, nodeIndex: o.node, generation: o.generation, roles,
        ...(phrase !== undefined ? { phrase } : {}),
        ...(!o.recover && o.phraseFile !== undefined ? { phraseFile: o.phraseFile } : {}),
        ...(o.label !== undefined ? { label: o.label } : {}),
      });
      const view = viewIdentity(made.identity);
      if (o.name !== undefined) writeDisplayName(dataDir, o.name, Date.now());
      if (o.recover) {
        const warning = sharedKeyWarning(view.nodeIndex, view.generation);
        io.err(`warning: ${warning}\n`);
        emit(io, o, { recovered: true, dataDir, ...view, warning }, `Recovered node ${view.nodeIndex} of user ${view.userKey} in ${dataDir}\n` +
          'To get your archive back: start the agent, pair again with one friend (`kith pair`), then `kith archive recover`.');
        return;
      }
      if (o.phraseFile !== undefined) {
        emit(io, o, { created: true, dataDir, phraseFile: o.phraseFile, ...view },
          `Created node ${view.nodeIndex} of user ${view.userKey} in ${dataDir}\nThe seed phrase is in ${o.phraseFile} (mode 0600): copy it to paper, then delete the file.`);
        return;
      }
      emit(io, o, { created: true, dataDir, phrase: made.phrase, ...view },
        [...PHRASE_WARNING, '', made.phrase.split(' ').map((w, i) => `${String(i + 1).padStart(2)}. ${w}`).join('\n'), '',
          `Created node ${view.nodeIndex} of user ${view.userKey} in ${dataDir}`].join('\n'));
    }));

  withCommon(program.command('id'))
    .description('show this node\'s identity: user key, node index, public keys, roles')
    .action((o: CommonOpts) => {
      const dataDir = resolveDataDir(o.dataDir);
      if (!hasIdentity(dataDir)) throw new KithError('IDENTITY_MISSING', `${dataDir} has no identity`);
      const view = viewIdentity(loadIdentity(dataDir));
      emit(io, o, view, formatIdentity(view));
    });

  withCommon(program.command('status'))
    .description('identity, whether the agent runs, its ports, data dir and store size')
    .action(async (o: CommonOpts) => {
      const dataDir = resolveDataDir(o.dataDir);
      const files = dataFiles(dataDir);
      // A member of the kith group (not the kith user) may read agent.json in the 0750 state dir,
      // never the 0600 key and token: it sees whether the agent runs, not the live details.
      const privateOnly = [keyFilePath(dataDir), files.token].some((f) => fs.existsSync(f) && !canRead(f));
      const identity = hasIdentity(dataDir) && canRead(keyFilePath(dataDir)) ? viewIdentity(loadIdentity(dataDir)) : null;
      const record = readRuntimeRecord(files.runtime);
      let live: Record<string, unknown> | undefined;
      if (record !== undefined && fs.existsSync(files.token) && canRead(files.token)) {
        live = await fetchStatus(record.api.port, fs.readFileSync(files.token, 'utf8').trim());
      }
      const status = {
        dataDir,
        identity,
        running: live !== undefined || (record !== undefined && privateOnly),
        pid: record?.pid ?? null,
        runtime: record?.runtime ?? null,
        profile: record?.profile ?? null,
        clusterPort: record?.cluster.port ?? null,
        apiPort: record?.api.port ?? null,
        uptimeMs: (live?.['uptimeMs'] as number | undefined) ?? null,
        storeBytes: dirSizeBytes(files.store),
        cluster: (live?.['cluster'] as Record<string, unknown> | undefined) ?? null,
      };
      const cl = status.cluster as { roster?: { selfRevoked?: boolean }; members?: number; alive?: number; publicEndpoint?: string | null; nat?: { type: string }; mapping?: { state: string }; nextWindow?: { start: string; port: number } | null; clock?: { offsetMs: number; errorMs: number; warning: string | null } } | null;
      const human = [
        identity ? formatIdentity(identity) : privateOnly && hasIdentity(dataDir) ? 'identity      (readable by the kith user only)' : 'identity      none (run `kith init`)',
        live ? `agent         running, PID ${status.pid} (${status.runtime}), profile ${status.profile}`
          : record && privateOnly ? `agent         running, PID ${record.pid} (${record.runtime} ${record.version}), profile ${record.profile} (from agent.json; live details need the kith user)`
          : record ? `agent         PID ${record.pid} recorded but its API does not answer` : 'agent         not running',
        ...(live ? [`ports         cluster UDP ${status.clusterPort}, API 127.0.0.1:${status.apiPort}`] : []),
        ...(cl?.roster?.selfRevoked ? ['revoked       this node was revoked by its user: it has left the cluster and contacts no one (see the log; `kith node add` makes a new node)'] : []),
        ...(cl ? [
          `members       ${cl.alive ?? 0} of ${cl.members ?? 0} alive`,
          `public        ${cl.publicEndpoint ?? 'unknown'} (NAT ${cl.nat?.type ?? 'unknown'}, mapping ${cl.mapping?.state ?? 'off'})`,
          `next window   ${cl.nextWindow ? `${cl.nextWindow.start} on UDP ${cl.nextWindow.port}` : 'none (no members)'}`,
          `clock         offset ${cl.clock?.offsetMs ?? 0} ms ± ${cl.clock?.errorMs ?? 0} ms${cl.clock?.warning ? ` (WARNING: ${cl.clock.warning})` : ''}`,
        ] : []),
        `data dir      ${dataDir}`,
        `store         ${(status.storeBytes / 1024).toFixed(1)} KiB`,
      ].join('\n');
      emit(io, o, status, human);
    });

  withCommon(program.command('run'))
    .description('run the agent in the foreground (what the systemd unit starts)')
    .option('--config <file>', 'TOML config (default: /etc/kith/config.toml when present)')
    .option('--port <port>', 'cluster UDP port (overrides cluster.port)', intArg('--port', 0, 65535))
    .option('--api-port <port>', 'local API port (overrides api.port)', intArg('--api-port', 0, 65535))
    .addOption(new Option('--profile <name>', 'timing defaults (overrides agent.profile)').choices(PROFILE_NAMES as unknown as string[]))
    .option('--init-if-missing', 'create an identity on first start, its phrase in <data-dir>/seed-phrase.txt (npm start)')
    .action(async (o: CommonOpts & { config?: string; port?: number; apiPort?: number; profile?: ProfileName; initIfMissing?: boolean }) => {
      const dataDir = resolveDataDir(o.dataDir);
      const configPath = resolveConfigPath(o.config);
      // The daemon (every service, Hono, LevelDB) is loaded only here: every other command is a
      // short process (often an API call), and importing it cost ~0.5 s of CPU per command.
      const [{ runAgent }, { fastestAead }] = await Promise.all([import('./daemon.js'), import('../core/aead.js')]);
      // The fastest cipher this machine has, loaded before any session needs it (the daemon names it in its log).
      await fastestAead();
      const agent = await undoNewDirOnFailure(dataDir, () => runAgent({
        dataDir,
        ...(configPath !== undefined ? { configPath } : {}),
        ...(o.port !== undefined ? { port: o.port } : {}),
        ...(o.apiPort !== undefined ? { apiPort: o.apiPort } : {}),
        ...(o.profile !== undefined ? { profile: o.profile } : {}),
        initIfMissing: Boolean(o.initIfMissing),
      }));
      await new Promise<void>((resolve) => {
        const shutdown = (signal: string) => {
          agent.log.info(`${signal}: shutting down`);
          // A stuck close must not keep systemd waiting: exit anyway after the timeout.
          const force = setTimeout(() => {
            agent.log.error(`shutdown took longer than ${agent.config.agent.shutdownTimeoutMs} ms; exiting anyway`);
            process.exit(1);
          }, agent.config.agent.shutdownTimeoutMs);
          force.unref();
          void agent.stop().then(() => {
            agent.log.info('stopped');
            resolve();
          });
        };
        process.once('SIGTERM', () => shutdown('SIGTERM'));
        process.once('SIGINT', () => shutdown('SIGINT'));
      });
    });

  addMethodCommands(program, io, withCommon);
  addConvCommands(program, io, withCommon);
  addNameCommands(program, io, withCommon);
  addClusterCommands(program, io, withCommon);
  addNodeCommands(program, io, withCommon, (file) => readPhrase(io, file));
  addMailboxCommands(program, io, withCommon);
  addUiCommands(program, io, withCommon);
  addArchiveCommands(program, io, withCommon);
  addPairCommands(program, { out: io.out, err: io.err, readLine: io.readLine ?? (async () => (await io.readStdin()).split('\n')[0] ?? '') }, withCommon);

  const config = program.command('config').description('check or document the configuration file');
  withCommon(config.command('check'))
    .description('validate a config file and list every problem')
    .option('--config <file>', 'TOML config (default: /etc/kith/config.toml)')
    .action((o: CommonOpts & { config?: string }) => {
      const file = resolveConfigPath(o.config);
      if (file === undefined) throw new KithError('CONFIG_UNREADABLE', 'no config file: /etc/kith/config.toml does not exist and --config was not given');
      const c = loadConfigFile(file);
      emit(io, o, { ok: true, file, config: c }, `${file}: ok`);
    });
  withCommon(config.command('doc'))
    .description('print the table of every config key with unit, default and range')
    .action((o: CommonOpts) => emit(io, o, { doc: configDoc() }, configDoc()));

  return program;
}

/** Runs the CLI; returns the exit status instead of exiting, so tests can call it. */
export async function main(argv: string[], io: CliIo = processIo): Promise<number> {
  // Everything kith creates is private unless written with an explicit mode: LevelDB creates its
  // files with the umask, and they hold pair secrets (issue 18, weak spot 9).
  process.umask(0o077);
  const program = buildProgram(io);
  const json = argv.includes('--json');
  try {
    if (argv.length === 0) {
      io.out(program.helpInformation());
      return 0;
    }
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help') return 0;
      const err = new KithError('USAGE', e.message.replace(/^error: /, ''));
      report(io, json, err);
      return 2;
    }
    if (isKithError(e)) {
      report(io, json, e);
      return e.code === 'USAGE' ? 2 : 1;
    }
    const errno = (e as NodeJS.ErrnoException).code;
    if (errno === 'ENOSPC' || errno === 'EDQUOT') {
      report(io, json, new KithError('DISK_FULL', `a write failed: ${errno === 'ENOSPC' ? 'no space left on the device' : 'disk quota exceeded'}`, { cause: e }));
      return 1;
    }
    // An unexpected failure: say so without dumping internals that could hold secrets.
    io.err(`error[INTERNAL]: ${printable((e as Error).message)}\n  hint: this is a bug in kith; please report it with the command you ran\n`);
    return 1;
  }
}

function report(io: CliIo, json: boolean, e: KithError): void {
  if (json) io.out(JSON.stringify({ error: e.toJSON() }) + '\n');
  // A message may carry text from the network (a peer's reason, a label): each part escaped.
  const lines = [`error[${e.code}]: ${printable(e.message)}`, ...e.details.map((d) => `  - ${printable(d)}`), `  hint: ${printable(e.hint)}`];
  io.err(lines.join('\n') + '\n');
}
