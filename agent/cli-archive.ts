// `kith archive put|ls|get|verify|status`: the user's archive, through the running agent (it
// holds the store, the keys and the cluster). put and get start a job in the agent and follow it
// here, printing progress on stderr; the agent reads and writes the files itself (same machine).
// The routes: /api/v1/archive/* (agent/api-shapes.ts).
import type { Command } from 'commander';
import path from 'node:path';
import { KithError } from '../core/errors.js';
import { runningAgent, type ApiClient } from './api-client.js';
import type { Reply } from './api-shapes.js';
import { resolveDataDir } from './paths.js';
import { printable } from './printable.js';
import type { CliIo, CommonOpts as Common } from './cli.js';

type Io = Pick<CliIo, 'out' | 'err'>;

const POLL_MS = 250;
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

/** What the warning ARCHIVE_ONE_ACCESS_DEVICE means for this user, in words. */
export const ONE_DEVICE_NOTE =
  'note: you have one access device, so this is sealed to it and to each holding friend\'s node, not to two of your own devices. ' +
  'A stolen holder together with this device could read it; losing this device loses nothing (your seed phrase brings its key back). ' +
  'Add a second access device with `kith node add` and later objects are sealed to both.';

type ArchiveJob = Reply<'archiveJob'>;

async function follow(api: ApiClient, job: ArchiveJob, io: Io, quiet: boolean): Promise<ArchiveJob> {
  let j = job;
  for (;;) {
    j = await api.call('archiveJob', { params: { id: job.id } });
    const done = j.state !== 'running';
    // The last progress line ends in the same write as its text, so nothing can land between them.
    if (!quiet) io.err(`\r${j.op} ${mib(j.bytes)}${j.totalBytes ? ` of ${mib(j.totalBytes)} (${Math.floor((100 * j.bytes) / Math.max(1, j.totalBytes))}%)` : ''}   ${done ? '\n' : ''}`);
    if (done) break;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
  if (j.state === 'failed') {
    const e = j.error ?? { code: 'INTERNAL', message: 'the job failed' };
    throw new KithError(e.code as never, e.message, e.hint ? { hint: e.hint } : {});
  }
  return j;
}

export function addArchiveCommands(program: Command, io: Io, withCommon: (c: Command) => Command): void {
  const emit = (o: Common, json: unknown, human: string): void => io.out(o.json ? JSON.stringify(json) + '\n' : human + '\n');
  const archive = program.command('archive').description('your archive: files sealed, erasure-coded and kept by your friends\' nodes');
  const agent = (o: Common) => runningAgent(resolveDataDir(o.dataDir));

  withCommon(archive.command('put').argument('<path>', 'a file, or a directory (each file under it becomes one object)'))
    .description('archive a file or directory (progress on stderr)')
    .action(async (p: string, o: Common) => {
      const api = agent(o);
      const job = await follow(api, await api.call('archivePut', { body: { path: path.resolve(p) } }), io, Boolean(o.json));
      const objects = job.result !== undefined && 'objects' in job.result ? job.result.objects : [];
      if (!o.json && objects.some((x) => x.warnings.some((w) => w.code === 'ARCHIVE_ONE_ACCESS_DEVICE'))) io.err(`warning[ARCHIVE_ONE_ACCESS_DEVICE]: ${ONE_DEVICE_NOTE}\n`);
      emit(o, objects, objects.map((x) => `${x.id.slice(0, 16)}  ${printable(x.name)}  ${x.size} B  ${x.k}+${x.m} over ${x.households} households`).join('\n'));
    });

  withCommon(archive.command('ls'))
    .description('the objects in your archive')
    .action(async (o: Common) => {
      const { objects } = await agent(o).call('archiveObjects');
      emit(o, objects, objects.length === 0 ? 'the archive is empty' : objects.map((x) => `${x.id.slice(0, 16)}  ${x.kind.padEnd(7)}  ${String(x.size).padStart(12)} B  ${new Date(x.createdMs).toISOString()}  ${printable(x.name)}`).join('\n'));
    });

  withCommon(archive.command('get').argument('<id>', 'the object id (or its first hex digits) from `kith archive ls`'))
    .description('read an object back, byte for byte (progress on stderr)')
    .option('--out <file>', 'where to write it (default: its name, in the current directory)')
    .action(async (id: string, o: Common & { out?: string }) => {
      const api = agent(o);
      // Ids are hex (`kith archive ls`): anything else names no object, said as such, not as a bad request.
      if (!/^[0-9a-fA-F]{1,128}$/.test(id)) throw new KithError('ARCHIVE_OBJECT_UNKNOWN', `no archived object ${printable(id)}`, { hint: 'ids are the hex digits `kith archive ls` shows' });
      let out = o.out;
      if (out === undefined) {
        const { objects } = await api.call('archiveObjects');
        const hit = objects.filter((x) => x.id.startsWith(id.toLowerCase()));
        if (hit.length !== 1) throw new KithError('ARCHIVE_OBJECT_UNKNOWN', hit.length === 0 ? `no archived object ${id}` : `${id} names ${hit.length} objects; give more digits`);
        out = path.basename(hit[0]!.name || hit[0]!.id);
      }
      const job = await follow(api, await api.call('archiveGet', { body: { id: id.toLowerCase(), out: path.resolve(out) } }), io, Boolean(o.json));
      emit(o, job.result, `wrote ${job.result !== undefined && 'bytes' in job.result ? job.result.bytes : 0} bytes to ${printable(path.resolve(out))}`);
    });

  withCommon(archive.command('verify'))
    .description('audit every holder of every object now, and repair what needs it')
    .action(async (o: Common) => {
      const r = await agent(o).call('archiveVerify');
      emit(o, r, `audits: ${r.audit.pass} passed, ${r.audit.fail} failed, ${r.audit.noAnswer} unanswered\n` +
        `repair: ${r.repair.repaired} chunk(s) repaired (read ${r.repair.bytesRead} B, wrote ${r.repair.bytesWritten} B), ${r.repair.stuck} stuck, ${r.repair.deferred} deferred`);
    });

  withCommon(archive.command('recover'))
    .description('after `kith init --recover` and meeting one friend again: fetch your index from their node and restore every object')
    .action(async (o: Common) => {
      const r = await agent(o).call('archiveRecover');
      emit(o, r, `restored ${r.objects} object(s) from the newest of ${r.roots} index root(s); your friends:\n` +
        r.friends.map((f) => `  ${f.userKey.slice(0, 16)}  ${printable(f.name)}`).join('\n') +
        `\n${r.friendsRestored} friendship(s) restored from the archive: their nodes are members again (see \`kith peers\`); ` +
        'pair again (`kith pair`) with a friend whose node stays unreachable.');
    });

  withCommon(archive.command('status'))
    .description('per object: healthy shards, households, last audit, repairs')
    .action(async (o: Common) => {
      const { objects } = await agent(o).call('archiveStatus');
      emit(o, objects, objects.length === 0 ? 'the archive is empty' : objects.map((x) =>
        `${x.id.slice(0, 16)}  ${printable(x.name)}  ${x.healthyShards}/${x.shards} shards healthy (k=${x.k}), ${x.households} households, ` +
        `last audit ${x.lastAuditMs ? new Date(x.lastAuditMs).toISOString() : 'never'}, ${x.repairs} repair(s)` +
        x.holders.filter((h) => h.state !== 'ok').map((h) => `\n    holder ${h.id.slice(0, 12)} ${h.state}`).join('')).join('\n'));
    });
}
