// agent/archive-history.ts: closed conversations are archived once each (transcript + outcome as
// JSON, kind history); open ones are not; a failed put (no placement yet) is retried next round.
import t from 'tap';
import { MemoryStore } from '../../core/store.js';
import { KithError } from '../../core/errors.js';
import { archiveClosedConversations } from '../../agent/archive-history.js';
import type { ConvOps } from '../../agent/conv-ops.js';

function fakeConv(list: { id: string; state: string }[]): ConvOps {
  return {
    list: async () => list as never,
    show: async (id) => ({ id, messages: [{ text: `hello in ${id}` }], outcome: { decided: 'yes' } }) as never,
    create: async () => ({}) as never, post: async () => ({}), vote: async () => ({}), chat: async () => ({}), feed: async () => ({}),
  };
}

t.test('closed conversations archived once; open ones never; failures retried', async (t) => {
  const store = new MemoryStore();
  const puts: { text: string; kind: string; meta: Record<string, string> }[] = [];
  let fail = true;
  const archive = {
    putBytes: async (bytes: Uint8Array, kind: string, meta: Record<string, string>) => {
      if (fail) throw new KithError('ARCHIVE_PLACEMENT_IMPOSSIBLE', 'one household');
      puts.push({ text: new TextDecoder().decode(bytes), kind, meta });
      return { id: `obj${puts.length}` };
    },
  };
  const conv = fakeConv([{ id: 'c1', state: 'closed' }, { id: 'c2', state: 'open' }, { id: 'c3', state: 'closed' }]);
  const deps = { store, conv, archive: archive as never, log: () => undefined };
  t.equal(await archiveClosedConversations(deps), 0, 'no placement: nothing archived');
  fail = false;
  t.equal(await archiveClosedConversations(deps), 2, 'then both closed ones');
  t.same(puts.map((p) => [p.kind, p.meta['conv']]), [['history', 'c1'], ['history', 'c3']]);
  t.match(JSON.parse(puts[0]!.text), { id: 'c1', outcome: { decided: 'yes' } }, 'transcript and outcome');
  t.equal(await archiveClosedConversations(deps), 0, 'each only once');
});
