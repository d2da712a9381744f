// Reliable delivery over the real transport on SimNet: exactly-once delivery under 10% loss,
// duplication and reordering (seeded; a failure names its seed), large messages, requests,
// limits with their errors.
import t from 'tap';
import { Transport } from '../../cluster/transport.js';
import { Reliable } from '../../cluster/reliable.js';
import { isKithError } from '../../core/errors.js';
import { simEnv, type TransportEnv } from '../helpers/transport-env.js';
import { testUser } from '../helpers/users.js';

const PSK = new Uint8Array(32).fill(9);

async function pairOn(env: TransportEnv, opts = {}) {
  const mk = async (name: string, host: number) => {
    const user = testUser(name);
    const socket = await env.socket(host);
    const node = { user, socket, transport: undefined as unknown as Transport, reliable: undefined as unknown as Reliable, inbox: [] as Uint8Array[] };
    node.transport = new Transport({ clock: env.clock, rng: env.rng, socket, events: { message: (peer, payload) => node.reliable.receive(peer, payload) } }, { staticKey: user.dh, certBytes: user.certBytes });
    node.reliable = new Reliable({ clock: env.clock, rng: env.rng, link: node.transport }, opts);
    node.reliable.onMessage((_peer, payload) => node.inbox.push(payload));
    return node;
  };
  const a = await mk('alice', 0);
  const b = await mk('bob', 1);
  const ab = a.transport.addPeer({ dhKey: b.user.dh.publicKey, psk: PSK, endpoint: b.socket.local });
  const ba = b.transport.addPeer({ dhKey: a.user.dh.publicKey, psk: PSK, endpoint: a.socket.local });
  return { a, b, ab, ba };
}

const body = (i: number, size: number) => {
  const out = new Uint8Array(size);
  new DataView(out.buffer).setUint32(0, i);
  for (let k = 4; k < size; k++) out[k] = (i * 31 + k) & 0xff;
  return out;
};

for (const seed of ['rel-1', 'rel-2', 'rel-3']) {
  t.test(`10% loss, 10% duplication, reordering: every message exactly once (seed ${seed})`, async (t) => {
    const env = simEnv(seed);
    env.sim!.defaults = { ...env.sim!.defaults, latencyMs: 20, jitterMs: 30, loss: 0.1, duplicate: 0.1 };
    const { a, b, ab } = await pairOn(env);
    const N = 120;
    const sizes = Array.from({ length: N }, () => 4 + env.rng.below(4000));
    const results: ('ok' | string)[] = [];
    for (let i = 0; i < N; i++) a.reliable.send(ab, body(i, sizes[i]!)).then(() => results.push('ok'), (e: Error) => results.push(e.message));
    const ok = await env.settle(() => results.length === N && b.inbox.length >= N, 300_000);
    if (!ok || b.inbox.length !== N) t.comment(`replay with seed ${seed}`);
    t.ok(ok, `all sends settled (seed ${seed})`);
    t.equal(results.filter((r) => r === 'ok').length, N, 'every send acknowledged');
    const got = b.inbox.map((m) => new DataView(m.buffer, m.byteOffset).getUint32(0)).sort((x, y) => x - y);
    t.same(got, Array.from({ length: N }, (_, i) => i), 'each message delivered exactly once');
    t.ok(b.inbox.every((m) => {
      const i = new DataView(m.buffer, m.byteOffset).getUint32(0);
      return m.length === sizes[i] && m.every((x, k) => k < 4 || x === ((i * 31 + k) & 0xff));
    }), 'byte for byte');
    t.ok(a.reliable.stats.retransmits > 0 && b.reliable.stats.duplicates > 0, 'loss and duplicates did happen');
  });
}

t.test('a 1 MB message over a lossy, bandwidth-limited link, and request/response', async (t) => {
  const env = simEnv('bulk');
  env.sim!.defaults = { ...env.sim!.defaults, latencyMs: 20, loss: 0.01, bandwidthBps: 2_500_000 };
  const { a, b, ab, ba } = await pairOn(env);
  const big = body(7, 1_000_000);
  let done = false;
  void a.reliable.send(ab, big).then(() => (done = true));
  t.ok(await env.settle(() => done && b.inbox.length === 1, 120_000));
  t.same(Buffer.from(b.inbox[0]!).equals(Buffer.from(big)), true);
  b.reliable.onMessage((_p, payload, respond) => void respond?.(new TextEncoder().encode(`echo ${payload.length}`)));
  let answer = '';
  void a.reliable.request(ab, new Uint8Array(5000)).then((r) => (answer = new TextDecoder().decode(r)));
  t.ok(await env.settle(() => answer !== ''));
  t.equal(answer, 'echo 5000');
  // A partitioned peer: the request times out, the send fails after its retries.
  env.sim!.partition(['10.0.0.1'], ['10.0.0.2']);
  let err: unknown;
  void a.reliable.request(ab, new Uint8Array(10), 3000).catch((e) => (err = e));
  await env.settle(() => err !== undefined, 10_000);
  t.ok(isKithError(err, 'REQUEST_TIMEOUT'));
  let failure: unknown;
  void b.reliable.send(ba, new Uint8Array(10)).catch((e) => (failure = e));
  await env.settle(() => failure !== undefined, 600_000);
  t.ok(isKithError(failure, 'DELIVERY_FAILED'));
});

t.test('limits: message size, in-flight bytes, malformed frames', async (t) => {
  const env = simEnv('limits');
  const { a, b, ab, ba } = await pairOn(env, { maxMessageBytes: 10_000, maxInFlightBytes: 15_000 });
  await t.rejects(a.reliable.send(ab, new Uint8Array(10_001)), { code: 'MESSAGE_TOO_LARGE' });
  let firstDone = false;
  const first = a.reliable.send(ab, new Uint8Array(9_000)).then(() => (firstDone = true));
  await t.rejects(a.reliable.send(ab, new Uint8Array(9_000)), { code: 'SEND_BACKPRESSURE' });
  t.ok(await env.settle(() => b.inbox.length === 1 && firstDone));
  await first;
  let second: string | undefined;
  a.reliable.send(ab, new Uint8Array(9_000)).then(() => (second = 'ok'), (e: Error) => (second = e.message));
  await env.settle(() => second !== undefined);
  t.equal(second, 'ok', 'room again once the first was acknowledged');
  for (const junk of [new Uint8Array([1]), new Uint8Array([2, 5, 0]), new Uint8Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 5, 0, 3]), new Uint8Array([9, 9, 9])]) b.reliable.receive(ba, junk);
  t.equal(b.reliable.stats.dropped, 4, 'malformed frames dropped and counted');
  t.equal(b.inbox.length, 2, 'and nothing delivered from them');
});
