// The holder component and the owner's client over an in-memory link: put/get/peel/audit/renew/
// del/usage, quotas and free disk with their errors (nothing already stored lost), bad input of
// every kind, lease collection on a virtual clock, and exact accounting under concurrent puts.
import t from 'tap';
import { DAY_MS, objectFor, ownerSetup } from './archive-holder-fixture.js';
import { VirtualClock } from '../../core/clock.js';
import { toHex } from '../../core/hex.js';
import { encodeCanonical } from '../../core/cbor.js';
import { KithError } from '../../core/errors.js';
import { HolderClient } from '../../archive/client.js';
import { heldForMe } from '../../archive/accounting.js';
import { decodeResponse, encodeRequest, encodeResponse, SERVICE_ARCHIVE } from '../../archive/protocol.js';
import { getObject, objectKeyFor, outerKeyFor, peelShard } from '../../archive/pipeline.js';
import { collect, expectCodeAsync } from './archive-helpers.js';

t.test('active object on three holders: put, peel by the holder, read back byte-identical; audits pass', async (t) => {
  const o = ownerSetup('holder-active');
  const data = o.rng.bytes(7000);
  const { body } = await objectFor(o, data, 'active');
  const fetch = async (c: number, j: number) => {
    const h = body.chunks[c]!.shards[j]!.holder;
    const r = await o.client.get(body.holders[h]!.id, body.object, c, j, true);
    t.ok(r.peeled, 'active: the holder removed its layer');
    return r.data;
  };
  const readBack = await collect(getObject(body, objectKeyFor(body, o.deviceA.secretKey, o.deviceA.publicKey), fetch));
  t.equal(toHex(readBack), toHex(data));
  for (const h of o.holders) t.equal(await o.client.audit(h.id, body, h.id, o.rng, 3), 'pass', `${h.id} passes`);
  const u = await o.client.usage('bob-nas');
  t.ok(u.usedBytes > 0 && u.usedBytes <= u.quotaBytes, `usage ${u.usedBytes} of ${u.quotaBytes}`);
});

t.test('history: the holder cannot peel (outer is device B); the owner peels after fetching', async (t) => {
  const o = ownerSetup('holder-history');
  const data = o.rng.bytes(3000);
  const { body } = await objectFor(o, data, 'history');
  const fetch = async (c: number, j: number) => {
    const h = body.chunks[c]!.shards[j]!.holder;
    const r = await o.client.get(body.holders[h]!.id, body.object, c, j, true);
    t.notOk(r.peeled);
    return peelShard(body, outerKeyFor(body, h, o.deviceB.secretKey), c, j, r.data);
  };
  t.equal(toHex(await collect(getObject(body, objectKeyFor(body, o.deviceA.secretKey, o.deviceA.publicKey), fetch))), toHex(data));
});

t.test('quota, disk and bad shards: clear errors, nothing already stored lost', async (t) => {
  const o = ownerSetup('holder-quota', { quota: 5000 });
  const first = await objectFor(o, o.rng.bytes(1500), 'active').catch((e) => e);
  t.notOk(first instanceof Error, 'a small object fits');
  const before = await o.holderOf('bob-nas').usedBy(o.ownerId);
  await expectCodeAsync(t, () => objectFor(o, o.rng.bytes(20_000), 'active'), 'ARCHIVE_QUOTA_EXCEEDED', 'past quota');
  const after = await o.holderOf('bob-nas').usedBy(o.ownerId);
  t.ok(after >= before, 'usage never went down: earlier shards kept');
  t.equal(await o.client.audit('bob-nas', first.body, 'bob-nas', o.rng), 'pass', 'the earlier object still proves');
  o.setFreeDisk(0);
  await expectCodeAsync(t, () => objectFor(o, o.rng.bytes(100), 'active'), 'ARCHIVE_DISK_FULL', 'full disk');
  o.setFreeDisk(1e12);
  const s = first.shards[0]!;
  await expectCodeAsync(t, () => o.client.put(s.holder, { ...s, root: new Uint8Array(32) }, 0), 'ARCHIVE_SHARD_INVALID', 'root mismatch');
  await expectCodeAsync(t, () => o.client.put(s.holder, { ...s, bytes: new Uint8Array(5 * 1024 * 1024) }, 0), 'CBOR_INVALID', 'oversize shard (over the message size limit)');
  await expectCodeAsync(t, () => o.client.get('bob-nas', new Uint8Array(32), 0, 0, false), 'ARCHIVE_SHARD_UNKNOWN', 'unknown object');
  await expectCodeAsync(t, () => o.client.renew('bob-nas', new Uint8Array(32), 1), 'ARCHIVE_SHARD_UNKNOWN', 'renew unknown');
  const stranger = new HolderClient({ request: (_peer, p) => o.holderOf('bob-nas').handle('stranger-node', p) });
  await expectCodeAsync(t, () => stranger.get('bob-nas', first.body.object, 0, 0, false), 'ARCHIVE_NOT_OWNER', 'a stranger');
});

t.test('garbage requests get err answers and change nothing', async (t) => {
  const o = ownerSetup('holder-garbage');
  const h = o.holderOf('bob-nas');
  const inputs = [
    new Uint8Array(0),
    Uint8Array.of(0x00, 0xa0),
    Uint8Array.of(SERVICE_ARCHIVE, 0xff, 0xff),
    Uint8Array.of(SERVICE_ARCHIVE, ...encodeCanonical({ t: 'nope' })),
    Uint8Array.of(SERVICE_ARCHIVE, ...encodeCanonical({ t: 'get', o: new Uint8Array(31), c: 0, s: 0, p: true })),
    Uint8Array.of(SERVICE_ARCHIVE, ...encodeCanonical({ t: 'audit', o: new Uint8Array(32), c: 0, s: 0, i: [] })),
    Uint8Array.of(SERVICE_ARCHIVE, ...encodeCanonical({ t: 'usage', extra: 1 })),
    encodeRequest({ t: 'put', object: new Uint8Array(32), chunk: 0, shard: 0, root: new Uint8Array(32), blockBytes: 1, expiresMs: 0, wrap: { recipient: new Uint8Array(32), enc: new Uint8Array(32), ct: new Uint8Array(48) }, data: new Uint8Array(10) }),
  ];
  for (const p of inputs) {
    const r = decodeResponse(await h.handle('alice-laptop', p));
    t.equal(r.t, 'err');
    if (r.t === 'err') t.ok(['ARCHIVE_MESSAGE_INVALID', 'CBOR_INVALID'].includes(r.code), r.code);
  }
  t.equal(await h.usedBy(o.ownerId), 0);
});

t.test('audits: a holder whose bytes rotted fails, a silent one is no-answer', async (t) => {
  const o = ownerSetup('holder-audit');
  const { body } = await objectFor(o, o.rng.bytes(2000), 'active');
  await o.corrupt('carol-router');
  t.equal(await o.client.audit('carol-router', body, 'carol-router', o.rng, 16), 'fail');
  const silent = new HolderClient({ request: async () => { throw new KithError('REQUEST_TIMEOUT', 'no response'); } });
  t.equal(await silent.audit('bob-nas', body, 'bob-nas', o.rng), 'no-answer');
  const wrongProof = new HolderClient({ request: async (peer, p) => {
    const r = decodeResponse(await o.holderOf(peer).handle('alice-laptop', p));
    if (r.t === 'proof') r.proofs[0]!.block[0]! ^= 1;
    return encodeResponse(r);
  } });
  t.equal(await wrongProof.audit('bob-nas', body, 'bob-nas', o.rng), 'fail');
});

t.test('leases: renewed objects stay, expired ones are collected after the grace period, usage follows', async (t) => {
  const clock = new VirtualClock({ wallStartMs: 1_800_000_000_000 });
  const o = ownerSetup('holder-lease', { clock });
  const keep = await objectFor(o, o.rng.bytes(1200), 'active', clock.wallTime() + 30 * DAY_MS);
  const drop = await objectFor(o, o.rng.bytes(1200), 'active', clock.wallTime() + 30 * DAY_MS);
  const h = o.holderOf('bob-nas');
  const full = await h.usedBy(o.ownerId);
  await o.client.renew('bob-nas', keep.body.object, clock.wallTime() + 90 * DAY_MS);
  clock.advance(36 * DAY_MS);
  t.equal(await h.collectExpired([o.ownerId]), 0, 'within the 7-day grace nothing goes');
  clock.advance(2 * DAY_MS);
  t.ok((await h.collectExpired([o.ownerId])) > 0, 'past lease + grace the dropped object goes');
  t.equal(await o.client.audit('bob-nas', keep.body, 'bob-nas', o.rng), 'pass', 'the renewed one stays');
  t.equal(await o.client.audit('bob-nas', drop.body, 'bob-nas', o.rng), 'fail', 'the collected one is gone');
  const left = await h.usedBy(o.ownerId);
  t.ok(left > 0 && left < full, `usage ${full} → ${left}`);
  await o.client.del('bob-nas', keep.body.object);
  t.equal(await h.usedBy(o.ownerId), 0, 'delete frees the rest');
});

t.test('accounting stays exact under concurrent puts from one owner', async (t) => {
  const o = ownerSetup('holder-concurrent');
  const objs = await Promise.all([1, 2, 3, 4].map(() => objectFor(o, o.rng.bytes(2500), 'active')));
  for (const h of o.holders) {
    const expected = objs.reduce((n, x) => n + x.shards.filter((s) => s.holder === h.id).reduce((a, s) => a + s.bytes.length, 0), 0);
    t.equal(await o.holderOf(h.id).usedBy(o.ownerId), expected, `${h.id}: ${expected} bytes`);
    t.equal(heldForMe(objs.map((x) => x.body)).byHolder.get(h.id), expected, `${h.id}: the owner's ledger agrees with the holder's`);
  }
});
