// Transport costs, medians with a baseline from the same run:
//  - CPU per side of a full handshake (Noise IKpsk2 + certificate checks + mac1), next to the
//    cost of one node:crypto X25519 operation and the ops/s that gives (DESIGN: ≤ 1 ms per side);
//  - CPU to read a stranger's initiation and drop it (what the identification budget under load
//    spends per message, cluster/README.md §Receiving step 3), next to one X25519;
//  - bytes of overhead per message, next to WireGuard's 32.
//   node dist/bench/transport.js        node_modules/.bin/bun bench/transport.ts
import { generateKeyPairSync, diffieHellman } from 'node:crypto';
import { VirtualClock } from '../core/clock.js';
import { cryptoRng } from '../core/rng.js';
import { certifyNode } from '../identity/create.js';
import { generatePhrase } from '../identity/phrase.js';
import { SeededRng } from '../core/rng.js';
import { Transport, MAX_PAYLOAD } from '../cluster/transport.js';
import { DATA_HEADER } from '../cluster/wire.js';
import { TAG_BYTES } from '../core/aead.js';
import type { Endpoint, UdpSocket } from '../core/udp.js';

const RUNS = Number(process.env['KITH_BENCH_RUNS'] ?? 200);
const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined' ? `bun ${(process.versions as Record<string, string>)['bun']}` : `node ${process.versions.node}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
// The exchange below is synchronous and single-threaded, so elapsed time is CPU time; the
// high-resolution clock is finer than getrusage's accounting.
const cpuMs = () => performance.now();

function identity(name: string) {
  const node = certifyNode(new VirtualClock(), { phrase: generatePhrase(new SeededRng(name)), nodeIndex: 0, generation: 0, roles: ['relay'], label: name });
  return { dh: node.keys.dh, cert: node.certBytes };
}

// Two nodes, made once: a real node keeps its static key (and its cached KeyObject) for its life.
const A = identity('bench-a');
const B = identity('bench-b');

/**
 * Two long-lived transports joined by in-memory sockets, as two nodes that rekey: each sample is
 * one complete handshake (connect → initiation → response → confirmation). Datagrams are queued
 * and delivered one at a time, so each side's receive path is timed on its own (a synchronous
 * hand-over would nest the initiator's reading of the response inside the responder's time). A
 * second of virtual time passes between samples, so no sample counts as "under load".
 */
function makePair() {
  const queue: { to: 'a' | 'b'; data: Uint8Array; from: Endpoint }[] = [];
  const sockets: Record<'a' | 'b', UdpSocket & { handler?: (d: Uint8Array, f: Endpoint) => void }> = {} as never;
  for (const side of ['a', 'b'] as const) {
    const other = side === 'a' ? 'b' : 'a';
    sockets[side] = {
      local: { host: '127.0.0.1', port: side === 'a' ? 1 : 2 },
      send: (_to, data) => {
        queue.push({ to: other, data, from: sockets[side].local });
      },
      onMessage(fn) {
        sockets[side].handler = fn;
      },
      close: async () => {},
    };
  }
  const clock = new VirtualClock({ wallStartMs: Date.now() });
  const ta = new Transport({ clock, rng: cryptoRng, socket: sockets.a }, { staticKey: A.dh, certBytes: A.cert });
  const tb = new Transport({ clock, rng: cryptoRng, socket: sockets.b }, { staticKey: B.dh, certBytes: B.cert });
  const psk = new Uint8Array(32).fill(3);
  const peer = ta.addPeer({ dhKey: B.dh.publicKey, psk, endpoint: sockets.b.local });
  tb.addPeer({ dhKey: A.dh.publicKey, psk });
  return {
    handshake(): { initiatorMs: number; responderMs: number } {
      clock.advance(1000);
      const spent = { a: 0, b: 0 };
      const before = tb.stats.handshakes;
      let t0 = cpuMs();
      ta.connect(peer);
      spent.a += cpuMs() - t0;
      for (let hops = 0; queue.length > 0; hops++) {
        if (hops > 8) throw new Error('handshake did not settle');
        const d = queue.shift()!;
        t0 = cpuMs();
        sockets[d.to].handler?.(d.data, d.from);
        spent[d.to] += cpuMs() - t0;
      }
      if (tb.stats.handshakes !== before + 1) throw new Error('handshake did not complete');
      return { initiatorMs: spent.a, responderMs: spent.b };
    },
  };
}

/** CPU of one stranger initiation (valid mac1, unknown static key) read and dropped by a responder. */
function strangerDropMs(): number[] {
  const clock = new VirtualClock({ wallStartMs: Date.now() });
  const bytes: Uint8Array[] = [];
  const mallory = identity('bench-mallory');
  const out: UdpSocket = { local: { host: '127.0.0.3', port: 3 }, send: (_to, d) => bytes.push(new Uint8Array(d)), onMessage() {}, close: async () => {} };
  const tm = new Transport({ clock, rng: cryptoRng, socket: out }, { staticKey: mallory.dh, certBytes: mallory.cert });
  tm.connect(tm.addPeer({ dhKey: A.dh.publicKey, psk: new Uint8Array(32), endpoint: { host: '127.0.0.1', port: 1 } }));
  const quiet: UdpSocket = { local: { host: '127.0.0.1', port: 1 }, send() {}, onMessage() {}, close: async () => {} };
  const ta = new Transport({ clock, rng: cryptoRng, socket: quiet }, { staticKey: A.dh, certBytes: A.cert });
  const samples: number[] = [];
  for (let i = 0; i < RUNS + 20; i++) {
    clock.advance(1000); // never under load: every sample is read
    const t0 = cpuMs();
    ta.receive(bytes[0]!, { host: '127.0.0.3', port: 3 });
    samples.push(cpuMs() - t0);
  }
  if (ta.stats.dropped['unknown-peer'] !== RUNS + 20) throw new Error('the stranger was not dropped as unknown');
  return samples.slice(20);
}

function x25519OpMs(): number {
  const a = generateKeyPairSync('x25519');
  const b = generateKeyPairSync('x25519');
  const N = 200;
  const t0 = performance.now();
  for (let i = 0; i < N; i++) diffieHellman({ privateKey: a.privateKey, publicKey: b.publicKey });
  return (performance.now() - t0) / N;
}

const pairOfNodes = makePair();
for (let i = 0; i < 20; i++) pairOfNodes.handshake(); // warm-up (the first also verifies both certificates)
const samples = Array.from({ length: RUNS }, () => pairOfNodes.handshake());
const init = median(samples.map((s) => s.initiatorMs));
const resp = median(samples.map((s) => s.responderMs));
const dh = median(Array.from({ length: 15 }, x25519OpMs));
const stranger = median(strangerDropMs());
console.log(`transport on ${runtime}: medians of ${RUNS} handshakes (baseline: one node:crypto X25519 op, cached KeyObjects, same process)`);
console.log('| what | median | baseline | ratio | target |');
console.log('|---|---|---|---|---|');
console.log(`| handshake CPU, initiator (incl. the response it reads) | ${init.toFixed(3)} ms | ${dh.toFixed(3)} ms (${Math.round(1000 / dh)} X25519/s) | ${(init / dh).toFixed(1)}× | ≤ 1 ms: ${init <= 1 ? 'yes' : 'NO'} |`);
console.log(`| handshake CPU, responder | ${resp.toFixed(3)} ms | ${dh.toFixed(3)} ms | ${(resp / dh).toFixed(1)}× | ≤ 1 ms: ${resp <= 1 ? 'yes' : 'NO'} |`);
console.log(`| stranger's initiation read and dropped | ${stranger.toFixed(3)} ms | ${dh.toFixed(3)} ms | ${(stranger / dh).toFixed(1)}× | budget under load: 70/s = ${(70 * stranger).toFixed(1)} ms CPU/s |`);
console.log(`| bytes of overhead per message | ${DATA_HEADER + TAG_BYTES} | WireGuard: 32 | ${((DATA_HEADER + TAG_BYTES) / 32).toFixed(2)}× | largest payload per datagram: ${MAX_PAYLOAD} |`);
