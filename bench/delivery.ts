// Delivery latency to an online participant: two ClusterNodes on real UDP sockets on 127.0.0.1
// (real clock, Noise transport, reliable delivery, membership), each running ConvSync,
// Conversations and SealedConversations. alice posts one message at a time; the latency is from
// her post() call until bob's SealedConversations hands the message to the application (sign,
// seal, push, receive, open, verify, store, apply). Next to it, in the same run: a raw reliable
// message of the same size from alice's node to bob's, until its acknowledgement is back (one
// round trip, no conversation stack).
//   npm run build && node dist/bench/delivery.js     node_modules/.bin/bun bench/delivery.ts
//   KITH_BENCH_MESSAGES (default 300)
import { realClock } from '../core/clock.js';
import { cryptoRng, SeededRng } from '../core/rng.js';
import { bindUdp, type UdpSocket } from '../core/udp.js';
import { MemoryStore } from '../core/store.js';
import { toHex } from '../core/hex.js';
import { verifyCertificate } from '../identity/certificate.js';
import { certifyNode } from '../identity/create.js';
import { generatePhrase } from '../identity/phrase.js';
import { ClusterNode } from '../cluster/node.js';
import { pairPsk, rendezvousSecret } from '../cluster/secrets.js';
import { TEST_TIMING } from '../cluster/timing.js';
import type { ServicePort } from '../cluster/services.js';
import { Conversations } from '../consensus/conversations.js';
import { SealedConversations } from '../consensus/sealed-conversations.js';
import { ConvSync } from '../consensus/sync.js';

const N = Number(process.env['KITH_BENCH_MESSAGES'] ?? 300);
const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined' ? `bun ${(process.versions as Record<string, string>)['bun']}` : `node ${process.versions.node}`;
const SECRET = new SeededRng('delivery-secret').bytes(32);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

type Peer = ReturnType<typeof identity> & { socket: UdpSocket; port: number };

function identity(name: string) {
  const c = certifyNode(realClock, { phrase: generatePhrase(new SeededRng(`delivery:${name}`)), nodeIndex: 0, generation: 0, roles: ['access'], label: name });
  return { c, id: toHex(c.keys.dh.publicKey), signer: { userKey: c.userKey, signSecret: c.keys.sign.secretKey, certBytes: c.certBytes } };
}

function start(me: Peer, other: Peer, directory: (u: Uint8Array) => { dh: Uint8Array; roles: 'access'[] }[] | undefined, onMessage: (hash: string) => void) {
  const store = new MemoryStore();
  let port: ServicePort | undefined;
  let sealed: SealedConversations | undefined;
  const cluster = new ClusterNode({ clock: realClock, rng: cryptoRng, socket: me.socket }, { cert: verifyCertificate(me.c.certBytes), certBytes: me.c.certBytes, dh: me.c.keys.dh, signSecret: me.c.keys.sign.secretKey }, { timing: TEST_TIMING });
  const sync = new ConvSync({
    store, clock: realClock, rng: cryptoRng, self: me.id,
    send: (peer, body) => port!.send(peer, body),
    peers: () => (cluster.membership.stateOf(other.id) === 'alive' ? [other.id] : []),
    onItem: (g, item) => sealed?.onItem(g, item),
  });
  port = cluster.services.register(ConvSync.serviceSpec(() => sync));
  cluster.membership.setLocalEndpoints('lan', [{ host: '127.0.0.1', port: me.port }]);
  cluster.membership.add({ cert: verifyCertificate(other.c.certBytes), certBytes: other.c.certBytes, psk: pairPsk(SECRET, me.c.keys.dh.publicKey, other.c.keys.dh.publicKey), rendezvousSecret: rendezvousSecret(SECRET), endpoints: [{ host: '127.0.0.1', port: other.port }] });
  const convs = new Conversations({ store, clock: realClock, rng: cryptoRng, signer: me.signer });
  sealed = new SealedConversations({ convs, sync, signer: me.signer, dh: me.c.keys.dh, clock: realClock, rng: cryptoRng, directory: { nodesOf: directory }, onMessage: (_c, m) => onMessage(m.hash) });
  return { cluster, sync, sealed };
}

async function main() {
  const peers: Peer[] = [];
  for (const name of ['alice', 'bob']) {
    const socket = await bindUdp({ host: '127.0.0.1', port: 0 });
    peers.push({ ...identity(name), socket, port: socket.local.port });
  }
  const [pa, pb] = peers as [Peer, Peer];
  const dir = (u: Uint8Array) => [pa, pb].filter((p) => toHex(p.c.userKey) === toHex(u)).map((p) => ({ dh: p.c.keys.dh.publicKey, roles: ['access' as const] }));
  const arrived = new Map<string, number>();
  const a = start(pa, pb, dir, () => undefined);
  const b = start(pb, pa, dir, (h) => arrived.set(h, performance.now()));
  await Promise.all([a.sync.start(), b.sync.start()]);
  let sent = 0;
  const send0 = a.cluster.reliable.send.bind(a.cluster.reliable);
  a.cluster.reliable.send = (peer, payload) => ((sent = payload.length), send0(peer, payload));
  try {
    for (let i = 0; i < 500 && a.cluster.membership.stateOf(pb.id) !== 'alive'; i++) await sleep(10);
    if (a.cluster.membership.stateOf(pb.id) !== 'alive') throw new Error('the two nodes never met');
    const conv = await a.sealed.create({ topic: 'delivery', with: [pb.c.userKey], pattern: 'discussion' });
    await sleep(200); // bob receives the header and posts his receipt
    const latency: number[] = [];
    const rtt: number[] = [];
    const sizes: number[] = [];
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      const { message } = await a.sealed.post(conv.id, 'text', { text: `message ${i}: ${'x'.repeat(20 + (i % 80))}` });
      for (let w = 0; w < 2000 && !arrived.has(message.hash); w++) await new Promise((r) => setImmediate(r));
      for (let w = 0; w < 200 && !arrived.has(message.hash); w++) await sleep(5);
      if (!arrived.has(message.hash)) throw new Error(`message ${i} not delivered within 1 s`);
      latency.push(arrived.get(message.hash)! - t0);
      sizes.push(sent);
      // The baseline: the same number of bytes as a raw reliable message (a service byte nobody
      // registered: bob's node acknowledges it and drops it), until the acknowledgement is back.
      const raw = new Uint8Array(sent).fill(0xee);
      const r0 = performance.now();
      await send0(pb.id, raw);
      rtt.push(performance.now() - r0);
    }
    const ms = (x: number) => `${x.toFixed(2)} ms`;
    const size = sizes.reduce((x, y) => x + y, 0) / sizes.length;
    console.log(`delivery bench (${runtime}), ${N} messages one at a time, two ClusterNodes over UDP on 127.0.0.1`);
    console.log(`  post → delivered to bob's application: p50 ${ms(pct(latency, 0.5))}, p99 ${ms(pct(latency, 0.99))}`);
    console.log(`  raw reliable message of the same size (${size.toFixed(0)} B) until its ack: p50 ${ms(pct(rtt, 0.5))}, p99 ${ms(pct(rtt, 0.99))}`);
    console.log(`  → delivery / raw round trip: p50 ${(pct(latency, 0.5) / pct(rtt, 0.5)).toFixed(1)}×, p99 ${(pct(latency, 0.99) / pct(rtt, 0.99)).toFixed(1)}×`);
  } finally {
    a.sync.close();
    b.sync.close();
    await Promise.all([a.cluster.close(), b.cluster.close()]);
    await Promise.all(peers.map((p) => p.socket.close()));
  }
}

void main().then(() => process.exit(0), (e) => {
  console.error(e);
  process.exit(1);
});
