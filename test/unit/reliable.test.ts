// Reliable delivery over the real transport on SimNet: exactly-once delivery under 10% loss,
// duplication and reordering (seeded; a failure names its seed), large messages, requests,
// limits with their errors.
import t from 'tap';
import { Transport } from '../../cluster/transport.js';
import { Reliable, TARGET_DELAY_MS, LOSS_TOLERANCE, MAX_FRAGMENT } from '../../cluster/reliable.js';
import { Reassembly } from '../../cluster/reassembly.js';
import { DATA_FRAME_HEADER, decodeFrame, encodeDataFrames } from '../../cluster/reliable-wire.js';
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

t.test('reassembly: fresh message ids with one-byte last fragments are charged their full size', async (t) => {
  // An authenticated peer sends only the 1-byte last fragment of ever new message ids. Charging
  // what arrived (1 byte each) let 50,000 such partial messages pile up, each holding room for
  // thousands of fragments; each must count as count × MAX_FRAGMENT from its first fragment on.
  const limit = 8 * 1024 * 1024;
  for (const count of [3634, 2]) {
    const r = new Reassembly({ maxReassemblyBytes: limit, dedupeWindow: 16 });
    let evicted = 0;
    for (let id = 0; id < 50_000; id++) {
      const a = r.accept({ type: 1, msgId: id, index: count - 1, count, flags: 0, reqId: 0, part: new Uint8Array(1) });
      if (a.kind === 'partial') evicted += a.evicted;
    }
    const held = 50_000 - evicted;
    t.ok(held <= Math.floor(limit / (count * MAX_FRAGMENT)) + 1, `count ${count}: ${held} partial messages held`);
  }
  const r = new Reassembly({ maxReassemblyBytes: limit, dedupeWindow: 16 });
  const parts = [new Uint8Array(MAX_FRAGMENT).fill(1), new Uint8Array(5).fill(2)];
  t.equal(r.accept({ type: 1, msgId: 7, index: 1, count: 2, flags: 0, reqId: 0, part: parts[1]! }).kind, 'partial');
  const done = r.accept({ type: 1, msgId: 7, index: 0, count: 2, flags: 0, reqId: 0, part: parts[0]! });
  t.same(done.kind === 'complete' && [done.payload.length, done.payload[0], done.payload[MAX_FRAGMENT]], [MAX_FRAGMENT + 5, 1, 2], 'out of order still reassembles');
});

t.test('DATA frames: the bytes of cluster/README.md, with a head joined without a copy, and back', async (t) => {
  // type 1 | flags | msgId u32 | reqId u32 | index u16 | count u16 | bytes, big-endian.
  const [one] = encodeDataFrames(Uint8Array.of(0xaa, 0xbb), 0x01020304, 4, 0x0a0b0c0d, Uint8Array.of(0x11));
  t.same([...one!], [1, 4, 1, 2, 3, 4, 0x0a, 0x0b, 0x0c, 0x0d, 0, 0, 0, 1, 0x11, 0xaa, 0xbb], 'one frame, head first');
  // A message of three fragments, head in the first: the same frames as the joined bytes.
  const head = new Uint8Array(11).map((_, i) => 200 + i);
  const body = new Uint8Array(3 * MAX_FRAGMENT - 17).map((_, i) => i * 7);
  const joined = new Uint8Array(head.length + body.length);
  joined.set(head);
  joined.set(body, head.length);
  const split = encodeDataFrames(body, 0xfffffffe, 4, 0, head);
  const whole = encodeDataFrames(joined, 0xfffffffe, 4, 0);
  t.equal(split.length, 3, 'three fragments');
  t.same(split.map((f) => [...f]), whole.map((f) => [...f]), 'head ‖ body frames like the joined message');
  t.same(split.map((f) => f.length), [DATA_FRAME_HEADER + MAX_FRAGMENT, DATA_FRAME_HEADER + MAX_FRAGMENT, DATA_FRAME_HEADER + MAX_FRAGMENT - 6], 'full fragments, then the rest');
  t.same(encodeDataFrames(new Uint8Array(0), 9, 0, 0).map((f) => f.length), [DATA_FRAME_HEADER], 'an empty message is one frame');
  const longHead = new Uint8Array(MAX_FRAGMENT + 3).map((_, i) => i);
  const both = new Uint8Array(longHead.length + 4);
  both.set(longHead);
  both.set([9, 8, 7, 6], longHead.length);
  t.same(encodeDataFrames(Uint8Array.of(9, 8, 7, 6), 5, 0, 0, longHead).map((f) => [...f]), encodeDataFrames(both, 5, 0, 0).map((f) => [...f]), 'a head that crosses a fragment boundary');
  const r = new Reassembly({ maxReassemblyBytes: 8 * 1024 * 1024, dedupeWindow: 16 });
  let out: Uint8Array | undefined;
  for (const f of [split[2]!, split[0]!, split[1]!]) {
    const d = decodeFrame(f, 4 * 1024 * 1024);
    if (d?.type !== 1) throw new Error('not a DATA frame');
    t.equal(d.msgId, 0xfffffffe, 'msgId read back unsigned');
    const a = r.accept(d);
    if (a.kind === 'complete') out = a.payload;
  }
  t.same(out && [...out], [...joined], 'reassembled out of order into the joined bytes');
  t.equal(r.accept(decodeFrame(split[0]!, 4 * 1024 * 1024) as never).kind, 'duplicate', 'a fragment of a completed message is a duplicate');
  const single = decodeFrame(one!, 4 * 1024 * 1024);
  const a = r.accept(single as never);
  t.same(a.kind === 'complete' && [a.flags, a.reqId, ...a.payload], [4, 0x0a0b0c0d, 0x11, 0xaa, 0xbb], 'a one-fragment message');
  t.equal(r.accept(single as never).kind, 'duplicate', 'and its retransmission is a duplicate');
});

// Congestion control, at the layer where it can be watched: the window towards a peer on SimNet
// links whose bandwidth-delay product is known. 20 Mbit/s × 40 ms RTT ≈ 100 kB ≈ 80 datagrams.
t.test('congestion window: random loss on a deep-buffered link is not congestion; a standing queue and overflow are', async (t) => {
  const BDP_FRAGMENTS = 80;
  const link = { latencyMs: 20, jitterMs: 0, duplicate: 0, bandwidthBps: 2_500_000 };

  t.test('1% random loss, 256 KiB queue: the window grows past the BDP and stays there', async (t) => {
    const env = simEnv('cc-random');
    env.sim!.defaults = { ...link, loss: 0.01, queueBytes: 256 * 1024 };
    const { a, ab } = await pairOn(env, { maxMessageBytes: 8_000_000, maxInFlightBytes: 16_000_000, maxReassemblyBytes: 16_000_000 });
    let done = false;
    void a.reliable.send(ab, new Uint8Array(6_000_000)).then(() => (done = true));
    const windows: number[] = [];
    for (let i = 0; i < 40 && !done; i++) {
      await env.settle(() => done, 100);
      windows.push(a.reliable.pathInfo(ab)!.cwnd);
    }
    const later = windows.slice(5);
    t.ok(a.reliable.stats.retransmits > 20, `losses did happen (${a.reliable.stats.retransmits} retransmissions)`);
    t.ok(Math.min(...later) >= BDP_FRAGMENTS, `after the first 0.5 s the window never fell below the BDP (lowest ${Math.min(...later).toFixed(1)})`);
    t.ok(a.reliable.pathInfo(ab)!.queueDelayMs <= 1.5 * TARGET_DELAY_MS, 'the queue stays near the target delay');
  });

  t.test('a queue that is someone else\'s (the RTT rises by 100 ms): the window yields; a new path starts afresh', async (t) => {
    const env = simEnv('cc-queue');
    env.sim!.defaults = { ...link, loss: 0, queueBytes: 256 * 1024 };
    const { a, ab } = await pairOn(env, { maxMessageBytes: 30_000_000, maxInFlightBytes: 60_000_000, maxReassemblyBytes: 60_000_000 });
    void a.reliable.send(ab, new Uint8Array(30_000_000)).catch(() => {});
    await env.settle(() => false, 3000);
    const before = a.reliable.pathInfo(ab)!.cwnd;
    env.sim!.defaults = { ...env.sim!.defaults, latencyMs: 70 };
    await env.settle(() => false, 3000);
    const after = a.reliable.pathInfo(ab)!;
    t.ok(before >= BDP_FRAGMENTS, `window before: ${before.toFixed(1)}`);
    t.ok(after.queueDelayMs >= 90, `queueing delay seen: ${after.queueDelayMs.toFixed(0)} ms`);
    t.ok(after.cwnd < before / 2, `window after 3 s: ${after.cwnd.toFixed(1)} (was ${before.toFixed(1)})`);
    // Had the peer roamed onto this longer path, the node would say so: the old lowest RTT is
    // forgotten and the window grows again (a standing queue would have held it down for the
    // 10 minutes of base-delay history).
    a.reliable.pathChanged(ab);
    await env.settle(() => false, 3000);
    const roamed = a.reliable.pathInfo(ab)!;
    t.ok(roamed.baseRttMs >= 130 && roamed.cwnd >= BDP_FRAGMENTS, `after pathChanged: base RTT ${roamed.baseRttMs.toFixed(0)} ms, window ${roamed.cwnd.toFixed(1)}`);
    a.reliable.dropPeer(ab);
  });

  t.test('a shallow buffer (12 kB) and no random loss: overflow losses shrink the window, loss stays bounded', async (t) => {
    const env = simEnv('cc-shallow');
    env.sim!.defaults = { ...link, loss: 0, queueBytes: 12_000 };
    const { a, ab, b } = await pairOn(env, { maxMessageBytes: 8_000_000, maxInFlightBytes: 16_000_000, maxReassemblyBytes: 16_000_000 });
    let done = false;
    const size = 4_000_000;
    void a.reliable.send(ab, new Uint8Array(size)).then(() => (done = true));
    t.ok(await env.settle(() => done, 60_000), 'the transfer finished');
    const fragments = Math.ceil(size / MAX_FRAGMENT);
    const lossRate = a.reliable.stats.retransmits / fragments;
    t.ok(a.reliable.stats.retransmits > 0, 'the buffer did overflow');
    t.ok(lossRate < 2 * LOSS_TOLERANCE, `overflow losses: ${(lossRate * 100).toFixed(1)}% of fragments (tolerance ${LOSS_TOLERANCE * 100}%)`);
    t.equal(b.inbox.length, 1);
  });
});
