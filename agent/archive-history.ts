// The history of conversations into the archive (issue 15): the agent joins consensus/ and
// archive/ here (they never import each other). Every round, each closed conversation not yet
// archived — its transcript and outcome as `kith conv show` gives them, JSON — becomes one
// `history` object named "conversation <id>". What was archived is remembered in the store
// (archive/o/conv/<id> → object id hex), so a conversation is archived once.
import type { KvStore } from '../core/store.js';
import { isKithError } from '../core/errors.js';
import type { ConvOps } from './conv-ops.js';
import type { ArchiveService } from './archive-service.js';

const doneKey = (conv: string) => `archive/o/conv/${conv}`;

/** A conversation's history was archived anew (re-sealed after a revocation): it is now this object. */
export async function repointConversation(store: KvStore, conv: string, objectHex: string): Promise<void> {
  if (await store.get(doneKey(conv))) await store.put(doneKey(conv), new TextEncoder().encode(objectHex));
}

/** Archives closed conversations not archived yet; returns how many were archived this round. */
export async function archiveClosedConversations(deps: { store: KvStore; conv: ConvOps; archive: Pick<ArchiveService, 'putBytes'>; log: (line: string) => void }, maxPerRound = 20): Promise<number> {
  const list = (await deps.conv.list()) as { id: string; state: string }[];
  let n = 0;
  for (const c of list) {
    if (c.state !== 'closed' || n >= maxPerRound) continue;
    if (await deps.store.get(doneKey(c.id))) continue;
    const transcript = await deps.conv.show(c.id);
    try {
      const { id } = await deps.archive.putBytes(new TextEncoder().encode(JSON.stringify(transcript)), 'history', { name: `conversation ${c.id}`, conv: c.id });
      await deps.store.put(doneKey(c.id), new TextEncoder().encode(id));
      n++;
    } catch (e) {
      // No placement yet (one household) or holders away: the next round tries again.
      deps.log(`archive: conversation ${c.id.slice(0, 12)} not archived yet: ${isKithError(e) ? e.code : (e as Error).name}`);
      break;
    }
  }
  return n;
}
