// The event log: monotonic ids, resume from an id, two bounded channels (a burst of chatty events
// never pushes out an important one), a gap told to a reader that fell behind, long poll.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { EventLog, channelOf } from '../../agent/events.js';

t.test('ids are monotonic and a reader resumes after the last id it saw', async (t) => {
  const log = new EventLog(new VirtualClock());
  for (let i = 0; i < 5; i++) log.emit('member.state', { n: i });
  const first = log.read(0);
  t.same(first.events.map((e) => e.id), [1, 2, 3, 4, 5]);
  t.equal(first.next, 5);
  t.same(log.read(3).events.map((e) => e.id), [4, 5], 'resume from 3');
  t.same(log.read(5).events, [], 'nothing new');
  t.equal(log.read(5).gap, undefined);
});

t.test('a burst of low-channel events never pushes a high one out', async (t) => {
  const log = new EventLog(new VirtualClock(), { highCapacity: 4, lowCapacity: 4 });
  t.equal(channelOf('member.rtt'), 'low');
  t.equal(channelOf('conv.message'), 'high');
  const important = log.emit('friend.added', { name: 'bob' });
  for (let i = 0; i < 1000; i++) log.emit('member.rtt', { ms: i });
  const high = log.read(0, 'high');
  t.same(high.events.map((e) => e.id), [important.id], 'the friend event is still there');
  t.equal(high.gap, undefined, 'the high channel lost nothing');
  const low = log.read(0, 'low');
  t.equal(low.events.length, 4, 'the low channel keeps its newest 4');
  t.same(low.gap, { channel: 'low', from: 1, to: 997 }, 'and says what it dropped');
});

t.test('a reader behind the high buffer is told there is a gap', async (t) => {
  const log = new EventLog(new VirtualClock(), { highCapacity: 3 });
  for (let i = 0; i < 10; i++) log.emit('conv.message', { i });
  const r = log.read(2);
  t.same(r.gap, { channel: 'high', from: 3, to: 7 });
  t.same(r.events.map((e) => e.id), [8, 9, 10]);
  t.equal(log.read(7).gap, undefined, 'a reader that saw 7 missed nothing');
});

t.test('batches are bounded and chain by next', async (t) => {
  const log = new EventLog(new VirtualClock(), { maxBatch: 2 });
  for (let i = 0; i < 5; i++) log.emit('pair.progress');
  const ids: number[] = [];
  let since = 0;
  for (let i = 0; i < 10; i++) {
    const b = log.read(since);
    if (b.events.length === 0) break;
    ids.push(...b.events.map((e) => e.id));
    since = b.next;
  }
  t.same(ids, [1, 2, 3, 4, 5]);
});

t.test('a long poll answers at the first event, or empty after its wait', async (t) => {
  const clock = new VirtualClock();
  const log = new EventLog(clock);
  const waiting = log.poll(0, { waitMs: 10_000 });
  clock.advance(1000);
  log.emit('mailbox.held', { for: 'x' });
  t.same((await waiting).events.map((e) => e.type), ['mailbox.held']);
  const empty = log.poll(1, { waitMs: 5000 });
  clock.advance(5000);
  t.same((await empty).events, [], 'empty after the wait');
  t.equal((await empty).next, 1);
  const lowOnly = log.poll(1, { waitMs: 5000, channel: 'high' });
  log.emit('member.rtt');
  log.emit('member.state', { state: 'dead' });
  t.same((await lowOnly).events.map((e) => e.type), ['member.state'], 'a high reader is not woken for nothing');
});
