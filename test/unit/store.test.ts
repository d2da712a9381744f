// One conformance suite for every KvStore: the in-memory twin and LevelDB.
import t from 'tap';
import { compareUtf8, MemoryStore, prefixEnd, type KvStore } from '../../core/store.js';
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

  t.test(`${name}: keys sort by their UTF-8 bytes (an emoji after U+FFFD, as LevelDB has them), a write during a range does not move it`, async (t) => {
    const s = await open(t.testdir());
    for (const k of ['k/\u{1F600}', 'k/\uFFFD', 'k/z', 'k/\u00e9', 'k/A', 'k/']) await s.put(k, enc(k));
    const keys = async (o = {}) => (await collect(s.range({ gte: 'k/', lt: 'k0', ...o }))).map((x) => x.split('=')[0]);
    t.same(await keys(), ['k/', 'k/A', 'k/z', 'k/\u00e9', 'k/\uFFFD', 'k/\u{1F600}']);
    t.same(await keys({ gte: 'k/z', limit: 2 }), ['k/z', 'k/\u00e9']);
    const seen: string[] = [];
    for await (const [k] of s.range({ gte: 'k/', lt: 'k0' })) {
      seen.push(k);
      if (seen.length === 1) await s.put('k/B', enc('new'));
    }
    t.same(seen, ['k/', 'k/A', 'k/z', 'k/\u00e9', 'k/\uFFFD', 'k/\u{1F600}'], 'the keys of the range as it began');
    await s.close();
  });
}

t.test('compareUtf8 orders as Buffer.compare of the UTF-8 bytes (named cases: ASCII, prefixes, BMP above the surrogates, supplementary planes)', async (t) => {
  const cases = ['', 'a', 'ab', 'b', 'feed/n/0000000000000001', 'feed/n0', '\u00e9', '\ud7ff', '\ue000', '\uffff', '\u{10000}', '\u{1F600}', 'a\u{1F600}', 'a\uffff'];
  for (const a of cases) for (const b of cases) t.equal(Math.sign(compareUtf8(a, b)), Math.sign(Buffer.compare(Buffer.from(a), Buffer.from(b))), `${JSON.stringify(a)} vs ${JSON.stringify(b)}`);
});

t.test('memory: keys deleted from the shared map while it is open (a simulated wipe) are gone from ranges', async (t) => {
  const map = new Map<string, Uint8Array>();
  const s = new MemoryStore(map);
  await s.batch([{ type: 'put', key: 'a', value: enc('1') }, { type: 'put', key: 'b', value: enc('2') }]);
  map.delete('a');
  t.same(await collect(s.range({})), ['b=2']);
  await s.put('c', enc('3'));
  t.same(await collect(s.range({})), ['b=2', 'c=3']);
});

t.test('memory: puts, re-puts, deletes and re-adds between ranges (keys merged in at the next range) give what a sorted map gives', async (t) => {
  const s = new MemoryStore();
  const want = new Map<string, string>();
  let x = 7;
  const next = () => (x = (x * 1103515245 + 12345) % 2147483648);
  for (let step = 0; step < 3000; step++) {
    const k = `k/${next() % 200}`;
    const op = next() % 10;
    if (op < 6) (await s.put(k, enc(String(step))), want.set(k, String(step)));
    else if (op < 8) (await s.del(k), want.delete(k));
    else if (op === 8) (await s.batch([{ type: 'del', key: k }, { type: 'put', key: k, value: enc('b') }]), want.set(k, 'b'));
    else {
      const lo = `k/${next() % 200}`;
      const expect = [...want].filter(([key]) => compareUtf8(key, lo) >= 0).sort(([a], [b]) => compareUtf8(a, b)).map(([key, v]) => `${key}=${v}`);
      const got = await collect(s.range({ gte: lo, lt: prefixEnd('k/') }));
      if (got.join() !== expect.join()) return void t.same(got, expect, `range from ${lo} at step ${step}`);
    }
  }
  t.same(await collect(s.range({ reverse: true })), [...want].sort(([a], [b]) => compareUtf8(b, a)).map(([key, v]) => `${key}=${v}`));
});

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
