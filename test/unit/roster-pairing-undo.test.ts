// `kith pair --verify` answered "no": the refusing side goes back to what it was before the
// pairing. A re-paired friend stays a friend with the old secret (it used to be deleted, while
// the other side still listed the friend); a new friend is removed. Roster on a fake cluster.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { toHex } from '../../core/hex.js';
import { isKithError } from '../../core/errors.js';
import { verifyCertificate } from '../../identity/certificate.js';
import { certifyNode } from '../../identity/create.js';
import { generatePhrase } from '../../identity/phrase.js';
import type { NodeCard } from '../../cluster/card.js';
import type { PairResult } from '../../cluster/pairing/protocol.js';
import { RosterService, type RosterMembers } from '../../cluster/roster-service.js';

const clock = new VirtualClock();
function node(user: string) {
  const n = certifyNode(clock, { phrase: generatePhrase(new SeededRng(`phrase:undo:${user}`)), nodeIndex: 0, generation: 0, roles: ['access'], label: `${user}-0` });
  const card: NodeCard = { cert: verifyCertificate(n.certBytes), certBytes: n.certBytes, endpoints: [{ kind: 'lan', host: '10.0.0.9', port: 5484 }] };
  return { card, signSecret: n.keys.sign.secretKey, userKey: n.userKey, ownSecret: n.ownSecret };
}

async function rosterOf(me: ReturnType<typeof node>) {
  /** The pair secret each member was last added with, by DH key. */
  const secrets = new Map<string, string>();
  const members = {
    view: () => [], spec: () => undefined, has: (id: string) => secrets.has(id), ownEndpoints: () => [],
    add: async (card: NodeCard, secret: Uint8Array) => void secrets.set(toHex(card.cert.dhKey), toHex(secret)),
    removeUser: async () => (secrets.clear(), 0),
  } as Partial<RosterMembers> as RosterMembers;
  const roster = await RosterService.start({
    clock, store: new MemoryStore(), log: { debug() {}, info() {}, warn() {}, error() {} }, members,
    register: () => ({ byte: 0x52, send: async () => {}, request: async () => new Uint8Array(), stream: async () => 0 }),
  }, { cert: me.card.cert, certBytes: me.card.certBytes, signSecret: me.signSecret, ownSecret: me.ownSecret, name: 'alice' });
  return { roster, secrets };
}

const alice = node('alice');
const bob = node('bob');
const pairing = (fill: number): PairResult => ({ friend: { userKey: bob.userKey, name: 'bob', nodes: [bob.card] }, secret: new Uint8Array(32).fill(fill), safetyNumber: '12345 67890' });
const bobDh = toHex(bob.card.cert.dhKey);

t.test('re-pairing with a friend, then "no": still friends, with the secret from before', async (t) => {
  const { roster, secrets } = await rosterOf(alice);
  t.equal((await roster.befriend(pairing(1))).alreadyFriends, false, 'the first pairing makes a new friend');
  clock.advance(1000);
  const again = await roster.befriend(pairing(2));
  t.equal(again.alreadyFriends, true, 'the second one re-pairs a friend');
  t.equal(secrets.get(bobDh), toHex(new Uint8Array(32).fill(2)), 'with the new secret for now');
  clock.advance(1000);
  const view = await roster.undoPairing(again.friendUserKey);
  t.equal(view.blocked, false);
  t.same(roster.friends().map((f) => f.userKey), [toHex(bob.userKey)], 'bob is still a friend');
  t.equal(secrets.get(bobDh), toHex(new Uint8Array(32).fill(1)), 'with the secret from before the re-pairing');
  const twice = await roster.undoPairing(again.friendUserKey).then(() => 'undone again', (e: unknown) => (isKithError(e, 'FRIEND_UNKNOWN') ? 'FRIEND_UNKNOWN' : String(e)));
  t.equal(twice, 'FRIEND_UNKNOWN', 'a pairing is undone once');
});

t.test('a new friend, then "no": no friend', async (t) => {
  const { roster } = await rosterOf(alice);
  const first = await roster.befriend(pairing(3));
  clock.advance(1000);
  await roster.undoPairing(first.friendUserKey);
  t.same(roster.friends(), [], 'nobody is a friend');
});
