// `kith conv new|list|show|post|vote`: conversations on this node. When an agent runs for the
// data dir, the commands go through its API (it holds the store); otherwise they open the store.
import type { Command } from 'commander';
import fs from 'node:fs';
import { realClock } from '../core/clock.js';
import { cryptoRng } from '../core/rng.js';
import { KithError } from '../core/errors.js';
import { Conversations } from '../consensus/conversations.js';
import { hasIdentity, loadIdentity } from '../identity/keystore.js';
import { resolveUserRef } from '../identity/user-ref.js';
import { apiClient } from './api-client.js';
import { localConvOps, remoteConvOps, type ConvOps } from './conv-ops.js';
import type { FriendView } from './roster-service.js';
import { openLevelStore } from './level-store.js';
import { dataFiles, resolveDataDir } from './paths.js';
import { readRuntimeRecord } from './runtime-file.js';
import { printable } from './printable.js';
import type { CliIo, CommonOpts as Common } from './cli.js';
import type { Static } from '@sinclair/typebox';
import type { ConvListed, ConvShown } from './api-shapes.js';

type Io = Pick<CliIo, 'out'>;


// commander passes the default (undefined for --score) as prev the first time.
const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];
const isFullKey = (s: string) => /^[0-9a-fA-F]{64}$/.test(s.trim());

/** --with and --side users as full keys: a full key as given; a key prefix or a name looked up among the running agent's friends. */
async function fullUserKeys(o: Common, refs: string[]): Promise<string[]> {
  const short = refs.find((r) => !isFullKey(r));
  if (short === undefined) return refs;
  const files = dataFiles(resolveDataDir(o.dataDir));
  const rec = readRuntimeRecord(files.runtime);
  if (rec === undefined || !fs.existsSync(files.token)) {
    throw new KithError('FRIEND_UNKNOWN', `"${short}" is not a whole user key, and no agent runs to look it up among your friends`, { hint: 'start the agent (kith run), or give the 64-hex user key' });
  }
  const { friends } = await apiClient(rec.api.port, fs.readFileSync(files.token, 'utf8').trim()).call('friends');
  const known = friends.filter((f) => !f.blocked);
  return refs.map((r) => (isFullKey(r) ? r : resolveUserRef(r, known).userKey));
}

/** --side NAME=USER[,USER…] with every user as a full key. */
async function fullSides(o: Common, sides: string[]): Promise<string[]> {
  return Promise.all(sides.map(async (s) => {
    const m = /^([^=]+)=(.+)$/.exec(s);
    return m ? `${m[1]}=${(await fullUserKeys(o, m[2]!.split(',').map((x) => x.trim()))).join(',')}` : s;
  }));
}
const list = (v: string) => v.split(',').map((x) => x.trim()).filter((x) => x !== '');

async function withOps<T>(o: Common, fn: (ops: ConvOps) => Promise<T>): Promise<T> {
  const dataDir = resolveDataDir(o.dataDir);
  const files = dataFiles(dataDir);
  const rec = readRuntimeRecord(files.runtime);
  if (rec !== undefined && fs.existsSync(files.token)) return fn(remoteConvOps(rec.api.port, fs.readFileSync(files.token, 'utf8').trim()));
  if (!hasIdentity(dataDir)) throw new KithError('IDENTITY_MISSING', `${dataDir} has no identity`);
  const identity = loadIdentity(dataDir);
  const store = await openLevelStore(files.store);
  try {
    const convs = new Conversations({ store, clock: realClock, rng: cryptoRng, signer: { userKey: identity.cert.userKey, signSecret: identity.keys.sign.secretKey, certBytes: identity.certBytes } });
    return await fn(localConvOps(convs));
  } finally {
    await store.close();
  }
}

/** What `conv show` reads of the declared answer, with the method-specific parts it prints narrowed. */
type View = Omit<Static<typeof ConvShown>, 'current' | 'closing'> & {
  current?: { reached: boolean; outcome: { winners: string[] }; explanation: { summary: string } };
  closing?: { outcome: { winners: string[] }; evaluatedAt: string | null; closer: string } | null;
};
type Listed = Static<typeof ConvListed>;

/** A user as people read it: the display name (escaped) and the first key digits. */
const who = (userHex: string, name: string | undefined) => (name ? `${printable(name)} (${userHex.slice(0, 8)})` : userHex.slice(0, 8));

function human(v: View): string {
  const lines = [`${v.id}`, `  topic     ${printable(v.topic)}`, `  pattern   ${v.pattern.name}${v.pattern.options ? ` (${v.pattern.options.join(', ')})` : ''}`, `  state     ${v.state ?? 'open'}${v.deadline ? `, deadline ${v.deadline}` : ''}`];
  if (v.names && !Array.isArray(v.names)) lines.push(`  with      ${Object.entries(v.names).map(([k, n]) => who(k, n)).join(', ')}`);
  for (const m of v.messages ?? []) {
    const held = m.heldBy ? `  [held by ${m.heldBy.map((h) => `${h.name ? printable(h.name) : h.user.slice(0, 8)} ${h.nodes}/${h.of}`).join(', ')}]` : '';
    lines.push(`  ${m.at}  ${who(m.author, m.authorName)} #${m.seq} ${m.kind} ${printable(JSON.stringify(m.data))}${held}`);
  }
  if (v.closing) lines.push(`  closed    winners: ${v.closing.outcome.winners.join(', ') || '(none)'} (by ${v.closing.closer.slice(0, 8)} at ${v.closing.evaluatedAt})`);
  else if (v.current) lines.push(`  so far     ${v.current.explanation.summary}${v.current.reached ? '' : ' (not decided yet)'}`);
  return lines.join('\n');
}

export function addConvCommands(program: Command, io: Io, withCommon: (c: Command) => Command): void {
  const conv = program.command('conv').description('conversations whose rules are consensus methods');
  const emit = (o: Common, json: unknown, text: string) => io.out(o.json ? JSON.stringify(json) + '\n' : text + '\n');

  withCommon(conv.command('new'))
    .description('start a conversation')
    .requiredOption('--topic <text>', 'what it is about')
    .option('--with <user>', 'a participant: user key, a unique prefix of a friend\'s key (4+ digits), or a friend\'s name (repeatable; you are always in)', collect, [])
    .requiredOption('--pattern <name>', 'discussion, announcement, invitation, poll, proposal or debate')
    .option('--method <name>', 'a built-in consensus method (kith method list)')
    .option('--param <k=v>', 'a method parameter (repeatable)', collect, [])
    .option('--cel <expr>', 'a CEL method: the "reached" expression')
    .option('--outcome <expr>', 'with --cel: the outcome expression')
    .option('--deadline <iso>', 'deadline, ISO 8601 (2026-12-24T18:00:00Z)')
    .option('--option <name>', 'poll: an option (repeatable)', collect, [])
    .option('--ballot <shape>', 'poll: choice, approve, ranking or scores (default choice)')
    .option('--side <name=users>', 'debate: NAME=USER[,USER] (twice; users as for --with)', collect, [])
    .option('--rounds <n>', 'debate: rounds of arguments', (v) => Number(v))
    .action(async (o: Common & { topic: string; with: string[]; pattern: string; method?: string; param: string[]; cel?: string; outcome?: string; deadline?: string; option: string[]; ballot?: string; side: string[]; rounds?: number }) => {
      const [users, sides] = [await fullUserKeys(o, o.with), await fullSides(o, o.side)];
      const r = (await withOps(o, (ops) => ops.create({
        topic: o.topic, with: users, pattern: o.pattern, params: o.param, options: o.option, sides,
        ...(o.method !== undefined ? { method: o.method } : {}), ...(o.cel !== undefined ? { cel: o.cel } : {}),
        ...(o.outcome !== undefined ? { outcome: o.outcome } : {}), ...(o.deadline !== undefined ? { deadline: o.deadline } : {}),
        ...(o.ballot !== undefined ? { ballot: o.ballot } : {}), ...(o.rounds !== undefined ? { rounds: o.rounds } : {}),
      })));
      emit(o, r, `created ${r.id}`);
    });

  withCommon(conv.command('list'))
    .description('the conversations on this node')
    .action(async (o: Common) => {
      const r: Listed[] = await withOps(o, (ops) => ops.list());
      emit(o, r, r.length === 0 ? 'no conversations' : r.map((c) => c.state === 'damaged' ? `${c.id.slice(0, 12)}  damaged: ${c.reason}` : `${c.id.slice(0, 12)}  ${c.state.padEnd(6)} ${c.pattern.name.padEnd(12)} ${printable(c.topic)}${c.names.some((n) => n) ? `  (${c.names.map((n) => printable(n || '?')).join(', ')})` : ''}${c.outcome ? `  → ${(c.outcome as { winners: string[] }).winners.join(', ') || '(none)'}` : ''}`).join('\n'));
    });

  withCommon(conv.command('show').argument('<id>', 'conversation id or a prefix of 8+ characters'))
    .description('a conversation: messages, current result, closing record')
    .action(async (id: string, o: Common) => {
      const r = (await withOps(o, (ops) => ops.show(id))) as View;
      emit(o, r, human(r));
    });

  withCommon(conv.command('post').argument('<id>').argument('<text>'))
    .description('post a message (in a debate, --side NAME posts your side\'s argument)')
    .option('--side <name>', 'debate: post an argument for this side')
    .action(async (id: string, text: string, o: Common & { side?: string }) => {
      const r = (await withOps(o, (ops) => ops.post(id, text, o.side))) as { posted: string; closed: boolean };
      emit(o, r, `posted ${r.posted.slice(0, 12)}${r.closed ? ' — the conversation is now closed' : ''}`);
    });

  withCommon(conv.command('vote').argument('<id>').argument('[choice]', 'a single choice, an RSVP answer, or a stance'))
    .description('vote: CHOICE, --approve A,B, --rank A,B,C, --score A=5 …; proposals take a stance and --reason')
    .option('--approve <list>', 'approval ballot: comma-separated options', list)
    .option('--rank <list>', 'ranking ballot: options best first, comma-separated', list)
    .option('--score <opt=n>', 'score ballot: OPTION=WHOLE_NUMBER (repeatable)', collect, undefined as unknown as string[])
    .option('--reason <text>', 'proposal: why (needed to disagree or block)')
    .action(async (id: string, choice: string | undefined, o: Common & { approve?: string[]; rank?: string[]; score?: string[]; reason?: string }) => {
      const r = (await withOps(o, (ops) => ops.vote(id, {
        ...(choice !== undefined ? { choice } : {}), ...(o.approve ? { approve: o.approve } : {}), ...(o.rank ? { rank: o.rank } : {}),
        ...(o.score ? { scores: o.score } : {}), ...(o.reason !== undefined ? { reason: o.reason } : {}),
      }))) as { posted: string; closed: boolean; outcome?: { winners: string[] } };
      emit(o, r, `voted ${r.posted.slice(0, 12)}${r.closed ? ` — closed, winners: ${r.outcome?.winners.join(', ') || '(none)'}` : ''}`);
    });

  withCommon(program.command('chat').argument('<friend>', 'a friend\'s name or a unique prefix of their key (4+ digits)').argument('<text>'))
    .description('message a friend: the open two-person discussion with them (made on first use), then your text')
    .action(async (friend: string, text: string, o: Common) => {
      const r = (await withOps(o, (ops) => ops.chat(friend, text))) as { conv: string; created: boolean; with: { userKey: string; name: string }; posted: string };
      emit(o, r, `${r.created ? `new chat ${r.conv.slice(0, 12)} with` : 'sent to'} ${who(r.with.userKey, r.with.name)}: ${r.posted.slice(0, 12)}`);
    });

  withCommon(conv.command('watch').argument('[id]', 'only this conversation (id or a prefix of it)'))
    .description('print messages as this node accepts them, until Ctrl-C (--json: one JSON object per line)')
    .option('--all', 'first every message this node holds, then new ones')
    .action(async (id: string | undefined, o: Common & { all?: boolean }) => {
      await withOps(o, async (ops) => {
        type Entry = { n: number; conv: string; author: string; authorName: string; at: string; kind: string; data: Record<string, unknown> };
        const first = (await ops.feed(0, 0)) as { last: number };
        let cursor = o.all ? 0 : first.last;
        const want = id?.toLowerCase();
        for (;;) {
          const page = (await ops.feed(cursor, 5_000)) as { next: number; entries: Entry[] };
          for (const e of page.entries) {
            if (want !== undefined && !e.conv.startsWith(want)) continue;
            io.out(o.json ? JSON.stringify(e) + '\n' : `${watchLine(e)}\n`);
          }
          cursor = page.next;
        }
      });
    });
}

/** One watched message for people: time, conversation, author, kind and its text or vote. */
function watchLine(e: { conv: string; author: string; authorName: string; at: string; kind: string; data: Record<string, unknown> }): string {
  const d = e.data;
  const body = typeof d['text'] === 'string' ? (d['text'] as string) : e.kind === 'receipt' ? '(received it)' : JSON.stringify(d);
  return `${e.at}  ${e.conv.slice(0, 8)}  ${who(e.author, e.authorName)}  ${e.kind}: ${printable(body)}`;
}
