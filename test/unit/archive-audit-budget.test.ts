// The audit budget (archive/README.md "Audits and repair") on a real ArchiveOwner over in-memory
// Holders: each round sends each reachable holder 2 challenges whatever number of objects it
// keeps, oldest proof first (so every object is proven in turn), and a failed challenge audits
// every other object at that holder in the same round. And device B's `unwrap`: answered for the
// holder's own user only.
import t from 'tap';
import { HOUR, VirtualClock } from '../../core/clock.js';
import { signatures } from '../../core/crypto.js';
import { hpkeDeriveKeyPair } from '../../core/hpke.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { Holder } from '../../archive/holder.js';
import { ArchiveOwner, DEFAULT_OWNER_OPTIONS, type Candidate } from '../../archive/owner.js';
import { decodeRequest, decodeResponse, encodeRequest } from '../../archive/protocol.js';

function world(seed: string) {
  const rng = new SeededRng(seed);
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
      clock, store, log: () => undefined, selfId: id, dh, ownerOf: (peer) => (peer.startsWith('alice') ? 'alice' : 'bob'), quotaOf: () => 1e12, freeDiskBytes: async () => 1e12,
      isOwnUser: (owner) => owner === 'alice',
    }, { diskReserveBytes: 0, leaseGraceMs: 7 * 24 * HOUR }));
    cands.push({ id, household: `home${i % 3}`, dhPublicKey: dh.publicKey });
  }
  const asked = new Map<string, number>();
  const self = hpkeDeriveKeyPair(rng.bytes(32));
  const signSecret = rng.bytes(32);
  const owner = new ArchiveOwner({
    clock, rng, store: new MemoryStore(), log: () => undefined,
    request: async (peer, payload) => {
      if (decodeRequest(payload).t === 'audit') asked.set(peer, (asked.get(peer) ?? 0) + 1);
      return holders.get(peer)!.handle('alice-laptop', payload);
    },
    candidates: () => cands, reachable: () => true,
    self: { id: 'alice-laptop', dh: self, signSecret, signPublic: signatures.ed25519PublicKey(signSecret) },
    trustedSigners: () => [], friends: () => [],
  }, DEFAULT_OWNER_OPTIONS);
  return { rng, clock, owner, holders, stores, asked };
}

t.test('2 challenges per holder per round over 10 objects; every object proven within 5 rounds', async (t) => {
  const w = world('audit-budget-1');
  for (let i = 0; i < 10; i++) await w.owner.put([w.rng.bytes(5000)], 5000, { kind: 'file' });
  const proven = new Map<string, Set<string>>();
  for (let round = 0; round < 5; round++) {
    w.asked.clear();
    w.clock.advance(HOUR);
    const r = await w.owner.auditAll();
    t.same(r, { pass: 12, fail: 0, noAnswer: 0 }, `round ${round}: 6 holders × 2 challenges, all pass`);
    t.ok([...w.asked.values()].every((n) => n === 2) && w.asked.size === 6, `round ${round}: each holder asked twice`);
    for await (const [hex, rec] of w.owner.records()) for (const [h, a] of Object.entries(rec.audits)) if (a.lastPassMs) proven.set(h, (proven.get(h) ?? new Set()).add(hex));
  }
  t.ok([...proven.values()].every((s) => s.size === 10), 'after 5 rounds every object has been proven at every holder (oldest first)');
});

t.test('a wiped holder: the first failed challenge audits all its objects in the same round', async (t) => {
  const w = world('audit-budget-2');
  for (let i = 0; i < 10; i++) await w.owner.put([w.rng.bytes(5000)], 5000, { kind: 'file' });
  const disk = w.stores.get('holder3')!;
  for await (const [k] of disk.range({ gte: 'archive/h/', lt: 'archive/h/\uffff' })) await disk.del(k);
  w.clock.advance(HOUR);
  const r = await w.owner.auditAll();
  t.equal(r.fail, 10, 'all 10 objects at the wiped holder failed in one round');
  t.equal(w.asked.get('holder3'), 10, 'it was asked about each of them');
  t.equal(w.asked.get('holder0'), 2, 'the others still only twice');
  for await (const [, rec] of w.owner.records()) t.equal(rec.audits['holder3']?.state, 'failed');
});

t.test('unwrap (device B) only for the holder\'s own user, only for a wrap to its own key', async (t) => {
  const w = world('audit-budget-3');
  const h = w.holders.get('holder0')!;
  const wrap = { recipient: new Uint8Array(32), enc: new Uint8Array(32), ct: new Uint8Array(48) };
  const req = encodeRequest({ t: 'unwrap', object: new Uint8Array(32), holder: 'holder1', wrap });
  t.match(decodeResponse(await h.handle('bob-laptop', req)), { t: 'err', code: 'ARCHIVE_NOT_OWNER' }, 'a friend\'s node: ARCHIVE_NOT_OWNER');
  t.match(decodeResponse(await h.handle('alice-phone', req)), { t: 'err', code: 'SEAL_INVALID' }, 'own user, a wrap to another key: SEAL_INVALID');
});
