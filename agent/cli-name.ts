// `kith name` and `kith name set NAME`: the user's display name, the one friends see. With an
// agent running it goes through its API (the agent spreads it in its friend card at once); else it
// is written to the data dir (agent/display-name.ts) and spread when the agent next starts.
import type { Command } from 'commander';
import { printable } from '../core/printable.js';
import { runningAgent } from './api-client.js';
import { readDisplayName, writeDisplayName } from './display-name.js';
import { realEnv } from './env.js';
import { resolveDataDir } from './paths.js';
import { isKithError } from '../core/errors.js';

interface Common {
  dataDir?: string;
  json?: boolean;
}

export function addNameCommands(program: Command, io: { out(text: string): void }, withCommon: (c: Command) => Command): void {
  const name = program.command('name').description('your display name, as friends see it');
  const emit = (o: Common, v: { name: string }, text: string) => io.out(o.json ? JSON.stringify(v) + '\n' : text + '\n');
  withCommon(name.command('show'))
    .description('print your display name')
    .action(async (o: Common) => {
      const dataDir = resolveDataDir(o.dataDir);
      const v = readDisplayName(dataDir, realEnv().userName());
      emit(o, { name: v.name }, printable(v.name));
    });
  withCommon(name.command('set').argument('<name>', 'up to 64 bytes, printable'))
    .description('change your display name; friends see it once their nodes meet one of yours')
    .action(async (newName: string, o: Common) => {
      const dataDir = resolveDataDir(o.dataDir);
      try {
        const r = await runningAgent(dataDir).call('setName', { body: { name: newName } });
        emit(o, r, `display name set to "${printable(r.name)}"; friends get it now`);
      } catch (e) {
        if (!isKithError(e, 'AGENT_NOT_RUNNING')) throw e;
        const r = writeDisplayName(dataDir, newName, Date.now());
        emit(o, { name: r.name }, `display name set to "${printable(r.name)}"; friends get it when the agent runs`);
      }
    });
}
