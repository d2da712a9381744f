// Lease renewal that reaches only some holders (ArchiveOwner.renewAll): the holders reached keep
// their new lease in the record, and the next round asks only those still due.
import t from 'tap';
import { HOUR } from '../../core/clock.js';
import { DEFAULT_OWNER_OPTIONS, type ObjectRecord } from '../../archive/owner.js';
import { DAY, ownerWorld } from './archive-owner-world.js';

async function record(w: ReturnType<typeof ownerWorld>): Promise<ObjectRecord> {
  for await (const [, rec] of w.owner.records()) return rec;
  throw new Error('no record');
}

t.test('renewal reaching only some holders keeps their new lease; the next round asks only the one missed', async (t) => {
  const w = ownerWorld('renew-partial', ['alice-phone']);
  const data = w.rng.bytes(5000);
  await w.owner.put([data], data.length, { kind: 'file' });
  const lease0 = (await record(w)).leaseMs;
  w.clock.skipWall(21 * DAY); // 9 days left: due (renewBeforeMs = 10 days)
  w.away.add('frank-router');
  const renewed = await w.owner.renewAll();
  t.equal(renewed, 5, 'five of six holders renewed');
  const rec1 = await record(w);
  t.equal(rec1.leaseMs, lease0, 'the record\'s lease is the earliest: frank-router\'s old one');
  t.equal(rec1.leases?.['frank-router'], lease0, 'frank-router keeps its old lease');
  t.equal(rec1.leases?.['bob-nas'], w.clock.wallTime() + DEFAULT_OWNER_OPTIONS.leaseMs, 'bob-nas has the new one');
  t.ok(w.logs.some((l) => l.includes('renewed at 5 of 6 holders due') && l.includes('frank-route')), 'the log names the holder not reached');
  w.away.clear();
  w.clock.skipWall(HOUR);
  t.equal(await w.owner.renewAll(), 1, 'the next round renews only frank-router');
  const rec2 = await record(w);
  t.equal(rec2.leaseMs, rec1.leases?.['bob-nas'], 'the record\'s lease is now the earliest new one: every holder is renewed');
  t.equal(rec2.leases?.['frank-router'], w.clock.wallTime() + DEFAULT_OWNER_OPTIONS.leaseMs, 'frank-router has its new lease');
  t.equal(await w.owner.renewAll(), 0, 'nothing due after that');
});
