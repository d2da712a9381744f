// The display name in a friend card (cluster/pairing/friend-card.ts): signed with the card by one
// of the user's nodes, v2 carries when it was set (nameAt), v1 cards without it still parse.
import t from 'tap';
import { decodeCanonical, encodeCanonical, type CborValue } from '../../core/cbor.js';
import { signObject } from '../../core/signed.js';
import { verifyCertificate } from '../../identity/certificate.js';
import { encodeNodes, FRIEND_CARD_TYPE, makeFriendCard, openFriendCard } from '../../cluster/pairing/friend-card.js';
import { testUser } from '../helpers/users.js';

const alice = testUser('alice');
const mallory = testUser('mallory');
const nodes = [{ cert: verifyCertificate(alice.certBytes), certBytes: alice.certBytes, endpoints: [{ kind: 'lan' as const, host: '127.0.0.1', port: 5484 }] }];
const SET_AT = Date.UTC(2026, 11, 1, 20);

t.test('v2: name and nameAt round-trip, signed', async (t) => {
  const card = openFriendCard(makeFriendCard('Alice Liddell', nodes, alice.signSecret, SET_AT));
  t.same([card.name, card.nameAtMs], ['Alice Liddell', SET_AT]);
});

t.test('v1 cards (no nameAt) still parse, as nameAt 0', async (t) => {
  const v1 = signObject(FRIEND_CARD_TYPE, { name: 'alice', nodes: encodeNodes(nodes) }, alice.signSecret);
  t.same([openFriendCard(v1).name, openFriendCard(v1).nameAtMs], ['alice', 0]);
  t.same(openFriendCard(makeFriendCard('alice', nodes, alice.signSecret)).nameAtMs, 0, 'a never-set name is written as v1');
});

t.test('a changed name or nameAt breaks the signature; another user cannot sign alice\'s card', async (t) => {
  const bytes = makeFriendCard('Alice', nodes, alice.signSecret, SET_AT);
  const v = decodeCanonical(bytes) as Record<string, CborValue>;
  const body = v['body'] as Record<string, CborValue>;
  const forged = (b: Record<string, CborValue>) => encodeCanonical({ ...v, body: b });
  t.throws(() => openFriendCard(forged({ ...body, name: 'Alice (your bank)' })), { code: 'CARD_INVALID' }, 'renamed by a relay');
  t.throws(() => openFriendCard(forged({ ...body, nameAt: SET_AT + 1 })), { code: 'CARD_INVALID' }, 'nameAt raised by a relay');
  t.throws(() => openFriendCard(makeFriendCard('Alice', nodes, mallory.signSecret, SET_AT)), /not signed by any of its nodes/, 'signed by a stranger');
  t.throws(() => openFriendCard(signObject(FRIEND_CARD_TYPE, { ...body, nameAt: -1 }, alice.signSecret)), /nameAt must be a whole number/);
  t.throws(() => openFriendCard(signObject(FRIEND_CARD_TYPE, { ...body, extra: 1 }, alice.signSecret)), /body must be/);
});
