// The store's schema version and its migrations (agent/store-schema.ts), on the in-memory store
// and on LevelDB: a store from before the key existed is stamped and keeps every byte, steps run
// in order and resume after a crash, a newer store is refused untouched.
import t from 'tap';
import { MemoryStore, type KvStore } from '../../core/store.js';
import { isKithError } from '../../core/errors.js';
import { openLevelStore } from '../../agent/level-store.js';
import { migrateStore, plannedMigrations, parseSchema, SCHEMA_KEY, STORE_SCHEMA, type StoreMigration } from '../../agent/store-schema.js';

const enc = (s: string) => Buffer.from(s);
async function dump(store: KvStore): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for await (const [k, v] of store.range({})) out[k] = Buffer.from(v).toString('hex');
  return out;
}

t.test('a store from before the schema key: stamped with the current schema, every other byte kept', async (t) => {
  const dir = t.testdir();
  let store = await openLevelStore(dir);
  await store.put('member/ab', enc('member record'));
  await store.put('conv/c1/m/0000000001', Uint8Array.from([0, 1, 2, 255]));
  const before = await dump(store);
  await store.close();
  store = await openLevelStore(dir);
  t.same(await migrateStore(store), { from: 0, to: STORE_SCHEMA });
  const after = await dump(store);
  t.equal(Buffer.from(after[SCHEMA_KEY]!, 'hex').toString(), String(STORE_SCHEMA));
  delete after[SCHEMA_KEY];
  t.same(after, before, 'nothing else changed');
  t.same(await migrateStore(store), { from: STORE_SCHEMA, to: STORE_SCHEMA }, 'a second start does nothing');
  await store.close();
});

t.test('migrations run in order, each with its version bump in one batch', async (t) => {
  const store = new MemoryStore();
  await store.put('old/x', enc('1'));
  const seen: number[] = [];
  const steps: StoreMigration[] = [
    { to: 1, what: 'stamp', run: async () => (seen.push(1), []) },
    { to: 2, what: 'rename old/ to new/', run: async (s) => {
      seen.push(2);
      const ops = [];
      for await (const [k, v] of s.range({ gte: 'old/', lt: 'old/\uffff' })) ops.push({ type: 'del' as const, key: k }, { type: 'put' as const, key: 'new/' + k.slice(4), value: v });
      return ops;
    } },
  ];
  const logs: string[] = [];
  t.same(await migrateStore(store, { info: (m) => logs.push(m) }, steps), { from: 0, to: 2 });
  t.same(seen, [1, 2]);
  t.equal(await store.get('old/x'), undefined);
  t.equal(Buffer.from((await store.get('new/x'))!).toString(), '1');
  t.equal(parseSchema(await store.get(SCHEMA_KEY)), 2);
  t.same(logs, [], 'a fresh store (schema 0) migrates silently');
});

t.test('a crash during a step leaves the store at the last finished step; the next start goes on', async (t) => {
  const store = new MemoryStore();
  let fail = true;
  const steps: StoreMigration[] = [
    { to: 1, what: 'stamp', run: async () => [] },
    { to: 2, what: 'add a key', run: async () => {
      if (fail) throw new Error('power cut');
      return [{ type: 'put', key: 'added', value: enc('y') }];
    } },
  ];
  await t.rejects(migrateStore(store, undefined, steps), /power cut/);
  t.equal(parseSchema(await store.get(SCHEMA_KEY)), 1);
  t.equal(await store.get('added'), undefined);
  fail = false;
  const logs: string[] = [];
  t.same(await migrateStore(store, { info: (m) => logs.push(m) }, steps), { from: 1, to: 2 });
  t.match(logs[0], /store schema 1 → 2: add a key/);
});

t.test('a store of a newer schema is refused with STORE_SCHEMA_NEWER and left untouched', async (t) => {
  const store = new MemoryStore();
  await store.put(SCHEMA_KEY, enc(String(STORE_SCHEMA + 1)));
  await store.put('k', enc('v'));
  const before = await dump(store);
  const e = await migrateStore(store).catch((x: unknown) => x);
  t.ok(isKithError(e) && e.code === 'STORE_SCHEMA_NEWER', 'STORE_SCHEMA_NEWER');
  t.match((e as Error).message, new RegExp(`schema ${STORE_SCHEMA + 1}, newer than this kith understands \\(${STORE_SCHEMA}\\)`));
  t.same(await dump(store), before);
});

t.test('a corrupt schema value is a STORE_FAILED, not a crash or a guess', async (t) => {
  for (const bad of ['', 'x', '-1', '01', '1.5']) {
    t.throws(() => parseSchema(enc(bad)), { code: 'STORE_FAILED' }, JSON.stringify(bad));
  }
  t.throws(() => plannedMigrations(0, [{ to: 2, what: 'gap', run: async () => [] }]), /expected 1/);
});
