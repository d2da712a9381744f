// The archive in whole agents (test/helpers/sim-agents.ts: runAgent on one virtual clock over
// SimNet): users pair, files go in through POST /api/archive/put, and come back byte for byte
// through POST /api/archive/get while holders are stopped, wiped (their shards deleted from their
// store) and brought back at random; audits and repair run through POST /api/archive/verify and
// the agents' own schedule (test profile: rounds every 5 virtual minutes, containment 2 minutes).
// At the end every object is read back, no household's loss would lose any (status), and repair
// read at most k bytes per byte rebuilt. Sizes: KITH_ARCHIVE_SIM_OBJECTS (default 12) objects of
// up to KITH_ARCHIVE_SIM_BYTES (default 40 000) bytes; KITH_ARCHIVE_SIM_USERS (default 5: alice and four holding households, so a 6+3 code can be repaired after one household's loss).
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { SeededRng } from '../../core/rng.js';
import { MINUTE } from '../../core/clock.js';
import { simAgents, type SimAgents } from '../helpers/sim-agents.js';

const SEED = process.env['KITH_SIM_SEED'] ?? 'archive-agents-1';
const OBJECTS = Number(process.env['KITH_ARCHIVE_SIM_OBJECTS'] ?? 12);
const MAX_BYTES = Number(process.env['KITH_ARCHIVE_SIM_BYTES'] ?? 40_000);
const USERS = Number(process.env['KITH_ARCHIVE_SIM_USERS'] ?? 5);

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function waitJob(sim: SimAgents, name: string, job: any): Promise<any> {
  let j = job;
  await sim.until(() => {
    j = sim.get(name).agent!.archive.job(job.id);
    return j.state !== 'running';
  }, 10 * MINUTE);
  return j;
}

function dumpOnFailure(t: { teardown(fn: () => void): void; passing(): boolean; comment(...m: unknown[]): void }, sim: SimAgents): void {
  t.teardown(() => {
    if (!t.passing()) t.comment(`seed ${sim.seed} (replay: KITH_SIM_SEED=${sim.seed})\n${sim.dump().slice(-20_000)}`);
  });
}

t.test(`archive across whole agents: put, lose holders, repair, get byte for byte (seed ${SEED})`, async (t) => {
  const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'].slice(0, Math.max(3, Math.min(6, USERS)));
  const dir = t.testdir();
  const sim = await simAgents({ seed: SEED, dir, agents: users.map((u) => ({ name: u, user: u })) });
  t.teardown(() => sim.close());
  dumpOnFailure(t, sim);
  for (const u of users.slice(1)) await sim.pair('alice', u);
  const met = await sim.until(() => users.slice(1).every((u) => sim.stateOf('alice', u) === 'alive'), 30_000);
  t.ok(met !== undefined, 'alice reaches every friend');

  const rng = new SeededRng(`${SEED}:data`);
  const files: { name: string; bytes: Uint8Array; id?: string }[] = [];
  const srcDir = path.join(dir, 'src');
  fs.mkdirSync(srcDir);
  for (let i = 0; i < OBJECTS; i++) {
    const bytes = rng.bytes(1 + rng.below(MAX_BYTES));
    const name = path.join(srcDir, `f${i}.bin`);
    fs.writeFileSync(name, bytes);
    files.push({ name, bytes });
  }
  for (const f of files) {
    const r = await sim.api('alice', 'POST', '/api/archive/put', { path: f.name });
    t.equal(r.status, 200, JSON.stringify(r.body));
    const done = await waitJob(sim, 'alice', r.body.result);
    if (done.state !== 'done') t.fail(`put ${f.name}: ${JSON.stringify(done.error)}`);
    f.id = done.result.objects[0].id;
    t.match(done.result.objects[0].warnings, [{ code: 'ARCHIVE_ONE_ACCESS_DEVICE' }], 'one access device: the warning comes with the put');
  }
  const ls = await sim.api('alice', 'GET', '/api/archive/ls');
  t.equal(ls.body.result.objects.length, OBJECTS, 'ls lists every object');

  const readBack = async (label: string) => {
    let same = 0;
    for (const f of files) {
      const out = path.join(dir, `out-${path.basename(f.name)}`);
      const r = await sim.api('alice', 'POST', '/api/archive/get', { id: f.id, out });
      const done = await waitJob(sim, 'alice', r.body.result);
      if (done.state === 'done' && Buffer.compare(fs.readFileSync(out), f.bytes) === 0) same++;
      else t.comment(`${label}: ${f.id} ${JSON.stringify(done.error)}`);
      fs.rmSync(out, { force: true });
    }
    t.equal(same, files.length, `${label}: every object byte-identical`);
  };
  await readBack('after put');

  // ---- bad input: full disks, an unknown id, a missing file: clear errors, nothing stored lost
  sim.world.freeDiskBytes = 0;
  const full = await sim.api('alice', 'POST', '/api/archive/put', { path: files[0]!.name });
  const fullJob = await waitJob(sim, 'alice', full.body.result);
  t.equal(fullJob.error?.code, 'ARCHIVE_DISK_FULL', 'holders with full disks: the put fails with ARCHIVE_DISK_FULL');
  sim.world.freeDiskBytes = 1024 ** 4;
  const unknown = await sim.api('alice', 'POST', '/api/archive/get', { id: 'ffff', out: path.join(dir, 'x') });
  t.equal(unknown.body.error?.code, 'ARCHIVE_OBJECT_UNKNOWN', 'an unknown id: ARCHIVE_OBJECT_UNKNOWN, before any job starts');
  t.notOk(fs.existsSync(path.join(dir, 'x')) || fs.existsSync(path.join(dir, 'x.kith-partial')), 'and no file written');
  t.equal((await sim.api('alice', 'POST', '/api/archive/put', { path: path.join(dir, 'no-such-file') })).body.error?.code, 'USAGE', 'a missing file: USAGE');
  t.equal((await sim.api('alice', 'GET', '/api/archive/ls')).body.result.objects.length, OBJECTS, 'still every object, and only those');

  // ---- losses: rounds of one holder stopped or wiped, then audits and repair
  const holders = users.slice(1);
  const wipe = (name: string) => {
    const disk = sim.world.disks.get(path.join(sim.get(name).dataDir, 'store'));
    let n = 0;
    for (const k of [...(disk?.keys() ?? [])]) if (k.startsWith('archive/h/')) (disk!.delete(k), n++);
    return n;
  };
  let repairRead = 0;
  let repairWritten = 0;
  for (let round = 0; round < 3; round++) {
    const victim = holders[rng.below(holders.length)]!;
    const wiped = rng.below(2) === 0;
    await sim.stop(victim);
    // A holder wiped before may hold nothing now (repair moved its shards away).
    t.comment(wiped ? `round ${round}: ${victim} stopped, ${wipe(victim)} shard records wiped` : `round ${round}: ${victim} stopped`);
    await sim.run(3 * MINUTE, 200);
    await readBack(`round ${round}, ${victim} down`);
    for (let i = 0; i < 2; i++) {
      const v = await sim.api('alice', 'POST', '/api/archive/verify');
      t.equal(v.status, 200, JSON.stringify(v.body));
      repairRead += v.body.result.repair.bytesRead;
      repairWritten += v.body.result.repair.bytesWritten;
      await sim.run(3 * MINUTE, 200);
    }
    await sim.start(victim);
    await sim.until(() => sim.stateOf('alice', victim) === 'alive', 60_000);
  }
  const v = await sim.api('alice', 'POST', '/api/archive/verify');
  repairRead += v.body.result.repair.bytesRead;
  repairWritten += v.body.result.repair.bytesWritten;
  const status = (await sim.api('alice', 'GET', '/api/archive/status')).body.result.objects;
  for (const s of status) {
    if (s.healthyShards < s.k + Math.ceil(s.m / 2) || s.households < 2) t.fail(`object ${s.id}: ${s.healthyShards} healthy shards over ${s.households} households ${JSON.stringify(s.holders)}`);
  }
  t.ok(status.every((s: { repairs: number }) => s.repairs >= 0), `status for ${status.length} objects`);
  t.ok(repairWritten > 0, `repair rebuilt ${repairWritten} bytes`);
  const k = Math.max(...status.map((s: { k: number }) => s.k));
  t.ok(repairRead <= k * repairWritten, `repair read ${repairRead} B for ${repairWritten} B rebuilt (≤ k = ${k} per byte)`);
  await readBack('at the end');

  // ---- recovery: alice's machine is lost with everything on it. The new one has the same node
  // key (`kith init --recover` derives it from the phrase) and an empty store; she meets bob
  // again and gets back her index (replicated: his node alone has a whole copy) and the friend
  // list; once she has met the others again, every object.
  t.equal((await sim.api('alice', 'POST', '/api/archive/verify')).status, 200, 'a last round (the index is archived once a minute when it changed)');
  const aliceUser = Buffer.from(sim.get('alice').agent!.identity.cert.userKey).toString('hex');
  const roots = holders.filter((h) => sim.world.disks.get(path.join(sim.get(h).dataDir, 'store'))?.has(`archive/h/r/${aliceUser}`));
  t.ok(roots.includes('bob'), `bob's node keeps alice's root (so do: ${roots.join(', ')})`);
  await sim.stop('alice');
  sim.world.disks.delete(path.join(sim.get('alice').dataDir, 'store'));
  await sim.start('alice');
  t.same(sim.get('alice').agent!.roster.friends(), [], 'the new machine knows no friends');
  const before = await sim.api('alice', 'GET', '/api/archive/ls');
  t.equal(before.body.result.objects.length, 0, 'and no objects');
  await sim.pair('bob', 'alice');
  t.ok(await sim.until(() => sim.stateOf('alice', 'bob') === 'alive', 60_000) !== undefined, 'alice meets bob again');
  const rec = await sim.api('alice', 'POST', '/api/archive/recover');
  t.equal(rec.status, 200, JSON.stringify(rec.body).slice(0, 500));
  t.equal(rec.body.result.objects, OBJECTS, 'every object record is back');
  t.same(rec.body.result.friends.map((f: { name: string }) => f.name).sort(), users.slice(1).sort(), 'and the friend list');
  // Objects are striped over households (no one friend holds k shards): reading them back needs
  // the other friends met again too.
  for (const u of users.slice(2)) await sim.pair(u, 'alice');
  t.ok(await sim.until(() => users.slice(1).every((u) => sim.stateOf('alice', u) === 'alive'), 60_000) !== undefined, 'alice meets the others again');
  await readBack('after recovery');
});
