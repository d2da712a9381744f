// The load rules of cluster/README.md §Receiving step 3, as a pure decision over time.
import t from 'tap';
import { HandshakeAdmission, TokenBucket, type HandshakeFacts } from '../../cluster/handshake-admission.js';

const stranger = (port: number): HandshakeFacts => ({ source: `10.0.0.66:${port}`, mac2Valid: false, atMemberEndpoint: false, priority: false });
/** n messages from distinct stranger sources at one instant; returns the verdicts. */
const burst = (a: HandshakeAdmission, nowMs: number, n: number, first = 0) => Array.from({ length: n }, (_, i) => a.decide(nowMs, stranger(first + i)));

t.test('a token bucket holds its burst, then refills at its rate', async (t) => {
  const b = new TokenBucket(2, 3, 0);
  t.same([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false], 'burst of 3');
  t.notOk(b.take(400), '0.8 of a token after 400 ms at 2/s');
  t.ok(b.take(500), 'one token after 500 ms');
  t.same([b.take(10_000), b.take(10_000), b.take(10_000), b.take(10_000)], [true, true, true, false], 'never more than the burst');
});

t.test('normal times: 50 handshake messages a second are all read, whoever sends them', async (t) => {
  const a = new HandshakeAdmission(0);
  t.same(new Set(burst(a, 0, 50)), new Set(['read']));
});

t.test('the 51st message within a second puts the node under load; a second later it is over', async (t) => {
  const a = new HandshakeAdmission(0, { identifyPerSec: 0 });
  burst(a, 0, 50);
  t.equal(a.decide(10, stranger(100)), 'mac2', 'under load, a stranger without mac2 and no budget: dropped');
  // Two seconds later the window has emptied.
  t.equal(a.decide(2500, stranger(101)), 'read');
});

t.test('under load: rules in order (per-source limit, mac2, cookie at a member endpoint, budget, reserve)', async (t) => {
  const a = new HandshakeAdmission(0, { identifyPerSec: 2, identifyPriorityPerSec: 1 });
  burst(a, 0, 50); // the next message is the 51st: under load from here
  const member: HandshakeFacts = { source: '10.0.0.2:5484', mac2Valid: false, atMemberEndpoint: true, priority: true };
  t.equal(a.decide(1, member), 'cookie', 'a member at its last endpoint without mac2 gets a cookie');
  t.equal(a.decide(2, { ...member, mac2Valid: true }), 'read', 'with mac2 it is read');
  t.same([a.decide(3, stranger(900)), a.decide(3, stranger(901)), a.decide(3, stranger(902))], ['read', 'read', 'mac2'], 'the budget (2) reads two strangers, then drops');
  const moved: HandshakeFacts = { source: '10.0.0.2:6000', mac2Valid: false, atMemberEndpoint: false, priority: true };
  t.equal(a.decide(4, moved), 'read', 'a source on a member\'s host takes from the reserve');
  t.equal(a.decide(5, { ...moved, source: '10.0.0.2:6001' }), 'mac2', 'the reserve (1) is spent too');
  const one = stranger(950);
  const verdicts = Array.from({ length: 6 }, () => a.decide(6, { ...one, mac2Valid: true }));
  t.same(verdicts, ['read', 'read', 'read', 'read', 'rate', 'rate'], 'one source: burst 4, then over its limit even with mac2');
  t.equal(a.decide(1006, { ...one, mac2Valid: true }), 'read', 'one more a second');
});

t.test('under a flood from one address, that address is held to 1 a second and others still get the budget', async (t) => {
  const a = new HandshakeAdmission(0);
  const verdicts: string[] = [];
  for (let ms = 0; ms < 10_000; ms += 10) verdicts.push(a.decide(ms, stranger(1))); // 100/s from one source
  const read = verdicts.filter((v) => v === 'read').length;
  t.ok(read <= 50 + 4 + 10, `the flooding source was read ${read} times in 10 s (the first 50 before load, then ≤ 1/s)`);
  t.equal(a.decide(10_000, stranger(2)), 'read', 'another source is still read');
});
