// Possession proofs against manifest roots, audit states (failure vs briefly offline), and the
// repair planner and executor with their read budget, on in-memory shards.
import t from 'tap';
import { HOUR } from '../../core/clock.js';
import { signatures } from '../../core/crypto.js';
import { toHex } from '../../core/hex.js';
import { hpkeDeriveKeyPair } from '../../core/hpke.js';
import { SeededRng } from '../../core/rng.js';
import { checkProofs, chooseBlocks, freshAudit, nextAudit, proveBlocks, type AuditState } from '../../archive/audit.js';
import { sealingPolicy } from '../../archive/policy.js';
import { getObject, objectKeyFor, outerKeyFor, peelShard, putObject, type HolderSlot, type SealedShard } from '../../archive/pipeline.js';
import { executeRepair, planRepair, repairThreshold, type RepairCandidate } from '../../archive/repair.js';
import type { ManifestBody } from '../../archive/manifest.js';
import { collect } from './archive-helpers.js';

const rng = new SeededRng('archive-audit-repair');
const key = () => hpkeDeriveKeyPair(rng.bytes(32));
const A = key(), B = key();
const policy = sealingPolicy('history', [{ id: 'alice-laptop', dhPublicKey: A.publicKey }, { id: 'alice-desktop', dhPublicKey: B.publicKey }]);
const slot = (id: string, household: string): HolderSlot => ({ id, household, dhPublicKey: key().publicKey });
const base = [slot('alice-router', 'alice'), slot('alice-laptop', 'alice'), slot('bob-nas', 'bob')];
const carol: RepairCandidate = { ...slot('carol-router', 'carol'), room: 100 };

async function put(data: Uint8Array, holders: HolderSlot[], placement: number[], k: number, m: number) {
  const store = new Map<string, SealedShard>(); // key: chunk/shard/holder
  const body = await putObject([data], { kind: 'history', policy, holders, placement, k, m, chunkBytes: 1000, blockBytes: 64, signerPublicKey: signatures.ed25519PublicKey(rng.bytes(32)), rng, wallTimeMs: 0 }, async (s) => {
    store.set(`${s.chunk}/${s.shard}/${s.holder}`, s);
  });
  return { body, store };
}

/** A fetch that peels with device B, serving only holders that are up. */
function fetcher(body: ManifestBody, store: Map<string, SealedShard>, down: Set<string>) {
  return async (c: number, j: number) => {
    const h = body.chunks[c]!.shards[j]!.holder;
    const id = body.holders[h]!.id;
    const s = store.get(`${c}/${j}/${id}`);
    if (down.has(id) || !s) return undefined;
    return peelShard(body, outerKeyFor(body, h, B.secretKey), c, j, s.bytes);
  };
}

t.test('possession proofs: random blocks verify against the root; altered, misplaced or short ones do not', async (t) => {
  const { body, store } = await put(rng.bytes(2500), base, [0, 1, 2, 2], 2, 2);
  for (const s of store.values()) {
    const indices = chooseBlocks(s.bytes.length, body.blockBytes, rng, 3);
    const proofs = proveBlocks(s.bytes, body.blockBytes, indices);
    const root = body.chunks[s.chunk]!.shards[s.shard]!.root;
    if (!checkProofs(root, s.bytes.length, body.blockBytes, indices, proofs)) t.fail(`honest proof refused ${s.chunk}/${s.shard}`);
    const altered = proofs.map((p, i) => (i === 0 ? { ...p, block: Uint8Array.from(p.block, (x, n) => (n === 0 ? x ^ 1 : x)) } : p));
    if (checkProofs(root, s.bytes.length, body.blockBytes, indices, altered)) t.fail('altered block accepted');
    if (checkProofs(root, s.bytes.length, body.blockBytes, indices, proofs.slice(1))) t.fail('missing proof accepted');
    const last = proveBlocks(s.bytes, body.blockBytes, [Math.ceil(s.bytes.length / body.blockBytes) - 1]);
    const cut = [{ ...last[0]!, block: last[0]!.block.subarray(1) }];
    if (checkProofs(root, s.bytes.length, body.blockBytes, [last[0]!.index], cut)) t.fail('short last block accepted');
  }
  t.pass(`${store.size} shards proven`);
  const other = [...store.values()][1]!;
  const first = [...store.values()][0]!;
  t.notOk(checkProofs(body.chunks[first.chunk]!.shards[first.shard]!.root, other.bytes.length, body.blockBytes, [0], proveBlocks(other.bytes, body.blockBytes, [0])), "another shard's block does not pass");
});

t.test('audit states: an overnight reboot stays contained; two silent days fail; wrong bytes fail at once', async (t) => {
  let a = freshAudit();
  a = nextAudit(a, 'no-answer', 0);
  t.equal(a.state, 'contained');
  a = nextAudit(a, 'no-answer', 8 * HOUR);
  t.equal(a.state, 'contained', 'router rebooting overnight');
  a = nextAudit(a, 'pass', 9 * HOUR);
  t.equal(a.state, 'ok');
  t.equal(a.containedSinceMs, undefined);
  let b = nextAudit(freshAudit(), 'no-answer', 0);
  b = nextAudit(b, 'no-answer', 47 * HOUR);
  t.equal(b.state, 'contained');
  b = nextAudit(b, 'no-answer', 48 * HOUR);
  t.equal(b.state, 'failed', 'silent for the grace period');
  const c = nextAudit(freshAudit(), 'fail', 0);
  t.equal(c.state, 'failed');
  t.equal(c.failures, 1);
});

t.test('repair: Bob\'s NAS fails in the base case; two shards per chunk rebuilt on Carol\'s router; read ≤ k per byte repaired', async (t) => {
  const data = rng.bytes(4200);
  const { body, store } = await put(data, base, [0, 1, 2, 2], 2, 2);
  const states = new Map<string, AuditState>([['alice-router', 'ok'], ['alice-laptop', 'ok'], ['bob-nas', 'failed']]);
  const stateOf = (h: string) => states.get(h) ?? 'ok';
  t.equal(repairThreshold(2, 2), 3);
  const plan = planRepair(body, stateOf, [carol], { maxReadBytes: 1e9 });
  t.equal(plan.repairs.length, body.chunks.length);
  t.same(plan.repairs[0]!.read, [0, 1]);
  t.same(plan.repairs[0]!.rebuild, [{ shard: 2, holder: 'carol-router' }, { shard: 3, holder: 'carol-router' }]);
  t.ok(plan.bytesRead / plan.bytesWritten <= 2, `planned read/repaired ${plan.bytesRead / plan.bytesWritten} ≤ k`);
  const down = new Set(['bob-nas']);
  const res = await executeRepair(body, objectKeyFor(body, A.secretKey, A.publicKey), plan, fetcher(body, store, down), new Map([[carol.id, carol]]), policy, rng, async (s) => {
    store.set(`${s.chunk}/${s.shard}/${s.holder}`, s);
  });
  t.equal(res.body.version, 2);
  t.equal(res.bytesRead, plan.bytesRead, 'read exactly what was planned');
  t.equal(res.bytesRead / res.bytesWritten, 1, 'k=2 read for r=2 repaired: 1 byte read per byte repaired');
  t.equal(res.body.holders.length, body.holders.length + 1, 'one new slot (one outer key) for the new holder');
  // Now lose Alice's whole household as well: Carol's shards alone must read back.
  const readBack = await collect(getObject(res.body, objectKeyFor(res.body, A.secretKey, A.publicKey), fetcher(res.body, store, new Set(['bob-nas', 'alice-router', 'alice-laptop']))));
  t.equal(toHex(readBack), toHex(data), 'byte-identical from the repaired shards after a second household is lost');
  const after = planRepair(res.body, stateOf, [carol], { maxReadBytes: 1e9 });
  t.equal(after.repairs.length, 0, 'nothing left to repair');
});

t.test('repair planner: contained never starts one; the budget defers; too few readable is stuck', async (t) => {
  const { body } = await put(rng.bytes(3000), base, [0, 1, 2, 2], 2, 2);
  const contained = planRepair(body, (h) => (h === 'bob-nas' ? 'contained' : 'ok'), [carol], { maxReadBytes: 1e9 });
  t.equal(contained.repairs.length, 0, 'a briefly offline NAS is not a loss');
  const tight = planRepair(body, (h) => (h === 'bob-nas' ? 'failed' : 'ok'), [carol], { maxReadBytes: 1200 });
  t.equal(tight.repairs.length, 1);
  t.equal(tight.deferred.length, body.chunks.length - 1);
  t.ok(tight.bytesRead <= 1200);
  const stuck = planRepair(body, (h) => (h === 'bob-nas' ? 'failed' : h === 'alice-laptop' ? 'contained' : 'ok'), [carol], { maxReadBytes: 1e9 });
  t.equal(stuck.repairs.length, 0);
  t.equal(stuck.stuck.length, body.chunks.length);
  t.match(stuck.stuck[0]!.why, /1 shards readable now, 2 needed/);
  const nobody = planRepair(body, (h) => (h === 'bob-nas' ? 'failed' : 'ok'), [], { maxReadBytes: 1e9 });
  t.match(nobody.stuck[0]!.why, /no candidate/);
  const sameHousehold = planRepair(body, (h) => (h === 'bob-nas' ? 'failed' : 'ok'), [{ ...slot('alice-nas', 'alice'), room: 100 }], { maxReadBytes: 1e9 });
  t.equal(sameHousehold.repairs.length, 0, 'a candidate in an already-full household is not used');
});

t.test('repair starts before a loss of data: 4 + 2 over three households, one shard failed', async (t) => {
  const hs = [slot('a1', 'a'), slot('b1', 'b'), slot('c1', 'c'), slot('c2', 'c')];
  const { body, store } = await put(rng.bytes(2000), hs, [0, 0, 1, 1, 2, 3], 4, 2);
  const stateOf = (h: string): AuditState => (h === 'c2' ? 'failed' : 'ok');
  const plan = planRepair(body, stateOf, [{ ...slot('d1', 'd'), room: 10 }], { maxReadBytes: 1e9 });
  t.equal(plan.repairs.length, body.chunks.length, 'five of six left is above k but below the threshold: repair now');
  t.same(plan.repairs[0]!.rebuild, [{ shard: 5, holder: 'd1' }]);
  t.equal(plan.bytesRead / plan.bytesWritten, 4, 'k = 4 bytes read per byte repaired, the stated bound');
  const res = await executeRepair(body, objectKeyFor(body, A.secretKey, A.publicKey), plan, fetcher(body, store, new Set(['c2'])), new Map(plan.repairs[0]!.rebuild.map((r) => [r.holder, { ...slot(r.holder, 'd'), room: 10 }])), policy, rng, async (s) => {
    store.set(`${s.chunk}/${s.shard}/${s.holder}`, s);
  });
  t.equal(res.bad.length, 0);
  t.equal(planRepair(res.body, stateOf, [], { maxReadBytes: 1e9 }).repairs.length, 0);
});
