// One signature per message on an access node (consensus/README.md, "One signature per
// message"): a message envelope it can open is taken on the sender's record signature inside; a
// reader's re-seal of the sender's real record (no valid envelope signature) is applied but never
// passed to a holder; anything the record does not authenticate still needs the envelope
// signature, so a holder (no key) still cannot hold a sender's slot.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { decodeCanonical, encodeCanonical, type CborValue } from '../../core/cbor.js';
import { toHex } from '../../core/hex.js';
import { ConvSync } from '../../consensus/sync.js';
import { Conversations } from '../../consensus/conversations.js';
import { SealedConversations } from '../../consensus/sealed-conversations.js';
import { unwrapKey } from '../../consensus/epochs.js';
import { envelopeAad, padRecord, readEnvelope, sealRecord } from '../../consensus/sealing.js';
import { xaead } from '../../core/aead.js';
import { testUser, type TestUser } from '../helpers/users.js';

const alice = testUser('alice');
const bob = testUser('bob');
const carol = testUser('carol');
const relay = testUser('alice-router');
const id = (u: TestUser) => toHex(u.dh.publicKey);
const R = id(relay);

/** alice has an access node and a relay node (the router, a holder); bob and carol one access node each. */
const directory = {
  nodesOf: (k: Uint8Array) => {
    const u = toHex(k);
    if (u === alice.hex) return [{ dh: alice.dh.publicKey, roles: ['access' as const] }, { dh: relay.dh.publicKey, roles: ['relay' as const] }];
    for (const x of [bob, carol]) if (u === x.hex) return [{ dh: x.dh.publicKey, roles: ['access' as const] }];
    return undefined;
  },
};

function makeNode(u: TestUser, clock: VirtualClock, peers: string[]) {
  const store = new MemoryStore();
  const outbox: [string, Uint8Array][] = [];
  const rng = new SeededRng(`one-sig:${u.name}`);
  let sealed: SealedConversations | undefined;
  const sync = new ConvSync({ store, clock, rng, self: id(u), send: async (peer, body) => void outbox.push([peer, body]), peers: () => peers, onItem: (g, i): void => sealed!.onItem(g, i) });
  const convs = new Conversations({ store, clock, rng, signer: u });
  sealed = new SealedConversations({ convs, sync, signer: u, dh: u.dh, clock, rng, directory });
  return { u, sync, convs, sealed, outbox, rng };
}

/** Envelope ids in the items messages of an outbox for one peer. */
function sentTo(outbox: [string, Uint8Array][], peer: string): string[] {
  const ids: string[] = [];
  for (const [p, body] of outbox) {
    const m = decodeCanonical(body) as Record<string, CborValue>;
    if (p === peer && m['t'] === 'items') for (const b of m['b'] as Uint8Array[]) ids.push(readEnvelope(b).id);
  }
  return ids;
}

async function setup() {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const a = makeNode(alice, clock, []);
  const b = makeNode(bob, clock, [id(alice), R]);
  await a.sync.start();
  await b.sync.start();
  const conv = await a.sealed.create({ topic: 'one signature', with: [bob.userKey, carol.userKey], pattern: 'discussion' });
  await a.sealed.post(conv.id, 'text', { text: 'one' });
  await a.sealed.post(conv.id, 'text', { text: 'two' });
  await a.sealed.idle();
  const epoch = a.sync.currentEpoch(conv.id)!;
  const envs = await a.sync.envelopes(conv.id);
  const items = (ep: Uint8Array[], bl: Uint8Array[]) => encodeCanonical({ t: 'items', g: Buffer.from(conv.id, 'hex'), ep, b: bl });
  const records = new Map((await a.convs.messages(conv.id)).map((m) => [m.seq, m.bytes]));
  return { clock, a, b, conv, epoch, key: unwrapKey(epoch, alice.dh)!, envs, items, records };
}

t.test('a message taken on its record: applied once, no envelope signature failure, forwarded to the holder after its z is checked', async (t) => {
  const { a, b, conv, epoch, envs, items } = await setup();
  t.ok(epoch.holders.has(R) && epoch.readers.has(id(bob)), 'the router holds, bob reads');
  await b.sync.receive(id(alice), items([epoch.bytes], envs.map((e) => e.bytes)));
  await b.sealed.idle();
  t.same((await b.convs.messages(conv.id)).filter((m) => m.authorHex === alice.hex).map((m) => m.seq).sort(), [1, 2], 'alice\'s two messages are applied');
  t.same(b.sync.stats.dropped, {}, 'nothing dropped');
  const toRouter = sentTo(b.outbox, R);
  for (const e of envs) t.ok(toRouter.includes(e.id), `envelope seq ${e.seq} forwarded to the holder`);
  t.equal(a.sync.stats.dropped['bad-envelope-sig'], undefined);
});

t.test('a reader\'s re-seal of the sender\'s record: applied, but never passed to a holder, by push or by `have`', async (t) => {
  const { b, conv, epoch, key, envs, items, records } = await setup();
  const head = envs.find((e) => e.seq === 0)!;
  await b.sync.receive(id(alice), items([epoch.bytes], [head.bytes]));
  // carol (a reader: she holds the key) seals alice's real message 1 again under alice's sender
  // key and a fresh nonce; she cannot sign as alice, so z is her own signature (invalid).
  const real1 = envs.find((e) => e.seq === 1)!;
  const nonce = new SeededRng('carol').bytes(24);
  const c = xaead.seal(key, nonce, padRecord(records.get(1)!), envelopeAad({ group: conv.id, epoch: epoch.hash, sender: real1.sender, seq: 1 }));
  const mine = decodeCanonical(sealRecord({ group: conv.id, epoch: epoch.hash, seq: 1 }, key, records.get(1)!, new SeededRng('carol'), carol.signSecret)) as Record<string, CborValue>;
  const resealed = encodeCanonical({ ...mine, s: Buffer.from(real1.sender, 'hex'), n: nonce, c });
  await b.sync.receive(id(alice), items([], [resealed]));
  await b.sealed.idle();
  t.ok((await b.convs.messages(conv.id)).some((m) => m.seq === 1 && m.authorHex === alice.hex), 'alice\'s message 1 is applied (its content is hers)');
  t.notOk(b.sync.stats.dropped['bad-envelope-sig'], 'not dropped on arrival: the record authenticated it');
  t.notOk(sentTo(b.outbox, R).includes(readEnvelope(resealed).id), 'not pushed to the holder');
  t.equal(b.sync.stats.dropped['rewrapped-envelope'], 1, 'counted once');
  b.outbox.length = 0;
  await b.sync.receive(R, encodeCanonical({ t: 'have', g: Buffer.from(conv.id, 'hex'), e: [], x: [], c: [], r: 0 }));
  t.notOk(sentTo(b.outbox, R).includes(readEnvelope(resealed).id), 'not sent in answer to the holder\'s have either');
  await b.sync.receive(id(alice), items([], [envs.find((e) => e.seq === 2)!.bytes]));
  t.ok(sentTo(b.outbox, R).includes(envs.find((e) => e.seq === 2)!.id), 'the real seq 2 that follows is forwarded');
});

t.test('what the record does not authenticate still needs the envelope signature', async (t) => {
  const { b, conv, epoch, key, envs, items, records } = await setup();
  const head = envs.find((e) => e.seq === 0)!;
  await b.sync.receive(id(alice), items([epoch.bytes], [head.bytes]));
  const real1 = decodeCanonical(envs.find((e) => e.seq === 1)!.bytes) as Record<string, CborValue>;
  // The holder (no key) puts other bytes under alice's (sender, seq 1) and her signature.
  const garbage = encodeCanonical({ ...real1, c: new SeededRng('g').bytes((real1['c'] as Uint8Array).length) });
  // A reader (holding the key, not alice's signing key) seals under alice's (sender, seq 1):
  const reseal = (record: Uint8Array, seed: string) => {
    const nonce = new SeededRng(seed).bytes(24);
    const c = xaead.seal(key, nonce, padRecord(record), envelopeAad({ group: conv.id, epoch: epoch.hash, sender: toHex(real1['s'] as Uint8Array), seq: 1 }));
    return encodeCanonical({ ...real1, n: nonce, c });
  };
  // alice's message 2 as if it were seq 1 (the record's seq disagrees with the envelope's);
  const wrongSeq = reseal(records.get(2)!, 'carol');
  // alice's message 1 with a changed byte (its signature no longer verifies).
  const bad = records.get(1)!.slice();
  bad[bad.length - 30]! ^= 1;
  const badRecord = reseal(bad, 'carol2');
  await b.sync.receive(R, items([], [garbage, wrongSeq, badRecord]));
  t.equal(b.sync.stats.dropped['bad-envelope-sig'], 3, 'all three dropped on the envelope signature');
  t.equal((await b.sync.envelopes(conv.id)).filter((e) => e.seq === 1).length, 0, 'none holds alice\'s slot 1');
  await b.sync.receive(id(alice), items([], envs.filter((e) => e.seq > 0).map((e) => e.bytes)));
  await b.sealed.idle();
  t.same((await b.sync.envelopes(conv.id)).filter((e) => e.seq > 0).map((e) => e.id), envs.filter((e) => e.seq > 0).map((e) => e.id), 'the real ones are stored');
  t.ok((await b.convs.messages(conv.id)).filter((m) => m.authorHex === alice.hex).length === 2, 'and applied');
});
