// 10,000 malformed or forged datagrams at a running agent: zero bytes in reply, no crash, and
// bounded memory. Kinds: random bytes, truncated and bit-flipped copies of a real initiation,
// replays of it, and valid-looking initiations from strangers who know the agent's public key.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import dgram from 'node:dgram';
import { kith, startAgent, RUNTIME } from '../helpers/proc.js';
import { sleep } from '../helpers/wait.js';
import { Transport } from '../../cluster/transport.js';
import { fromHex } from '../../core/hex.js';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import type { UdpSocket } from '../../core/udp.js';
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
