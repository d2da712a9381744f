// Epoch 0 against the conversation header (review finding): its starter must be the header's
// author, and it may list only participants' nodes. A participant who starts a rival epoch 0
// (with an outsider's node as a reader) does not get the header or items accepted under it.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { encodeCanonical } from '../../core/cbor.js';
import { toHex } from '../../core/hex.js';
import { Conversations } from '../../consensus/conversations.js';
import { epochZeroProblems, openEpoch, startEpoch } from '../../consensus/epochs.js';
import { sealRecord } from '../../consensus/sealing.js';
import { SealedConversations } from '../../consensus/sealed-conversations.js';
import { ConvSync } from '../../consensus/sync.js';
import { verifyCertificate } from '../../identity/certificate.js';
import { testUser, type TestUser } from '../helpers/users.js';

const [alice, bob, carol, mallory] = ['alice', 'bob', 'carol', 'mallory'].map(testUser) as [TestUser, TestUser, TestUser, TestUser];
const node = (u: TestUser, as: TestUser = u) => ({ dh: u.dh.publicKey, user: as.userKey });
const dhHex = (u: TestUser) => toHex(u.dh.publicKey);

t.test('epochZeroProblems: the author starts it, only participants are listed', async (t) => {
  const rng = new SeededRng('e0');
  const conv = { author: alice.userKey, participants: [alice.userKey, bob.userKey, carol.userKey] };
  const id = toHex(rng.bytes(32));
  const e = (signer: TestUser, readers: { dh: Uint8Array; user: Uint8Array }[]) => openEpoch(startEpoch({ conv: id, number: 0, prev: '', readers, holders: [], startedAtMs: 1 }, signer, rng).bytes);
  t.same(epochZeroProblems(e(alice, [node(alice), node(bob), node(carol)]), conv), [], 'the author\'s, participants only');
  t.match(epochZeroProblems(e(carol, [node(alice), node(bob), node(carol)]), conv), [/not started by the conversation's author/]);
  t.match(epochZeroProblems(e(alice, [node(alice), node(mallory)]), conv), [/1 user\(s\) who are not participants/]);
});

t.test('a header sealed under a participant\'s rival epoch 0 is dropped; under the author\'s it is taken', async (t) => {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const rng = new SeededRng('e0-sealed');
  const aliceConvs = new Conversations({ store: new MemoryStore(), clock, rng, signer: alice });
  const conv = await aliceConvs.create({ topic: 'picnic', with: [bob.userKey, carol.userKey], pattern: 'discussion' });
  const header = (await aliceConvs.headerBytes(conv.id))!;

  const bobNode = async () => {
    const store = new MemoryStore();
    let sealed: SealedConversations | undefined = undefined;
    const sync = new ConvSync({ store, clock, rng, self: dhHex(bob), send: async () => undefined, peers: () => [], onItem: (g, item) => sealed!.onItem(g, item) });
    await sync.start();
    const convs = new Conversations({ store, clock, rng, signer: bob });
    sealed = new SealedConversations({ convs, sync, signer: bob, dh: bob.dh, directory: { nodesOf: () => undefined }, clock, rng });
    const deliver = async (from: TestUser, e: { bytes: Uint8Array; key: Uint8Array }, record: Uint8Array, seq: number) => {
      await sync.receive(dhHex(from), items([e.bytes], []));
      await sync.receive(dhHex(from), items([], [sealRecord({ group: conv.id, epoch: openEpoch(e.bytes).hash, seq }, e.key, record, rng, from.signSecret)]));
      await sealed!.idle();
    };
    return { convs, sealed, deliver };
  };
  const items = (ep: Uint8Array[], b: Uint8Array[]) => encodeCanonical({ t: 'items', g: Buffer.from(conv.id, 'hex'), ep, b });
  const rival = () => startEpoch({ conv: conv.id, number: 0, prev: '', readers: [node(bob), node(carol), node(mallory, bob)], holders: [], startedAtMs: 1 }, carol, rng);
  const genuine = () => startEpoch({ conv: conv.id, number: 0, prev: '', readers: [node(alice), node(bob), node(carol)], holders: [], startedAtMs: 2 }, alice, rng);

  const b1 = await bobNode();
  await b1.deliver(carol, rival(), header, 0);
  await t.rejects(b1.convs.resolve(conv.id), { code: 'CONV_NOT_FOUND' }, 'carol\'s epoch 0 does not bring the header in');
  t.equal(b1.sealed.stats.rejected, 1, 'dropped and counted');

  const b2 = await bobNode();
  await b2.deliver(alice, genuine(), header, 0);
  t.equal((await b2.convs.resolve(conv.id)).topic, 'picnic', 'alice\'s epoch 0 brings it');
  const carolConvs = new Conversations({ store: new MemoryStore(), clock, rng, signer: carol });
  await carolConvs.receiveConversation(header);
  const said = await carolConvs.post(conv.id, 'text', { text: 'only mallory reads this too' });
  await b2.deliver(carol, rival(), said.message.bytes, said.message.seq);
  t.same((await b2.convs.messages(conv.id)).length, 0, 'a message sealed under carol\'s rival epoch 0 is dropped');
  t.equal(b2.sealed.stats.rejected, 1);
});
