// CPU per datagram of the transport's data path, in one process with no sockets: A seals N
// full-size datagrams (captured, not sent), then B opens them all; next to one bare AEAD seal of
// the same payload, the floor. CPU time (process.cpuUsage), so that a busy machine moves the
// figures less than wall time would. Where bench/loopback.ts says how fast, this says where.
//   node dist/bench/transport-cpu.js         node_modules/.bin/bun bench/transport-cpu.ts   (KITH_BENCH_PACKETS)
import { VirtualClock, realClock } from '../core/clock.js';
import { SeededRng, cryptoRng } from '../core/rng.js';
import type { Endpoint, UdpSocket } from '../core/udp.js';
import { aead, fastestAead } from '../core/aead.js';
import { Transport, MAX_PAYLOAD } from '../cluster/transport.js';
import { certifyNode } from '../identity/create.js';
import { generatePhrase } from '../identity/phrase.js';

const N = Number(process.env['KITH_BENCH_PACKETS'] ?? 50_000);
const ROUNDS = 3;
const PSK = new Uint8Array(32).fill(4);
const cpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
const node = (name: string) => {
  const n = certifyNode(new VirtualClock(), { phrase: generatePhrase(new SeededRng(name)), nodeIndex: 0, generation: 0, roles: ['relay'], label: name });
  return { dh: n.keys.dh, cert: n.certBytes };
};

/** Two sockets wired to each other synchronously; `hold` captures A's datagrams instead. */
function socketPair(): { a: UdpSocket; b: UdpSocket; held: Uint8Array[]; hold(on: boolean): void; deliverToB(d: Uint8Array): void } {
  const ea: Endpoint = { host: '127.0.0.1', port: 1 };
  const eb: Endpoint = { host: '127.0.0.1', port: 2 };
  let toA: ((d: Uint8Array, f: Endpoint) => void) | undefined;
  let toB: ((d: Uint8Array, f: Endpoint) => void) | undefined;
  const held: Uint8Array[] = [];
  let holding = false;
  const a: UdpSocket = { local: ea, send: (_to, d) => (holding ? held.push(d) : toB?.(d, ea)), onMessage: (fn) => (toA = fn), close: async () => {} };
  const b: UdpSocket = { local: eb, send: (_to, d) => toA?.(d, eb), onMessage: (fn) => (toB = fn), close: async () => {} };
  return { a, b, held, hold: (on) => (holding = on), deliverToB: (d) => toB?.(d, ea) };
}

await fastestAead();
const net = socketPair();
const A = node('loop-a');
const B = node('loop-b');
let delivered = 0;
const ta = new Transport({ clock: realClock, rng: cryptoRng, socket: net.a }, { staticKey: A.dh, certBytes: A.cert });
const tb = new Transport({ clock: realClock, rng: cryptoRng, socket: net.b, events: { message: () => delivered++ } }, { staticKey: B.dh, certBytes: B.cert });
tb.addPeer({ dhKey: A.dh.publicKey, psk: PSK });
const peer = ta.addPeer({ dhKey: B.dh.publicKey, psk: PSK, endpoint: net.b.local });
ta.connect(peer);
if (!ta.peerInfo(peer)!.established) throw new Error('the in-process handshake did not complete');

const payload = new Uint8Array(MAX_PAYLOAD);
const rows: { send: number; receive: number; seal: number }[] = [];
for (let r = 0; r < ROUNDS; r++) {
  net.hold(true);
  let t = cpuMs();
  for (let i = 0; i < N; i++) ta.send(peer, payload);
  const send = ((cpuMs() - t) * 1000) / N;
  const datagrams = net.held.splice(0);
  net.hold(false);
  t = cpuMs();
  for (const d of datagrams) net.deliverToB(d);
  const receive = ((cpuMs() - t) * 1000) / N;
  const key = aead.prepare(new Uint8Array(32).fill(1));
  const out = new Uint8Array(MAX_PAYLOAD + 16);
  const nonce = new Uint8Array(12);
  t = cpuMs();
  for (let i = 0; i < N; i++) aead.sealInto(key, nonce, payload, out, 0);
  rows.push({ send, receive, seal: ((cpuMs() - t) * 1000) / N });
}
if (delivered !== ROUNDS * N) throw new Error(`${delivered} of ${ROUNDS * N} datagrams were delivered`);
const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined' ? `bun ${(process.versions as Record<string, string>)['bun']}` : `node ${process.versions.node}`;
console.log(`transport CPU per ${MAX_PAYLOAD}-byte datagram on ${runtime}, ${N} datagrams, median of ${ROUNDS}, AEAD ${aead.name}`);
console.log('| what | CPU µs per datagram |');
console.log('|---|---|');
console.log(`| bare AEAD seal (baseline) | ${med(rows.map((x) => x.seal)).toFixed(2)} |`);
console.log(`| Transport.send (header, seal, socket call) | ${med(rows.map((x) => x.send)).toFixed(2)} |`);
console.log(`| Transport receive (checks, replay window, open, event) | ${med(rows.map((x) => x.receive)).toFixed(2)} |`);
process.exit(0);
