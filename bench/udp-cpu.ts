// CPU per datagram of kith's UDP socket (core/udp.ts: node:dgram with an IP-literal lookup on
// Node, Bun.udpSocket on Bun) against node:dgram as it comes, in one process: one socket sends
// 1200-byte datagrams in bursts of 32 to another on 127.0.0.1, which receives them; CPU of both
// (process.cpuUsage), interleaved rounds, the median of each. The socket's part of a fragment's
// cost on each side of a bulk stream (bench/README.md).
//   node dist/bench/udp-cpu.js         node_modules/.bin/bun bench/udp-cpu.ts   (KITH_BENCH_PACKETS, default 40000)
import { bindUdp, type UdpSocket } from '../core/udp.js';
import { rawDgram as plainDgram } from './raw-dgram.js';

const N = Number(process.env['KITH_BENCH_PACKETS'] ?? 40_000);
const ROUNDS = 9;
const cpuUs = (): number => {
  const u = process.cpuUsage();
  return u.user + u.system;
};
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;


/** CPU µs per datagram sent and received, and the share received. */
async function round(bind: () => Promise<UdpSocket>): Promise<{ us: number; got: number }> {
  const rx = await bind();
  const tx = await bind();
  let got = 0;
  rx.onMessage(() => got++);
  const d = new Uint8Array(1200);
  const t = cpuUs();
  for (let sent = 0; sent < N; sent += 32) {
    for (let i = 0; i < 32; i++) tx.send(rx.local, d);
    await new Promise((r) => setImmediate(r));
  }
  await new Promise((r) => setTimeout(r, 20));
  const us = (cpuUs() - t) / N;
  await tx.close();
  await rx.close();
  return { us, got: got / N };
}

const kith: { us: number; got: number }[] = [];
const plain: { us: number; got: number }[] = [];
for (let r = 0; r < ROUNDS; r++) {
  plain.push(await round(plainDgram));
  kith.push(await round(() => bindUdp({ host: '127.0.0.1', port: 0 })));
}
const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined' ? `bun ${(process.versions as Record<string, string>)['bun']}` : `node ${process.versions.node}`;
const line = (xs: { us: number; got: number }[]) => `${med(xs.map((x) => x.us)).toFixed(2)} | ${(100 * med(xs.map((x) => x.got))).toFixed(0)} % | ${xs.map((x) => x.us.toFixed(2)).join(' ')}`;
console.log(`UDP CPU µs per 1200-byte datagram, sent and received in one process, on ${runtime}, ${N} datagrams, median of ${ROUNDS} interleaved rounds`);
console.log('| socket | CPU µs | received | rounds |');
console.log('|---|---|---|---|');
console.log(`| node:dgram as it comes | ${line(plain)} |`);
console.log(`| kith's (core/udp.ts) | ${line(kith)} |`);
process.exit(0);
