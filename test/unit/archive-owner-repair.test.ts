// Repair on a real ArchiveOwner over in-memory Holders (found by test/sim/archive-world.test.ts):
// six households with one holder each, so a 6 + 3 object puts two shards on alice, bob and carol
// and one on dave, erin and frank. Alice has a second access device (her phone, device B), so her
// files are sealed outer to the phone and this laptop peels each shard with its slot's outer key.
import t from 'tap';
import { HOUR } from '../../core/clock.js';
import { toHex } from '../../core/hex.js';
import { manifestFromSigned, type ManifestBody } from '../../archive/manifest.js';
import { collect } from './archive-helpers.js';
import { ownerWorld } from './archive-owner-world.js';

/** The owner world (test/unit/archive-owner-world.ts) with alice's phone as device B, and what these tests read of it. */
function world(seed: string) {
  const w = ownerWorld(seed, ['alice-phone']);
  const body = async (): Promise<[string, ManifestBody, Record<string, { state: string }>]> => {
    for await (const [hex, rec] of w.owner.records()) return [hex, manifestFromSigned(rec.signed)!, rec.audits];
    throw new Error('no object');
  };
  const inUse = (b: ManifestBody) => b.chunks[0]!.shards.map((s) => b.holders[s.holder]!.id);
  const wipe = async (id: string) => {
    const disk = w.stores.get(id)!;
    for await (const [k] of disk.range({ gte: 'archive/h/', lt: 'archive/h/\uffff' })) await disk.del(k);
  };
  return { ...w, body, inUse, wipe };
}

t.test("a friend's router revoked while it held a shard: the shard is rebuilt elsewhere, though 8 of 9 are left", async (t) => {
  const w = world('owner-repair-revoked');
  const data = w.rng.bytes(5000);
  await w.owner.put([data], data.length, { kind: 'file' });
  const [, before] = await w.body();
  t.same(w.inUse(before), ['alice-router', 'bob-nas', 'carol-router', 'dave-nas', 'erin-router', 'frank-router', 'alice-router', 'bob-nas', 'carol-router'], '6 + 3, one shard at frank-router');
  // Frank sold his router and revoked it: gone for good, its shard can never be audited, renewed or read.
  w.revoked.add('frank-router');
  w.clock.advance(HOUR);
  await w.owner.auditAll();
  const r = await w.owner.repairAll();
  t.match(r, { repaired: 1, stuck: 0, deferred: 0 }, 'repaired in the next round');
  const [, after, audits] = await w.body();
  t.notOk(w.inUse(after).includes('frank-router'), 'no shard left on the revoked router');
  t.ok(w.inUse(after).every((h) => (audits[h]?.state ?? 'ok') === 'ok'), `every holder in use is ok: ${w.inUse(after).map((h) => `${h}:${audits[h]?.state}`).join(' ')}`);
  t.equal(toHex(await collect(w.owner.get(toHex(after.object)))), toHex(data), 'reads back byte for byte');
  t.match(await w.owner.repairAll(), { repaired: 0, stuck: 0, deferred: 0 }, 'nothing left to repair');
});

t.test("a friend's wiped router: its two shards rebuilt on holders that already keep one; reads peel each with its own slot's key", async (t) => {
  const w = world('owner-repair-two-slots');
  const data = w.rng.bytes(5000);
  await w.owner.put([data], data.length, { kind: 'file' });
  await w.wipe('carol-router');
  w.clock.advance(HOUR);
  t.match(await w.owner.auditAll(), { fail: 1 }, 'the wipe is found');
  t.match(await w.owner.repairAll(), { repaired: 1, stuck: 0 }, '7 of 9 left: repaired');
  const [hex, after] = await w.body();
  const slots = (id: string) => after.holders.filter((h) => h.id === id).length;
  t.ok(slots('dave-nas') === 2 && slots('erin-router') === 2, `dave-nas and erin-router each got a second slot (a second outer key): ${w.inUse(after).join(' ')}`);
  // Read (device B unwraps each slot's outer key): dave-nas keeps data shards 2 and 3 under two slots.
  t.equal(toHex(await collect(w.owner.get(hex))), toHex(data), 'reads back byte for byte');
  const [, , audits] = await w.body();
  t.same(Object.entries(audits).filter(([h, a]) => a.state !== 'ok' && h !== 'carol-router'), [], 'the read failed no honest holder');
  t.match(await w.owner.repairAll(), { repaired: 0, stuck: 0, deferred: 0 }, 'and leaves nothing to repair');
});
