// CPU per fragment of a bulk stream (cluster/stream.ts over cluster/reliable.ts: fragments,
// acks, retransmission timers, the flight, the congestion window, credit), in one process with no
// sockets and no cipher: two Reliable + Streams pairs joined by an in-memory link that delivers
// what was sent on the next turn of the event loop (as a socket would). Next to the same number
// of datagrams of the same size carried by the same link alone, the floor. CPU time
// (process.cpuUsage), both sides together. Where bench/loopback.ts says how fast, this says where.
//   node dist/bench/stream-cpu.js         node_modules/.bin/bun bench/stream-cpu.ts   (KITH_BENCH_MB, default 64)
import { realClock } from '../core/clock.js';
import { cryptoRng } from '../core/rng.js';
import { Reliable, MAX_FRAGMENT } from '../cluster/reliable.js';
import { MAX_PAYLOAD } from '../cluster/transport.js';
import { Streams } from '../cluster/stream.js';

const MB = Number(process.env['KITH_BENCH_MB'] ?? 64);
const ROUNDS = Number(process.env['KITH_BENCH_ROUNDS'] ?? 3);
const BYTES = MB * 1024 * 1024;
const ROUTE = { service: 0x41, kind: 1 };
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** A link that copies each datagram (as a socket does) and delivers a turn later, in order. */
function linkPair(): { a: { send(p: string, d: Uint8Array): void }; b: { send(p: string, d: Uint8Array): void }; to(side: 'a' | 'b', fn: (peer: string, d: Uint8Array) => void): void; sent: () => number } {
  const handlers: Record<'a' | 'b', (peer: string, d: Uint8Array) => void> = { a: () => {}, b: () => {} };
  let queue: { side: 'a' | 'b'; d: Uint8Array }[] = [];
  let scheduled = false;
  let sent = 0;
  const flush = () => {
    scheduled = false;
    const q = queue;
    queue = [];
    for (const { side, d } of q) handlers[side](side === 'a' ? 'b' : 'a', d);
  };
  const put = (side: 'a' | 'b', d: Uint8Array) => {
    sent++;
    queue.push({ side, d: new Uint8Array(d) });
    if (!scheduled) {
      scheduled = true;
      setImmediate(flush);
    }
  };
  return { a: { send: (_p, d) => put('b', d) }, b: { send: (_p, d) => put('a', d) }, to: (side, fn) => (handlers[side] = fn), sent: () => sent };
}

async function streamRun(): Promise<{ cpu: number; wall: number; datagrams: number; fragments: number }> {
  const link = linkPair();
  const ra = new Reliable({ clock: realClock, rng: cryptoRng, link: link.a });
  const rb = new Reliable({ clock: realClock, rng: cryptoRng, link: link.b });
  link.to('a', (p, d) => ra.receive(p, d));
  link.to('b', (p, d) => rb.receive(p, d));
  const sa = new Streams({ clock: realClock, rng: cryptoRng, reliable: ra });
  const sb = new Streams({ clock: realClock, rng: cryptoRng, reliable: rb });
  let got = 0;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  sb.handle(ROUTE.service, ROUTE.kind, (_p, s) => void (async () => {
    for await (const c of s) got += c.length;
    done();
  })());
  const piece = new Uint8Array(256 * 1024);
  async function* source() {
    for (let sent = 0; sent < BYTES; sent += piece.length) yield piece;
  }
  const t = cpuMs();
  const w = performance.now();
  await sa.send('b', ROUTE, source());
  await finished;
  const cpu = cpuMs() - t;
  const wall = performance.now() - w;
  if (got !== BYTES) throw new Error(`${got} of ${BYTES} bytes arrived`);
  return { cpu, wall, datagrams: link.sent(), fragments: ra.stats.sent };
}

async function floorRun(n: number): Promise<number> {
  const link = linkPair();
  let got = 0;
  link.to('b', () => got++);
  const d = new Uint8Array(MAX_PAYLOAD);
  const t = cpuMs();
  for (let i = 0; i < n; i += 256) {
    for (let j = i; j < Math.min(n, i + 256); j++) link.a.send('b', d);
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setImmediate(r));
  if (got !== n) throw new Error(`${got} of ${n} datagrams arrived`);
  return cpuMs() - t;
}

// realClock's timers are unref'd and nothing else holds the loop open between turns (a socket would).
const keepAlive = setInterval(() => {}, 1000);
const rows: { perFrag: number; floor: number; mbps: number; acksPerFrag: number }[] = [];
for (let r = 0; r < ROUNDS; r++) {
  const s = await streamRun();
  const fragments = Math.ceil(BYTES / MAX_FRAGMENT);
  const floor = await floorRun(fragments);
  rows.push({ perFrag: (s.cpu * 1000) / fragments, floor: (floor * 1000) / fragments, mbps: (BYTES * 8) / 1e6 / (s.cpu / 1000), acksPerFrag: (s.datagrams - s.fragments) / fragments });
}
clearInterval(keepAlive);
const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined' ? `bun ${(process.versions as Record<string, string>)['bun']}` : `node ${process.versions.node}`;
console.log(`bulk stream CPU per ${MAX_FRAGMENT}-byte fragment on ${runtime}, ${MB} MiB, both sides in one process, no cipher, median of ${ROUNDS}`);
console.log('| what | CPU µs per fragment | Mbit/s per CPU second |');
console.log('|---|---|---|');
console.log(`| the in-memory link alone, same datagrams (baseline) | ${med(rows.map((x) => x.floor)).toFixed(2)} | |`);
console.log(`| bulk stream, sender and receiver | ${med(rows.map((x) => x.perFrag)).toFixed(2)} | ${med(rows.map((x) => x.mbps)).toFixed(0)} |`);
console.log(`| datagrams other than DATA (acks, credit) per fragment | ${med(rows.map((x) => x.acksPerFrag)).toFixed(3)} | |`);
process.exit(0);
