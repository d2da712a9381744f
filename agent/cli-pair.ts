// `kith pair` (offer or join with a code), `kith friend list|remove|block`. The agent does the
// work (agent/pairing-service.ts); these commands ask it through the local API and wait.
import type { Command } from 'commander';
import { renderUnicodeCompact } from 'uqr';
import { KithError } from '../core/errors.js';
import { runningAgent } from './api-client.js';
import { resolveDataDir } from './paths.js';
import type { OfferView } from './pairing-service.js';
import type { EnrollOutcome, FriendView, PairOutcome } from './roster-service.js';
import { printable } from './printable.js';
import type { CliIo, CommonOpts as Common } from './cli.js';

type Io = Pick<CliIo, 'out' | 'err'> & { readLine(): Promise<string> };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Signals that end a waiting `kith pair`, and its exit status for each (128 + number, as shells say). */
const SIGNAL_EXIT = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 } as const satisfies Partial<Record<NodeJS.Signals, number>>;
const OFFER_SIGNALS = Object.keys(SIGNAL_EXIT) as (keyof typeof SIGNAL_EXIT)[];

export function addPairCommands(program: Command, io: Io, withCommon: (c: Command) => Command): void {
  withCommon(program.command('pair'))
    .description('pair with a friend on the same network: without --code, offer (print a code and a QR to show); with --code, join theirs. An offer also enrolls a new machine of yours (`kith node add --code`)')
    .option('--code <code>', 'the code the other agent printed (e.g. 4096-violin-harbor), or the content of its QR')
    .option('--verify', 'ask to confirm that both screens show the same safety number; nothing changes on either side unless you answer yes')
    .option('--ttl <minutes>', 'how long an offer waits (default 10)')
    .option('--no-qr', 'do not draw the QR code')
    .action(async (o: Common & { code?: string; verify?: boolean; ttl?: string; qr: boolean }) => {
      const agent = runningAgent(resolveDataDir(o.dataDir));
      let outcome: PairOutcome;
      const ask = async (n: PairOutcome): Promise<boolean> => {
        io.err(`Safety number: ${n.safetyNumber}\nDoes the other screen show the same number? [y/N] `);
        const answer = (await io.readLine()).trim().toLowerCase();
        return answer === 'y' || answer === 'yes';
      };
      if (o.code !== undefined && o.verify) {
        // Neither agent commits until this answer (pairing/README.md "Verifying before committing").
        const held = await agent.call('pairJoin', { body: { target: o.code, verify: true } });
        if (held.pending === undefined) throw new KithError('PAIR_FAILED', 'the agent holds no pairing to confirm');
        const yes = await ask(held);
        const answered = await agent.call('pairJoinConfirm', { params: { id: held.pending }, body: { confirm: yes } });
        if (!yes) {
          throw new KithError('PAIR_REFUSED', held.alreadyFriends
            ? `the safety numbers were not confirmed: "${printable(held.friendName)}" is your friend as before this pairing, on both sides`
            : 'the safety numbers were not confirmed: neither side paired', { hint: 'compare the numbers with the other person and pair again' });
        }
        outcome = answered as PairOutcome;
      } else if (o.code !== undefined) {
        outcome = await agent.call('pairJoin', { body: { target: o.code } });
      } else {
        const ttl = o.ttl === undefined ? undefined : Number(o.ttl);
        if (ttl !== undefined && !(ttl > 0 && ttl <= 60)) throw new KithError('USAGE', '--ttl must be minutes in (0, 60]');
        // With --verify, neither agent commits until this side's answer too (pairing/README.md).
        const asked = { ...(ttl === undefined ? {} : { ttlMinutes: ttl }), ...(o.verify ? { verify: true } : {}) };
        let view = await agent.call('pairOffer', { body: asked });
        if (o.json) io.out(JSON.stringify({ id: view.id, code: view.code, qr: view.qr, endpoint: view.endpoint, expiresAt: view.expiresAt }) + '\n');
        else {
          io.out(`Read this code to your friend:\n\n    ${view.code}\n\n`);
          if (o.qr) io.out(renderUnicodeCompact(view.qr, { border: 1 }) + '\n');
          io.out(`(QR content: ${view.qr})\nThey run: kith pair --code ${view.code}\nWaiting until ${view.expiresAt}…\n`);
        }
        // The offer ends with the command, however it ends: Ctrl-C, a closed terminal or a dropped
        // SSH session (SIGHUP), kill or systemd (SIGTERM), or an error while waiting.
        const cancelOffer = () => agent.call('pairOfferCancel', { params: { id: view.id } }).catch(() => undefined);
        const stopOffer = (signal: keyof typeof SIGNAL_EXIT) => void cancelOffer().finally(() => process.exit(SIGNAL_EXIT[signal]));
        for (const s of OFFER_SIGNALS) process.once(s, stopOffer);
        try {
          while (view.state === 'waiting') {
            await sleep(250);
            view = await agent.call('pairOfferState', { params: { id: view.id } });
          }
          if (view.state === 'confirming' && view.confirming) {
            const held = view.confirming;
            const yes = await ask(held);
            // A "no" may come back as the offer's own PAIR_NOT_CONFIRMED answer: the refusal below says it for the person.
            const answered = agent.call('pairOfferConfirm', { params: { id: view.id }, body: { confirm: yes } });
            if (yes) view = await answered;
            else await answered.catch(() => undefined);
            if (!yes) {
              throw new KithError('PAIR_REFUSED', held.alreadyFriends
                ? `the safety numbers were not confirmed: "${printable(held.friendName)}" is your friend as before this pairing, on both sides`
                : 'the safety numbers were not confirmed: neither side paired', { hint: 'compare the numbers with the other person and pair again' });
            }
          }
        } finally {
          for (const s of OFFER_SIGNALS) process.off(s, stopOffer);
          if (view.state === 'waiting' || view.state === 'confirming') await cancelOffer();
        }
        if (view.state !== 'paired' || !view.result) {
          const code = (view.error?.code ?? (view.state === 'expired' ? 'PAIR_EXPIRED' : 'PAIR_FAILED')) as 'PAIR_FAILED';
          throw new KithError(code, view.error?.message ?? `the offer ended: ${view.state}`);
        }
        if (view.result.kind === 'node') {
          const n: EnrollOutcome = view.result;
          io.out(o.json ? JSON.stringify(n) + '\n' : `Added node ${n.nodeIndex} ("${printable(n.label)}") of this user; every member is being told.\n`);
          return;
        }
        outcome = view.result;
      }
      const line = { friendUserKey: outcome.friendUserKey, friendName: outcome.friendName, safetyNumber: outcome.safetyNumber, nodes: outcome.nodes };
      io.out(o.json ? JSON.stringify(line) + '\n' : `Paired with "${printable(outcome.friendName)}" (user ${outcome.friendUserKey.slice(0, 16)}…, ${outcome.nodes} node(s)).\nSafety number: ${outcome.safetyNumber}\n`);
    });

  const friend = program.command('friend').description('the users this user paired with');
  withCommon(friend.command('list'))
    .description('friends (and blocked users)')
    .action(async (o: Common) => {
      const { friends } = await runningAgent(resolveDataDir(o.dataDir)).call('friends');
      io.out(o.json ? JSON.stringify(friends) + '\n' : (friends.length ? friends.map((f) => `${f.userKey.slice(0, 16)}  ${f.blocked ? 'BLOCKED' : `${f.nodes} node(s)`}  "${printable(f.name)}"  since ${f.since}`).join('\n') : 'no friends yet: `kith pair`') + '\n');
    });
  withCommon(friend.command('remove').argument('<user>', 'the friend\'s user key, a unique prefix of it (4+ digits, as `friend list` shows), or their name'))
    .description('forget a friend: their nodes stop being members at once')
    .action(async (key: string, o: Common) => {
      const f = await runningAgent(resolveDataDir(o.dataDir)).call('removeFriend', { params: { key } });
      io.out(o.json ? JSON.stringify(f) + '\n' : `removed "${printable(f.name)}" (${f.userKey.slice(0, 16)}…)\n`);
    });
  withCommon(friend.command('block').argument('<user>', 'a friend\'s user key, unique prefix (4+ digits) or name, or any user\'s full key'))
    .description('no traffic of any kind with that user, and their later pairing attempts are refused')
    .action(async (key: string, o: Common) => {
      const f = await runningAgent(resolveDataDir(o.dataDir)).call('blockFriend', { params: { key } });
      io.out(o.json ? JSON.stringify(f) + '\n' : `blocked ${f.userKey.slice(0, 16)}…\n`);
    });
}
