// Address records, cards and membership messages: what is accepted, what is refused, and that no
// bytes from the network can make the decoders throw.
import t from 'tap';
import { openAddressRecord, signAddressRecord, type AddressRecord } from '../../cluster/address-record.js';
import { makeCard, openCard } from '../../cluster/card.js';
import { decodeMembership, encodeMembership } from '../../cluster/membership-wire.js';
import { diagnose } from '../../agent/cli-cluster.js';
import { SeededRng } from '../../core/rng.js';
import { nodeKeys } from '../helpers/cluster-sim.js';

const a = nodeKeys('rec-a');
const b = nodeKeys('rec-b');
const rec: AddressRecord = { dhKey: a.cert.dhKey, seq: 7, issuedAtMs: 1_767_225_600_000, endpoints: [{ kind: 'public', host: '198.51.100.2', port: 5484 }, { kind: 'lan', host: '10.0.0.2', port: 5484 }] };
const keyOfA = (dh: Uint8Array) => (Buffer.compare(Buffer.from(dh), Buffer.from(a.cert.dhKey)) === 0 ? a.cert.signKey : undefined);

t.test('an address record round-trips; forged, foreign or unwanted ones are refused', async (t) => {
  const bytes = signAddressRecord(rec, a.signSecret);
  t.same(openAddressRecord(bytes, keyOfA), rec);
  t.throws(() => openAddressRecord(signAddressRecord(rec, b.signSecret), keyOfA), { code: 'SIGNATURE_INVALID' }, 'signed by another node');
  t.throws(() => openAddressRecord(bytes, () => undefined), { code: 'SIGNATURE_INVALID' }, 'not a member');
  const flipped = bytes.slice();
  flipped[flipped.length - 70]! ^= 1;
  t.throws(() => openAddressRecord(flipped, keyOfA), 'a flipped bit');
  t.equal(openAddressRecord(bytes, keyOfA, (_dh, seq) => seq > 7), undefined, 'an old seq is skipped before the signature check');
  t.throws(() => signAddressRecord({ ...rec, endpoints: Array(9).fill(rec.endpoints[0]) }, a.signSecret), 'at most 8 endpoints');
});

t.test('cards: verified against the certificate inside; tampering is CARD_INVALID', async (t) => {
  const card = makeCard(a.certBytes, rec.endpoints, a.signSecret);
  const c = openCard(card);
  t.same(c.endpoints, rec.endpoints);
  t.same(c.cert.signKey, a.cert.signKey);
  t.throws(() => openCard(makeCard(a.certBytes, rec.endpoints, b.signSecret)), { code: 'CARD_INVALID' }, 'signed by someone else');
  t.throws(() => openCard(new Uint8Array([1, 2, 3])), { code: 'CARD_INVALID' }, 'garbage');
});

t.test('membership messages: round trip, and 20,000 random or mutated payloads never throw', async (t) => {
  const ping = { t: 'ping' as const, seq: 9, ts: 1_767_225_600_000, inc: 3, gossip: [{ dh: b.cert.dhKey, state: 'suspect' as const, inc: 2 }], records: [signAddressRecord(rec, a.signSecret)] };
  const enc = encodeMembership(ping);
  t.same(decodeMembership(enc), ping);
  const ack = { t: 'ack' as const, seq: 9, ts: 1, rx: 2, tx: 3, inc: 4, seen: { host: '203.0.113.7', port: 5484 }, gossip: [], records: [] };
  t.same(decodeMembership(encodeMembership(ack)), ack);
  const rng = new SeededRng('fuzz-membership');
  let decoded = 0;
  for (let i = 0; i < 20_000; i++) {
    let bytes: Uint8Array;
    if (i % 2) {
      bytes = enc.slice();
      for (let k = 0; k < 1 + rng.below(4); k++) bytes[rng.below(bytes.length)] = rng.below(256);
    } else {
      bytes = rng.bytes(1 + rng.below(200));
      bytes[0] = 0x4d;
    }
    if (decodeMembership(bytes) !== undefined) decoded++;
  }
  t.pass(`no throw (${decoded} mutated payloads still decoded to a well-formed message; their records are checked separately)`);
});

t.test('doctor explains in plain words', async (t) => {
  t.match(diagnose({}, [])[0]!.text, /no members yet/);
  const peer = { id: 'x', nodeSignKey: 'ab'.repeat(32), userKey: 'cd'.repeat(32), nodeIndex: 0, label: 'nas', state: 'dead' as const, incarnation: 1, endpoint: '198.51.100.9:5484', rttMs: null, lastSeenMs: null, clockOffsetMs: null, clockErrorMs: null, recordSeq: null, endpoints: [] };
  const f = diagnose({ nat: { doubleNat: true, type: 'unknown' }, mapping: { state: 'failed', error: 'refused' }, clock: { warning: 'too far' } }, [peer]);
  t.ok(f.some((x) => x.level === 'fail' && /never answered/.test(x.text)), 'a member that never answered');
  t.ok(f.some((x) => /two NATs/.test(x.text)), 'double NAT');
  t.ok(f.some((x) => /refused a port mapping/.test(x.text)), 'mapping refused');
  t.ok(f.some((x) => /NTP/.test(x.text)), 'clock');
});
