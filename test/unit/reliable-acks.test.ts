// When the receiver acknowledges (cluster/README.md, "Reliable delivery"): a bulk stream's
// in-order fragments, once more than ACK_EVERY came in a row, in frames of ACK_EVERY, at most
// ACK_DELAY_MS late; the first of a row, a gap, a message's last fragment and every other kind
// of message at the end of the turn. Two Reliable instances over
// a link on the virtual clock that counts and can drop frames (no transport, no cipher).
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { ACK_DELAY_MS, ACK_EVERY, FRAME_ACK, MAX_FRAGMENT, Reliable } from '../../cluster/reliable.js';
import { decodeFrame } from '../../cluster/reliable-wire.js';

const LATENCY_MS = 0.25;
/** Each side's frames leave one after another, this far apart (a 1 Gbit/s link's 1.2 kB datagram): each arrives in a turn of its own. */
const SERIALIZE_MS = 0.01;

function pair(drop: (from: string, frame: Uint8Array) => boolean = () => false) {
  const clock = new VirtualClock();
  const rng = new SeededRng('acks');
  const sent = { a: [] as Uint8Array[], b: [] as Uint8Array[] };
  const ackTimes: number[] = [];
  const nodes: Record<string, Reliable> = {};
  const free = { a: 0, b: 0 };
  const link = (me: 'a' | 'b', other: 'a' | 'b') => ({
    send(_peer: string, payload: Uint8Array) {
      const copy = payload.slice();
      sent[me].push(copy);
      if (copy[0] === FRAME_ACK) ackTimes.push(clock.now());
      free[me] = Math.max(free[me], clock.now()) + SERIALIZE_MS;
      if (drop(me, copy)) return;
      clock.setTimer(free[me] - clock.now() + LATENCY_MS, () => nodes[other]!.receive(me, copy));
    },
  });
  nodes['a'] = new Reliable({ clock, rng, link: link('a', 'b') });
  nodes['b'] = new Reliable({ clock, rng, link: link('b', 'a') });
  const streamed: Uint8Array[] = [];
  const messages: Uint8Array[] = [];
  nodes['b'].onStreamMessage((_p, m) => streamed.push(m));
  nodes['b'].onMessage((_p, m) => messages.push(m));
  const acksFromB = () => sent.b.filter((f) => f[0] === FRAME_ACK).length;
  /** Fragments acknowledged in each of b's ACK frames, less the repeats of earlier frames. */
  const fresh = () => {
    const seen = new Set<string>();
    return sent.b.filter((f) => f[0] === FRAME_ACK).map((f) => {
      const d = decodeFrame(f, 1 << 30);
      if (!d || d.type !== FRAME_ACK) throw new Error('not an ACK frame');
      let n = 0;
      for (let i = 0; i < d.acks.length; i += 2) {
        const k = `${d.acks[i]}/${d.acks[i + 1]}`;
        if (!seen.has(k)) n++;
        seen.add(k);
      }
      return n;
    });
  };
  return { clock, a: nodes['a'], b: nodes['b'], sent, streamed, messages, acksFromB, fresh, ackTimes };
}

async function run(clock: VirtualClock, done: () => boolean, maxMs = 60_000): Promise<number> {
  const start = clock.now();
  while (!done() && clock.now() - start < maxMs) {
    clock.advance(0.05);
    await Promise.resolve();
  }
  return clock.now() - start;
}

t.test(`a bulk stream's in-order fragments: one ACK frame per ${ACK_EVERY}, not one per turn`, async (t) => {
  const p = pair();
  const fragments = 20 * ACK_EVERY;
  let resolved = false;
  void p.a.sendStreamMessage('b', new Uint8Array(fragments * MAX_FRAGMENT).fill(7)).then(() => (resolved = true));
  await run(p.clock, () => resolved);
  t.ok(resolved, 'acknowledged whole');
  t.equal(p.streamed.length, 1);
  t.equal(p.streamed[0]!.length, fragments * MAX_FRAGMENT);
  const perFrame = p.fresh();
  t.equal(perFrame.reduce((x, y) => x + y, 0), fragments, 'every fragment acknowledged once');
  t.ok(p.acksFromB() <= ACK_EVERY + fragments / ACK_EVERY + 2, `${p.acksFromB()} ACK frames for ${fragments} fragments`);
  // The fragment that starts the row and the ACK_EVERY after it are acknowledged as they come (one per turn here), the rest ACK_EVERY at a time.
  t.same(perFrame.slice(0, ACK_EVERY + 1), new Array(ACK_EVERY + 1).fill(1), 'the start of the row: one frame each');
  t.ok(perFrame.slice(ACK_EVERY + 1, -1).every((n) => n === ACK_EVERY), `then frames of ${ACK_EVERY}: ${perFrame.slice(ACK_EVERY + 1).join(' ')}`);
});

t.test(`small stream messages are acknowledged as they come: no wait for the ${ACK_DELAY_MS} ms timer`, async (t) => {
  for (const fragments of [4, 8, ACK_EVERY]) {
    const took: number[] = [];
    for (const stream of [false, true]) {
      const p = pair();
      const t0 = p.clock.now();
      let resolved = false;
      const body = new Uint8Array(fragments * MAX_FRAGMENT);
      void (stream ? p.a.sendStreamMessage('b', body) : p.a.send('b', body)).then(() => (resolved = true));
      took.push(await run(p.clock, () => resolved) - t0);
    }
    t.ok(took[1]! <= took[0]! + 0.01, `${fragments} fragments: stream message ${took[1]!.toFixed(2)} ms, one-way message ${took[0]!.toFixed(2)} ms`);
  }
});

t.test(`a delayed acknowledgement waits at most ${ACK_DELAY_MS} ms, and a timer flush starts the row again`, async (t) => {
  // A 40-fragment stream message whose last fragment is lost once: fragments 33–39 wait for the timer.
  const total = 40;
  let dropped = false;
  const arrivals: number[] = [];
  const p = pair((from, f) => {
    const d = from === 'a' ? decodeFrame(f, 1 << 30) : undefined;
    if (d?.type === 1 && d.index === total - 1 && !dropped) return (dropped = true);
    if (d?.type === 1) arrivals[d.index] = p.clock.now() + SERIALIZE_MS + LATENCY_MS;
    return false;
  });
  let resolved = false;
  void p.a.sendStreamMessage('b', new Uint8Array(total * MAX_FRAGMENT)).then(() => (resolved = true));
  await run(p.clock, () => resolved, 5_000);
  t.ok(dropped && resolved, 'the last fragment was lost once, then retransmitted');
  const perFrame = p.fresh();
  // Fragments 0–16 acknowledged one by one, 17–32 in a frame of 16: 33–38 wait (39 is lost).
  const firstLate = 2 * ACK_EVERY + 1;
  const timerFrame = perFrame.findIndex((n, i) => i > ACK_EVERY && n === total - 1 - firstLate);
  t.ok(timerFrame > 0, `a frame of the ${total - 1 - firstLate} fragments that waited: ${perFrame.join(' ')}`);
  const waited = p.ackTimes[timerFrame]! - arrivals[firstLate]!;
  // (arrivals[] is an estimate: when the link would deliver with an empty queue; queueing only makes the real arrival later.)
  t.ok(waited >= ACK_DELAY_MS - 0.001 && waited < ACK_DELAY_MS + 0.05, `sent ${waited.toFixed(3)} ms after the first of them was sent on its way`);
  t.equal(perFrame.at(-1), 1, 'the retransmitted last fragment is acknowledged on its own, at once');
  t.ok(p.ackTimes.at(-1)! - p.ackTimes.at(-2)! > 100, 'after the RTO (the lost last fragment has nothing after it to reveal it)');
});

t.test('a gap is acknowledged at once, so the sender retransmits fast (not after its 200 ms RTO)', async (t) => {
  let dropped = false;
  const p = pair((from, f) => {
    const d = from === 'a' ? decodeFrame(f, 1 << 30) : undefined;
    if (d?.type === 1 && d.index === 40 && !dropped) return (dropped = true);
    return false;
  });
  let resolved = false;
  void p.a.sendStreamMessage('b', new Uint8Array(200 * MAX_FRAGMENT)).then(() => (resolved = true));
  const ms = await run(p.clock, () => resolved);
  t.ok(dropped, 'fragment 40 was lost once');
  t.ok(resolved);
  t.ok(ms < 100, `done in ${ms.toFixed(1)} ms, by fast retransmit`);
  t.equal(p.a.stats.retransmits, 1);
});

t.test('other messages (one-way, requests): acknowledged every turn, as before', async (t) => {
  const p = pair();
  let resolved = false;
  void p.a.send('b', new Uint8Array(8 * MAX_FRAGMENT)).then(() => (resolved = true));
  await run(p.clock, () => resolved);
  t.equal(p.messages.length, 1);
  t.ok(p.ackTimes.every((at) => at < 10), 'no delayed frame');
  t.ok(p.acksFromB() >= 2, `${p.acksFromB()} ACK frames for 8 fragments in an initial window of 4`);
});
