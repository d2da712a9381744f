// Bulk transfer goodput through a simulated shaped link (SimNet on a virtual clock):
// 20 Mbit/s, 40 ms RTT, 1% loss, a 256 KiB queue — the link of the netem benchmark,
// simulated. Goodput is application bytes delivered per second of virtual time, as a fraction
// of the link rate (the baseline). DESIGN target: ≥ 80%. Measured for a one-way message and for a
// stream message (the bulk streams' chunks, whose in-order fragments are acknowledged 16 at a time).
//   node dist/bench/bulk-sim.js        node_modules/.bin/bun bench/bulk-sim.ts
import { VirtualClock } from '../core/clock.js';
import { SeededRng } from '../core/rng.js';
import { SimNet } from '../core/simnet.js';
import { Transport } from '../cluster/transport.js';
import { Reliable } from '../cluster/reliable.js';
import { certifyNode } from '../identity/create.js';
import { generatePhrase } from '../identity/phrase.js';

const LINK_BPS = 20_000_000 / 8;
const SIZE = Number(process.env['KITH_BULK_BYTES'] ?? 4_000_000);

function node(name: string) {
  const n = certifyNode(new VirtualClock(), { phrase: generatePhrase(new SeededRng(name)), nodeIndex: 0, generation: 0, roles: ['relay'], label: name });
  return { dh: n.keys.dh, cert: n.certBytes };
}

function run(seed: string, kind: 'message' | 'stream'): number {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 0, 1) });
  const net = new SimNet(clock, seed);
  net.defaults = { latencyMs: 20, jitterMs: 0, loss: 0.01, duplicate: 0, bandwidthBps: LINK_BPS, queueBytes: 256 * 1024 };
  const rng = new SeededRng(`bulk:${seed}`);
  const [A, B] = [node('bulk-a'), node('bulk-b')];
  const sa = net.host('10.0.0.1').bind(5484);
  const sb = net.host('10.0.0.2').bind(5484);
  let rb!: Reliable;
  let ra!: Reliable;
  const ta = new Transport({ clock, rng, socket: sa, events: { message: (p, d) => ra.receive(p, d) } }, { staticKey: A.dh, certBytes: A.cert });
  const tb = new Transport({ clock, rng, socket: sb, events: { message: (p, d) => rb.receive(p, d) } }, { staticKey: B.dh, certBytes: B.cert });
  ra = new Reliable({ clock, rng, link: ta }, { maxMessageBytes: SIZE, maxInFlightBytes: SIZE * 2 });
  rb = new Reliable({ clock, rng, link: tb }, { maxMessageBytes: SIZE, maxReassemblyBytes: SIZE * 2 });
  const psk = new Uint8Array(32).fill(5);
  const peer = ta.addPeer({ dhKey: B.dh.publicKey, psk, endpoint: sb.local });
  tb.addPeer({ dhKey: A.dh.publicKey, psk });
  let got = 0;
  rb.onMessage((_p, d) => (got = d.length));
  rb.onStreamMessage((_p, d) => (got = d.length));
  // Warm the session up so the handshake is not part of the transfer.
  void ra.send(peer, new Uint8Array(1));
  clock.advance(1000);
  got = 0;
  const t0 = clock.now();
  void (kind === 'stream' ? ra.sendStreamMessage(peer, new Uint8Array(SIZE)) : ra.send(peer, new Uint8Array(SIZE)));
  for (let i = 0; i < 600_000 && got !== SIZE; i++) clock.advance(1);
  if (got !== SIZE) throw new Error('transfer did not finish');
  return SIZE / ((clock.now() - t0) / 1000);
}

const seeds = ['b1', 'b2', 'b3'];
const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined' ? 'bun' : 'node';
console.log(`bulk transfer on SimNet (${runtime}): ${(SIZE / 1e6).toFixed(1)} MB over 20 Mbit/s, 40 ms RTT, 1% loss; median of ${seeds.length} seeds`);
console.log('| what | goodput | link rate (baseline) | fraction | target ≥ 80% |');
console.log('|---|---|---|---|---|');
for (const kind of ['message', 'stream'] as const) {
  const med = seeds.map((s) => run(s, kind)).sort((a, b) => a - b)[1]!;
  console.log(`| ${kind === 'stream' ? 'stream message' : 'one-way message'} | ${((med * 8) / 1e6).toFixed(2)} Mbit/s | 20.00 Mbit/s | ${((med / LINK_BPS) * 100).toFixed(1)}% | ${med / LINK_BPS >= 0.8 ? 'yes' : 'NO'} |`);
}
