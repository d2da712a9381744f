// One end of the shaped-link bulk benchmark (bench/netem-bulk.sh runs them in network
// namespaces): `recv HOST PORT` waits for one message; `send HOST PORT PEERHOST PEERPORT BYTES`
// sends BYTES through reliable delivery and prints the goodput when every byte is acknowledged;
// `relay HOST PORT TOHOST TOPORT DELAYMS` forwards UDP both ways, each datagram DELAYMS later
// (the delay netem would add, where the kernel has no sch_netem).
import { VirtualClock, realClock } from '../core/clock.js';
import { SeededRng, cryptoRng } from '../core/rng.js';
import { bindUdp } from '../core/udp.js';
import { Transport } from '../cluster/transport.js';
import { Reliable } from '../cluster/reliable.js';
import { certifyNode } from '../identity/create.js';
import { generatePhrase } from '../identity/phrase.js';

const node = (name: string) => {
  const n = certifyNode(new VirtualClock(), { phrase: generatePhrase(new SeededRng(name)), nodeIndex: 0, generation: 0, roles: ['relay'], label: name });
  return { dh: n.keys.dh, cert: n.certBytes };
};
const PSK = new Uint8Array(32).fill(6);
const [mode, host, port, peerHost, peerPort, bytesArg] = process.argv.slice(2);
if (mode === 'relay') {
  const delayMs = Number(bytesArg);
  const front = await bindUdp({ host: host!, port: Number(port) });
  const back = await bindUdp({ host: '127.0.0.1', port: 0 });
  let client: { host: string; port: number } | undefined;
  front.onMessage((d, from) => {
    client = from;
    const copy = new Uint8Array(d);
    setTimeout(() => back.send({ host: peerHost!, port: Number(peerPort) }, copy), delayMs);
  });
  back.onMessage((d) => {
    const copy = new Uint8Array(d);
    if (client) setTimeout(() => front.send(client!, copy), delayMs);
  });
  console.log('READY');
  setTimeout(() => process.exit(0), 300_000);
  await new Promise(() => {});
}
const me = node(mode === 'send' ? 'netem-a' : 'netem-b');
const other = node(mode === 'send' ? 'netem-b' : 'netem-a');
const size = Number(bytesArg ?? 0);
const sock = await bindUdp({ host: host!, port: Number(port) });
let reliable!: Reliable;
const transport = new Transport({ clock: realClock, rng: cryptoRng, socket: sock, events: { message: (p, d) => reliable.receive(p, d) } }, { staticKey: me.dh, certBytes: me.cert });
reliable = new Reliable({ clock: realClock, rng: cryptoRng, link: transport }, { maxMessageBytes: 64 * 1024 * 1024, maxInFlightBytes: 128 * 1024 * 1024, maxReassemblyBytes: 128 * 1024 * 1024 });
const timeout = setTimeout(() => {
  console.log('TIMEOUT');
  process.exit(2);
}, 120_000);

if (mode === 'recv') {
  transport.addPeer({ dhKey: other.dh.publicKey, psk: PSK });
  reliable.onMessage((_p, d) => {
    if (d.length > 1) {
      console.log(`RECEIVED ${d.length}`);
      setTimeout(() => process.exit(0), 500); // let the last acks go out
    }
  });
  console.log('READY');
} else {
  const peer = transport.addPeer({ dhKey: other.dh.publicKey, psk: PSK, endpoint: { host: peerHost!, port: Number(peerPort) } });
  await reliable.send(peer, new Uint8Array(1)); // handshake and a first RTT sample, outside the timing
  const t0 = performance.now();
  // KITH_TRACE=1: the congestion state every 100 ms, on stderr.
  const trace = process.env['KITH_TRACE'] ? setInterval(() => {
    const i = reliable.pathInfo(peer)!;
    console.error(`${(performance.now() - t0).toFixed(0)} ms cwnd ${i.cwnd.toFixed(1)} inflight ${i.inFlight} srtt ${i.srttMs?.toFixed(1)} base ${i.baseRttMs.toFixed(1)} qdelay ${i.queueDelayMs.toFixed(1)} ss ${i.slowStart} retx ${reliable.stats.retransmits}`);
  }, 100) : undefined;
  await reliable.send(peer, new Uint8Array(size));
  if (trace) clearInterval(trace);
  const s = (performance.now() - t0) / 1000;
  console.log(`GOODPUT ${((size * 8) / s / 1e6).toFixed(2)} Mbit/s ${s.toFixed(2)} s retransmits ${reliable.stats.retransmits}`);
  clearTimeout(timeout);
  process.exit(0);
}
