// `kith peer add FILE` reads a card file: the JSON of `kith card --json` or the bare base64. Only
// `card` is used; a `userKey` or `nodeSignKey` beside it that names another node is refused with
// CARD_INVALID (before, a mixed-up file was accepted silently).
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { isKithError } from '../../core/errors.js';
import { makeCard } from '../../cluster/card.js';
import { verifyCertificate } from '../../identity/certificate.js';
import { readCardFile } from '../../agent/cli-cluster.js';
import { testUser } from '../helpers/users.js';

const alice = testUser('alice');
const bob = testUser('bob');
const card = Buffer.from(makeCard(alice.certBytes, [{ kind: 'lan', host: '10.0.0.5', port: 5484 }], alice.signSecret)).toString('base64');
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const aliceSign = verifyCertificate(alice.certBytes).signKey;

t.test('what peer add reads from a card file', async (t) => {
  const dir = t.testdir();
  const file = (name: string, text: string) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, text);
    return f;
  };
  const fails = (f: string, re: RegExp) => {
    try {
      readCardFile(f);
      t.fail(`${path.basename(f)} was accepted`);
    } catch (e) {
      t.ok(isKithError(e, 'CARD_INVALID') && re.test((e as Error).message), `${path.basename(f)}: ${(e as Error).message}`);
    }
  };
  t.equal(readCardFile(file('bare.card', card + '\n')), card, 'bare base64');
  t.equal(readCardFile(file('full.card', JSON.stringify({ card, userKey: hex(alice.userKey), nodeSignKey: hex(aliceSign), endpoints: [] }))), card, 'the JSON of `kith card --json`');
  t.equal(readCardFile(file('upper.card', JSON.stringify({ card, userKey: hex(alice.userKey).toUpperCase() }))), card, 'keys in upper case match too');
  t.equal(readCardFile(file('eps.card', JSON.stringify({ card, endpoints: [{ host: '203.0.113.9', port: 1 }] }))), card, 'endpoints beside the card are ignored (the signed ones count)');
  fails(file('wrong-user.card', JSON.stringify({ card, userKey: hex(bob.userKey) })), /"userKey".*does not match/);
  fails(file('wrong-node.card', JSON.stringify({ card, nodeSignKey: hex(bob.userKey) })), /"nodeSignKey".*does not match/);
  fails(file('number.card', JSON.stringify({ card, userKey: 7 })), /does not match/);
  fails(file('nocard.card', JSON.stringify({ userKey: hex(alice.userKey) })), /without a "card"/);
  fails(file('broken.card', '{"card": '), /not JSON/);
});
