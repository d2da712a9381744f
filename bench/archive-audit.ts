// Audit traffic per GB held per day, measured: a real ArchiveOwner puts objects onto in-memory
// Holders (six holders in three households: 4+2) and runs a day of hourly audit rounds (the home
// profile's) on a VirtualClock; every byte of every audit request and answer is counted. Next to
// it, in the same run, the scheme it replaced: every object audited at every holder every round
// (auditsPerHolderPerRound = ∞), the baseline.
//   node dist/bench/archive-audit.js            node_modules/.bin/bun bench/archive-audit.ts
// KITH_BENCH_OBJECTS (default 64) objects of KITH_BENCH_OBJECT_KIB (default 1024) KiB each.
import { HOUR, VirtualClock } from '../core/clock.js';
import { signatures } from '../core/crypto.js';
import { hpkeDeriveKeyPair } from '../core/hpke.js';
import { SeededRng } from '../core/rng.js';
import { MemoryStore } from '../core/store.js';
import { Holder } from '../archive/holder.js';
import { ArchiveOwner, DEFAULT_OWNER_OPTIONS, type Candidate } from '../archive/owner.js';

const OBJECTS = Number(process.env['KITH_BENCH_OBJECTS'] ?? 64);
const OBJECT_KIB = Number(process.env['KITH_BENCH_OBJECT_KIB'] ?? 1024);
const GB = 1e9;
const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined' ? `bun ${(process.versions as Record<string, string>)['bun']}` : `node ${process.versions.node}`;

async function day(perRound: number): Promise<{ auditBytes: number; heldBytes: number; challenges: number }> {
  const rng = new SeededRng('bench-archive-audit');
  const clock = new VirtualClock({ wallStartMs: 1_800_000_000_000 });
  const holders = new Map<string, Holder>();
  const stores = new Map<string, MemoryStore>();
  const cands: Candidate[] = [];
  for (let i = 0; i < 6; i++) {
    const id = `holder${i}`;
    const dh = hpkeDeriveKeyPair(rng.bytes(32));
    const store = new MemoryStore();
    stores.set(id, store);
    holders.set(id, new Holder({
      clock, store, log: () => undefined, selfId: id, dh, ownerOf: () => 'alice', quotaOf: () => 1e15, freeDiskBytes: async () => 1e15,
    }, { diskReserveBytes: 0, leaseGraceMs: 7 * 24 * HOUR }));
    cands.push({ id, household: `home${i % 3}`, dhPublicKey: dh.publicKey });
  }
  let counting = false;
  let auditBytes = 0;
  let challenges = 0;
  const self = hpkeDeriveKeyPair(rng.bytes(32));
  const signSecret = rng.bytes(32);
  const owner = new ArchiveOwner({
    clock, rng, store: new MemoryStore(), log: () => undefined,
    request: async (peer, payload) => {
      const answer = await holders.get(peer)!.handle('alice-laptop', payload);
      if (counting) (auditBytes += payload.length + answer.length, challenges++);
      return answer;
    },
    candidates: () => cands, reachable: () => true,
    self: { id: 'alice-laptop', dh: self, signSecret, signPublic: signatures.ed25519PublicKey(signSecret) },
    trustedSigners: () => [], friends: () => [],
  }, { ...DEFAULT_OWNER_OPTIONS, auditsPerHolderPerRound: perRound });
  const bytes = rng.bytes(OBJECT_KIB * 1024);
  for (let i = 0; i < OBJECTS; i++) await owner.put([bytes], bytes.length, { kind: 'file' });
  let heldBytes = 0;
  for (const s of stores.values()) for await (const [k, v] of s.range({ gte: 'archive/h/s/', lt: 'archive/h/s/\uffff' })) void k, (heldBytes += v.length);
  counting = true;
  for (let h = 0; h < 24; h++) {
    clock.advance(HOUR);
    await owner.auditAll();
  }
  return { auditBytes, heldBytes, challenges };
}

const perGbDay = (r: { auditBytes: number; heldBytes: number }) => r.auditBytes / (r.heldBytes / GB);
const sampled = await day(DEFAULT_OWNER_OPTIONS.auditsPerHolderPerRound);
const everything = await day(Number.MAX_SAFE_INTEGER);
console.log(`archive audit traffic on ${runtime}: ${OBJECTS} objects of ${OBJECT_KIB} KiB, 4+2 over 6 holders, 24 hourly rounds`);
console.log(`  held at holders: ${(sampled.heldBytes / 1e6).toFixed(1)} MB`);
console.log(`  sampled (${DEFAULT_OWNER_OPTIONS.auditsPerHolderPerRound} challenges per holder per round):`.padEnd(62) + `${(perGbDay(sampled) / 1e6).toFixed(2).padStart(9)} MB per GB held per day   (${sampled.challenges} challenges, ${(sampled.auditBytes / 1e6).toFixed(2)} MB)`);
console.log(`  baseline, every object at every holder every round:`.padEnd(62) + `${(perGbDay(everything) / 1e6).toFixed(2).padStart(9)} MB per GB held per day   (${everything.challenges} challenges)`);
console.log(`  ratio sampled / baseline: ${(perGbDay(sampled) / perGbDay(everything)).toFixed(4)}`);
