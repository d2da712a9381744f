import t from 'tap';
import { VirtualClock, SECOND } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';

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
