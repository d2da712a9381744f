// Bulk streams over reliable delivery on SimNet: a large object arrives whole and in order over a
// lossy, reordering link; a slow reader holds the sender back (bounded memory on both sides);
// cancelling, refusing, a failing source, stalls and protocol violations end a stream with a
// stable code on the side that waits.
import t from 'tap';
import { createHash } from 'node:crypto';
import { Transport } from '../../cluster/transport.js';
import { Reliable } from '../../cluster/reliable.js';
import { Streams, IncomingStream, STREAM_HEADER, type StreamOptions } from '../../cluster/stream.js';
import { isKithError } from '../../core/errors.js';
import { simEnv } from '../helpers/transport-env.js';
import { testUser } from '../helpers/users.js';

const PSK = new Uint8Array(32).fill(8);
/** The service and stream kind these tests send under (any registered pair would do). */
const R = { service: 0x41, kind: 1 };

async function pair(seed: string, link: Record<string, number> = {}, opts: Partial<StreamOptions> = {}) {
  const env = simEnv(seed);
  env.sim!.defaults = { ...env.sim!.defaults, ...link };
  const mk = async (name: string, host: number) => {
    const user = testUser(name);
    const socket = await env.socket(host);
    let reliable!: Reliable;
    const transport = new Transport({ clock: env.clock, rng: env.rng, socket, events: { message: (p, d) => reliable.receive(p, d) } }, { staticKey: user.dh, certBytes: user.certBytes });
    reliable = new Reliable({ clock: env.clock, rng: env.rng, link: transport });
    const streams = new Streams({ clock: env.clock, rng: env.rng, reliable }, opts);
    return { user, socket, transport, reliable, streams };
  };
  const a = await mk('alice', 0);
  const b = await mk('bob', 1);
  const ab = a.transport.addPeer({ dhKey: b.user.dh.publicKey, psk: PSK, endpoint: b.socket.local });
  const ba = b.transport.addPeer({ dhKey: a.user.dh.publicKey, psk: PSK, endpoint: a.socket.local });
  return { env, a, b, ab, ba };
}

/** `total` pseudo-random bytes in pieces of `piece`, made lazily (the sender never holds it all). */
function* object(total: number, piece: number, seed = 1): Generator<Uint8Array> {
  let x = seed;
  for (let off = 0; off < total; off += piece) {
    const p = new Uint8Array(Math.min(piece, total - off));
    for (let i = 0; i < p.length; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      p[i] = x >>> 24;
    }
    yield p;
  }
}
const digest = (pieces: Iterable<Uint8Array>) => {
  const h = createHash('sha256');
  for (const p of pieces) h.update(p);
  return h.digest('hex');
};

t.test('a 12 MB object over 2% loss, duplication and reordering: whole, in order, with bounded buffers', async (t) => {
  const opts = { chunkBytes: 64 * 1024, window: 4 };
  const { env, a, b, ab } = await pair('stream-big', { latencyMs: 15, jitterMs: 10, loss: 0.02, duplicate: 0.02, bandwidthBps: 5_000_000 }, opts);
  const SIZE = 12_000_000;
  const h = createHash('sha256');
  let got = 0;
  let maxBuffered = 0;
  let maxChunk = 0;
  let finished = false;
  b.streams.handle(R.service, R.kind, (_peer, stream) => {
    void (async () => {
      for await (const chunk of stream) {
        maxChunk = Math.max(maxChunk, chunk.length);
        maxBuffered = Math.max(maxBuffered, stream.bufferedBytes);
        h.update(chunk);
        got += chunk.length;
      }
      finished = true;
    })();
  });
  const progress: number[] = [];
  let sent: number | undefined;
  void a.streams.send(ab, R, object(SIZE, 100_000), (n) => progress.push(n)).then((n) => (sent = n));
  t.ok(await env.settle(() => sent !== undefined && finished, 120_000), 'the send resolved and the reader saw the end');
  t.equal(sent, SIZE, 'send resolves with the byte count');
  t.equal(got, SIZE);
  t.equal(h.digest('hex'), digest(object(SIZE, 100_000)), 'byte for byte, in order');
  t.ok(a.reliable.stats.retransmits > 0 && b.reliable.stats.duplicates > 0, 'loss and duplicates did happen');
  t.equal(maxChunk, opts.chunkBytes, 'chunks of the configured size');
  t.ok(maxBuffered <= opts.window * opts.chunkBytes, `the reader never held more than the window (${maxBuffered} bytes)`);
  t.equal(progress.at(-1), SIZE, 'progress reached the whole size');
  t.ok(progress.every((n, i) => i === 0 || n > progress[i - 1]!), 'progress only grows');
});

t.test('a slow reader holds the sender back', async (t) => {
  const opts = { chunkBytes: 16 * 1024, window: 3 };
  const { env, a, b, ab } = await pair('stream-slow', {}, opts);
  let reader: IncomingStream | undefined;
  b.streams.handle(R.service, R.kind, (_p, s) => (reader = s));
  let sentBytes = 0;
  let done = false;
  void a.streams.send(ab, R, object(400_000, 4 * opts.chunkBytes), (n) => (sentBytes = n)).then(() => (done = true));
  await env.settle(() => false, 2000);
  t.ok(reader, 'the stream arrived');
  t.equal(sentBytes, opts.window * opts.chunkBytes, 'with nothing read, the sender stops after one window');
  t.ok(reader!.bufferedBytes <= opts.window * opts.chunkBytes);
  const it = reader![Symbol.asyncIterator]();
  await it.next();
  await env.settle(() => sentBytes > opts.window * opts.chunkBytes, 2000);
  t.equal(sentBytes, (opts.window + 1) * opts.chunkBytes, 'one chunk read, one more sent');
  t.notOk(done);
  let read = opts.chunkBytes;
  // One read at a time: a read still pending when the clock step ends is waited on again.
  for (let pending = it.next(), n = 0; n < 1000; n++) {
    let r: IteratorResult<Uint8Array> | undefined;
    void pending.then((x) => (r = x));
    await env.settle(() => r !== undefined, 500);
    if (r === undefined) continue;
    if (r.done) break;
    read += r.value.length;
    pending = it.next();
  }
  t.equal(read, 400_000);
  t.ok(await env.settle(() => done, 2000), 'the sender resolves once everything was read');
});

t.test('ending early: cancel, refusal, a failing source, stalls, a peer that breaks the window', async (t) => {
  t.test('the reader breaks out of its loop: the sender fails with STREAM_ABORTED', async (t) => {
    const { env, a, b, ab } = await pair('stream-cancel', {}, { chunkBytes: 10_000, window: 2 });
    b.streams.handle(R.service, R.kind, (_p, s) => {
      void (async () => {
        for await (const _ of s) break;
      })();
    });
    let err: unknown;
    void a.streams.send(ab, R, object(1_000_000, 10_000)).catch((e) => (err = e));
    await env.settle(() => err !== undefined, 5000);
    t.ok(isKithError(err, 'STREAM_ABORTED'), String(err));
  });

  t.test('nobody reads streams: STREAM_REFUSED; too many at once: the extra is refused', async (t) => {
    const { env, a, b, ab } = await pair('stream-refused', {}, { chunkBytes: 1000, window: 2, maxIncomingPerPeer: 1 });
    let err: unknown;
    void a.streams.send(ab, R, object(10_000, 1000)).catch((e) => (err = e));
    await env.settle(() => err !== undefined, 5000);
    t.ok(isKithError(err, 'STREAM_REFUSED'), String(err));
    const held: IncomingStream[] = [];
    b.streams.handle(R.service, R.kind, (_p, s) => held.push(s));
    let first: unknown;
    let second: unknown;
    void a.streams.send(ab, R, object(10_000, 1000)).catch((e) => (first = e));
    await env.settle(() => held.length === 1, 5000);
    void a.streams.send(ab, R, object(10_000, 1000)).catch((e) => (second = e));
    await env.settle(() => second !== undefined, 5000);
    t.ok(isKithError(second, 'STREAM_REFUSED'), 'the second stream at once is refused');
    t.equal(first, undefined, 'the first is still open');
    t.equal(held.length, 1);
  });

  t.test('the source throws: the reader fails with STREAM_ABORTED, the sender with the source\'s error', async (t) => {
    const { env, a, b, ab } = await pair('stream-source', {}, { chunkBytes: 1000, window: 4 });
    let readErr: unknown;
    let read = 0;
    b.streams.handle(R.service, R.kind, (_p, s) => {
      void (async () => {
        for await (const c of s) read += c.length;
      })().catch((e) => (readErr = e));
    });
    async function* failing() {
      yield new Uint8Array(1500);
      throw new Error('disk read failed');
    }
    let sendErr: unknown;
    void a.streams.send(ab, R, failing()).catch((e) => (sendErr = e));
    await env.settle(() => readErr !== undefined && sendErr !== undefined, 5000);
    t.match(String(sendErr), /disk read failed/);
    t.ok(isKithError(readErr, 'STREAM_ABORTED'), String(readErr));
    t.ok(read <= 1500, `the reader got no more than was sent (${read} bytes) and then the error`);
  });

  t.test('a reader that stops reading: STREAM_STALLED at the sender; a sender that goes quiet: at the reader', async (t) => {
    const { env, a, b, ab } = await pair('stream-stall', {}, { chunkBytes: 1000, window: 2, idleMs: 5000 });
    b.streams.handle(R.service, R.kind, () => {}); // takes the stream and never reads it
    let err: unknown;
    void a.streams.send(ab, R, object(10_000, 1000)).catch((e) => (err = e));
    await env.settle(() => err !== undefined, 10_000);
    t.ok(isKithError(err, 'STREAM_STALLED'), String(err));

    let readErr: unknown;
    const reading = { service: R.service, kind: R.kind + 1 };
    b.streams.handle(reading.service, reading.kind, (_p, s) => {
      void (async () => {
        for await (const _ of s);
      })().catch((e) => (readErr = e));
    });
    async function* quiet() {
      yield new Uint8Array(10);
      await new Promise(() => {}); // never yields again
    }
    void a.streams.send(ab, reading, quiet()).catch(() => {});
    await env.settle(() => readErr !== undefined, 10_000);
    t.ok(isKithError(readErr, 'STREAM_STALLED'), String(readErr));
  });

  t.test('a stream names its service and kind: each goes to its own handler, an unknown kind is refused and counted', async (t) => {
    const { env, a, b, ab } = await pair('stream-routes', {}, { chunkBytes: 1000, window: 2 });
    const got: string[] = [];
    const take = (name: string) => (_p: string, s: IncomingStream) => void (async () => {
      let n = 0;
      for await (const c of s) n += c.length;
      got.push(`${name}:${n}:${s.route.service}/${s.route.kind}`);
    })();
    b.streams.handle(R.service, 1, take('one'));
    b.streams.handle(R.service, 2, take('two'));
    t.throws(() => b.streams.handle(R.service, 2, take('again')), RangeError, 'a kind takes one handler');
    let done = 0;
    void a.streams.send(ab, { service: R.service, kind: 2 }, object(3000, 1000)).then(() => done++);
    void a.streams.send(ab, { service: R.service, kind: 1 }, object(2000, 1000)).then(() => done++);
    let refused: unknown;
    let otherService: unknown;
    void a.streams.send(ab, { service: R.service, kind: 3 }, object(2000, 1000)).catch((e) => (refused = e));
    void a.streams.send(ab, { service: 0x52, kind: 1 }, object(2000, 1000)).catch((e) => (otherService = e));
    t.ok(await env.settle(() => done === 2 && refused !== undefined && otherService !== undefined, 5000));
    t.same(got.sort(), [`one:2000:${R.service}/1`, `two:3000:${R.service}/2`], 'each stream reached the handler of its kind, whole');
    t.ok(isKithError(refused, 'STREAM_REFUSED'), 'an unregistered kind is refused');
    t.ok(isKithError(otherService, 'STREAM_REFUSED'), 'so is the same kind of another service');
    t.equal(b.streams.stats.unknownKind, 2, 'and both are counted');
  });

  t.test('frames outside the window or malformed: the stream ends with STREAM_ABORTED, nothing else breaks', async (t) => {
    const { env, a, b, ab } = await pair('stream-hostile', {}, { chunkBytes: 1000, window: 2 });
    let readErr: unknown;
    let got = 0;
    let opened = 0;
    b.streams.handle(R.service, R.kind, (_p, s) => {
      opened++;
      void (async () => {
        for await (const c of s) got += c.length;
      })().catch((e) => (readErr = e));
    });
    const raw = (id: number, seq: number, kind: number, bytes = new Uint8Array(0)) => {
      const f = new Uint8Array(STREAM_HEADER + bytes.length);
      new DataView(f.buffer).setUint32(0, id);
      new DataView(f.buffer).setUint32(4, seq);
      f[8] = kind;
      f[9] = R.service;
      f[10] = R.kind;
      f.set(bytes, STREAM_HEADER);
      return a.reliable.sendStreamMessage(ab, f);
    };
    // Nonsense first: short frames, unknown kinds, a credit for nothing; none opens a stream.
    const sends = [raw(1, 0, 9), a.reliable.sendStreamMessage(ab, new Uint8Array(3)), raw(2, 5, 3), raw(3, 99, 0, new Uint8Array(10))]; // the last: a new stream cannot start this far in
    let delivered = 0;
    for (const p of sends) void p.then(() => delivered++);
    await env.settle(() => delivered === sends.length, 5000);
    t.equal(opened, 0, 'none of them opened a stream');
    void raw(7, 0, 0, new Uint8Array(10));
    void raw(7, 5, 0, new Uint8Array(10)); // beyond the window of 2
    await env.settle(() => readErr !== undefined, 5000);
    t.ok(isKithError(readErr, 'STREAM_ABORTED'), String(readErr));
    t.match(String(readErr), /outside the window/);
    // The same pair still carries a proper stream afterwards.
    let sent: number | undefined;
    void a.streams.send(ab, R, object(5000, 700)).then((n) => (sent = n));
    t.ok(await env.settle(() => sent === 5000, 5000), 'a proper stream still works');
  });
});
