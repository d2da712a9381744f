// Transport throughput over loopback between two processes, next to raw node:dgram throughput of
// datagrams of the same size in the same run. The sender pushes full-size datagrams for a fixed
// time in bursts; the receiver counts payload bytes it gets (UDP drops what it cannot take).
// Then a bulk stream (cluster/stream.ts over reliable delivery: congestion window, acks,
// credit) for the same time: bytes the receiving application read. Then a restore's transfers:
// shard gets one at a time as ArchiveOwner.get makes them, each a StreamExchange (request stream,
// 512 KiB answer stream; cluster/stream-exchange.ts), answered from memory: answer bytes received.
//   node dist/bench/loopback.js         node_modules/.bin/bun bench/loopback.ts
//   KITH_BENCH_SECONDS (default 2), KITH_BENCH_ROUNDS (default 3), KITH_BENCH_ONLY (default
//   'raw,kith,stream,restore': the lines to measure; raw is always measured, the others' baseline)
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { VirtualClock, realClock } from '../core/clock.js';
import { SeededRng, cryptoRng } from '../core/rng.js';
import { bindUdp } from '../core/udp.js';
import { rawDgram } from './raw-dgram.js';
import { Transport, MAX_PAYLOAD } from '../cluster/transport.js';
import { Reliable } from '../cluster/reliable.js';
import { Streams } from '../cluster/stream.js';
import { Services } from '../cluster/services.js';
import { StreamExchange } from '../cluster/stream-exchange.js';
import { MAX_DATAGRAM } from '../cluster/wire.js';
import { certifyNode } from '../identity/create.js';
import { generatePhrase } from '../identity/phrase.js';
import { aead, fastestAead } from '../core/aead.js';

const SECONDS = Number(process.env['KITH_BENCH_SECONDS'] ?? 2);
const ROUNDS = Number(process.env['KITH_BENCH_ROUNDS'] ?? 3);
const ONLY = new Set((process.env['KITH_BENCH_ONLY'] ?? 'raw,kith,stream,restore').split(',').map((x) => x.trim()));
const PSK = new Uint8Array(32).fill(4);
const node = (name: string) => {
  const n = certifyNode(new VirtualClock(), { phrase: generatePhrase(new SeededRng(name)), nodeIndex: 0, generation: 0, roles: ['relay'], label: name });
  return { dh: n.keys.dh, cert: n.certBytes };
};


async function receiver(mode: string): Promise<void> {
  const sock = mode === 'raw' ? await rawDgram() : await bindUdp({ host: '127.0.0.1', port: 0 });
  let bytes = 0;
  if (mode === 'raw') sock.onMessage((d) => (bytes += d.length));
  else if (mode === 'kith') {
    const me = node('loop-b');
    const t = new Transport({ clock: realClock, rng: cryptoRng, socket: sock, events: { message: (_p, d) => (bytes += d.length) } }, { staticKey: me.dh, certBytes: me.cert });
    t.addPeer({ dhKey: node('loop-a').dh.publicKey, psk: PSK });
  } else if (mode === 'restore') {
    const { exchange } = stack(sock, 'loop-b', async () => SHARD);
    void exchange;
  } else {
    const me = node('loop-b');
    let reliable!: Reliable;
    const t = new Transport({ clock: realClock, rng: cryptoRng, socket: sock, events: { message: (p, d) => reliable.receive(p, d) } }, { staticKey: me.dh, certBytes: me.cert });
    reliable = new Reliable({ clock: realClock, rng: cryptoRng, link: t });
    const streams = new Streams({ clock: realClock, rng: cryptoRng, reliable });
    streams.handle(ROUTE.service, ROUTE.kind, (_p, s) => void (async () => {
      for await (const c of s) bytes += c.length;
    })());
    t.addPeer({ dhKey: node('loop-a').dh.publicKey, psk: PSK });
  }
  // A clean exit when the parent kills it, so that a profiler given in execArgv writes its file.
  process.on('SIGTERM', () => process.exit(0));
  process.stdout.write(`PORT ${sock.local.port}\n`);
  process.stdin.on('data', () => {
    const u = process.cpuUsage();
    process.stdout.write(`BYTES ${bytes} CPU ${u.user + u.system}\n`);
  });
}

/** A shard-sized answer (a 1 MiB chunk in a 2+2 code: 512 KiB and its tag). */
const SHARD = new Uint8Array(512 * 1024 + 16);
const SHARD_REQUEST = new Uint8Array(64);

/** Transport, reliable delivery, streams and an archive-service exchange on one socket. */
function stack(sock: Awaited<ReturnType<typeof bindUdp>>, name: string, answer: (peer: string, req: Uint8Array) => Promise<Uint8Array>) {
  const me = node(name);
  let reliable!: Reliable;
  const transport = new Transport({ clock: realClock, rng: cryptoRng, socket: sock, events: { message: (p, d) => reliable.receive(p, d) } }, { staticKey: me.dh, certBytes: me.cert });
  reliable = new Reliable({ clock: realClock, rng: cryptoRng, link: transport });
  const streams = new Streams({ clock: realClock, rng: cryptoRng, reliable });
  const services = new Services({ reliable, streams });
  const exchange = new StreamExchange({ clock: realClock, rng: cryptoRng, answer }, { maxBytes: 4 * 1024 * 1024 + 4096, timeoutMs: 30_000 });
  exchange.attach(services.register({ name: 'archive', streams: exchange.streams }));
  transport.addPeer({ dhKey: node(name === 'loop-a' ? 'loop-b' : 'loop-a').dh.publicKey, psk: PSK });
  return { transport, exchange };
}

/** The stream's route: the archive's service byte and its request kind (any registered pair would do). */
const ROUTE = { service: 0x41, kind: 1 };

/** Pieces of 256 KiB until `endMs` (performance.now), the same buffer each time. */
async function* until(endMs: number): AsyncGenerator<Uint8Array> {
  const piece = new Uint8Array(256 * 1024);
  while (performance.now() < endMs) yield piece;
}

/** Per stream round: fragments sent, the share retransmitted, datagrams back (ACK and CREDIT frames) per fragment. */
const streamCounts: string[] = [];

async function measure(mode: 'raw' | 'kith' | 'stream' | 'restore'): Promise<number> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [...process.execArgv, self, 'receiver', mode], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  while (!/PORT (\d+)/.test(out)) await new Promise((r) => setTimeout(r, 10));
  const port = Number(/PORT (\d+)/.exec(out)![1]);
  const sock = mode === 'raw' ? await rawDgram() : await bindUdp({ host: '127.0.0.1', port: 0 });
  const to = { host: '127.0.0.1', port };
  let restored = 0;
  let send: () => void;
  let streamed: ((endMs: number) => Promise<unknown>) | undefined;
  let counts: (() => { fragments: number; retransmits: number; back: number }) | undefined;
  if (mode === 'stream') {
    const me = node('loop-a');
    let reliable!: Reliable;
    const t = new Transport({ clock: realClock, rng: cryptoRng, socket: sock, events: { message: (p, d) => reliable.receive(p, d) } }, { staticKey: me.dh, certBytes: me.cert });
    reliable = new Reliable({ clock: realClock, rng: cryptoRng, link: t });
    const streams = new Streams({ clock: realClock, rng: cryptoRng, reliable });
    const peer = t.addPeer({ dhKey: node('loop-b').dh.publicKey, psk: PSK, endpoint: to });
    t.connect(peer);
    while (!t.peerInfo(peer)!.established) await new Promise((r) => setTimeout(r, 5));
    streamed = (endMs) => streams.send(peer, ROUTE, until(endMs));
    const at = { sent: reliable.stats.sent, re: reliable.stats.retransmits, back: t.stats.received };
    counts = () => ({ fragments: reliable.stats.sent - at.sent, retransmits: reliable.stats.retransmits - at.re, back: t.stats.received - at.back });
    send = () => undefined;
  } else if (mode === 'restore') {
    const { transport: t, exchange } = stack(sock, 'loop-a', async () => new Uint8Array(0));
    const peer = t.addPeer({ dhKey: node('loop-b').dh.publicKey, psk: PSK, endpoint: to });
    t.connect(peer);
    while (!t.peerInfo(peer)!.established) await new Promise((r) => setTimeout(r, 5));
    streamed = async (endMs) => {
      while (performance.now() < endMs) restored += (await exchange.request(peer, SHARD_REQUEST)).length;
    };
    send = () => undefined;
  } else if (mode === 'raw') {
    const d = new Uint8Array(MAX_DATAGRAM);
    send = () => sock.send(to, d);
  } else {
    const me = node('loop-a');
    const t = new Transport({ clock: realClock, rng: cryptoRng, socket: sock }, { staticKey: me.dh, certBytes: me.cert });
    const peer = t.addPeer({ dhKey: node('loop-b').dh.publicKey, psk: PSK, endpoint: to });
    t.connect(peer);
    while (!t.peerInfo(peer)!.established) await new Promise((r) => setTimeout(r, 5));
    const payload = new Uint8Array(MAX_PAYLOAD);
    send = () => t.send(peer, payload);
  }
  await new Promise((r) => setTimeout(r, 100));
  // CPU of both processes over the run (µs), the receiver's as it reports it.
  const theirCpu = async (): Promise<number> => {
    out = '';
    child.stdin.write('x');
    while (!/CPU (\d+)/.test(out)) await new Promise((r) => setTimeout(r, 10));
    return Number(/CPU (\d+)/.exec(out)![1]);
  };
  const cpu0 = { mine: process.cpuUsage(), theirs: await theirCpu() };
  const end = performance.now() + SECONDS * 1000;
  const t0 = performance.now();
  if (streamed) await streamed(end);
  else while (performance.now() < end) {
    for (let i = 0; i < 32; i++) send();
    await new Promise((r) => setImmediate(r));
  }
  const elapsed = (performance.now() - t0) / 1000;
  const mine = process.cpuUsage(cpu0.mine);
  const theirs = (await theirCpu()) - cpu0.theirs;
  if (counts) {
    const c = counts();
    const us = (x: number) => (x / c.fragments).toFixed(1);
    streamCounts.push(`${c.fragments} fragments, ${((100 * c.retransmits) / c.fragments).toFixed(2)} % retransmitted, ${(c.back / c.fragments).toFixed(3)} datagrams back per fragment, CPU µs per fragment: sender ${us(mine.user + mine.system)}, receiver ${us(theirs)} (${(elapsed * 1e6 / c.fragments).toFixed(1)} of wall time)`);
  }
  await new Promise((r) => setTimeout(r, 200));
  out = '';
  child.stdin.write('x');
  while (!/BYTES (\d+)/.test(out)) await new Promise((r) => setTimeout(r, 10));
  const bytes = mode === 'restore' ? restored : Number(/BYTES (\d+)/.exec(out)![1]);
  child.kill();
  await sock.close();
  return bytes / elapsed;
}

// Measure the steady state: libsodium's WebAssembly is instantiated before the clock starts.
await fastestAead();
if (process.argv[2] === 'receiver') await receiver(process.argv[3]!);
else {
  const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined' ? `bun ${(process.versions as Record<string, string>)['bun']}` : `node ${process.versions.node}`;
  const raw: number[] = [];
  const kith: number[] = [];
  const stream: number[] = [];
  const restore: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    raw.push(await measure('raw'));
    if (ONLY.has('kith')) kith.push(await measure('kith'));
    if (ONLY.has('stream')) stream.push(await measure('stream'));
    if (ONLY.has('restore')) restore.push(await measure('restore'));
  }
  const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const r = med(raw);
  console.log(`loopback throughput on ${runtime}, two processes, ${SECONDS} s per run, median of ${ROUNDS}, AEAD ${aead.name} (baseline: raw node:dgram, ${MAX_DATAGRAM}-byte datagrams, same run)`);
  console.log('| what | received | ratio to raw |');
  console.log('|---|---|---|');
  console.log(`| raw dgram | ${((r * 8) / 1e6).toFixed(0)} Mbit/s | 1.00 |`);
  if (kith.length > 0) {
    const k = med(kith);
    console.log(`| kith transport (payload bytes) | ${((k * 8) / 1e6).toFixed(0)} Mbit/s | ${(k / r).toFixed(2)} |`);
  }
  if (stream.length > 0) {
    const st = med(stream);
    console.log(`| kith bulk stream (bytes the application read) | ${((st * 8) / 1e6).toFixed(0)} Mbit/s | ${(st / r).toFixed(2)} |`);
  }
  if (restore.length > 0) {
    const rs = med(restore);
    console.log(`| restore transfers: 512 KiB shard gets one at a time over stream exchanges | ${((rs * 8) / 1e6).toFixed(0)} Mbit/s (${(rs / 1e6).toFixed(1)} MB/s) | ${(rs / r).toFixed(2)} |`);
  }
  // Each round's own ratio (its stream against the raw run just before it): the spread.
  const rounds = (xs: number[]) => xs.map((x, i) => `${((x * 8) / 1e6).toFixed(0)}/${((raw[i]! * 8) / 1e6).toFixed(0)} = ${(x / raw[i]!).toFixed(2)}`).join(', ');
  if (kith.length > 0) console.log(`rounds, kith transport / raw dgram (Mbit/s): ${rounds(kith)}`);
  if (stream.length > 0) console.log(`rounds, bulk stream / raw dgram (Mbit/s): ${rounds(stream)}`);
  for (const c of streamCounts) console.log(`  stream round: ${c}`);
  if (restore.length > 0) console.log(`rounds, restore / raw dgram (Mbit/s): ${rounds(restore)}`);
  process.exit(0);
}
