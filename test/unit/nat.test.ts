// classifyNat with named real-world cases, and the rendezvous schedule.
import t from 'tap';
import { classifyNat, isCarrierGrade, isPrivate, type MappingObservation } from '../../cluster/nat.js';
import { currentOrNextWindow, guardFor, windowIn, validateWindowParams } from '../../cluster/rendezvous.js';
import { SeededRng } from '../../core/rng.js';

const local = { host: '192.168.1.20', port: 5484 };
const obs = (dest: string, mapped: string): MappingObservation => {
  const [dh, dp] = dest.split(':');
  const [mh, mp] = mapped.split(':');
  return { local, destination: { host: dh!, port: Number(dp) }, mapped: { host: mh!, port: Number(mp) } };
};

t.test('Linux MASQUERADE home router (ports kept, endpoint-independent mapping, port-restricted filtering)', async (t) => {
  const c = classifyNat([obs('203.0.113.1:3478', '198.51.100.2:5484'), obs('203.0.113.3:3479', '198.51.100.2:5484'), obs('198.51.100.9:5484', '198.51.100.2:5484')],
    { filtering: { fromOtherIpAndPort: false, fromOtherPortOnly: false } });
  t.equal(c.mapping, 'endpoint-independent');
  t.equal(c.label, 'port-restricted-cone');
  t.equal(c.portPreserved, true);
  t.same(c.publicEndpoint, { host: '198.51.100.2', port: 5484 });
  t.equal(c.doubleNat, false);
});

t.test('full cone (RFC 5780 test II answered)', async (t) => {
  const c = classifyNat([obs('203.0.113.1:3478', '198.51.100.2:40000'), obs('203.0.113.3:3479', '198.51.100.2:40000')], { filtering: { fromOtherIpAndPort: true, fromOtherPortOnly: true } });
  t.equal(c.label, 'full-cone');
  t.equal(c.portPreserved, false);
});

t.test('symmetric NAT (a new public port for every destination: enterprise firewalls, some mobile carriers)', async (t) => {
  const c = classifyNat([obs('203.0.113.1:3478', '198.51.100.2:40001'), obs('203.0.113.3:3478', '198.51.100.2:40002'), obs('203.0.113.3:3479', '198.51.100.2:40003')]);
  t.equal(c.mapping, 'address-port-dependent');
  t.equal(c.label, 'symmetric');
});

t.test('carrier-grade NAT: the router\'s outside is in 100.64.0.0/10', async (t) => {
  const c = classifyNat([obs('203.0.113.1:3478', '100.72.14.9:61000'), obs('203.0.113.3:3478', '100.72.14.9:61000')]);
  t.equal(c.carrierGrade, true);
  t.equal(c.mapping, 'endpoint-independent');
  t.equal(c.label, 'unknown', 'filtering not tested: the classic name is unknown');
});

t.test('double NAT: an ISP box in front of the home router gives a private "public" address', async (t) => {
  const c = classifyNat([obs('10.0.0.1:3478', '192.168.0.50:5484'), obs('10.0.0.3:3478', '192.168.0.50:5484')]);
  t.equal(c.doubleNat, true);
});

t.test('no NAT: a VPS with a public address sees itself', async (t) => {
  const pub = { host: '198.51.100.40', port: 5484 };
  const c = classifyNat([{ local: pub, destination: { host: '203.0.113.1', port: 3478 }, mapped: pub }]);
  t.equal(c.label, 'none');
  t.equal(classifyNat([]).label, 'unknown', 'no observations: unknown');
  t.equal(classifyNat([obs('203.0.113.1:3478', '198.51.100.2:5484')]).mapping, 'unknown', 'one destination says nothing about mapping');
});

t.test('address helpers', async (t) => {
  t.ok(isCarrierGrade('100.64.0.1') && isCarrierGrade('100.127.255.254') && !isCarrierGrade('100.128.0.1'));
  t.ok(isPrivate('10.1.2.3') && isPrivate('172.16.0.1') && isPrivate('192.168.5.5') && isPrivate('fd00::1'));
  t.notOk(isPrivate('172.32.0.1') || isPrivate('8.8.8.8') || isPrivate('100.64.0.1'));
});

const P = { periodMs: 600_000, lengthMs: 20_000, portMin: 40000, portMax: 59999 };
const key = (s: string) => new SeededRng(s).bytes(32);

t.test('rendezvous: deterministic, inside its period, on a port in range, secret-dependent', async (t) => {
  const secret = key('s1');
  const node = key('n1');
  for (let period = 0; period < 200; period++) {
    const w = windowIn(secret, node, period, P);
    t.ok(w.startMs >= period * P.periodMs && w.endMs <= (period + 1) * P.periodMs, 'inside its period');
    if (w.port < P.portMin || w.port > P.portMax) t.fail(`port ${w.port} out of range`);
  }
  t.same(windowIn(secret, node, 7, P), windowIn(secret, node, 7, P), 'same inputs, same window');
  const others = [windowIn(key('s2'), node, 7, P), windowIn(secret, key('n2'), 7, P)];
  t.ok(others.every((o) => o.startMs !== windowIn(secret, node, 7, P).startMs || o.port !== windowIn(secret, node, 7, P).port), 'another secret or node gives another window');
});

t.test('rendezvous: a member whose clock is off by less than the guard still meets the window', async (t) => {
  const secret = key('s3');
  const node = key('n3');
  const errorMs = 700;
  const guard = guardFor(errorMs, 500);
  const rng = new SeededRng('skew');
  for (let i = 0; i < 500; i++) {
    const now = 1_800_000_000_000 + rng.below(2 ** 31);
    const skew = rng.below(2 * errorMs + 1) - errorMs;
    const mine = currentOrNextWindow(secret, node, now, P);
    const theirs = currentOrNextWindow(secret, node, now + skew, P);
    if (theirs.period !== mine.period) continue; // a period boundary in between: compared next time
    const aim = (theirs.startMs + theirs.endMs) / 2 - skew; // their aim, in our clock
    if (!(aim >= mine.startMs - guard && aim <= mine.endMs + guard)) t.fail(`missed at skew ${skew}`);
  }
  t.pass('500 random skews within the error all land inside the guarded window');
  t.throws(() => validateWindowParams({ ...P, lengthMs: P.periodMs }));
  t.throws(() => validateWindowParams({ ...P, portMin: 80 }));
});
