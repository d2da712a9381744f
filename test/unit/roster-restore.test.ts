// Friend records back from the archive after `kith init --recover` (RosterService
// .restoreFriendRecords): a record signed by one of this user's nodes makes the friend's nodes
// members again with the pair secret; a record signed by another user, bytes that are no
// record, and a record older than the one held change nothing. Roster on a fake cluster.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { toHex } from '../../core/hex.js';
import { verifyCertificate } from '../../identity/certificate.js';
import { certifyNode } from '../../identity/create.js';
import { generatePhrase } from '../../identity/phrase.js';
import type { NodeCard } from '../../cluster/card.js';
import type { PairResult } from '../../cluster/pairing/protocol.js';
import { RosterService, type RosterMembers } from '../../cluster/roster-service.js';

const clock = new VirtualClock();
function node(user: string) {
  const n = certifyNode(clock, { phrase: generatePhrase(new SeededRng(`phrase:restore:${user}`)), nodeIndex: 0, generation: 0, roles: ['access'], label: `${user}-0` });
  const card: NodeCard = { cert: verifyCertificate(n.certBytes), certBytes: n.certBytes, endpoints: [{ kind: 'lan', host: '10.0.0.9', port: 5484 }] };
  return { card, signSecret: n.keys.sign.secretKey, userKey: n.userKey, ownSecret: n.ownSecret };
}

async function rosterOf(me: ReturnType<typeof node>) {
  const secrets = new Map<string, string>();
  const members = {
    view: () => [], spec: () => undefined, has: (id: string) => secrets.has(id), ownEndpoints: () => [],
    add: async (card: NodeCard, secret: Uint8Array) => void secrets.set(toHex(card.cert.dhKey), toHex(secret)),
    removeUser: async () => (secrets.clear(), 0),
  } as Partial<RosterMembers> as RosterMembers;
  const roster = await RosterService.start({
    clock, store: new MemoryStore(), log: { debug() {}, info() {}, warn() {}, error() {} }, members,
    register: () => ({ byte: 0x52, send: async () => {}, request: async () => new Uint8Array(), stream: async () => 0 }),
  }, { cert: me.card.cert, certBytes: me.card.certBytes, signSecret: me.signSecret, ownSecret: me.ownSecret, name: 'me' });
  return { roster, secrets };
}

type N = ReturnType<typeof node>;
const [alice, bob, carol, dave, mallory] = ['alice', 'bob', 'carol', 'dave', 'mallory'].map(node) as [N, N, N, N, N];
const pairing = (friend: ReturnType<typeof node>, name: string, fill: number): PairResult => ({ friend: { userKey: friend.userKey, name, nodes: [friend.card] }, secret: new Uint8Array(32).fill(fill), safetyNumber: '12345 67890' });

t.test('alice\'s friend records, kept before the loss, make her friends members again on the recovered node', async (t) => {
  const before = await rosterOf(alice);
  await before.roster.befriend(pairing(bob, 'bob', 1));
  await before.roster.befriend(pairing(carol, 'carol', 2));
  const kept = [bob, carol].map((f) => before.roster.friendRecordBytes(toHex(f.userKey))!);
  t.ok(kept.every((r) => r instanceof Uint8Array), 'the roster hands out each friend\'s signed record');
  t.equal(before.roster.friendRecordBytes(toHex(mallory.userKey)), undefined, 'and none for a stranger');

  clock.advance(1000);
  // mallory signs a friend record of her own, the newest of all, naming dave with a secret of her choice.
  const forged = await rosterOf(mallory);
  await forged.roster.befriend(pairing(dave, 'dave', 9));
  const foreign = forged.roster.friendRecordBytes(toHex(dave.userKey))!;

  const after = await rosterOf(alice); // the same keys (from the phrase), an empty store
  await after.roster.befriend(pairing(bob, 'bob', 3)); // met again in person: a newer record
  const applied = await after.roster.restoreFriendRecords([foreign, new Uint8Array([1, 2, 3]), ...kept]);
  t.equal(applied, 1, 'one record applied: carol\'s (bob\'s is older than the new pairing; mallory\'s and the junk are refused)');
  t.notOk(after.secrets.has(toHex(dave.card.cert.dhKey)), 'a record signed by another user adds nobody');
  t.same(after.roster.friends().map((f) => f.name).sort(), ['bob', 'carol'], 'bob and carol are friends');
  t.equal(after.secrets.get(toHex(carol.card.cert.dhKey)), toHex(new Uint8Array(32).fill(2)), 'carol\'s node is a member with the pair secret from before');
  t.equal(after.secrets.get(toHex(bob.card.cert.dhKey)), toHex(new Uint8Array(32).fill(3)), 'bob keeps the secret of the new pairing, not the archived one');
});
