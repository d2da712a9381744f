// The page's event stream (agent/web/stream.ts) with fake transports on a virtual clock: events
// in order and once, resync on the first batch and on a gap, resume with ?since after a dropped
// socket, the long poll after the socket failed twice, the slow refresh after both failed, and
// back to the socket when it works again.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { startStream, FAILURES_BEFORE_NEXT, RETRY_AGAIN_MS, FALLBACK_REFRESH_MS, type StreamDeps, type Transport } from '../../agent/web/stream.js';
import type { EventBatchView, EventView } from '../../agent/api-shapes.js';

const ev = (id: number, type = 'conv.message'): EventView => ({ id, channel: 'high', type, at: '2026-12-02T00:00:00.000Z', data: {} });

function harness(opts: { socketWorks: () => boolean; pollWorks: () => boolean }) {
  const clock = new VirtualClock();
  const seen: number[] = [];
  const transports: Transport[] = [];
  let resyncs = 0;
  const opens: (number | undefined)[] = [];
  const polls: (number | undefined)[] = [];
  let live: Parameters<StreamDeps['openSocket']>[1] | undefined;
  const stream = startStream({
    openSocket: (since, on) => {
      opens.push(since);
      if (opts.socketWorks()) {
        live = on;
        clock.setTimer(0, () => on.open());
      } else clock.setTimer(0, () => on.closed());
      return { close: () => undefined };
    },
    poll: (since) => {
      polls.push(since);
      return new Promise<EventBatchView>((resolve, reject) => clock.setTimer(100, () => (opts.pollWorks() ? resolve({ events: [], next: since ?? 7 }) : reject(new Error('down')))));
    },
    setTimer: (ms, fn) => clock.setTimer(ms, fn),
    onEvent: (e) => seen.push(e.id),
    resync: () => void resyncs++,
    onTransport: (x) => transports.push(x),
  });
  /** Virtual time in 50 ms steps, letting the poll's promises settle in between. */
  const run = async (ms: number) => {
    for (let i = 0; i < ms; i += 50) {
      clock.advance(50);
      await new Promise((r) => setImmediate(r));
    }
  };
  return { run, clock, stream, seen, transports, opens, polls, resyncs: () => resyncs, send: (b: EventBatchView) => live!.batch(b), drop: () => live!.closed() };
}

t.test('socket: events once and in order, resync at the start and on a gap, resume from the last id', async (t) => {
  const h = harness({ socketWorks: () => true, pollWorks: () => true });
  await h.run(1);
  t.equal(h.stream.transport, 'socket');
  h.send({ events: [], next: 10 });
  t.equal(h.resyncs(), 1, 'the first batch: what the page fetched before may be stale');
  h.send({ events: [ev(11), ev(12)], next: 12 });
  h.send({ events: [ev(12), ev(13)], next: 13 });
  t.same(h.seen, [11, 12, 13], 'a repeated id is not heard twice');
  h.send({ events: [ev(40)], next: 40, gap: { channel: 'high', from: 14, to: 39 } });
  t.equal(h.resyncs(), 2, 'a gap: refetch');
  h.drop();
  await h.run(1);
  t.equal(h.opens.at(-1), 40, 'reconnects with ?since= the last id');
  t.equal(h.stream.transport, 'socket');
  h.stream.stop();
});

t.test('no socket: the long poll; neither: a slow refresh, and the socket again later', async (t) => {
  let socket = false;
  let poll = true;
  const h = harness({ socketWorks: () => socket, pollWorks: () => poll });
  await h.run(5000);
  t.equal(h.opens.length, FAILURES_BEFORE_NEXT, `the socket is tried ${FAILURES_BEFORE_NEXT} times`);
  t.equal(h.stream.transport, 'long-poll');
  t.ok(h.polls.length > 3, 'polls follow each other');
  t.equal(h.polls.at(-1), 7, 'each poll from the last next');
  poll = false;
  await h.run(5000);
  t.equal(h.stream.transport, 'fallback');
  const before = h.resyncs();
  await h.run(FALLBACK_REFRESH_MS * 3);
  t.ok(h.resyncs() - before >= 3, 'everything is refreshed now and then while both fail');
  socket = true;
  await h.run(RETRY_AGAIN_MS);
  t.equal(h.stream.transport, 'socket', 'the socket is tried again and used');
  const ticks = h.resyncs();
  await h.run(FALLBACK_REFRESH_MS * 3);
  t.equal(h.resyncs(), ticks, 'no refresh loop once live again');
  t.same([...new Set(h.transports)], ['long-poll', 'fallback', 'socket']);
  h.stream.stop();
});
