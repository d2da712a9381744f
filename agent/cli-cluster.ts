// `kith card`, `kith peer add|remove`, `kith peers`, `kith secret new`, `kith doctor`: the
// manual bootstrap of a cluster from node cards (until in-person pairing), and a view of it.
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { KithError } from '../core/errors.js';
import { writeFileAtomic } from '../core/files.js';
import { toHex } from '../core/hex.js';
import { openCard } from '../cluster/card.js';
import type { MemberView } from '../cluster/membership.js';
import { runningAgent } from './api-client.js';
import { resolveDataDir } from './paths.js';
import { printable } from './printable.js';
import type { CliIo, CommonOpts as Common } from './cli.js';

type Io = Pick<CliIo, 'out'>;

/** A small text file, trimmed; an unreadable one is `code` with the reason. */
function readText(file: string, code: 'SECRET_INVALID' | 'CARD_INVALID', what: string): string {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch (e) {
    throw new KithError(code, `cannot read the ${what} ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

export function readSecretFile(file: string): string {
  const text = readText(file, 'SECRET_INVALID', 'secret file');
  if (!/^[0-9a-fA-F]{64}$/.test(text)) throw new KithError('SECRET_INVALID', `${file} does not hold 64 hex digits`);
  return text.toLowerCase();
}

/**
 * A card file is the JSON `kith card --json` prints, or just its base64 `card` value. Of the JSON
 * only `card` is used (the signed card holds the certificate and endpoints); `userKey` and
 * `nodeSignKey`, when present, must name the card's own keys, so a mixed-up or edited file is
 * refused instead of adding someone else's node. `endpoints` is ignored: the card's own count.
 */
export function readCardFile(file: string): string {
  const text = readText(file, 'CARD_INVALID', 'card file');
  if (!text.startsWith('{')) return text;
  let v: { card?: unknown; userKey?: unknown; nodeSignKey?: unknown };
  try {
    v = JSON.parse(text) as typeof v;
  } catch {
    throw new KithError('CARD_INVALID', `${file} starts like JSON but is not JSON`);
  }
  if (typeof v.card !== 'string') throw new KithError('CARD_INVALID', `${file} is JSON without a "card" string`);
  if (v.userKey === undefined && v.nodeSignKey === undefined) return v.card;
  const card = openCard(new Uint8Array(Buffer.from(v.card, 'base64')));
  const check = (field: 'userKey' | 'nodeSignKey', actual: Uint8Array): void => {
    const given = v[field];
    if (given === undefined) return;
    if (typeof given !== 'string' || given.toLowerCase() !== toHex(actual)) {
      throw new KithError('CARD_INVALID', `${file}: "${field}" ${JSON.stringify(given).slice(0, 70)} does not match the signed card, which is for ${field === 'userKey' ? 'user' : 'node key'} ${toHex(actual).slice(0, 16)}…`, {
        hint: 'the file was edited or two cards were mixed up: get a fresh one with `kith card --out FILE` on that node',
      });
    }
  };
  check('userKey', card.cert.userKey);
  check('nodeSignKey', card.cert.signKey);
  return v.card;
}

const ago = (ms: number | null): string => (ms === null ? 'never' : ms < 1000 ? `${ms} ms ago` : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s ago` : `${Math.round(ms / 60_000)} min ago`);

/** One member as two lines; its label and endpoint came from the network: escaped. */
export function peerRow(p: MemberView): string {
  return [
    `${p.nodeSignKey.slice(0, 16)}  ${p.state.padEnd(7)}  node ${p.nodeIndex} "${printable(p.label)}" of user ${p.userKey.slice(0, 12)}…`,
    `    endpoint ${printable(p.endpoint ?? '-')}   rtt ${p.rttMs ?? '-'} ms   last seen ${ago(p.lastSeenMs)}   clock offset ${p.clockOffsetMs ?? '-'} ms`,
  ].join('\n');
}

export function addClusterCommands(program: Command, io: Io, withCommon: (c: Command) => Command): void {
  const emit = (o: Common, json: unknown, human: string): void => io.out(o.json ? JSON.stringify(json) + '\n' : human + '\n');

  withCommon(program.command('card'))
    .description("print this node's signed card (certificate and endpoints; nothing secret) for `kith peer add` on another node")
    .option('--out <file>', 'write the card JSON to a file instead')
    .action(async (o: Common & { out?: string }) => {
      const card = await runningAgent(resolveDataDir(o.dataDir)).call('card');
      if (o.out) {
        writeFileAtomic(o.out, JSON.stringify(card) + '\n', 0o644);
        emit(o, { written: o.out }, `card written to ${o.out}`);
        return;
      }
      emit(o, card, JSON.stringify(card));
    });

  const peer = program.command('peer').description('add or remove cluster members by hand (before pairing exists)');
  withCommon(peer.command('add').argument('<card-file>', 'a card from `kith card --json` on the other node'))
    .description('make the node on a card a member; run it on both ends with the same secret file')
    .requiredOption('--secret-file <file>', 'bootstrap secret both ends share (64 hex digits; `kith secret new`)')
    .action(async (cardFile: string, o: Common & { secretFile: string }) => {
      const card = readCardFile(cardFile);
      const secret = readSecretFile(o.secretFile);
      const r = await runningAgent(resolveDataDir(o.dataDir)).call('addPeer', { body: { card, secret } });
      emit(o, r, `added node "${printable(r.label)}" (${r.nodeSignKey.slice(0, 16)}) of user ${r.userKey.slice(0, 12)}…`);
    });
  withCommon(peer.command('remove').argument('<node-key>', "the member's node signing key (or its DH key), or 8+ leading characters"))
    .description('forget a member: its sessions end at once')
    .action(async (key: string, o: Common) => {
      await runningAgent(resolveDataDir(o.dataDir)).call('removePeer', { params: { key } });
      emit(o, { removed: key }, `removed ${key}`);
    });

  withCommon(program.command('peers'))
    .description('the cluster members: state, endpoint, round trip, last seen, clock offset')
    .action(async (o: Common) => {
      const { peers } = await runningAgent(resolveDataDir(o.dataDir)).call('peers');
      const json = peers.map((p) => ({ nodeSignKey: p.nodeSignKey, userKey: p.userKey, nodeIndex: p.nodeIndex, label: p.label, state: p.state, endpoint: p.endpoint, rttMs: p.rttMs, lastSeenMs: p.lastSeenMs, clockOffsetMs: p.clockOffsetMs, clockErrorMs: p.clockErrorMs, incarnation: p.incarnation, endpoints: p.endpoints }));
      emit(o, json, peers.length === 0 ? 'no members yet: exchange cards (`kith card`, `kith peer add`)' : peers.map(peerRow).join('\n'));
    });

  const secret = program.command('secret').description('bootstrap secrets for `kith peer add`');
  withCommon(secret.command('new'))
    .description('write a new random 32-byte secret (hex) to a 0600 file; give the same file to both ends')
    .requiredOption('--out <file>', 'where to write it')
    .action(async (o: Common & { out: string }) => {
      if (fs.existsSync(o.out)) throw new KithError('USAGE', `${o.out} exists; choose another name (a secret is never overwritten)`);
      writeFileAtomic(o.out, randomBytes(32).toString('hex') + '\n', 0o600);
      emit(o, { written: o.out }, `secret written to ${o.out} (mode 0600); copy it to the other node over a channel you trust`);
    });

  withCommon(program.command('doctor'))
    .description('explain in plain words why members can or cannot be reached')
    .action(async (o: Common) => {
      const agent = runningAgent(resolveDataDir(o.dataDir));
      const status = await agent.call('status');
      const { peers } = await agent.call('peers');
      const findings = diagnose(status.cluster, peers);
      emit(o, { findings }, findings.map((f) => `${f.level === 'ok' ? 'ok  ' : f.level === 'warn' ? 'WARN' : 'FAIL'}  ${f.text}`).join('\n'));
    });
}

export interface Finding {
  level: 'ok' | 'warn' | 'fail';
  text: string;
}

/** Plain-language findings from the agent's cluster status and member list (pure: tested). */
export function diagnose(c: Record<string, any>, peers: MemberView[]): Finding[] {
  const f: Finding[] = [];
  if (peers.length === 0) {
    f.push({ level: 'warn', text: 'This node has no members yet, so it sends nothing. Exchange cards with `kith card` and `kith peer add` on both nodes.' });
    return f;
  }
  // A revoked member is kept for display only: it neither answers nor counts as a member.
  const revoked = peers.filter((p) => p.state === 'revoked');
  for (const p of revoked) f.push({ level: 'ok', text: `"${printable(p.label)}" (${p.nodeSignKey.slice(0, 12)}) is revoked: it is refused and never contacted, and not counted below.` });
  const alive = peers.filter((p) => p.state === 'alive');
  const down = peers.filter((p) => p.state === 'dead' || p.state === 'suspect');
  if (alive.length === 0 && down.length === 0) {
    f.push({ level: 'warn', text: 'Every member is revoked: this node has no one to talk to. Pair with `kith pair`, or exchange cards.' });
  } else if (down.length === 0) {
    // "Alive" lags: a member that went away (or blocked this user) stays alive until probes fail.
    const quietest = Math.max(...alive.map((p) => p.lastSeenMs ?? 0));
    f.push({ level: 'ok', text: `${alive.length === 1 ? 'The one member answers' : `All ${alive.length} members answer`} (the quietest was last heard ${ago(quietest)}).` });
  }
  for (const p of down) {
    const tried = printable(p.endpoints.length ? p.endpoints.map((e) => `${e.host}:${e.port}`).join(', ') : (p.endpoint ?? 'no address known'));
    const label = printable(p.label);
    f.push({
      level: alive.length === 0 ? 'fail' : 'warn',
      text: p.lastSeenMs === null
        ? `"${label}" (${p.nodeSignKey.slice(0, 12)}) has never answered. Tried: ${tried}. Check that its agent runs and that it added this node's card with the same secret.`
        : `"${label}" (${p.nodeSignKey.slice(0, 12)}) stopped answering ${ago(p.lastSeenMs)} (${p.state}). Its last known addresses: ${tried}. If it moved, it is tried again at each of its rendezvous windows; if its user removed or blocked yours, it will not answer again.`,
    });
  }
  if (alive.length === 0 && down.length > 0) f.push({ level: 'fail', text: 'No member answers: this node may be offline, or every member moved. It keeps trying every known address, with backoff.' });
  const nat = c['nat'] ?? {};
  if (nat.doubleNat) f.push({ level: 'warn', text: 'This node is behind two NATs (the router\'s outside address is private or carrier-grade). Port mappings on the home router do not reach the internet; members can still reach this node while it keeps sessions open.' });
  else if (nat.carrierGrade) f.push({ level: 'warn', text: 'Your provider uses carrier-grade NAT (100.64.0.0/10): inbound windows cannot open; this node stays reachable through its outbound sessions.' });
  if (nat.type === 'symmetric') f.push({ level: 'warn', text: 'The NAT gives a new public port for every destination (symmetric): nodes that both move find each other only through a member that did not.' });
  if (c['publicEndpoint']) f.push({ level: 'ok', text: `Members see this node at ${c['publicEndpoint']} (NAT: ${nat.type ?? 'unknown'}).` });
  const m = c['mapping'] ?? {};
  if (m.state === 'failed' && m.errorCode === 'PORT_MAPPING_NO_GATEWAY') f.push({ level: 'ok', text: 'This machine has no default gateway (a LAN without a router to the internet), so no port mapping is tried; members on this LAN reach it directly. Set nat.gateway if a router should be asked.' });
  else if (m.state === 'failed') f.push({ level: 'warn', text: `The router refused a port mapping for a rendezvous window: ${m.error}. Enable NAT-PMP or UPnP on the router, or set nat.portMapping = "off".` });
  if (m.state === 'off') f.push({ level: 'ok', text: 'Port mapping is off: no window opens the router; members reach this node through the sessions it keeps.' });
  const clock = c['clock'] ?? {};
  if (clock.warning) f.push({ level: 'warn', text: `Clock: ${clock.warning}. Check that NTP runs on this machine.` });
  if (c['stun']?.error) f.push({ level: 'warn', text: `STUN: ${c['stun'].error}.` });
  return f;
}
