// 10,000 malformed or forged datagrams at a running agent: zero bytes in reply, no crash, and
// bounded memory. Kinds: random bytes, truncated and bit-flipped copies of a real initiation,
// replays of it, and valid-looking initiations from strangers who know the agent's public key.
// Then a member's captured initiation, replayed from another address after the agent restarted
// (issue 18 break 5): no reply, and the member's endpoint stays where it was.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import dgram from 'node:dgram';
import { kith, startAgent, RUNTIME } from '../helpers/proc.js';
import { sleep, until } from '../helpers/wait.js';
import { Transport } from '../../cluster/transport.js';
import { fromHex } from '../../core/hex.js';
import { VirtualClock, realClock } from '../../core/clock.js';
import { SeededRng, cryptoRng } from '../../core/rng.js';
import { bindUdp, type UdpSocket } from '../../core/udp.js';
import { makeCard } from '../../cluster/card.js';
import { pairPsk } from '../../cluster/secrets.js';
import { testUser } from '../helpers/users.js';

const rssKb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);

t.test(`10,000 bad datagrams at a running agent (${RUNTIME}): no reply, no crash, bounded memory`, async (t) => {
  const dir = t.testdir();
  const d = path.join(dir, 'data');
  kith(['init', '--data-dir', d, '--phrase-file', path.join(dir, 'p')]);
  const id = JSON.parse(kith(['id', '--json', '--data-dir', d]).stdout);
  const agent = await startAgent(t, d);
  const target = { host: '127.0.0.1', port: agent.clusterPort };

  // Real initiations made by strangers who know the agent's DH key.
  const rng = new SeededRng('silence');
  const initiations: Uint8Array[] = [];
  for (const name of ['mallory', 'trudy', 'eve']) {
    const captured: UdpSocket = { local: { host: '127.0.0.1', port: 1 }, send: (_to, data) => initiations.push(new Uint8Array(data)), onMessage() {}, close: async () => {} };
    const tr = new Transport({ clock: new VirtualClock({ wallStartMs: Date.now() }), rng, socket: captured }, { staticKey: testUser(name).dh, certBytes: testUser(name).certBytes });
    const peer = tr.addPeer({ dhKey: fromHex(id.nodeDhKey)!, psk: new Uint8Array(32), endpoint: target });
    tr.connect(peer);
  }
  t.equal(initiations.length, 3);

  const sock = dgram.createSocket('udp4');
  let replyBytes = 0;
  sock.on('message', (m) => (replyBytes += m.length));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  t.teardown(() => sock.close());
  const rssBefore = rssKb(agent.pid);
  const TOTAL = 10_000;
  for (let i = 0; i < TOTAL; i++) {
    const kind = i % 5;
    const init = initiations[i % initiations.length]!;
    let d: Uint8Array;
    if (kind === 0) d = rng.bytes(1 + rng.below(1400));
    else if (kind === 1) d = init.subarray(0, rng.below(init.length));
    else if (kind === 2) {
      d = new Uint8Array(init);
      d[rng.below(d.length)]! ^= 1 << rng.below(8);
    } else if (kind === 3) d = init; // replayed valid-looking initiation from a stranger
    else {
      d = rng.bytes(32 + rng.below(100));
      d[0] = 1 + rng.below(4); // a plausible message type on garbage
      d[1] = d[2] = d[3] = 0;
    }
    sock.send(d, target.port, target.host);
    if (i % 50 === 49) await sleep(3); // pace: the kernel's receive buffer is small
  }
  await sleep(1000);
  t.equal(replyBytes, 0, 'zero bytes in reply');
  const res = await fetch(`http://127.0.0.1:${agent.apiPort}/api/status`, { headers: { authorization: `Bearer ${agent.token}` } });
  t.equal(res.status, 200, 'still serving');
  const st = (await res.json()) as { cluster: { transport: { received: number; sent: number; dropped: Record<string, number> } } };
  t.comment(`agent saw ${st.cluster.transport.received} datagrams; drops ${JSON.stringify(st.cluster.transport.dropped)}`);
  // The kernel drops some when its receive buffer is full; three quarters arriving keeps the test meaningful.
  t.ok(st.cluster.transport.received > TOTAL * 0.75, `${st.cluster.transport.received} of ${TOTAL} reached the agent`);
  t.equal(st.cluster.transport.sent, 0, 'the agent sent nothing');
  const growthKb = rssKb(agent.pid) - rssBefore;
  t.comment(`RSS growth ${growthKb} kB`);
  t.ok(growthKb < 32 * 1024, `memory bounded (grew ${growthKb} kB)`);
  t.equal((await agent.stop()).code, 0, 'clean exit afterwards');
});

// Another address on the loopback network, if the system routes 127.0.0.0/8 to lo (Linux does).
const REPLAYER_HOST = '127.0.0.2';
const canBindReplayer = await new Promise<boolean>((resolve) => {
  const s = dgram.createSocket('udp4');
  s.once('error', () => resolve(false));
  s.bind(0, REPLAYER_HOST, () => s.close(() => resolve(true)));
});

t.test(`a member's initiation replayed from another address after the agent restarts (${RUNTIME}): no reply, endpoint unchanged`, { skip: canBindReplayer ? false : `cannot bind ${REPLAYER_HOST} here` }, async (t) => {
  const dir = t.testdir();
  const d = path.join(dir, 'data');
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(config, '[cluster]\nhost = "127.0.0.1"\n');
  kith(['init', '--data-dir', d, '--phrase-file', path.join(dir, 'p')]);
  const secretFile = path.join(dir, 'secret');
  t.equal(kith(['secret', 'new', '--out', secretFile]).status, 0);
  const secret = fromHex(fs.readFileSync(secretFile, 'utf8').trim())!;
  const agentDh = fromHex(JSON.parse(kith(['id', '--json', '--data-dir', d]).stdout).nodeDhKey)!;
  let agent = await startAgent(t, d, ['--config', config, '--profile', 'test']);

  // Member bob: an in-process transport on a real socket, made a member of the agent from his card.
  const bob = testUser('bob');
  const bobSock = await bindUdp({ host: '127.0.0.1', port: 0 });
  t.teardown(() => bobSock.close().catch(() => {}));
  const captured: Uint8Array[] = [];
  const realSend = bobSock.send.bind(bobSock);
  const tapped: UdpSocket = { local: bobSock.local, send: (to, data) => (data[0] === 1 && captured.push(new Uint8Array(data)), realSend(to, data)), onMessage: (fn) => bobSock.onMessage(fn), close: () => bobSock.close() };
  const tr = new Transport({ clock: realClock, rng: cryptoRng, socket: tapped }, { staticKey: bob.dh, certBytes: bob.certBytes });
  const cardFile = path.join(dir, 'bob.card');
  fs.writeFileSync(cardFile, Buffer.from(makeCard(bob.certBytes, [{ kind: 'lan', host: '127.0.0.1', port: bobSock.local.port }], bob.signSecret)).toString('base64'));
  t.equal(kith(['peer', 'add', cardFile, '--secret-file', secretFile, '--data-dir', d]).status, 0, 'bob added as a member');
  const toAgent = tr.addPeer({ dhKey: agentDh, psk: pairPsk(secret, bob.dh.publicKey, agentDh), endpoint: { host: '127.0.0.1', port: agent.clusterPort } });
  tr.send(toAgent, new Uint8Array([0x4d])); // any payload: the handshake is what matters
  await until(() => tr.peerInfo(toAgent)!.established, 5000, 25);
  t.ok(tr.peerInfo(toAgent)!.established, 'bob has a session with the agent');
  const initiation = captured.at(-1)!;
  await tr.close();
  await bobSock.close();

  t.equal((await agent.stop()).code, 0, 'agent stopped');
  agent = await startAgent(t, d, ['--config', config, '--profile', 'test']);
  const replayer = dgram.createSocket('udp4');
  let replyBytes = 0;
  replayer.on('message', (m) => (replyBytes += m.length));
  await new Promise<void>((resolve) => replayer.bind(0, REPLAYER_HOST, () => resolve()));
  t.teardown(() => replayer.close());
  for (let i = 0; i < 5; i++) replayer.send(initiation, agent.clusterPort, '127.0.0.1');
  await sleep(1500);
  t.equal(replyBytes, 0, 'zero bytes to the replayer');
  const peers = JSON.parse(kith(['peers', '--json', '--data-dir', d]).stdout) as { endpoint: string | null }[];
  t.equal(peers.length, 1);
  t.notMatch(String(peers[0]!.endpoint), /^127\.0\.0\.2:/, `bob's endpoint stays (${peers[0]!.endpoint})`);
  t.notMatch(agent.output(), /127\.0\.0\.2/, 'the log never names the replayer\'s address');
  t.equal((await agent.stop()).code, 0, 'clean exit');
});
