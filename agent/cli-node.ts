// `kith node add|list|revoke`: the user's own machines. `add` runs on the new machine without an
// agent (agent/node-add.ts); `list` and `revoke` ask the running agent. The seed phrase is read
// here (typed, or from a 0600 file) and never leaves this process: `revoke` signs the revocation
// itself and hands the agent only the signed bytes, then the revoked node's own DH key (derived
// here; void once revoked), so the agent re-seals the history sealed to it (archive/README.md).
// Run again for a node already revoked, it hands over the key only.
import type { Command } from 'commander';
import { realClock } from '../core/clock.js';
import { KithError, isKithError } from '../core/errors.js';
import { toHex } from '../core/hex.js';
import { cryptoRng } from '../core/rng.js';
import { parseRoles } from '../identity/certificate.js';
import { nodeDhSecret, revokeNode, userKeyOf } from '../identity/create.js';
import { MAX_INDEX } from '../identity/keys.js';
import { parsePhrase } from '../identity/phrase.js';
import { runningAgent } from './api-client.js';
import { defaultLabel } from './init.js';
import { addNode } from './node-add.js';
import { resolveConfigPath, resolveDataDir } from './paths.js';
import { printable } from './printable.js';
import { RESEAL_SKIPS, resealText, type Resealed, type ResealSkipped } from './reseal-text.js';
import type { NodeView, RevokeOutcome } from './roster-service.js';
import { TELL_REVOKED_MS } from '../cluster/roster-service.js';
import type { CliIo, CommonOpts as Common } from './cli.js';

type Io = Pick<CliIo, 'out' | 'err'>;

export function addNodeCommands(program: Command, io: Io, withCommon: (c: Command) => Command, readPhrase: (file: string | undefined) => Promise<string>): void {
  const emit = (o: Common, json: unknown, human: string): void => io.out(o.json ? JSON.stringify(json) + '\n' : human + '\n');
  const node = program.command('node').description('this user\'s own machines: add this one, list them, revoke a lost one');

  withCommon(node.command('add'))
    .description('make this machine a new node of your user: run `kith pair` on one of your nodes, then this with its code and your seed phrase')
    .requiredOption('--code <code>', 'the code `kith pair` printed on your other node, or its QR content')
    .option('--phrase-file <file>', 'read the seed phrase from this 0600 file instead of stdin')
    .option('--label <text>', 'name of this node shown to people (default: the host name)')
    .option('--roles <roles>', 'comma-separated roles: relay, access', 'relay,access')
    .option('--config <file>', 'TOML config (default: /etc/kith/config.toml when present): the cluster port this node will use')
    .action(async (o: Common & { code: string; phraseFile?: string; label?: string; roles: string; config?: string }) => {
      const dataDir = resolveDataDir(o.dataDir);
      const roles = parseRoles(o.roles);
      const configPath = resolveConfigPath(o.config);
      // Loaded here only: the daemon and the cluster are most of the code, and every other
      // command is a short process that does not need them (agent/cli.ts, `run`).
      const [{ displayName, effectiveConfig }, { lanEndpoints }] = await Promise.all([import('./daemon.js'), import('./cluster-service.js')]);
      const config = effectiveConfig({ dataDir, ...(configPath !== undefined ? { configPath } : {}) });
      const phrase = await readPhrase(o.phraseFile);
      const r = await addNode({ clock: realClock, rng: cryptoRng, progress: (l) => io.err(l + '\n') }, {
        dataDir, phrase, target: o.code, roles, label: o.label ?? (config.node.label || defaultLabel()), name: displayName(config),
        host: config.cluster.host, lan: config.cluster.port ? lanEndpoints(config.cluster.host, config.cluster.port) : [],
      });
      emit(o, { added: true, dataDir, ...r },
        `This machine is node ${r.nodeIndex} ("${r.label}") of user ${r.userKey.slice(0, 16)}…\n` +
        `It knows ${r.ownNodes} other node(s) of yours and ${r.friends} friend(s). Start the agent (kith run, or the service) to connect.`);
    });

  withCommon(node.command('list'))
    .description('this user\'s nodes as this node knows them, with their state')
    .action(async (o: Common) => {
      const { nodes } = await runningAgent(resolveDataDir(o.dataDir)).call('nodes');
      emit(o, nodes, nodes.map((n) => `node ${String(n.nodeIndex).padEnd(3)} gen ${n.generation}  ${n.state.padEnd(9)}  "${printable(n.label)}"  ${n.nodeSignKey.slice(0, 16) || '-'}  ${printable(n.endpoint ?? '')}${n.revokedAt ? `revoked ${n.revokedAt}` : ''}`).join('\n'));
    });

  withCommon(node.command('revoke').argument('<index>', 'the node index (from `kith node list`)'))
    .description('cut one of your nodes off for good (a lost or sold machine); needs the seed phrase')
    .option('--generation <g>', 'the key generation to revoke (default: the one this node knows)')
    .option('--phrase-file <file>', 'read the seed phrase from this 0600 file instead of stdin')
    .option('--reason <text>', 'a note kept with the revocation', '')
    .action(async (indexText: string, o: Common & { generation?: string; phraseFile?: string; reason: string }) => {
      if (!/^\d+$/.test(indexText) || Number(indexText) > MAX_INDEX) throw new KithError('USAGE', `the node index must be a whole number from 0 to ${MAX_INDEX}, got ${JSON.stringify(indexText)}`);
      if (o.generation !== undefined && (!/^\d+$/.test(o.generation) || Number(o.generation) > MAX_INDEX)) throw new KithError('USAGE', '--generation must be a whole number');
      if (new TextEncoder().encode(o.reason).length > 200) throw new KithError('USAGE', '--reason is at most 200 bytes');
      const nodeIndex = Number(indexText);
      const agent = runningAgent(resolveDataDir(o.dataDir));
      const { nodes } = await agent.call('nodes');
      const id = await agent.call('identity');
      const known = nodes.find((n) => n.nodeIndex === nodeIndex && n.state !== 'revoked');
      if (known?.state === 'this node') throw new KithError('NODE_UNKNOWN', `node ${nodeIndex} is the node you are asking: revoke it from another of your nodes`);
      const gone = nodes.find((n) => n.nodeIndex === nodeIndex && n.state === 'revoked' && (o.generation === undefined || n.generation === Number(o.generation)));
      const generation = o.generation !== undefined ? Number(o.generation) : known?.generation ?? gone?.generation;
      if (generation === undefined) throw new KithError('NODE_UNKNOWN', `this node knows no node ${nodeIndex} of your user; give --generation to revoke it anyway`);
      const phrase = parsePhrase(await readPhrase(o.phraseFile));
      if (toHex(userKeyOf(phrase)) !== id.userKey) throw new KithError('REVOCATION_INVALID', 'that seed phrase belongs to another user than this node\'s');
      let r: RevokeOutcome | undefined;
      if (!known && gone) {
        io.err(`node ${nodeIndex} (generation ${generation}) is already revoked here; handing its key over for re-sealing only.\n`);
      } else {
        const revocation = revokeNode(realClock, { phrase, nodeIndex, generation, reason: o.reason });
        if (known) io.err(`Telling node ${nodeIndex} first (waiting up to ${TELL_REVOKED_MS / 1000} s for it to acknowledge), then every member…\n`);
        r = await agent.call('revokeNode', { body: { revocation: Buffer.from(revocation).toString('base64') } });
      }
      const reseal = await handOverKey(agent, nodeDhSecret({ phrase, nodeIndex, generation }), { nodeIndex, generation });
      const told = r ? `node ${r.nodeIndex} (generation ${r.generation}) is revoked; ${r.members} member(s) told, ` +
        (r.toldRevokedNode ? 'and the revoked node acknowledged it.' : 'the revoked node did not answer (it is refused everywhere anyway).') : `node ${nodeIndex} was already revoked.`;
      emit(o, { ...(r ?? {}), reseal }, `${told}\n${resealText(reseal)}`);
    });
}

/**
 * The revoked node's key to the archive, with the node (index, generation) it was derived for, so
 * an archive that missed the revocation records it then (the key is zeroed after). The revocation
 * is done by now: a key the archive does not take is reported, not thrown.
 */
async function handOverKey(agent: ReturnType<typeof runningAgent>, key: Uint8Array, node: { nodeIndex: number; generation: number }): Promise<Resealed | ResealSkipped> {
  try {
    const copy = Buffer.from(key); // may be a slice of Node's shared pool: zeroed below
    const b64 = copy.toString('base64');
    copy.fill(0);
    return await agent.call('archiveReseal', { body: { key: b64, ...node } });
  } catch (e) {
    for (const code of RESEAL_SKIPS) if (isKithError(e, code)) return { skipped: code, message: e.message };
    throw e;
  } finally {
    key.fill(0);
  }
}
