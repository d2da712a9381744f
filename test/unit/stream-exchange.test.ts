// Request and response over bulk streams (cluster/stream-exchange.ts) on SimNet: a 5 MiB request
// and a 5 MiB answer (over one reliable message's 4 MiB limit) arrive whole over a lossy link; an
// oversized request is cancelled and the requester fails; an answerer that never answers times
// out after the request was read, not before; an answer nobody asked for is cancelled and counted.
import t from 'tap';
import { createHash } from 'node:crypto';
import { Transport } from '../../cluster/transport.js';
import { Reliable } from '../../cluster/reliable.js';
import { Streams } from '../../cluster/stream.js';
import { Services } from '../../cluster/services.js';
import { StreamExchange, KIND_EXCHANGE_RESPONSE } from '../../cluster/stream-exchange.js';
import { isKithError } from '../../core/errors.js';
import { SECOND } from '../../core/clock.js';
import { simEnv } from '../helpers/transport-env.js';
import { testUser } from '../helpers/users.js';

const PSK = new Uint8Array(32).fill(8);

async function pair(seed: string, answer: (peer: string, req: Uint8Array) => Promise<Uint8Array>, maxBytes = 8 * 1024 * 1024) {
  const env = simEnv(seed);
  env.sim!.defaults = { ...env.sim!.defaults, latencyMs: 10, jitterMs: 5, loss: 0.01, bandwidthBps: 50_000_000 };
  const mk = async (name: string, host: number) => {
    const user = testUser(name);
    const socket = await env.socket(host);
    let reliable!: Reliable;
    const transport = new Transport({ clock: env.clock, rng: env.rng, socket, events: { message: (p, d) => reliable.receive(p, d) } }, { staticKey: user.dh, certBytes: user.certBytes });
    reliable = new Reliable({ clock: env.clock, rng: env.rng, link: transport });
    const streams = new Streams({ clock: env.clock, rng: env.rng, reliable });
    const services = new Services({ reliable, streams });
    const exchange = new StreamExchange({ clock: env.clock, rng: env.rng, answer }, { maxBytes, timeoutMs: 5 * SECOND });
    const port = services.register({ name: 'archive', streams: exchange.streams });
    exchange.attach(port);
    return { user, socket, transport, exchange, port };
  };
  const a = await mk('alice', 0);
  const b = await mk('bob', 1);
  const ab = a.transport.addPeer({ dhKey: b.user.dh.publicKey, psk: PSK, endpoint: b.socket.local });
  b.transport.addPeer({ dhKey: a.user.dh.publicKey, psk: PSK, endpoint: a.socket.local });
  return { env, a, b, ab };
}

const bytes = (n: number, seed: number) => {
  const out = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) out[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  return out;
};
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

t.test('a 5 MiB request and a 5 MiB answer arrive whole over a 1%-loss link', async (t) => {
  const req = bytes(5 * 1024 * 1024, 1);
  const ans = bytes(5 * 1024 * 1024 + 7, 2);
  let seen = '';
  const { env, a, ab } = await pair('exchange-big', async (_p, r) => ((seen = sha(r)), ans));
  const p = a.exchange.request(ab, req);
  let answer: Uint8Array | undefined;
  void p.then((x) => (answer = x));
  t.ok(await env.settle(() => answer !== undefined, 120 * SECOND), 'the exchange completed');
  t.equal(seen, sha(req), 'the answerer read the request byte for byte');
  t.equal(sha(answer!), sha(ans), 'the requester got the answer byte for byte');
});

t.test('an oversized request is cancelled by the answerer: the requester fails, the answerer counts it', async (t) => {
  let called = false;
  const { env, a, b, ab } = await pair('exchange-oversize', async () => ((called = true), new Uint8Array(1)), 1024 * 1024);
  // The requester's own limit is larger: the answerer's is the one that counts.
  (a.exchange as unknown as { o: { maxBytes: number } }).o.maxBytes = 4 * 1024 * 1024;
  let err: unknown;
  a.exchange.request(ab, bytes(2 * 1024 * 1024, 3)).catch((e) => (err = e));
  t.ok(await env.settle(() => err !== undefined, 60 * SECOND));
  t.ok(isKithError(err) && err.code === 'STREAM_ABORTED', `failed with ${(err as Error)?.message}`);
  t.equal(b.exchange.stats.oversize, 1);
  t.notOk(called, 'nothing was handed to the answerer');
});

t.test('an answerer that never answers: REQUEST_TIMEOUT, counted from the request read whole', async (t) => {
  const { env, a, ab } = await pair('exchange-silent', () => new Promise<Uint8Array>(() => {}));
  let err: unknown;
  const started = env.clock.now();
  a.exchange.request(ab, bytes(3 * 1024 * 1024, 4)).catch((e) => (err = e));
  t.ok(await env.settle(() => err !== undefined, 60 * SECOND));
  t.ok(isKithError(err) && err.code === 'REQUEST_TIMEOUT', `failed with ${(err as Error)?.message}`);
  t.ok(env.clock.now() - started > 5 * SECOND, 'the limit started after the transfer');
});

t.test('an answer stream nobody asked for is cancelled and counted, and changes nothing', async (t) => {
  const { env, a, b } = await pair('exchange-unasked', async () => new Uint8Array(1));
  const ba = b.transport.peerIds()[0]!;
  let err: unknown;
  b.port.stream(ba, KIND_EXCHANGE_RESPONSE, [bytes(8, 5), bytes(100_000, 6)]).catch((e) => (err = e));
  t.ok(await env.settle(() => err !== undefined, 30 * SECOND));
  t.equal(a.exchange.stats.unasked, 1);
  t.ok(isKithError(err) && err.code === 'STREAM_ABORTED');
});

t.test('an answerer that vanishes mid-request (killed, unplugged): REQUEST_TIMEOUT after timeoutMs with no progress, not the stream\'s 60 s stall', async (t) => {
  const { env, a, b, ab } = await pair('exchange-gone', async () => new Uint8Array(1));
  // The link goes dead both ways before the request is sent (a holder killed just now, still "alive" to membership).
  env.sim!.partition([a.socket.local.host], [b.socket.local.host]);
  let err: unknown;
  const started = env.clock.now();
  a.exchange.request(ab, bytes(2 * 1024 * 1024, 5)).catch((e) => (err = e));
  t.ok(await env.settle(() => err !== undefined, 120 * SECOND), 'the request fails');
  t.ok(isKithError(err) && err.code === 'REQUEST_TIMEOUT', `failed with ${(err as Error)?.message}`);
  const tookMs = env.clock.now() - started;
  t.ok(tookMs >= 5 * SECOND && tookMs < 30 * SECOND, `failed after ${tookMs} ms: the 5 s limit with no progress, well before the stream's 60 s stall`);
});
