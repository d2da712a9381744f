// The agent's configuration: TOML, every key documented here with unit, default and range (the
// table in agent/README.md is generated from the same list by `kith config --doc`). Validation
// reports every problem at once, each with its own stable code.
import fs from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { KithError } from '../core/errors.js';
import { PROFILE_NAMES, type ProfileName } from './profiles.js';

export interface Config {
  node: { label: string };
  cluster: { host: string; port: number };
  api: { host: string; port: number; companionHost: string; companionPort: number };
  agent: { profile: ProfileName; logLevel: LogLevelName; shutdownTimeoutMs: number };
  nat: { stunServers: string; portMapping: 'auto' | 'natpmp' | 'upnp' | 'off'; gateway: string };
  mailbox: { household: string; ttlDays: number; groupQuotaMiB: number; friendQuotaMiB: number; totalQuotaMiB: number; pushesPerMinute: number };
  archive: { friendQuotaMiB: number; containGraceSec: number };
}

export type LogLevelName = 'debug' | 'info' | 'warn' | 'error';
const LOG_LEVELS: readonly LogLevelName[] = ['debug', 'info', 'warn', 'error'];

/** Stable codes of single configuration problems (each printed in front of its line). */
export type ConfigProblemCode = 'CONFIG_UNKNOWN_KEY' | 'CONFIG_TYPE' | 'CONFIG_RANGE' | 'CONFIG_CHOICE';

export interface ConfigProblem {
  code: ConfigProblemCode;
  key: string;
  message: string;
}

interface KeySpec {
  key: string;
  doc: string;
  unit: string;
  kind: 'int' | 'string' | 'choice';
  default: number | string;
  min?: number;
  max?: number;
  maxBytes?: number;
  choices?: readonly string[];
}

/** Every configuration key. Order here is the order of the documentation. */
export const CONFIG_KEYS: readonly KeySpec[] = [
  { key: 'node.label', kind: 'string', unit: 'text', default: '', maxBytes: 64,
    doc: 'Name of this node shown to people; empty means the host name. Used when an identity is created.' },
  { key: 'cluster.host', kind: 'string', unit: 'IP address', default: '0.0.0.0', maxBytes: 64,
    doc: 'Address the cluster UDP socket binds. 0.0.0.0 listens on every IPv4 interface; the socket never answers unauthenticated packets.' },
  { key: 'cluster.port', kind: 'int', unit: 'UDP port', default: 5484, min: 0, max: 65535,
    doc: 'Cluster UDP port. 0 picks any free port (tests).' },
  { key: 'api.host', kind: 'string', unit: 'IP address', default: '127.0.0.1', maxBytes: 64,
    doc: 'Address of the local HTTP API. Anything but a loopback address exposes it to the LAN: opt-in only.' },
  { key: 'api.port', kind: 'int', unit: 'TCP port', default: 5485, min: 0, max: 65535,
    doc: 'Local API port. 0 picks any free port; the CLI finds it in <data-dir>/agent.json.' },
  { key: 'api.companionHost', kind: 'string', unit: 'IP address', default: '', maxBytes: 64,
    doc: 'Companion clients (phones, `kith client add`): the address of a second API listener that opens only while at least one client exists and serves only their sessions (never the token). Empty (the default) means off. Set it to this machine\'s LAN address, e.g. 192.168.1.10; plain HTTP, so only on a LAN you trust.' },
  { key: 'api.companionPort', kind: 'int', unit: 'TCP port', default: 5486, min: 0, max: 65535,
    doc: 'Port of the companion listener (api.companionHost).' },
  { key: 'nat.stunServers', kind: 'string', unit: 'host:port list', default: '', maxBytes: 256,
    doc: 'STUN servers to learn the public address from, comma-separated (IPv4 host:port). None by default: members already report the address they see.' },
  { key: 'nat.portMapping', kind: 'choice', unit: 'name', default: 'auto', choices: ['auto', 'natpmp', 'upnp', 'off'],
    doc: 'How rendezvous windows open the router, only during windows: "natpmp" asks the default gateway by NAT-PMP (RFC 6886), "upnp" by UPnP IGD (SSDP search, then SOAP), "auto" tries NAT-PMP then UPnP; "off" never maps. Never used when cluster.host is a loopback address.' },
  { key: 'nat.gateway', kind: 'string', unit: 'IPv4 address', default: '', maxBytes: 15,
    doc: 'Router to ask for port mappings; empty means the default gateway from /proc/net/route.' },
  { key: 'agent.profile', kind: 'choice', unit: 'name', default: 'home', choices: PROFILE_NAMES,
    doc: 'Named set of timing defaults: "home" keeps idle traffic tiny; "test" uses short intervals for labs and tests.' },
  { key: 'agent.logLevel', kind: 'choice', unit: 'name', default: 'info', choices: LOG_LEVELS,
    doc: 'Lowest level written to stderr (journald reads the <N> priority prefixes).' },
  { key: 'agent.shutdownTimeoutMs', kind: 'int', unit: 'milliseconds', default: 4000, min: 100, max: 60000,
    doc: 'Longest a clean shutdown may take before the agent exits anyway (systemd waits 5 s by default in our unit).' },
  { key: 'mailbox.household', kind: 'string', unit: 'text', default: '', maxBytes: 64,
    doc: 'Household this node\'s mailbox counts as: blobs for an away participant go to relays of two different households. Empty means this node\'s user (a user is a household); name one shared word on the machines of one home.' },
  { key: 'mailbox.ttlDays', kind: 'int', unit: 'days', default: 30, min: 1, max: 365,
    doc: 'Days a relay (a node with the relay role) keeps a blob nobody acknowledged: a laptop closed for a holiday still gets everything.' },
  { key: 'mailbox.groupQuotaMiB', kind: 'int', unit: 'MiB', default: 64, min: 1, max: 65536,
    doc: 'Bytes a relay holds for one conversation (about 30,000 typical messages).' },
  { key: 'mailbox.friendQuotaMiB', kind: 'int', unit: 'MiB', default: 256, min: 1, max: 65536,
    doc: 'Bytes a relay holds pushed by one user\'s nodes (a few busy conversations; small next to a router\'s disk).' },
  { key: 'mailbox.totalQuotaMiB', kind: 'int', unit: 'MiB', default: 1024, min: 1, max: 1048576,
    doc: 'Bytes a relay holds in all.' },
  { key: 'mailbox.pushesPerMinute', kind: 'int', unit: 'pushes per minute', default: 120, min: 1, max: 100000,
    doc: 'Pushes a relay takes from one member node per minute (a token bucket): a person typing never reaches it, a runaway loop is cut (RATE_LIMITED).' },
  { key: 'archive.friendQuotaMiB', kind: 'int', unit: 'MiB', default: 10240, min: 1, max: 16777216,
    doc: 'Archive shards this node keeps for one friend (all their nodes together); past it their puts are refused (ARCHIVE_QUOTA_EXCEEDED). Own nodes are not limited; free disk minus 1 GiB always is.' },
  { key: 'archive.containGraceSec', kind: 'int', unit: 'seconds', default: 0, min: 0, max: 2592000,
    doc: 'How long a holder that does not answer audits stays "contained" (briefly offline: a router rebooting overnight) before its shards count as lost and are repaired elsewhere. 0 means the profile\'s value: 48 h for "home", 2 min for "test"; labs set a few seconds.' },
];

export function defaultConfig(): Config {
  const c: Record<string, Record<string, unknown>> = {};
  for (const k of CONFIG_KEYS) {
    const [section, name] = k.key.split('.') as [string, string];
    (c[section] ??= {})[name] = k.default;
  }
  return c as unknown as Config;
}

/**
 * The file format's version: the top-level key `schema`. A file without it is schema 0 (written
 * before the key existed). Migrations turn a parsed document of version i into i + 1 in memory
 * only: the agent never writes the file (a conffile the admin edits; rewriting it would make
 * every package upgrade prompt).
 */
export const CONFIG_SCHEMA = 1;
const CONFIG_MIGRATIONS: readonly ((doc: Record<string, unknown>) => Record<string, unknown>)[] = [
  (doc) => doc, // 0 → 1: the keys are unchanged, only `schema` is new
];

/** The document migrated to CONFIG_SCHEMA, without its `schema` key; or the problem with it. */
export function migrateConfigDoc(doc: Record<string, unknown>): { doc: Record<string, unknown>; from: number; problem?: ConfigProblem } {
  const { schema, ...rest } = doc;
  const from = schema === undefined ? 0 : schema;
  if (typeof from !== 'number' || !Number.isInteger(from) || from < 0) {
    return { doc: rest, from: 0, problem: { code: 'CONFIG_TYPE', key: 'schema', message: `schema must be a whole number (the file format version, ${CONFIG_SCHEMA} now), got ${JSON.stringify(schema)}` } };
  }
  if (from > CONFIG_SCHEMA) {
    return { doc: rest, from, problem: { code: 'CONFIG_RANGE', key: 'schema', message: `schema ${from} is newer than this kith understands (${CONFIG_SCHEMA}): upgrade kith, or write the file for this version` } };
  }
  let migrated = rest;
  for (let v = from; v < CONFIG_SCHEMA; v++) migrated = CONFIG_MIGRATIONS[v]!(migrated);
  return { doc: migrated, from };
}

/** Validates a parsed TOML document; returns the config or every problem found. */
export function validateConfig(file: Record<string, unknown>): { config: Config; problems: ConfigProblem[] } {
  const config = defaultConfig() as unknown as Record<string, Record<string, unknown>>;
  const { doc, problem } = migrateConfigDoc(file);
  const problems: ConfigProblem[] = problem ? [problem] : [];
  if (problem?.key === 'schema' && problem.code === 'CONFIG_RANGE') return { config: config as unknown as Config, problems };
  const known = new Map(CONFIG_KEYS.map((k) => [k.key, k]));
  const sections = new Set(CONFIG_KEYS.map((k) => k.key.split('.')[0]!));

  for (const [section, value] of Object.entries(doc)) {
    if (!sections.has(section)) {
      problems.push({ code: 'CONFIG_UNKNOWN_KEY', key: section, message: `${section} is not a known section (known: ${[...sections].join(', ')})` });
      continue;
    }
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      problems.push({ code: 'CONFIG_TYPE', key: section, message: `${section} must be a table ([${section}])` });
      continue;
    }
    for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
      const key = `${section}.${name}`;
      const spec = known.get(key);
      if (spec === undefined) {
        problems.push({ code: 'CONFIG_UNKNOWN_KEY', key, message: `${key} is not a known key (\`kith config doc\` lists them)` });
        continue;
      }
      const problem = checkValue(spec, v);
      if (problem !== undefined) problems.push(problem);
      else config[section]![name] = v;
    }
  }
  return { config: config as unknown as Config, problems };
}

function checkValue(spec: KeySpec, v: unknown): ConfigProblem | undefined {
  const key = spec.key;
  switch (spec.kind) {
    case 'int':
      if (typeof v !== 'number' || !Number.isInteger(v)) {
        return { code: 'CONFIG_TYPE', key, message: `${key} must be a whole number (${spec.unit}), got ${JSON.stringify(v)}` };
      }
      if (v < spec.min! || v > spec.max!) {
        return { code: 'CONFIG_RANGE', key, message: `${key} must be between ${spec.min} and ${spec.max}, got ${v}` };
      }
      return undefined;
    case 'string':
      if (typeof v !== 'string') return { code: 'CONFIG_TYPE', key, message: `${key} must be a string (${spec.unit}), got ${JSON.stringify(v)}` };
      if (Buffer.byteLength(v) > spec.maxBytes!) return { code: 'CONFIG_RANGE', key, message: `${key} must be at most ${spec.maxBytes} bytes` };
      return undefined;
    case 'choice':
      if (typeof v !== 'string' || !spec.choices!.includes(v)) {
        return { code: 'CONFIG_CHOICE', key, message: `${key} must be one of ${spec.choices!.map((c) => `"${c}"`).join(', ')}, got ${JSON.stringify(v)}` };
      }
      return undefined;
  }
}

/** Reads and validates a TOML file. Throws CONFIG_UNREADABLE or CONFIG_INVALID (with every problem). */
export function loadConfigFile(file: string): Config {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new KithError('CONFIG_UNREADABLE', `cannot read config ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`, { cause: e });
  }
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw new KithError('CONFIG_UNREADABLE', `config ${file} is not valid TOML: ${tomlErrorText(e)}`, { cause: e });
  }
  const { config, problems } = validateConfig(doc);
  if (problems.length > 0) {
    throw new KithError('CONFIG_INVALID', `${problems.length} problem${problems.length === 1 ? '' : 's'} in ${file}`, {
      details: problems.map((p) => `[${p.code}] ${p.message}`),
    });
  }
  return config;
}

/** smol-toml's error as one line that names where: "line 3, column 8: invalid value". */
export function tomlErrorText(e: unknown): string {
  const err = e as { message?: unknown; line?: unknown; column?: unknown };
  const first = String(err.message ?? e).split('\n')[0]!.replace(/^Invalid TOML document: /, '');
  if (typeof err.line !== 'number' || typeof err.column !== 'number') return first;
  return `line ${err.line}, column ${err.column}: ${first}`;
}

/** The documentation table of every key (agent/README.md embeds its output). */
export function configDoc(): string {
  const rows = CONFIG_KEYS.map((k) => {
    const range = k.kind === 'int' ? `${k.min}–${k.max}` : k.kind === 'choice' ? k.choices!.join(' \\| ') : `≤ ${k.maxBytes} bytes`;
    return `| \`${k.key}\` | ${k.unit} | \`${JSON.stringify(k.default)}\` | ${range} | ${k.doc} |`;
  });
  return ['| key | unit | default | range | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}
