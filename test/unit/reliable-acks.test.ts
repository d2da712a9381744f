// When the receiver acknowledges (cluster/README.md, "Reliable delivery"): a bulk stream's
// in-order fragments in frames of ACK_EVERY, at most ACK_DELAY_MS late; a gap, a message's last
// fragment and every other kind of message at the end of the turn. Two Reliable instances over
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
  t.ok(p.acksFromB() <= fragments / ACK_EVERY + 4, `${p.acksFromB()} ACK frames for ${fragments} fragments`);
  // The initial window (4 fragments) and the message's end are acknowledged in smaller frames; the rest by ACK_EVERY.
  t.ok(perFrame.slice(1, -1).every((n) => n === ACK_EVERY || n < ACK_EVERY), `frames: ${perFrame.join(' ')}`);
  t.ok(perFrame.filter((n) => n === ACK_EVERY).length >= fragments / ACK_EVERY - 3, `most frames acknowledge ${ACK_EVERY}`);
});

t.test(`a delayed acknowledgement waits at most ${ACK_DELAY_MS} ms; a message's last fragment goes at once`, async (t) => {
  const p = pair();
  // Four fragments (the initial window) of a longer stream message: none is the last, all may wait.
  let resolved = false;
  void p.a.sendStreamMessage('b', new Uint8Array(40 * MAX_FRAGMENT)).then(() => (resolved = true));
  await run(p.clock, () => p.acksFromB() > 0, 100);
  t.equal(p.fresh()[0], 4, 'the first frame acknowledges the four fragments of the initial window');
  t.ok(Math.abs(p.ackTimes[0]! - (SERIALIZE_MS + LATENCY_MS + ACK_DELAY_MS)) < 0.11, `sent ${p.ackTimes[0]!.toFixed(2)} ms after the start: the ${ACK_DELAY_MS} ms delay after the first arrived`);
  await run(p.clock, () => resolved);
  // A one-fragment stream message (its only fragment is its last): acknowledged in the turn it arrives.
  const before = p.ackTimes.length;
  const t0 = p.clock.now();
  resolved = false;
  void p.a.sendStreamMessage('b', new Uint8Array(100)).then(() => (resolved = true));
  await run(p.clock, () => p.ackTimes.length > before, 100);
  t.ok(p.ackTimes[before]! - t0 < SERIALIZE_MS + LATENCY_MS + 0.11, 'the last fragment is acknowledged without the delay');
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
