// `kith ui`: a one-time login link for the web UI (printed; with --open also handed to xdg-open).
// `kith client add|list|remove`: companion clients (a phone's browser) with a QR code of their
// link. The agent makes the links (POST /api/v1/ui/login-link, /api/v1/clients); the CLI only shows them.
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { renderUnicodeCompact } from 'uqr';
import { runningAgent } from './api-client.js';
import { resolveDataDir } from './paths.js';
import { printable } from './printable.js';
import type { CliIo, CommonOpts as Common } from './cli.js';

type Io = Pick<CliIo, 'out' | 'err'>;

/** Hands a URL to the desktop's browser; failing quietly (the link is printed anyway). */
function openInBrowser(url: string, io: Io): void {
  try {
    const child = spawn('xdg-open', [url], { stdio: 'ignore', detached: true });
    child.on('error', () => io.err('could not run xdg-open: open the link above by hand\n'));
    child.unref();
  } catch {
    io.err('could not run xdg-open: open the link above by hand\n');
  }
}

export function addUiCommands(program: Command, io: Io, withCommon: (c: Command) => Command): void {
  const emit = (o: Common, json: unknown, human: string): void => io.out(o.json ? JSON.stringify(json) + '\n' : human + '\n');
  withCommon(program.command('ui'))
    .description('print a one-time login link for the web UI (it works once, for 5 minutes)')
    .option('--open', 'also open it in the desktop browser (xdg-open)')
    .action(async (o: Common & { open?: boolean }) => {
      const r = await runningAgent(resolveDataDir(o.dataDir)).call('uiLogin');
      emit(o, r, `Open the kith UI (this link works once, until ${r.expiresAt}):\n\n    ${r.link}\n`);
      if (o.open) openInBrowser(r.link, io);
    });

  const client = program.command('client').description('companion clients: a phone\'s browser on the LAN (needs api.companionHost in the config)');
  withCommon(client.command('add').argument('<name>', 'a name for the device: letters, digits, . _ -'))
    .description('add a companion client: shows a QR code with its one-time link')
    .option('--scope <scope>', '"conversations" (read and take part in conversations, the default) or "full"', 'conversations')
    .option('--no-qr', 'do not draw the QR code')
    .action(async (name: string, o: Common & { scope: string; qr: boolean }) => {
      const scope = o.scope === 'full' ? 'full' : 'conversations';
      const r = await runningAgent(resolveDataDir(o.dataDir)).call('addClient', { body: { name, scope } });
      if (o.json) return emit(o, r, '');
      io.out(`Scan this with the phone's camera (the link works once, until ${r.expiresAt}):\n\n`);
      if (o.qr) io.out(renderUnicodeCompact(r.link, { border: 1 }) + '\n');
      io.out(`${r.link}\n\nRemove it with: kith client remove ${name}\n`);
    });
  withCommon(client.command('list'))
    .description('companion clients and when each was last seen')
    .action(async (o: Common) => {
      const { clients } = await runningAgent(resolveDataDir(o.dataDir)).call('clients');
      emit(o, clients, clients.length ? clients.map((c) => `${printable(c.name).padEnd(20)} ${c.scope.padEnd(13)} added ${c.createdAt}  ${c.lastSeenAt ? `last seen ${c.lastSeenAt}` : 'link not opened yet'}`).join('\n') : 'no companion clients');
    });
  withCommon(client.command('remove').argument('<name>', 'the client\'s name'))
    .description('revoke a companion client: its session ends at once; with none left, the companion listener closes')
    .action(async (name: string, o: Common) => {
      const r = await runningAgent(resolveDataDir(o.dataDir)).call('removeClient', { params: { name } });
      emit(o, r, `removed ${name}`);
    });
}
