// The archive over real cluster nodes on SimNet (seeded, virtual clock): an owner node puts an
// active object onto three holders in three households through reliable request/response, audits
// them, one holder is killed (contained, then failed after the grace period), the repair planner
// moves its shards to a fifth node within the read budget, and the object reads back byte for
// byte with the dead holder gone; the repaired placement still survives any household's loss.
import t from 'tap';
import { simCluster, type SimCluster, type SimNode } from '../helpers/cluster-sim.js';
import { TEST_TIMING } from '../../cluster/timing.js';
import { MINUTE, SECOND } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { signatures } from '../../core/crypto.js';
import { toHex } from '../../core/hex.js';
import { freshAudit, nextAudit, type HolderAudit } from '../../archive/audit.js';
import { HolderClient } from '../../archive/client.js';
import { Holder } from '../../archive/holder.js';
import { openManifest, signManifest } from '../../archive/manifest.js';
import { getObject, objectKeyFor, putObject, type HolderSlot } from '../../archive/pipeline.js';
import { choosePlacement, defaultCode, survivesHouseholdLoss } from '../../archive/placement.js';
import { sealingPolicy } from '../../archive/policy.js';
import { SERVICE_ARCHIVE } from '../../archive/protocol.js';
import { executeRepair, planRepair } from '../../archive/repair.js';
import { hpkeDeriveKeyPair } from '../../core/hpke.js';

const SEED = 'archive-sim-1';

/** Runs the cluster's virtual time until the promise settles (bounded). */
async function drive<T>(c: SimCluster, p: Promise<T>, maxMs = 10 * MINUTE): Promise<T> {
  let done = false;
  const wrapped = p.finally(() => void (done = true));
  wrapped.catch(() => undefined);
  await c.until(() => done, maxMs, 10);
  if (!done) throw new Error(`not settled within ${maxMs} virtual ms (seed ${SEED})`);
  return wrapped;
}

function serveArchive(n: SimNode, owner: SimNode, c: SimCluster): Holder {
  const holder = new Holder({
    clock: c.clock, store: new MemoryStore(), log: () => undefined, selfId: n.id, dh: n.keys.dh,
    ownerOf: (peer) => (peer === owner.id ? 'owner' : undefined),
    quotaOf: () => 64 * 1024 * 1024,
    freeDiskBytes: async () => 10 * 1024 ** 3,
  }, { diskReserveBytes: 1024 ** 2, leaseGraceMs: 7 * 24 * 60 * MINUTE });
  n.node.reliable.onMessage((peer, payload, respond) => {
    if (payload[0] === SERVICE_ARCHIVE && respond) void holder.handle(peer, payload).then((r) => respond(r)).catch(() => undefined);
  });
  return holder;
}

t.test(`put, audit, kill, contain, fail, repair, read back over SimNet (seed ${SEED})`, async (t) => {
  const c = await simCluster({ seed: SEED, n: 5, timing: TEST_TIMING });
  const formed = await c.until(() => c.nodes.every((a) => c.nodes.every((b) => a === b || c.stateOf(a, b) === 'alive')), 20 * SECOND);
  t.ok(formed !== undefined, 'cluster formed');
  const [owner, ...rest] = c.nodes as [SimNode, ...SimNode[]];
  const households = new Map(rest.map((n, i) => [n.id, `home${i}`]));
  for (const n of rest) serveArchive(n, owner, c);
  const rng = new SeededRng(`${SEED}:owner`);
  const client = new HolderClient({ request: (peer, p) => owner.node.reliable.request(peer, p, 5 * SECOND) });
  const deviceA = hpkeDeriveKeyPair(rng.bytes(32));
  const signerSeed = rng.bytes(32);
  const signer = signatures.ed25519PublicKey(signerSeed);

  // Placement over three holders (the fifth node is kept back as the repair target).
  const candidates = rest.slice(0, 3);
  const { k, m } = defaultCode(3);
  const chunkBytes = 64 * 1024;
  const data = rng.bytes(300_000);
  const place = choosePlacement(candidates.map((n) => n.id), households, new Map(candidates.map((n) => [n.id, 1e9])), { k, m, shardBytes: 5 * (chunkBytes / k + 32) });
  const slots: HolderSlot[] = candidates.map((n) => ({ id: n.id, household: households.get(n.id)!, dhPublicKey: n.keys.dh.publicKey }));
  const policy = sealingPolicy('active', [{ id: 'owner-device', dhPublicKey: deviceA.publicKey }]);
  const body = await drive(c, putObject([data], {
    kind: 'active', policy, holders: slots, placement: place.holders.map((id) => slots.findIndex((s) => s.id === id)), k, m, chunkBytes,
    signerPublicKey: signer, rng, wallTimeMs: c.clock.wallTime(),
  }, (s) => client.put(s.holder, s, c.clock.wallTime() + 30 * 24 * 60 * MINUTE)));
  const manifest = openManifest(signManifest(body, signerSeed), [signer]);
  t.equal(manifest.chunks.length, 5);

  const audits = new Map<string, HolderAudit>(rest.map((n) => [n.id, freshAudit()]));
  const auditAll = async () => {
    for (const n of candidates) {
      const outcome = await drive(c, client.audit(n.id, manifest, n.id, rng));
      audits.set(n.id, nextAudit(audits.get(n.id)!, outcome, c.clock.wallTime(), { containGraceMs: 2 * MINUTE }));
    }
  };
  await auditAll();
  t.ok(candidates.every((n) => audits.get(n.id)!.state === 'ok'), 'every holder proves possession');

  const victim = candidates[2]!;
  c.kill(victim.index);
  await auditAll();
  t.equal(audits.get(victim.id)!.state, 'contained', 'a holder that stops answering is contained, not lost');
  t.equal(planRepair(manifest, (h) => audits.get(h)!.state, [], { maxReadBytes: 1e9 }).repairs.length, 0, 'no repair while contained');
  await c.run(3 * MINUTE, 200);
  await auditAll();
  t.equal(audits.get(victim.id)!.state, 'failed', 'silent past the grace period: failed');

  const target = rest[3]!;
  const cand = { id: target.id, household: households.get(target.id)!, dhPublicKey: target.keys.dh.publicKey, room: 100 };
  const plan = planRepair(manifest, (h) => audits.get(h)!.state, [cand], { maxReadBytes: 10 * 1024 * 1024 });
  t.equal(plan.repairs.length, manifest.chunks.length, 'every chunk needs repair');
  const fetch = async (ch: number, j: number, h: { id: string }) => {
    if (audits.get(h.id)!.state !== 'ok') return undefined;
    return (await client.get(h.id, manifest.object, ch, j, true)).data;
  };
  const res = await drive(c, executeRepair(manifest, objectKeyFor(manifest, deviceA.secretKey, deviceA.publicKey), plan, fetch, new Map([[cand.id, cand]]), policy, rng, (s) => client.put(s.holder, s, c.clock.wallTime() + 30 * 24 * 60 * MINUTE)));
  const ratio = res.bytesRead / res.bytesWritten;
  t.ok(ratio <= k, `repair read ${res.bytesRead} B for ${res.bytesWritten} B repaired: ${ratio.toFixed(2)} ≤ k = ${k}`);
  const repaired = openManifest(signManifest(res.body, signerSeed), [signer]);
  for (const ch of repaired.chunks) {
    t.ok(survivesHouseholdLoss(ch.shards.filter((s) => repaired.holders[s.holder]!.id !== victim.id).map((s) => repaired.holders[s.holder]!.household), k), 'repaired chunk survives any household loss');
    if (ch.shards.some((s) => repaired.holders[s.holder]!.id === victim.id)) t.fail('a shard still on the dead holder');
  }
  const parts: Uint8Array[] = [];
  const objectKey = objectKeyFor(repaired, deviceA.secretKey, deviceA.publicKey);
  await drive(c, (async () => {
    for await (const p of getObject(repaired, objectKey, fetch)) parts.push(p);
  })());
  t.equal(toHex(Buffer.concat(parts)), toHex(data), 'byte-identical after the repair');
  await c.close();
});
