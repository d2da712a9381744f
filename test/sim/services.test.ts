// The one way in (cluster/services.ts) on SimNet: two services on one node each get their own
// messages and requests, a message of an unknown service is dropped and counted, every service
// hears membership changes, any service can veto a handshake, and a byte cannot be taken twice.
import t from 'tap';
import { simCluster } from '../helpers/cluster-sim.js';
import { TEST_TIMING } from '../../cluster/timing.js';
import { SERVICE } from '../../cluster/services.js';
import { toHex } from '../../core/hex.js';

const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array) => new TextDecoder().decode(b);

t.test('messages go to the service their byte names; unknown bytes are counted; state changes reach every service', async (t) => {
  const seed = 'services-1';
  const c = await simCluster({ seed, n: 2, timing: TEST_TIMING });
  const [a, b] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0]];
  const got: string[] = [];
  const statesA: string[] = [];
  const statesB: string[] = [];
  b.node.services.register({ name: 'roster', onMessage: (_p, body) => got.push(`roster:${str(body)}`), onState: (_id, s) => statesA.push(s) });
  b.node.services.register({
    name: 'archive',
    onMessage: (_p, body, respond) => {
      got.push(`archive:${str(body)}`);
      void respond?.(text(`re ${str(body)}`)).catch(() => {});
    },
    onState: (_id, s) => statesB.push(s),
  });
  t.throws(() => b.node.services.register({ name: 'roster' }), RangeError, 'a service registers once');
  const rosterA = a.node.services.register({ name: 'roster' });
  const archiveA = a.node.services.register({ name: 'archive' });
  t.equal(rosterA.byte, SERVICE.roster);

  await c.until(() => c.stateOf(a, b) === 'alive' && c.stateOf(b, a) === 'alive', 5000);
  t.same(statesA, ['alive'], 'the first service heard the member come alive');
  t.same(statesB, ['alive'], 'and so did the second');

  let answer = '';
  void rosterA.send(b.id, text('one')).catch(() => {});
  void archiveA.request(b.id, text('two')).then((r) => (answer = str(r)));
  void a.node.reliable.send(b.id, Uint8Array.of(0x7e, 1, 2)).catch(() => {}); // no service has 0x7e
  void a.node.reliable.send(b.id, new Uint8Array(0)).catch(() => {});
  await c.until(() => answer !== '' && b.node.services.stats.unknownService === 2, 5000);
  t.same(got.sort(), ['archive:two', 'roster:one'], `each service got its own message, without the byte (seed ${seed})`);
  t.equal(answer, 're two', 'a request is answered through the service');
  t.equal(b.node.services.stats.unknownService, 2, 'an unknown byte and an empty message are dropped and counted');
  await c.close();
});

t.test('any service can refuse a certificate in the handshake', async (t) => {
  const c = await simCluster({ seed: 'services-veto', n: 2, timing: TEST_TIMING });
  const [a, b] = c.nodes as [(typeof c.nodes)[0], (typeof c.nodes)[0]];
  const refused = toHex(a.keys.cert.dhKey);
  b.node.services.register({ name: 'roster', isAllowed: () => true });
  b.node.services.register({ name: 'archive', isAllowed: (cert) => toHex(cert.dhKey) !== refused });
  const met = await c.until(() => c.stateOf(a, b) === 'alive', 3000);
  t.equal(met, undefined, 'b refuses a, so a never sees b alive');
  await c.close();
});

t.test('a member back after a restart gets what waited for it, and new messages, at once: not after the backed-off retransmissions', async (t) => {
  // The lab's failure (test/netns/messages-lab.test.ts, CI of stop 26): while bob's agent was
  // stopped the router kept retransmitting its messages to him with the timeout doubling each
  // time; once bob was back, everything new waited behind them in a window the timeouts had cut.
  const seed = 'services-back';
  const c = await simCluster({ seed, n: 2, timing: TEST_TIMING });
  const [a] = c.nodes as [(typeof c.nodes)[0]];
  const portA = a.node.services.register({ name: 'roster' });
  await c.until(() => c.stateOf(a, c.nodes[1]!) === 'alive' && c.stateOf(c.nodes[1]!, a) === 'alive', 5000);
  c.kill(1);
  await c.until(() => c.stateOf(a, c.nodes[1]!) === 'dead', 10_000);
  const bId = c.nodes[1]!.id;
  for (const m of ['one', 'two', 'three']) void portA.send(bId, text(m)).catch(() => {});
  await c.run(20_000); // timeouts at 1, 3, 7 and 15 s: the next is due 31 s after the send
  const b = c.restart(1);
  const got: string[] = [];
  b.node.services.register({ name: 'roster', onMessage: (_p, body) => got.push(str(body)) });
  t.ok(await c.until(() => c.stateOf(a, b) === 'alive', 10_000) !== undefined, 'the restarted member is alive again');
  void portA.send(b.id, text('four')).catch(() => {});
  const took = await c.until(() => got.length === 4, 10_000);
  t.ok(took !== undefined && took <= 1000, `what waited and the new message arrive within 1 s of it being alive again (${took} ms; seed ${seed})`);
  t.same([...got].sort(), ['four', 'one', 'three', 'two'], `each once (${got.join(", ")})`);
  await c.close();
});
