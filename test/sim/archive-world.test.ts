// The archive over weeks, whole agents (issue 15, "Tests"): six users, fifteen nodes (each a
// laptop, a router or NAS, two of them a phone and one a desktop: test/sim/archive-world.ts), 100
// objects put from the six laptops, then simulated days in which holders are killed (back after
// 1–3 days), wiped (their shard records deleted) and revoked (by their user, for good) at random.
// At the end every object reads back byte for byte, the final holder sets of every chunk survive
// the loss of any one household, no revoked node holds anything, and repair read at most k bytes
// per byte it rebuilt (the budget in archive/README.md). Users with a second access device get
// history sealed to two of their own devices (no warning); the others get ARCHIVE_ONE_ACCESS_DEVICE.
// Alice's phone (her device B) is revoked mid-run; her laptop restarts as after a crash before its
// archive recorded the revocation (the record missing), finds it again from the roster at start,
// refuses a live node's key (ARCHIVE_RESEAL_DEVICE_LIVE), and takes the phone's key handed over as
// `kith node revoke` does (with its node index and generation): her history is re-sealed to her
// laptop and each holder, and no layer names the phone after.
// The last comment (`replay:` trace and manifest hashes) is the same for two runs of one seed.
//
// Time: each day, the wall clock jumps (VirtualClock.skipWall) and the monotonic clock runs a few
// minutes: leases, renewals and the 48 h containment see the days pass, while membership and the
// rounds run as they would in those minutes (weeks of 20 ms steps of fifteen agents would take
// hours). Rounds: the agents' own schedule plus `verify` on every owner each day.
// Destructive events (wipe, revoke) only come on a day when no repair is stuck or deferred: the
// guarantee is for one loss between repairs, not for a loss on top of an unrepaired one.
// Size: KITH_ARCHIVE_WORLD_DAYS (default 14), KITH_ARCHIVE_WORLD_OBJECTS (default 100),
// KITH_ARCHIVE_WORLD_BYTES (largest object, default 6000); KITH_ARCHIVE_WORLD_BIG=1 runs 42 days
// of objects up to 300 000 bytes. Replay a failure with KITH_SIM_SEED.
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { HOUR, MINUTE } from '../../core/clock.js';
import { toHex } from '../../core/hex.js';
import { SeededRng } from '../../core/rng.js';
import { nodeDhSecret, revokeNode } from '../../identity/create.js';
import { deviceSealedTo } from '../../archive/reseal.js';
import { ARCHIVE_TIMING } from '../../agent/archive-service.js';
import { manifestFromSigned, type ManifestBody } from '../../archive/manifest.js';
import { survivesHouseholdLoss } from '../../archive/placement.js';
import { buildArchiveWorld, type ArchiveUser } from './archive-world.js';

const SEED = process.env['KITH_SIM_SEED'] ?? 'archive-world-1';
const BIG = process.env['KITH_ARCHIVE_WORLD_BIG'] === '1';
const DAYS = Number(process.env['KITH_ARCHIVE_WORLD_DAYS'] ?? (BIG ? 42 : 14));
const OBJECTS = Number(process.env['KITH_ARCHIVE_WORLD_OBJECTS'] ?? 100);
const MAX_BYTES = Number(process.env['KITH_ARCHIVE_WORLD_BYTES'] ?? (BIG ? 300_000 : 6000));
const DAY = 24 * HOUR;
const ACTIVE_MS = MINUTE;
const t0 = Date.now();
const took = () => `${((Date.now() - t0) / 1000).toFixed(1)} s real`;

// The home profile's containment (48 h) with the test profile's rounds: a router off for a night
// stays contained, one off for three days fails and is repaired. (Each agent reads this at start.)
ARCHIVE_TIMING.test.containGraceMs = 48 * HOUR;

interface Obj { owner: ArchiveUser; bytes: Uint8Array; id: string; file: string }

t.test(`archive world: 6 users, 15 nodes, ${OBJECTS} objects, ${DAYS} days of losses (seed ${SEED})`, async (t) => {
  const dir = t.testdir();
  const w = await buildArchiveWorld(SEED, dir);
  const { sim, users } = w;
  t.teardown(() => sim.close());
  t.teardown(() => {
    if (!t.passing()) t.comment(`seed ${SEED} (replay: KITH_SIM_SEED=${SEED})\n${sim.dump().split('\n').filter((l) => l.startsWith('---') || l.includes('archive')).join('\n').slice(-30_000)}`);
  });
  const all = [...w.userOf.keys()];
  /** Every owner's signed manifests, in store order: equal across two runs of one seed when the world replays. */
  const manifestsHash = async () => {
    const h = createHash('sha256');
    for (const u of users) for await (const [hex, rec] of sim.get(u.laptop).agent!.archive.owner.records()) h.update(hex).update(rec.signed);
    return h.digest('hex').slice(0, 16);
  };
  t.equal(all.length, 15, '15 nodes');
  const running = (n: string) => sim.get(n).agent !== undefined;
  const everyoneAlive = () => all.filter(running).every((a) => all.filter((b) => b !== a && running(b) && !revoked.has(b)).every((b) => sim.stateOf(a, b) === 'alive'));
  const revoked = new Set<string>();
  t.ok(await sim.until(everyoneAlive, 120_000, 100) !== undefined, 'every node sees every other alive');

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const job = async (name: string, started: any): Promise<any> => {
    let j = started;
    await sim.until(() => (j = sim.get(name).agent!.archive.job(started.id)).state !== 'running', 10 * MINUTE, 50);
    return j;
  };

  // ---- 100 objects, put from the six laptops in turn
  const rng = new SeededRng(`${SEED}:world`);
  const src = path.join(dir, 'src');
  fs.mkdirSync(src);
  const objects: Obj[] = [];
  // Six at a time, one per laptop, so the owners' puts overlap in virtual time.
  for (let i = 0; i < OBJECTS; i += users.length) {
    const batch = [];
    for (let j = i; j < Math.min(OBJECTS, i + users.length); j++) {
      const owner = users[j % users.length]!;
      const bytes = rng.bytes(1 + rng.below(MAX_BYTES));
      const file = path.join(src, `o${j}.bin`);
      fs.writeFileSync(file, bytes);
      const r = await sim.api(owner.laptop, 'POST', '/api/archive/put', { path: file });
      batch.push({ owner, bytes, file, started: r.body.result });
    }
    for (const { owner, bytes, file, started } of batch) {
      const done = await job(owner.laptop, started);
      if (done.state !== 'done') {
        t.fail(`put ${file} by ${owner.name}: ${JSON.stringify(done.error)}`);
        continue;
      }
      const put = done.result.objects[0];
      objects.push({ owner, bytes, id: put.id, file });
      const warned = put.warnings.some((x: { code: string }) => x.code === 'ARCHIVE_ONE_ACCESS_DEVICE');
      if (warned !== (owner.second === undefined)) t.fail(`${owner.name} (${owner.second ? 'two access devices' : 'one'}): warning ${warned}`);
    }
  }
  t.equal(objects.length, OBJECTS, `${OBJECTS} objects archived`);
  t.comment(`puts done at virtual ${Math.round(sim.clock.now() / 1000)} s, ${took()}`);

  // Sealing: inner to the laptop only, outer to the second access device (history needs both), or the holders.
  for (const u of users) {
    const recs: ManifestBody[] = [];
    for await (const [, rec] of sim.get(u.laptop).agent!.archive.owner.records()) recs.push(manifestFromSigned(rec.signed)!);
    const laptopKey = toHex(sim.get(u.laptop).agent!.identity.cert.dhKey);
    const outerOk = (b: ManifestBody) => (u.second
      ? b.holders.every((h) => toHex(h.outer.recipient) === sim.get(u.second!).id)
      : b.holders.every((h) => toHex(h.outer.recipient) === h.id));
    t.ok(recs.every((b) => b.inner.length === 1 && toHex(b.inner[0]!.recipient) === laptopKey && outerOk(b)),
      `${u.name}: ${recs.length} objects, inner = laptop, outer = ${u.second ? `${u.second} (device B)` : 'each holder (one access device)'}`);
  }

  // ---- the days
  const down = new Map<string, number>(); // node → day it comes back
  let repairRead = 0;
  let repairWritten = 0;
  let blocked = false;
  let lost = 0; // wipes that deleted shards, and revocations
  const log: string[] = [];
  const wipe = (n: string) => {
    const disk = sim.disk(n);
    let k = 0;
    for (const key of [...disk.keys()]) if (key.startsWith('archive/h/')) (disk.delete(key), k++);
    return k;
  };
  const rounds = async () => {
    blocked = false;
    for (const u of users) {
      if (!running(u.laptop)) {
        blocked = true;
        continue;
      }
      const v = await sim.api(u.laptop, 'POST', '/api/archive/verify');
      if (v.status !== 200) {
        t.fail(`verify on ${u.laptop}: ${JSON.stringify(v.body)}`);
        continue;
      }
      repairRead += v.body.result.repair.bytesRead;
      repairWritten += v.body.result.repair.bytesWritten;
      if (v.body.result.repair.stuck + v.body.result.repair.deferred > 0) blocked = true;
      await sim.run(2_000, 100);
    }
  };
  const killable = all;
  // Alice's phone (her device B) is revoked on the first day from day 3 on when her laptop runs
  // and nothing is stuck; `kith node revoke` then hands its key to the laptop, which re-seals her
  // history to itself and each holder (the phone was her only other access device).
  const alice = users[0]!;
  let deviceRevoked: { day: number; phoneKey: string; line: string } | undefined;
  const revokeDevice = async (day: number) => {
    const phone = alice.second!;
    const nodeIndex = sim.get(phone).agent!.identity.cert.nodeIndex;
    const phoneKey = toHex(sim.get(phone).agent!.identity.cert.dhKey);
    const revocation = Buffer.from(revokeNode(sim.clock, { phrase: sim.phrase(alice.name), nodeIndex, generation: 0, reason: 'stolen' })).toString('base64');
    t.equal((await sim.api(alice.laptop, 'POST', '/api/nodes/revoke', { revocation })).status, 200, `day ${day}: alice revokes ${phone}, her device B`);
    await sim.stop(phone);
    revoked.add(phone);
    lost++;
    // A crash between the revocation and the archive's record of it: the laptop restarts with
    // archive/o/revoked/<phone> gone (the phone's member entry went with the revocation). At start
    // its archive finds the phone again from the certificate it kept and the signed revocation.
    await sim.stop(alice.laptop);
    const disk = sim.disk(alice.laptop);
    t.ok(disk.delete(`archive/o/revoked/${phoneKey}`) && !disk.has(`member/${phoneKey}`), 'the laptop restarts without its record of the revocation, and without the phone\'s member entry');
    await sim.start(alice.laptop);
    const late = /node \d+ \(generation 0, [0-9a-f]{12}\) is revoked but was not recorded for re-sealing: recorded now$/;
    t.ok(await sim.until(() => sim.get(alice.laptop).logs.some((l) => late.test(l.msg)), MINUTE, 100) !== undefined, 'the restarted archive records the revoked phone from the roster');
    // Its holders met again first, so the round the key starts can read (else it waits a repair round).
    const others = all.filter((n) => n !== alice.laptop && running(n) && !revoked.has(n));
    await sim.until(() => others.every((n) => sim.stateOf(alice.laptop, n) === 'alive'), MINUTE, 100);
    // A key of a node that is not revoked (here the laptop's own) is refused, whatever it claims.
    const laptopIndex = sim.get(alice.laptop).agent!.identity.cert.nodeIndex;
    const own = Buffer.from(nodeDhSecret({ phrase: sim.phrase(alice.name), nodeIndex: laptopIndex, generation: 0 })).toString('base64');
    const live = await sim.api(alice.laptop, 'POST', '/api/v1/archive/reseal', { key: own, nodeIndex: laptopIndex, generation: 0 });
    t.match(live, { status: 400, body: { error: { code: 'ARCHIVE_RESEAL_DEVICE_LIVE' } } }, 'the laptop\'s own key is refused: ARCHIVE_RESEAL_DEVICE_LIVE');
    t.notOk(JSON.stringify(live.body).includes(Buffer.from(own, 'base64').toString('hex').slice(0, 12)), 'the refusal names no secret');
    const key = Buffer.from(nodeDhSecret({ phrase: sim.phrase(alice.name), nodeIndex, generation: 0 })).toString('base64');
    const r = await sim.api(alice.laptop, 'POST', '/api/v1/archive/reseal', { key, nodeIndex, generation: 0 });
    t.match(r, { status: 200, body: { opened: objects.filter((o) => o.owner === alice).length, oneDevice: true } }, 'the phone\'s key handed over: it opens every object of alice\'s, and her laptop is her last access device');
    // The round runs in the background: each object is read and written again.
    const done = (l: { msg: string }) => /re-seal round: \d+ re-sealed, 0 pending/.test(l.msg);
    const took = await sim.until(() => sim.get(alice.laptop).logs.some(done), 30 * MINUTE, 100);
    const line = sim.get(alice.laptop).logs.find(done)?.msg ?? 'not done';
    t.ok(took !== undefined, `re-sealed in ${Math.round((took ?? NaN) / 1000)} virtual s: ${line}`);
    deviceRevoked = { day, phoneKey, line };
    log.push(`day ${day}: ${phone} (device B) revoked; ${line}`);
  };
  for (let day = 1; day <= DAYS; day++) {
    sim.clock.skipWall(DAY - ACTIVE_MS);
    for (const [n, back] of [...down]) {
      if (back > day) continue;
      down.delete(n);
      await sim.start(n);
    }
    const pick = () => {
      const free = killable.filter((n) => running(n) && !revoked.has(n));
      return free[rng.below(free.length)]!;
    };
    // Every seed tests repair: a run whose dice drew no wipe or revocation by its second-to-last
    // day gets a wipe then (seed arcsim-2 drew only kills, and its repair checks had nothing to check).
    if (!deviceRevoked && day >= 3 && !blocked && running(alice.laptop) && running(alice.second!)) await revokeDevice(day);
    const lossDue = day === DAYS - 1 && lost === 0 && !blocked;
    const roll = lossDue ? 50 : rng.below(100);
    if (roll < 45 && down.size < 2) {
      const n = pick();
      const back = day + 1 + rng.below(3);
      await sim.stop(n);
      down.set(n, back);
      log.push(`day ${day}: ${n} killed until day ${back}`);
    } else if (roll < 70 && !blocked) {
      const holds = (n: string) => [...sim.disk(n).keys()].some((k) => k.startsWith('archive/h/'));
      const holders = lossDue ? killable.filter((n) => running(n) && !revoked.has(n) && !n.endsWith('-laptop') && holds(n)) : [];
      const n = lossDue ? holders[rng.below(holders.length)] : pick();
      if (n && !n.endsWith('-laptop')) {
        await sim.stop(n);
        const records = wipe(n);
        if (records > 0) lost++;
        log.push(`day ${day}: ${n} wiped (${records} shard records)`);
        down.set(n, day + rng.below(2));
        if (down.get(n) === day) (down.delete(n), await sim.start(n));
      }
    } else if (roll < 80 && !blocked && revoked.size < 2) {
      const relays = all.filter((n) => w.userOf.get(n)!.relays.includes(n) && running(n) && !revoked.has(n));
      const n = relays[rng.below(relays.length)];
      const u = n ? w.userOf.get(n)! : undefined;
      if (n && u && running(u.laptop)) {
        const revocation = Buffer.from(revokeNode(sim.clock, { phrase: sim.phrase(u.name), nodeIndex: sim.get(n).agent!.identity.cert.nodeIndex, generation: 0, reason: 'sold' })).toString('base64');
        const r = await sim.api(u.laptop, 'POST', '/api/nodes/revoke', { revocation });
        t.equal(r.status, 200, `day ${day}: ${u.name} revokes ${n}`);
        await sim.stop(n);
        revoked.add(n);
        lost++;
        log.push(`day ${day}: ${n} revoked`);
      }
    }
    await sim.run(20_000, 100);
    await rounds();
    log.push(`  day ${day} done: ${took()}`);
  }
  t.comment(log.join('\n'));

  // ---- everyone back (the revoked stay gone); rounds until no repair is left
  for (const n of down.keys()) await sim.start(n);
  down.clear();
  await sim.until(everyoneAlive, 120_000, 100);
  // Holders back from more than 48 h away are failed (by silence) for their objects until an
  // audit proves them again: rounds (hourly, within the audit budget) until every holder in use is ok.
  const revokedIds = new Set([...revoked].map((n) => sim.get(n).id!));
  const unproven = async (report = false) => {
    let n = 0;
    for (const u of users) {
      for await (const [, rec] of sim.get(u.laptop).agent!.archive.owner.records()) {
        const b = manifestFromSigned(rec.signed)!;
        for (const h of new Set(b.chunks.flatMap((c) => c.shards.map((x) => b.holders[x.holder]!.id)))) {
          if ((rec.audits[h]?.state ?? 'ok') === 'ok') continue;
          if (n++ < 5 && report) t.comment(`${u.name}: ${all.find((x) => sim.get(x).id === h)} ${JSON.stringify(rec.audits[h])}${revokedIds.has(h) ? ' (revoked)' : ''}`);
        }
      }
    }
    return n;
  };
  let left = await unproven();
  for (let i = 0; i < 16 && (left > 0 || blocked || i < 2); i++) {
    sim.clock.skipWall(HOUR);
    await rounds();
    await sim.run(10_000, 100);
    left = await unproven();
  }
  t.equal(await unproven(true), 0, 'every holder in use proven again');
  t.notOk(blocked, 'no repair stuck or deferred at the end');

  // ---- every object byte for byte, from its owner
  let same = 0;
  // A re-sealed object is a new object (archive/README.md "Revoked access devices"): found by its name.
  const idNow = async (o: Obj) => {
    for await (const [hex, rec] of sim.get(o.owner.laptop).agent!.archive.owner.records()) if (hex === o.id || manifestFromSigned(rec.signed)!.meta['name'] === path.basename(o.file)) return hex;
    return o.id;
  };
  for (const o of objects) {
    const out = `${o.file}.out`;
    const r = await sim.api(o.owner.laptop, 'POST', '/api/archive/get', { id: await idNow(o), out });
    const done = await job(o.owner.laptop, r.body.result);
    if (done.state === 'done' && Buffer.compare(fs.readFileSync(out), o.bytes) === 0) same++;
    else t.comment(`${o.owner.name} ${o.id.slice(0, 12)}: ${JSON.stringify(done.error)}`);
  }
  t.equal(same, objects.length, `every object (${objects.length}) reads back byte for byte`);

  // ---- alice's history after her device B was revoked: no layer sealed to the phone, one-device sealing
  t.ok(deviceRevoked, 'alice\'s phone was revoked');
  if (deviceRevoked) {
    const laptopKey = toHex(sim.get(alice.laptop).agent!.identity.cert.dhKey);
    let named = 0;
    let n = 0;
    for await (const [, rec] of sim.get(alice.laptop).agent!.archive.owner.records()) {
      const b = manifestFromSigned(rec.signed)!;
      n++;
      if ([...b.inner.map((x) => x.recipient), ...b.holders.map((h) => h.outer.recipient)].some((k) => toHex(k) === deviceRevoked!.phoneKey)) named++;
      if (b.inner.length !== 1 || toHex(b.inner[0]!.recipient) !== laptopKey || deviceSealedTo(b) !== undefined) t.fail(`alice ${toHex(b.object).slice(0, 12)}: not sealed to the laptop and each holder`);
    }
    t.equal(named, 0, `revoked on day ${deviceRevoked.day}; none of alice's ${n} objects has a layer sealed to the phone now`);
  }

  // ---- the placement invariant over the final holder sets, per chunk
  let chunks = 0;
  let weak = 0;
  let onRevoked = 0;
  for (const u of users) {
    for await (const [hex, rec] of sim.get(u.laptop).agent!.archive.owner.records()) {
      const b = manifestFromSigned(rec.signed)!;
      for (const c of b.chunks) {
        chunks++;
        const live = c.shards.map((s) => b.holders[s.holder]!).filter((h) => rec.audits[h.id]?.state !== 'failed');
        if (live.some((h) => revokedIds.has(h.id))) onRevoked++;
        if (!survivesHouseholdLoss(live.map((h) => h.household), b.k) || live.length < b.k + Math.ceil(b.m / 2)) {
          weak++;
          t.comment(`${u.name} ${hex.slice(0, 12)}: ${live.length} live shards over ${new Set(live.map((h) => h.household)).size} households`);
        }
      }
    }
  }
  t.equal(weak, 0, `every one of ${chunks} chunks survives the loss of any one household, with repair's margin`);
  t.equal(onRevoked, 0, 'no live shard is on a revoked node');

  // ---- the repair read budget (archive/README.md): at most k bytes read per byte rebuilt
  t.ok(repairWritten > 0, `repair rebuilt ${repairWritten} bytes`);
  const ratio = repairRead / repairWritten;
  t.ok(ratio <= 6, `repair read ${repairRead} B for ${repairWritten} B rebuilt: ${ratio.toFixed(2)} bytes read per byte repaired (budget ≤ k = 6)`);
  t.comment(`replay: trace ${sim.traceHash()}, manifests ${await manifestsHash()}`);
});
