import t from 'tap';
import { VirtualClock, VirtualClockLivelock, SECOND } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { SimNet } from '../../core/simnet.js';

t.test('virtual timers fire in due order, ties in creation order, cancelled ones never', async (t) => {
  const c = new VirtualClock();
  const fired: string[] = [];
  c.setTimer(2 * SECOND, () => fired.push('b'));
  c.setTimer(1 * SECOND, () => fired.push('a1'));
  c.setTimer(1 * SECOND, () => fired.push('a2'));
  const x = c.setTimer(1500, () => fired.push('x'));
  x.cancel();
  c.setTimer(500, () => c.setTimer(500, () => fired.push('nested at 1000')));
  c.advance(1999);
  t.same(fired, ['a1', 'a2', 'nested at 1000']);
  c.advance(1);
  t.same(fired, ['a1', 'a2', 'nested at 1000', 'b']);
  t.equal(c.now(), 2000);
  t.equal(c.pending, 0);
  t.throws(() => c.advance(-1), RangeError);
});

t.test('a runaway timer loop is stopped with a clear error', async (t) => {
  const c = new VirtualClock();
  const loop = () => c.setTimer(0, loop);
  loop();
  t.throws(() => c.runUntil(1, 1000), /timers fired/);
});

t.test('timers that keep firing at one instant are a livelock, reported with the seed', async (t) => {
  const c = new VirtualClock({ maxTimersPerInstant: 500 });
  new SimNet(c, 'spin-7'); // a SimNet tells its clock the seed
  c.advance(10);
  const loop = () => c.setTimer(0, loop);
  loop();
  const err = (() => {
    try {
      c.advance(1000);
    } catch (e) {
      return e;
    }
  })();
  t.ok(err instanceof VirtualClockLivelock, 'a VirtualClockLivelock');
  t.match((err as Error).message, /more than 500 timers fired at 10 ms .*seed spin-7/);
  t.equal((err as VirtualClockLivelock).seed, 'spin-7');
  t.equal(c.now(), 10, 'time stopped where the loop was');
  // Many timers at one instant that do end are not a livelock.
  const d = new VirtualClock({ maxTimersPerInstant: 500 });
  let n = 0;
  for (let i = 0; i < 500; i++) d.setTimer(5, () => n++);
  d.advance(10);
  t.equal(n, 500);
  t.equal(d.busiestInstant, 500);
});

t.test('the SimNet trace hash covers datagram bytes, not only their sizes and times', async (t) => {
  const trace = (byte: number) => {
    const c = new VirtualClock();
    const net = new SimNet(c, 'bytes');
    const a = net.host('10.0.0.1').bind(1);
    const b = net.host('10.0.0.2').bind(2);
    b.onMessage(() => {});
    a.send(b.local, new Uint8Array([1, 2, byte]));
    c.advance(100);
    return net.traceHash();
  };
  t.equal(trace(3), trace(3), 'same bytes, same hash');
  t.not(trace(3), trace(4), 'one byte differs, the hash differs');
});

t.test('seeded randomness repeats for a seed and differs across seeds', async (t) => {
  const a = new SeededRng(42);
  const b = new SeededRng(42);
  const c = new SeededRng(43);
  const xa = Array.from({ length: 20 }, () => a.below(1000));
  t.same(xa, Array.from({ length: 20 }, () => b.below(1000)));
  t.not(xa.join(), Array.from({ length: 20 }, () => c.below(1000)).join());
  const counts = new Array(4).fill(0);
  for (let i = 0; i < 4000; i++) counts[a.below(4)]++;
  t.ok(counts.every((n) => n > 850 && n < 1150), `roughly uniform: ${counts}`);
  t.throws(() => a.below(0), RangeError);
});
