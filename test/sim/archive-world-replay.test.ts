// The archive world replays: one seed built twice in one process, the same puts from every
// laptop, gives the same datagrams (SimNet trace hash) and the same signed manifests. Guards the
// determinism the archive world simulation (archive-world.test.ts) relies on for KITH_SIM_SEED:
// a put whose file was read by a real read stream while virtual time stepped on did not replay
// (agent/env.ts `readFile`).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { MINUTE } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { buildArchiveWorld } from './archive-world.js';

const SEED = process.env['KITH_SIM_SEED'] ?? 'archive-world-replay-1';

async function run(dir: string): Promise<{ trace: string; manifests: string; objects: number }> {
  const w = await buildArchiveWorld(SEED, dir);
  const { sim, users } = w;
  try {
    const rng = new SeededRng(`${SEED}:world`);
    const started: { name: string; id: string }[] = [];
    for (const u of users) {
      const file = path.join(dir, `${u.name}.bin`);
      fs.writeFileSync(file, rng.bytes(1 + rng.below(6000)));
      const r = await sim.api(u.laptop, 'POST', '/api/archive/put', { path: file });
      started.push({ name: u.laptop, id: r.body.result.id });
    }
    await sim.until(() => started.every((s) => sim.get(s.name).agent!.archive.job(s.id).state !== 'running'), 10 * MINUTE, 50);
    await sim.run(10_000, 100);
    const h = createHash('sha256');
    let objects = 0;
    for (const u of users) for await (const [hex, rec] of sim.get(u.laptop).agent!.archive.owner.records()) (h.update(hex).update(rec.signed), objects++);
    return { trace: sim.traceHash(), manifests: h.digest('hex'), objects };
  } finally {
    await sim.close();
  }
}

t.test(`the archive world replays: same seed, same datagrams and manifests (seed ${SEED})`, async (t) => {
  const base = t.testdir();
  const a = await run(path.join(base, 'a'));
  const b = await run(path.join(base, 'b'));
  t.equal(a.objects, 6, 'six objects archived, one per laptop');
  t.equal(b.trace, a.trace, `trace hash ${a.trace.slice(0, 16)}…`);
  t.equal(b.manifests, a.manifests, `manifests ${a.manifests.slice(0, 16)}…`);
});
