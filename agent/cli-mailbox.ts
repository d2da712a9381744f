// `kith mailbox status`: what this node's relay holds, for whom, against which quota; what this
// node has queued for relays (and which refused, STORAGE_FULL / RATE_LIMITED); the last pull per
// relay. Asks the running agent (GET /api/v1/mailbox, agent/mailbox-service.ts).
import type { Command } from 'commander';
import { runningAgent } from './api-client.js';
import type { MailboxStatusView } from './api-shapes.js';
import { resolveDataDir } from './paths.js';
import { printable } from './printable.js';
import type { CliIo, CommonOpts as Common } from './cli.js';

type Io = Pick<CliIo, 'out'>;

/** The status as the agent answers it: the declared shape of GET /api/v1/mailbox. */
export type { MailboxStatusView };

const size = (n: number): string => (n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
const pct = (n: number, of: number): string => `${((100 * n) / of).toFixed(n > 0 && n < of / 1000 ? 2 : 0)}%`;

/** The human text of `kith mailbox status` (a pure function of the agent's answer). */
export function formatMailboxStatus(s: MailboxStatusView): string {
  const out: string[] = [];
  const r = s.relay;
  if (!r) out.push('This node is no relay (no relay role): it holds nothing for others.');
  else {
    out.push(`Relay (household ${printable(s.household.slice(0, 16))}, incarnation ${r.incarnation}): ${r.blobs} blob(s), ${size(r.bytes)} of ${size(r.limits.totalBytes)} (${pct(r.bytes, r.limits.totalBytes)}), kept at most ${Math.round(r.limits.ttlMs / 86_400_000)} days`);
    for (const x of r.recipients) out.push(`  for ${printable(x.name)}: ${x.blobs} blob(s), ${size(x.bytes)}`);
    for (const f of r.friends) out.push(`  pushed by ${printable(f.name)}: ${size(f.bytes)} of ${size(f.quotaBytes)} (${pct(f.bytes, f.quotaBytes)})`);
    for (const g of r.groups) out.push(`  conversation ${g.group.slice(0, 12)}: ${size(g.bytes)} of ${size(g.quotaBytes)} (${pct(g.bytes, g.quotaBytes)})`);
    const refused = Object.entries(r.stats.refused).map(([c, n]) => `${c} ${n}`).join(', ');
    out.push(`  taken ${r.stats.pushed}, duplicates ${r.stats.duplicates}, by hash ${r.stats.byHash ?? 0}, delivered and deleted ${r.stats.deleted}, expired ${r.stats.expired}${refused ? `; refused: ${refused}` : ''}`);
  }
  out.push(s.queued.length === 0 ? 'Queued for relays: nothing.' : `Queued for relays: ${s.queued.length} blob(s), ${size(s.queued.reduce((n, q) => n + q.bytes, 0))}`);
  for (const q of s.queued.slice(0, 20)) {
    out.push(`  ${q.hash.slice(0, 12)} (conversation ${q.group.slice(0, 12)}): ${q.recipients.map((x) => `${printable(x.name)} in ${x.households.length} household(s)`).join(', ')}`);
  }
  for (const p of s.problems) out.push(`  ${p.code} from ${printable(p.name)} at ${p.at}: ${printable(p.message)}`);
  out.push(s.pulls.length === 0 ? 'Relays: none reachable yet.' : 'Relays:');
  for (const p of s.pulls) {
    const l = p.lastPull;
    out.push(`  ${printable(p.name)}: cursor ${p.cursor}, ${l ? `last pull ${l.at}: ${l.error ? `failed (${printable(l.error)})` : `${l.blobs} blob(s) (${l.totalBlobs} since start)${l.reset ? ', its store was new: pulled from the start' : ''}${l.complete ? '' : ', with a gap'}`}` : 'not pulled yet'}`);
  }
  return out.join('\n');
}

export function addMailboxCommands(program: Command, io: Io, withCommon: (c: Command) => Command): void {
  const mailbox = program.command('mailbox').description('the friend cluster as a mailbox for whoever is away');
  withCommon(mailbox.command('status'))
    .description('what this relay holds and for whom, against which quota; what this node queued for relays; the last pull per relay')
    .action(async (o: Common) => {
      const s = await runningAgent(resolveDataDir(o.dataDir)).call('mailbox');
      io.out(o.json ? JSON.stringify(s) + '\n' : formatMailboxStatus(s) + '\n');
    });
}
