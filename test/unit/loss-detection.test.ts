import t from 'tap';
import { Flight, REORDER_THRESHOLD } from '../../cluster/loss-detection.js';

type E = { frag: { sendSeq: number; acked: boolean }; name: number };
const entry = (name: number): E => ({ frag: { sendSeq: -1, acked: false }, name });

/** The rules the flight had as a plain list: the reference the indexed flight must agree with. */
class ListFlight {
  entries: E[] = [];
  seq = 0;
  sent(e: E): void {
    e.frag.sendSeq = this.seq++;
    this.entries.push(e);
  }
  remove(e: E): void {
    const i = this.entries.indexOf(e);
    if (i >= 0) this.entries.splice(i, 1);
  }
  lostBefore(acked: number): E[] {
    return this.entries.filter((x) => !x.frag.acked && x.frag.sendSeq < acked - REORDER_THRESHOLD);
  }
}

t.test('numbers transmissions, finds losses by the reordering rule, removes in any order', async (t) => {
  const f = new Flight<E>();
  const es = [0, 1, 2, 3, 4, 5].map(entry);
  for (const e of es) f.sent(e);
  t.same(es.map((e) => e.frag.sendSeq), [0, 1, 2, 3, 4, 5]);
  t.equal(f.nextSeq, 6);
  f.remove(es[5]!.frag); // acknowledged
  t.same(f.lostBefore(5).map((e) => e.name), [0, 1], 'sent more than 3 before the acknowledged one');
  f.remove(es[0]!.frag);
  f.remove(es[0]!.frag); // twice: nothing happens
  t.equal(f.size, 4);
  f.sent(es[0]!); // retransmitted under a new number
  t.equal(es[0]!.frag.sendSeq, 6);
  f.removeWhere((e) => e.name === 1);
  t.same([...f.entries()].map((e) => e.name), [2, 3, 4, 0]);
});

t.test('agrees with the plain list over a long random run (compaction included)', async (t) => {
  const f = new Flight<E>();
  const ref = new ListFlight();
  let x = 12345;
  const rand = (n: number) => ((x = (x * 1103515245 + 12345) % 2 ** 31), x % n);
  const live: E[] = [];
  let name = 0;
  for (let step = 0; step < 20_000; step++) {
    const r = rand(10);
    if (r < 5 || live.length === 0) {
      const e = entry(name++);
      f.sent(e);
      const copy = e.frag.sendSeq;
      e.frag.sendSeq = -1;
      ref.sent(e);
      if (e.frag.sendSeq !== copy) return t.fail('numbering differs');
      live.push(e);
    } else {
      // acknowledge one, mostly among the oldest, then take the losses as reliable.ts does
      const i = r < 9 ? rand(Math.min(live.length, 8)) : rand(live.length);
      const e = live.splice(i, 1)[0]!;
      f.remove(e.frag);
      ref.remove(e);
      const lost = f.lostBefore(e.frag.sendSeq);
      const want = ref.lostBefore(e.frag.sendSeq);
      if (lost.map((l) => l.name).join() !== want.map((l) => l.name).join()) return t.fail(`losses differ at step ${step}`);
      for (const l of lost) {
        f.remove(l.frag);
        ref.remove(l);
        live.splice(live.indexOf(l), 1);
      }
    }
    if (f.size !== ref.entries.length) return t.fail(`size differs at step ${step}`);
  }
  t.same([...f.entries()].map((e) => e.name), ref.entries.map((e) => e.name), 'same entries in the same order');
  t.ok(name > 5000, `${name} transmissions`);
});
