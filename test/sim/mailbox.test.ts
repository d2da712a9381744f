// The mailbox over real cluster nodes on SimNet: a recipient that is away gets what was pushed
// for it from the relay after the sender is gone too; a relay that lost its disk is noticed by
// its new incarnation and the client pulls from the start; 5% loss on every link.
import t from 'tap';
import { MemoryStore } from '../../core/store.js';
import { SeededRng } from '../../core/rng.js';
import { TEST_TIMING } from '../../cluster/timing.js';
import { MailboxRelay } from '../../cluster/mailbox.js';
import { MailboxClient } from '../../cluster/mailbox-client.js';
import { simCluster, type SimCluster, type SimNode } from '../helpers/cluster-sim.js';

const GROUP = '42'.repeat(32);

function serveRelay(c: SimCluster, n: SimNode, store: MemoryStore): MailboxRelay {
  const relay = new MailboxRelay({
    store, clock: c.clock, rng: new SeededRng(`relay:${c.clock.now()}`),
    userOf: (m) => (c.nodes.some((x) => x.id === m) ? m : undefined),
    notify: (m, body) => void port.send(m, body).catch(() => undefined),
    isOnline: (m) => n.node.membership.stateOf(m) === 'alive',
  });
  const port = n.node.services.register({
    name: 'mailbox',
    onMessage: (peer, body, respond) => {
      if (respond) void relay.handle(peer, body).then(respond);
    },
  });
  return relay;
}

function client(n: SimNode, store: MemoryStore, notes: number[] = []): MailboxClient {
  const port = n.node.services.register({ name: 'mailbox', onMessage: (_p, _b, respond) => void (respond ? undefined : notes.push(1)) });
  return new MailboxClient({ store, request: (relay, body) => port.request(relay, body, 5000) });
}

/** Awaits a promise while virtual time runs (requests need the clock to move). */
async function drive<T>(c: SimCluster, p: Promise<T>, maxMs = 60_000): Promise<T> {
  let done = false;
  let out: { ok: T } | { err: unknown } | undefined;
  p.then((v) => (out = { ok: v }), (e: unknown) => (out = { err: e })).finally(() => (done = true));
  await c.until(() => done, maxMs);
  if (!out) throw new Error(`not settled in ${maxMs} virtual ms`);
  if ('err' in out) throw out.err;
  return out.ok;
}

const alive = (c: SimCluster, a: SimNode, b: SimNode) => () => c.stateOf(a, b) === 'alive' && c.stateOf(b, a) === 'alive';

t.test('away, back, relay wiped: every blob arrives once, and a lost relay store is noticed', async (t) => {
  const seed = 'mailbox-1';
  const c = await simCluster({ seed, n: 3, timing: TEST_TIMING });
  for (const a of c.nodes) for (const b of c.nodes) if (a !== b) c.net.setLink(a.host.address, b.host.address, { loss: 0.05 });
  let relay = serveRelay(c, c.nodes[0]!, new MemoryStore());
  await relay.start();
  const bobStore = new MemoryStore();
  c.kill(2); // bob's laptop is closed
  const notes: number[] = [];
  const alice = client(c.nodes[1]!, new MemoryStore(), notes);
  t.ok(await c.until(alive(c, c.nodes[0]!, c.nodes[1]!), 10_000), `alice reaches the relay (seed ${seed})`);
  const bob = c.nodes[2]!.id;
  for (let i = 1; i <= 50; i++) await drive(c, alice.push(c.nodes[0]!.id, { group: GROUP, sender: c.nodes[1]!.id, seq: i, to: [bob], blob: new TextEncoder().encode(`sealed ${i}`) }));
  c.kill(1); // alice's machine is off by the time bob comes back
  c.restart(2);
  const bobClient = client(c.nodes[2]!, bobStore);
  t.ok(await c.until(alive(c, c.nodes[0]!, c.nodes[2]!), 20_000), 'bob reaches the relay');
  const got: string[] = [];
  const first = await drive(c, bobClient.catchUp(c.nodes[0]!.id, (b) => void got.push(new TextDecoder().decode(b.blob))));
  t.match(first, { blobs: 50, reset: false, complete: true });
  t.same(got, Array.from({ length: 50 }, (_, i) => `sealed ${i + 1}`), 'all 50, in order, once');
  t.equal(relay.status().blobs, 0, 'acknowledged by the only recipient: deleted');

  // The relay's disk is wiped: a new store, a new incarnation.
  c.kill(0);
  c.restart(0);
  relay = serveRelay(c, c.nodes[0]!, new MemoryStore());
  await relay.start();
  c.restart(1);
  const alice2 = client(c.nodes[1]!, new MemoryStore());
  t.ok(await c.until(alive(c, c.nodes[0]!, c.nodes[1]!), 20_000));
  await drive(c, alice2.push(c.nodes[0]!.id, { group: GROUP, sender: c.nodes[1]!.id, seq: 51, to: [bob], blob: new TextEncoder().encode('sealed 51') }));
  t.ok(await c.until(alive(c, c.nodes[0]!, c.nodes[2]!), 20_000));
  const again: string[] = [];
  const second = await drive(c, bobClient.catchUp(c.nodes[0]!.id, (b) => void again.push(new TextDecoder().decode(b.blob))));
  t.same([second.reset, again], [true, ['sealed 51']], 'the old cursor (50) is not trusted: the new store\'s cursor 1 is pulled');
  await c.close();
});
