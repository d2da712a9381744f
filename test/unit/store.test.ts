// One conformance suite for every KvStore: the in-memory twin and LevelDB.
import t from 'tap';
import { MemoryStore, prefixEnd, type KvStore } from '../../core/store.js';
import { openLevelStore } from '../../agent/level-store.js';
import { isKithError } from '../../core/errors.js';

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array | undefined) => (b === undefined ? undefined : new TextDecoder().decode(b));

async function collect(it: AsyncIterable<[string, Uint8Array]>): Promise<string[]> {
  const out: string[] = [];
  for await (const [k, v] of it) out.push(`${k}=${dec(v)}`);
  return out;
}

const impls: [string, (dir: string) => Promise<KvStore>][] = [
  ['memory', async () => new MemoryStore()],
  ['leveldb', (dir) => openLevelStore(dir)],
];

for (const [name, open] of impls) {
  t.test(`${name}: get, put, del, batch, ordered ranges`, async (t) => {
    const s = await open(t.testdir());
    t.equal(await s.get('missing'), undefined);
    await s.put('b', enc('2'));
    await s.put('a', enc('1'));
    await s.batch([{ type: 'put', key: 'c/1', value: enc('x') }, { type: 'put', key: 'c/2', value: enc('y') }, { type: 'del', key: 'b' }]);
    t.equal(dec(await s.get('a')), '1');
    t.equal(await s.get('b'), undefined);
    t.same(await collect(s.range({})), ['a=1', 'c/1=x', 'c/2=y']);
    t.same(await collect(s.range({ gte: 'c/', lt: prefixEnd('c/') })), ['c/1=x', 'c/2=y']);
    t.same(await collect(s.range({ gte: 'c/', lt: prefixEnd('c/'), reverse: true, limit: 1 })), ['c/2=y']);
    const v = await s.get('a');
    v![0] = 0;
    t.equal(dec(await s.get('a')), '1', 'values are copies');
    await s.del('a');
    t.equal(await s.get('a'), undefined);
    await s.close();
  });
}

t.test('leveldb: a second open of the same dir is AGENT_ALREADY_RUNNING', async (t) => {
  const dir = t.testdir();
  const a = await openLevelStore(dir);
  try {
    await openLevelStore(dir);
    t.fail('opened twice');
  } catch (e) {
    t.ok(isKithError(e, 'AGENT_ALREADY_RUNNING'));
  }
  await a.close();
  const b = await openLevelStore(dir);
  await b.close();
});
