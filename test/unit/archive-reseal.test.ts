// Re-sealing after an own access device is revoked (archive/reseal.ts, ArchiveOwner.resealAll),
// on a real ArchiveOwner over in-memory Holders (test/unit/archive-owner-world.ts): alice's laptop
// archives; her phone and desktop are her other access devices. Also: a revocation the archive
// missed, reconciled from the roster's signed revocation (ArchiveOwner.reconcileRevoked); the key
// handed over with its node index and generation; a live node's key refused; the CLI's text.
import t from 'tap';
import { bytesEqual, toHex } from '../../core/hex.js';
import type { ManifestBody } from '../../archive/manifest.js';
import { objectKeyFor, outerKeyFor } from '../../archive/pipeline.js';
import { deviceSealedTo, resealNeed } from '../../archive/reseal.js';
import type { KithError } from '../../core/errors.js';
import { resealText } from '../../agent/reseal-text.js';
import { collect, expectCodeAsync } from './archive-helpers.js';
import { HOLDERS, ownerWorld } from './archive-owner-world.js';

function world(seed: string, devices: string[]) {
  const w = ownerWorld(seed, devices);
  const revoke = async (d: string) => {
    w.revoked.add(d);
    await w.owner.deviceRevoked(w.keys.get(d)!.publicKey);
  };
  return { ...w, revoke };
}

/** True when this secret key opens no layer of the object: no inner wrap, no holder slot's outer key. */
function opensNothing(body: ManifestBody, secret: Uint8Array, pub: Uint8Array): boolean {
  try {
    objectKeyFor(body, secret, pub);
    return false;
  } catch { /* not an inner recipient */ }
  return body.holders.every((_, slot) => {
    try {
      outerKeyFor(body, slot, secret);
      return false;
    } catch {
      return true;
    }
  });
}

t.test('device B revoked, a third access device left: history waits for B\'s key, then is re-sealed to A and the desktop, and B\'s key opens nothing', async (t) => {
  const w = world('reseal-three-devices', ['alice-phone', 'alice-desktop']);
  const data = w.rng.bytes(5000);
  const put = await w.owner.put([data], data.length, { kind: 'history', meta: { name: 'conversation x', conv: 'x' } });
  const [[oldHex, before]] = await w.bodies() as [[string, ManifestBody]];
  const phone = w.keys.get('alice-phone')!;
  t.ok(bytesEqual(deviceSealedTo(before)!, phone.publicKey), 'history: outer layer sealed to device B, the phone');

  await w.revoke('alice-phone');
  const first = await w.owner.resealAll();
  t.match(first, { resealed: 0, pending: 1, needKey: 1 }, 'without the phone\'s key the object can be neither read nor re-sealed');
  t.ok(w.logs.some((l) => l.includes('kith node revoke')), 'the log says how to hand the key over');
  t.match(await w.owner.repairAll(), { repaired: 0, stuck: 1 }, 'repair counts it stuck, and writes no new slot sealed to the revoked phone');
  await expectCodeAsync(t, () => w.owner.offerRevokedKey(w.keys.get('alice-desktop')!.secretKey), 'ARCHIVE_RESEAL_DEVICE_LIVE', 'a key of a device that is not revoked');

  // A key handed over and the agent stopped before the round: zeroed and forgotten, kept nowhere.
  const handed = Uint8Array.from(phone.secretKey);
  t.equal(await w.owner.offerRevokedKey(handed), 1);
  w.owner.forgetRevokedKeys();
  t.match(await w.owner.resealAll(), { resealed: 0, needKey: 1 }, 'forgotten on stop: the object needs the key again');

  // `kith node revoke` derives the phone's DH key from the phrase and hands it over.
  t.equal(await w.owner.offerRevokedKey(phone.secretKey), 1, 'the phone\'s key opens one object');
  const progress: string[] = [];
  const r = await w.owner.resealAll((done, total) => void progress.push(`${done}/${total}`));
  t.match(r, { resealed: 1, pending: 0, needKey: 0, oneDevice: 0 }, 're-sealed');
  t.same(progress, ['1/1'], 'progress per object');
  t.equal(r.moved[0]!.from, oldHex, 'moved from the old object');
  t.same(r.moved[0]!.meta, { name: 'conversation x', conv: 'x' }, 'with its meta (the agent re-points the conversation)');
  const [[newHex, after]] = await w.bodies() as [[string, ManifestBody]];
  t.not(newHex, oldHex, 'archived as a new object (the old one stays whole until the new one is out)');
  t.equal(newHex, r.moved[0]!.to, 'the new id');
  t.ok(bytesEqual(deviceSealedTo(after)!, w.keys.get('alice-desktop')!.publicKey), 'outer layer now sealed to the desktop (the new device B)');
  t.same(after.inner.map((x) => toHex(x.recipient)), [toHex(w.self.publicKey)], 'inner layer: the laptop (A)');
  t.ok(opensNothing(after, phone.secretKey, phone.publicKey), 'the revoked phone\'s key opens no layer of it');
  t.equal(resealNeed(after, new Set([toHex(phone.publicKey)]), new Set()), 'none', 'nothing left to re-seal');
  t.equal(toHex(await collect(w.owner.get(newHex))), toHex(data), 'reads back byte for byte (A and the desktop)');
  let old = 0;
  for (const [id] of HOLDERS) old += await w.held(id, oldHex);
  t.equal(old, 0, 'the old object is deleted at its holders');
  t.match(await w.owner.resealAll(), { resealed: 0, pending: 0 }, 'a second round has nothing to do');
  t.match(await w.owner.repairAll(), { repaired: 0, stuck: 0, deferred: 0 }, 'and repair nothing either');
  await expectCodeAsync(t, () => w.owner.get(oldHex).next(), 'ARCHIVE_OBJECT_UNKNOWN', 'the old id is gone from the index');
  t.ok(put.warnings.length === 0, 'no warning at the first put');
});

t.test('the only other access device revoked: history re-sealed to this node and each holder, with ARCHIVE_ONE_ACCESS_DEVICE told', async (t) => {
  const w = world('reseal-last-device', ['alice-phone']);
  const data = w.rng.bytes(3000);
  await w.owner.put([data], data.length, { kind: 'file', meta: { name: 'tax.pdf' } });
  const phone = w.keys.get('alice-phone')!;
  await w.revoke('alice-phone');
  await w.owner.offerRevokedKey(phone.secretKey);
  const r = await w.owner.resealAll();
  t.match(r, { resealed: 1, pending: 0, oneDevice: 1 }, 're-sealed with one access device');
  t.ok(w.logs.some((l) => l.includes('ARCHIVE_ONE_ACCESS_DEVICE') && l.includes('kith node add')), 'the log warns and says how to add a second access device');
  const [[hex, after]] = await w.bodies() as [[string, ManifestBody]];
  t.equal(deviceSealedTo(after), undefined, 'outer layer: each holder (as for single-device users)');
  t.ok(opensNothing(after, phone.secretKey, phone.publicKey), 'the revoked phone\'s key opens no layer');
  t.equal(toHex(await collect(w.owner.get(hex))), toHex(data), 'reads back byte for byte (holders peel)');
  t.equal(await w.owner.offerRevokedKey(phone.secretKey), 0, 'offered again, the key opens nothing left (and is not kept)');
});

t.test('an active object (inner layer to every access device): re-sealed at once, no revoked key needed', async (t) => {
  const w = world('reseal-active', ['alice-phone', 'alice-desktop']);
  const data = w.rng.bytes(2000);
  await w.owner.put([data], data.length, { kind: 'active' });
  const phone = w.keys.get('alice-phone')!;
  await w.revoke('alice-phone');
  t.match(await w.owner.resealAll(), { resealed: 1, pending: 0, needKey: 0 }, 're-sealed without the phone\'s key');
  const [[hex, after]] = await w.bodies() as [[string, ManifestBody]];
  t.same(after.inner.map((x) => toHex(x.recipient)).sort(), [toHex(w.self.publicKey), toHex(w.keys.get('alice-desktop')!.publicKey)].sort(), 'inner layer: the laptop and the desktop');
  t.ok(opensNothing(after, phone.secretKey, phone.publicKey), 'the phone\'s key opens nothing');
  t.equal(toHex(await collect(w.owner.get(hex))), toHex(data), 'reads back byte for byte');
});

t.test('a holder away during a re-seal: the old object is kept whole and the re-seal comes in a later round', async (t) => {
  const w = world('reseal-holder-away', ['alice-phone', 'alice-desktop']);
  const data = w.rng.bytes(4000);
  await w.owner.put([data], data.length, { kind: 'history' });
  const [[oldHex]] = await w.bodies() as [[string, ManifestBody]];
  await w.revoke('alice-phone');
  await w.owner.offerRevokedKey(w.keys.get('alice-phone')!.secretKey);
  // Four of six households away: fewer than k = 6 shards of the old object can be read.
  for (const id of ['bob-nas', 'carol-router', 'dave-nas', 'erin-router']) w.away.add(id);
  const r = await w.owner.resealAll();
  t.match(r, { resealed: 0, pending: 1 }, 'pending');
  const [[still]] = await w.bodies() as [[string, ManifestBody]];
  t.equal(still, oldHex, 'the old record is kept');
  w.away.clear();
  t.equal(toHex(await collect(w.owner.get(oldHex))), toHex(data), 'the old object still reads (with the revoked key handed over)');
  t.match(await w.owner.resealAll(), { resealed: 1, pending: 0 }, 're-sealed once the holders are back');
});

/** Alice's laptop archives one history object, sealed outer to the phone (device B); the phone's certificate is kept. */
async function historyWorld(t: { ok(v: unknown, m: string): void }, seed: string) {
  const w = world(seed, ['alice-phone', 'alice-desktop']);
  await w.owner.rememberDevices(w.ownDevices());
  const data = w.rng.bytes(3000);
  await w.owner.put([data], data.length, { kind: 'history', meta: { name: 'conversation y' } });
  const phone = w.keys.get('alice-phone')!;
  t.ok(bytesEqual(deviceSealedTo((await w.bodies())[0]![1])!, phone.publicKey), `${seed}: history sealed outer to the phone`);
  return { ...w, data, phone, desktop: w.keys.get('alice-desktop')! };
}

t.test('a revocation the archive never recorded (applied before it watched, or a crash before its record): found at the next round after a restart, re-sealed once the key is handed over', async (t) => {
  const w = await historyWorld(t, 'reseal-missed');
  // The roster holds the phone's signed revocation and membership cut it off (its member entry is
  // gone), but archive/o/revoked/<phone> was never written.
  w.revoked.add('alice-phone');
  const restarted = w.newOwner();
  t.same(await restarted.reconcileRevoked(), [toHex(w.phone.publicKey)], 'at start: the phone, from its kept certificate and its signed revocation');
  t.same(await restarted.reconcileRevoked(), [], 'idempotent');
  t.ok(w.logs.some((l) => l.includes('node 1 (generation 0') && l.includes('recorded now')), 'the log says it was recorded late');
  t.match(await restarted.resealAll(), { resealed: 0, pending: 1, needKey: 1 }, 'its history waits for the phone\'s key');
  t.equal(await restarted.offerRevokedKey(w.phone.secretKey, { nodeIndex: 1, generation: 0 }), 1, 'the key handed over opens it');
  t.match(await restarted.resealAll(), { resealed: 1, pending: 0, needKey: 0 }, 're-sealed');
  const [[hex, after]] = await w.bodies() as [[string, ManifestBody]];
  t.ok(opensNothing(after, w.phone.secretKey, w.phone.publicKey), 'the phone\'s key opens no layer of it');
  t.ok(bytesEqual(deviceSealedTo(after)!, w.desktop.publicKey), 'sealed outer to the desktop now');
  t.equal(toHex(await collect(restarted.get(hex))), toHex(w.data), 'reads back byte for byte');
});

t.test('the key handed over with its node index and generation before any round: a revoked device not recorded yet is recorded then; another node\'s index is refused', async (t) => {
  const w = await historyWorld(t, 'reseal-key-first');
  w.revoked.add('alice-phone'); // revoked, not recorded, and no round has run
  await expectCodeAsync(t, () => w.owner.offerRevokedKey(w.phone.secretKey, { nodeIndex: 2, generation: 0 }), 'ARCHIVE_RESEAL_KEY_UNKNOWN', 'the phone\'s key (node 1) given as node 2');
  t.equal(await w.owner.offerRevokedKey(w.phone.secretKey, { nodeIndex: 1, generation: 0 }), 1, 'as node 1: recorded, and it opens the object');
  t.ok(w.logs.some((l) => l.includes('recorded now, with its key handed over')), 'the log says so');
  t.same(await w.owner.reconcileRevoked(), [], 'nothing left to reconcile');
  t.match(await w.owner.resealAll(), { resealed: 1, pending: 0 }, 're-sealed');

  // No certificate kept for the key (revoked before any was kept): objects are sealed to it, but it
  // cannot be told from a live device's, so it is not taken, and the answer says it is not "nothing".
  const u = world('reseal-no-cert', ['alice-phone', 'alice-desktop']);
  const data = u.rng.bytes(1000);
  await u.owner.put([data], data.length, { kind: 'history' });
  u.revoked.add('alice-phone');
  const e = await u.owner.offerRevokedKey(u.keys.get('alice-phone')!.secretKey, { nodeIndex: 1, generation: 0 }).catch((x: unknown) => x as KithError);
  t.match(e, { code: 'ARCHIVE_RESEAL_KEY_UNKNOWN', message: /^1 object\(s\) have a layer sealed to the key given/ }, 'refused, saying an object is sealed to it');
  t.equal(await u.owner.offerRevokedKey(u.keys.get('alice-desktop')!.secretKey.map((b) => b ^ 1)), 0, 'a key nothing is sealed to opens nothing (no error)');
});

t.test('a key of a node that is not revoked is never taken, whatever index is claimed: ARCHIVE_RESEAL_DEVICE_LIVE, nothing re-sealed, no secret in the message', async (t) => {
  const w = await historyWorld(t, 'reseal-live');
  const data = w.rng.bytes(1000);
  await w.owner.put([data], data.length, { kind: 'active' }); // inner layer to the laptop, the phone and the desktop
  const secrets = [w.desktop.secretKey, w.self.secretKey, w.phone.secretKey].map(toHex);
  const refused = async (label: string, key: Uint8Array, claimed: { nodeIndex: number; generation: number }) => {
    const e = await w.owner.offerRevokedKey(key, claimed).then(() => undefined, (x: unknown) => x as KithError);
    t.match(e, { code: 'ARCHIVE_RESEAL_DEVICE_LIVE' }, label);
    t.notOk(secrets.some((s) => e?.message.includes(s.slice(0, 12))), `${label}: no secret key in the message`);
  };
  await refused('the desktop\'s key, as itself', w.desktop.secretKey, { nodeIndex: 2, generation: 0 });
  await refused('the phone\'s key before it is revoked', w.phone.secretKey, { nodeIndex: 1, generation: 0 });
  await refused('this node\'s own key', w.self.secretKey, { nodeIndex: 0, generation: 0 });
  t.match(await w.owner.resealAll(), { resealed: 0, pending: 0 }, 'none of them was recorded: nothing to re-seal');

  w.revoked.add('alice-phone');
  await refused('the desktop\'s key claimed as the revoked phone', w.desktop.secretKey, { nodeIndex: 1, generation: 0 });
  t.match(await w.owner.resealAll(), { resealed: 1, pending: 1, needKey: 1 }, 'the round records the phone only: the active object is re-sealed, the history waits for the phone\'s key');
  const active = (await w.bodies()).find(([, b]) => b.kind === 'active')![1];
  t.same(active.inner.map((x) => toHex(x.recipient)).sort(), [toHex(w.self.publicKey), toHex(w.desktop.publicKey)].sort(), 'the desktop keeps its layer');
  t.notOk(w.logs.some((l) => secrets.some((s) => l.includes(s))), 'no secret key in the log');
});

t.test('what `kith node revoke` prints of the key\'s hand-over is true in each case', async (t) => {
  const cases: [Parameters<typeof resealText>[0], RegExp][] = [
    [{ opened: 0, oneDevice: false }, /^Archive: nothing this node archived was sealed to it\.$/],
    [{ opened: 3, oneDevice: false }, /^Archive: 3 object\(s\) sealed to it are being re-sealed away from it/],
    [{ opened: 1, oneDevice: true }, /\nwarning\[ARCHIVE_ONE_ACCESS_DEVICE\]: /],
    [{ skipped: 'ARCHIVE_RESEAL_KEY_UNKNOWN', message: '2 object(s) have a layer sealed to the key given' }, /^Archive: the key was not taken, nothing was re-sealed: error\[ARCHIVE_RESEAL_KEY_UNKNOWN\]: 2 object\(s\) have a layer sealed/],
    [{ skipped: 'ARCHIVE_RESEAL_DEVICE_LIVE', message: 'the key given is that of a node that is not revoked' }, /^Archive: the key was not taken, nothing was re-sealed: error\[ARCHIVE_RESEAL_DEVICE_LIVE\]/],
    [{ skipped: 'API_NOT_FOUND', message: 'no such route' }, /^Archive: this agent takes no keys for re-sealing/],
  ];
  for (const [answer, text] of cases) t.match(resealText(answer), text, JSON.stringify(answer));
  for (const [answer] of cases.slice(3)) t.notMatch(resealText(answer), /nothing this node archived was sealed/, `${JSON.stringify(answer)}: never "nothing sealed"`);
});
