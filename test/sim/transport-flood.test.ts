// Issue 18 weak spot 6, seeded on SimNet: a flood of stranger initiations (mac1 correct, unknown
// static key) puts the responder under load; member B restarts on a new port in the middle of
// it. Measured: how long until B's first message after the restart is delivered, and how many
// bytes the responder sends to strangers. "before" is the transport with the identification
// budget turned off (identifyPerSec 0: under load, only mac2 or a member's last endpoint gets in,
// as before issue 18); "after" is the default.
//   npx tap test/sim/transport-flood.test.ts      (figures are printed as comments)
import t from 'tap';
import { Transport, type TransportOptions } from '../../cluster/transport.js';
import { VirtualClock } from '../../core/clock.js';
import { SECOND } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { SimNet } from '../../core/simnet.js';
import type { Endpoint, UdpSocket } from '../../core/udp.js';
import { testUser } from '../helpers/users.js';

const alice = testUser('alice');
const bob = testUser('bob');
const PSK = new Uint8Array(32).fill(7);
const FLOOD_MS = 30 * SECOND;
const RESTART_AT_MS = 3 * SECOND;

/** Real initiations from strangers who know alice's public key (each one valid-looking). */
function strangerInitiations(to: Endpoint): Uint8Array[] {
  const out: Uint8Array[] = [];
  const rng = new SeededRng('strangers');
  for (const name of ['mallory', 'trudy', 'eve']) {
    const sock: UdpSocket = { local: { host: '10.6.6.6', port: 1 }, send: (_to, d) => out.push(new Uint8Array(d)), onMessage() {}, close: async () => {} };
    const tr = new Transport({ clock: new VirtualClock(), rng, socket: sock }, { staticKey: testUser(name).dh, certBytes: testUser(name).certBytes });
    tr.connect(tr.addPeer({ dhKey: alice.dh.publicKey, psk: PSK, endpoint: to }));
  }
  return out;
}

interface Scenario {
  name: string;
  perSec: number;
  /** Source addresses the flood cycles through, and the host they are on. */
  sources: number;
  floodHost: string;
}

interface Result {
  backInMs: number | undefined;
  bytesToStrangers: number;
  datagramsToStrangers: number;
  aliceDrops: Record<string, number>;
}

async function run(seed: string, s: Scenario, opts: Partial<TransportOptions>): Promise<Result> {
  const clock = new VirtualClock();
  const net = new SimNet(clock, seed);
  const rng = new SeededRng(`flood:${seed}`);
  const aliceHost = net.host('10.0.0.1');
  const bobHost = net.host('10.0.0.2');
  const floodHost = s.floodHost === '10.0.0.2' ? bobHost : net.host(s.floodHost);
  const aSock = aliceHost.bind(5484);
  const inbox: string[] = [];
  const a = new Transport({ clock, rng, socket: aSock, events: { message: (_p, d) => inbox.push(new TextDecoder().decode(d)) } }, { staticKey: alice.dh, certBytes: alice.certBytes, ...opts });
  const bobAddrs = new Set<string>();
  let bytesToStrangers = 0;
  let datagramsToStrangers = 0;
  const send = aSock.send.bind(aSock);
  aSock.send = (to, d) => {
    if (!bobAddrs.has(`${to.host}:${to.port}`)) {
      bytesToStrangers += d.length;
      datagramsToStrangers++;
    }
    send(to, d);
  };
  const startBob = (port: number) => {
    const sock = bobHost.bind(port);
    bobAddrs.add(`10.0.0.2:${port}`);
    const b = new Transport({ clock, rng, socket: sock }, { staticKey: bob.dh, certBytes: bob.certBytes });
    return { sock, b, id: b.addPeer({ dhKey: alice.dh.publicKey, psk: PSK, endpoint: aSock.local }) };
  };
  let bob1 = startBob(5484);
  a.addPeer({ dhKey: bob.dh.publicKey, psk: PSK, endpoint: bob1.sock.local });
  bob1.b.send(bob1.id, new TextEncoder().encode('hello'));
  const step = async (ms: number) => {
    for (let i = 0; i < ms; i += 5) {
      clock.advance(5);
      await new Promise<void>((r) => setImmediate(r));
    }
  };
  await step(500);
  if (inbox[0] !== 'hello') throw new Error(`bob did not reach alice before the flood (seed ${seed})`);

  // The flood: perSec initiations a second, round robin over the sources, for FLOOD_MS.
  const copies = strangerInitiations(aSock.local);
  const sources = Array.from({ length: s.sources }, (_, i) => floodHost.bind(40000 + i));
  let sent = 0;
  const start = clock.now();
  const tick = () => {
    const due = Math.floor(((clock.now() - start) * s.perSec) / SECOND);
    for (; sent < due; sent++) sources[sent % sources.length]!.send(aSock.local, copies[sent % copies.length]!);
    if (clock.now() - start < FLOOD_MS) clock.setTimer(10, tick);
  };
  tick();
  await step(RESTART_AT_MS);

  // Bob restarts on a new port and writes to alice at once.
  await bob1.b.close();
  await bob1.sock.close();
  bob1 = startBob(6000);
  const restartedAt = clock.now();
  bob1.b.send(bob1.id, new TextEncoder().encode('back'));
  let backInMs: number | undefined;
  while (clock.now() - start < FLOOD_MS + 10 * SECOND && backInMs === undefined) {
    await step(5);
    if (inbox.includes('back')) backInMs = clock.now() - restartedAt;
  }
  await step(Math.max(0, start + FLOOD_MS - clock.now()));
  return { backInMs, bytesToStrangers, datagramsToStrangers, aliceDrops: a.stats.dropped as Record<string, number> };
}

const fmt = (ms: number | undefined) => (ms === undefined ? `not within ${(FLOOD_MS - RESTART_AT_MS + 10 * SECOND) / SECOND} s` : `${ms} ms`);

const scenarios: (Scenario & { within?: number })[] = [
  { name: 'none (the baseline: no flood at all)', perSec: 0, sources: 1, floodHost: '10.0.0.66' },
  { name: '60/s from one stranger address (the issue)', perSec: 60, sources: 1, floodHost: '10.0.0.66', within: 1000 },
  { name: '60/s from 60 stranger addresses', perSec: 60, sources: 60, floodHost: '10.0.0.66', within: 1000 },
  { name: '600/s from 600 stranger addresses', perSec: 600, sources: 600, floodHost: '10.0.0.66', within: 1000 },
  // The worst case: the flood comes from bob's own host (same machine, same NAT, or spoofed),
  // so it competes with him for the reserve too. Printed, not asserted.
  { name: '600/s from 600 addresses on bob\'s own host', perSec: 600, sources: 600, floodHost: '10.0.0.2' },
];

for (const s of scenarios) {
  t.test(`under a flood of ${s.name}, a member restarted on a new port gets back in; strangers hear nothing`, async (t) => {
    const seed = `flood-${s.perSec}-${s.sources}-${s.floodHost}`;
    const before = await run(seed, s, { identifyPerSec: 0 });
    const after = await run(seed, s, {});
    t.comment(`${s.name}: before ${fmt(before.backInMs)}, after ${fmt(after.backInMs)}; bytes to strangers before ${before.bytesToStrangers}, after ${after.bytesToStrangers} (seed ${seed})`);
    t.comment(`drops after: ${JSON.stringify(after.aliceDrops)}`);
    t.equal(after.bytesToStrangers, 0, 'not one byte to a stranger');
    t.equal(before.bytesToStrangers, 0);
    if (s.within !== undefined) {
      t.ok(before.backInMs === undefined || before.backInMs >= FLOOD_MS - RESTART_AT_MS, `before: locked out until the flood ended (${fmt(before.backInMs)})`);
      t.ok(after.backInMs !== undefined && after.backInMs <= s.within, `after: back in ${fmt(after.backInMs)} (≤ ${s.within} ms)`);
    } else t.ok(after.backInMs === undefined || after.backInMs > 0, 'measured');
  });
}
