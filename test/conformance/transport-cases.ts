// The transport conformance suite: the same scenarios on SimNet (virtual clock) and on real
// node:dgram sockets over loopback. Runner-independent: test/unit/transport.test.ts runs it
// under tap on Node, test/bun/transport.ts under Bun with a small harness.
import type { Assert } from '../helpers/assert.js';
import { Transport, MAX_PAYLOAD, type TransportOptions } from '../../cluster/transport.js';
import { MemoryInitiationTs, type InitiationTsStore } from '../../cluster/initiation-ts.js';
import { toHex } from '../../core/hex.js';
import type { Endpoint, UdpSocket } from '../../core/udp.js';
import { testUser, type TestUser } from '../helpers/users.js';
import { simEnv, realEnv, type TransportEnv } from '../helpers/transport-env.js';

const alice = testUser('alice');
const bob = testUser('bob');
const mallory = testUser('mallory');
const PSK = new Uint8Array(32).fill(7);

interface Node {
  user: TestUser;
  socket: UdpSocket;
  transport: Transport;
  inbox: { peer: string; text: string }[];
  moves: Endpoint[];
  sessions: string[];
}

async function node(env: TransportEnv, user: TestUser, host: number, extra: { initiationTs?: InitiationTsStore; opts?: Partial<TransportOptions> } = {}): Promise<Node> {
  const socket = await env.socket(host);
  const n: Node = { user, socket, inbox: [], moves: [], sessions: [], transport: undefined as unknown as Transport };
  n.transport = new Transport({
    clock: env.clock, rng: env.rng, socket,
    events: {
      message: (peer, payload) => n.inbox.push({ peer, text: new TextDecoder().decode(payload) }),
      endpoint: (_peer, ep) => n.moves.push(ep),
      session: (_peer, cert) => n.sessions.push(toHex(cert.userKey)),
    },
    ...(extra.initiationTs ? { initiationTs: extra.initiationTs } : {}),
  }, { staticKey: user.dh, certBytes: user.certBytes, ...extra.opts });
  return n;
}

/** Records every datagram a node's socket sends (a copy), as `[to, bytes]`. */
function tap(n: Node): { to: Endpoint; data: Uint8Array }[] {
  const out: { to: Endpoint; data: Uint8Array }[] = [];
  const send = n.socket.send.bind(n.socket);
  n.socket.send = (to, d) => {
    out.push({ to, data: new Uint8Array(d) });
    send(to, d);
  };
  return out;
}

function pair(a: Node, b: Node, psk = PSK): { ab: string; ba: string } {
  const ab = a.transport.addPeer({ dhKey: b.user.dh.publicKey, psk, endpoint: b.socket.local });
  const ba = b.transport.addPeer({ dhKey: a.user.dh.publicKey, psk });
  return { ab, ba };
}

const text = (s: string) => new TextEncoder().encode(s);

export interface Case {
  name: string;
  fn: (t: Assert) => Promise<void>;
}

export function transportCases(): Case[] {
  const cases: Case[] = [];
  const test = (name: string, fn: (t: Assert) => Promise<void>) => cases.push({ name, fn });

for (const make of [() => simEnv('transport-1'), realEnv]) {
  const probe = make();
  const name = probe.name;
  void probe.close();

  test(`${name}: a handshake proves both certificates, then messages flow both ways`, async (t) => {
    const env = make();
    t.teardown(() => env.close());
    const a = await node(env, alice, 0);
    const b = await node(env, bob, 1);
    const { ab, ba } = pair(a, b);
    a.transport.send(ab, text('hello bob'));
    t.ok(await env.settle(() => b.inbox.length === 1), 'delivered');
    t.same(b.inbox[0], { peer: ba, text: 'hello bob' });
    t.same(b.sessions, [alice.hex], 'bob learnt alice\'s user key from her certificate');
    t.same(a.sessions, [bob.hex]);
    b.transport.send(ba, text('hi alice'));
    t.ok(await env.settle(() => a.inbox.length === 1));
    for (let i = 0; i < 20; i++) a.transport.send(ab, text(`m${i}`));
    t.ok(await env.settle(() => b.inbox.length === 21));
    t.same(b.inbox.slice(1).map((m) => m.text), Array.from({ length: 20 }, (_, i) => `m${i}`));
    t.equal(a.transport.stats.handshakes + b.transport.stats.handshakes, 2, 'one handshake');
    t.throws(() => a.transport.send(ab, new Uint8Array(MAX_PAYLOAD + 1)), RangeError);
  });

  test(`${name}: strangers, wrong keys and garbage get no answer at all`, async (t) => {
    const env = make();
    t.teardown(() => env.close());
    const a = await node(env, alice, 0);
    const b = await node(env, bob, 1);
    const m = await node(env, mallory, 2);
    pair(a, b);
    // Mallory knows bob's public key (from a card) but bob does not know her.
    const mb = m.transport.addPeer({ dhKey: bob.dh.publicKey, psk: PSK, endpoint: b.socket.local });
    let bytesToMallory = 0;
    const raw = await env.socket(3);
    raw.onMessage((d) => (bytesToMallory += d.length));
    m.socket.onMessage((d) => (bytesToMallory += d.length));
    m.transport.send(mb, text('let me in'));
    // Garbage, truncations and bit flips of a real initiation.
    const init: Uint8Array[] = [];
    const realSend = m.socket.send.bind(m.socket);
    m.socket.send = (to, d) => {
      init.push(new Uint8Array(d));
      realSend(to, d);
    };
    m.transport.connect(mb);
    await env.settle(() => init.length > 0, 2000);
    const sample = init[0]!;
    for (let i = 0; i < 300; i++) {
      const kind = i % 3;
      const d = kind === 0 ? env.rng.bytes(1 + env.rng.below(1300)) : kind === 1 ? sample.subarray(0, env.rng.below(sample.length)) : (() => {
        const x = new Uint8Array(sample);
        x[env.rng.below(x.length)]! ^= 1 << env.rng.below(8);
        return x;
      })();
      raw.send(b.socket.local, d);
    }
    for (let i = 0; i < 5; i++) raw.send(b.socket.local, sample); // replays of a stranger's initiation
    await env.settle(() => false, 1500);
    t.equal(bytesToMallory, 0, 'zero bytes in reply');
    t.equal(b.transport.stats.sent, 0, 'bob sent nothing');
    t.same(b.inbox, []);
    t.ok((b.transport.stats.dropped['mac1'] ?? 0) > 0, 'mac1 failures counted');
    t.ok((b.transport.stats.dropped['unknown-peer'] ?? 0) > 0, 'the stranger was refused after the DH');
  });

  test(`${name}: a wrong PSK never makes a session; a replayed data packet is dropped`, async (t) => {
    const env = make();
    t.teardown(() => env.close());
    const a = await node(env, alice, 0);
    const b = await node(env, bob, 1);
    const ab = a.transport.addPeer({ dhKey: bob.dh.publicKey, psk: new Uint8Array(32).fill(1), endpoint: b.socket.local });
    b.transport.addPeer({ dhKey: alice.dh.publicKey, psk: new Uint8Array(32).fill(2) });
    a.transport.send(ab, text('x'));
    await env.settle(() => false, 1500);
    t.same(b.inbox, []);
    t.notOk(a.transport.peerInfo(ab)!.established);
    t.ok((a.transport.stats.dropped['handshake'] ?? 0) > 0, 'the response did not decrypt');

    const env2 = make();
    t.teardown(() => env2.close());
    const c = await node(env2, alice, 0);
    const d = await node(env2, bob, 1);
    const { ab: cd } = pair(c, d);
    const sent: Uint8Array[] = [];
    const s = c.socket.send.bind(c.socket);
    c.socket.send = (to, data) => {
      sent.push(new Uint8Array(data));
      s(to, data);
    };
    c.transport.send(cd, text('once'));
    await env2.settle(() => d.inbox.length === 1);
    const dataPacket = sent.filter((p) => p[0] === 4).at(-1)!;
    for (let i = 0; i < 3; i++) s(d.socket.local, dataPacket);
    await env2.settle(() => false, 500);
    t.equal(d.inbox.length, 1, 'delivered exactly once');
    t.ok((d.transport.stats.dropped['counter'] ?? 0) >= 3);
  });
}

test('SimNet: roaming follows the latest authenticated packet; the change is an event', async (t) => {
  const env = simEnv('roam');
  const a = await node(env, alice, 0);
  const b = await node(env, bob, 1);
  const { ab, ba } = pair(a, b);
  a.transport.send(ab, text('from home'));
  await env.settle(() => b.inbox.length === 1);
  const hostA = [...(env.sim as unknown as { hosts: Map<string, { setAddress(x: string): void }> }).hosts.values()][0]!;
  hostA.setAddress('10.9.9.9');
  // A forged packet from another address must not move the endpoint.
  const rogue = await env.socket(7);
  rogue.send(b.socket.local, new Uint8Array(64));
  await env.settle(() => false, 200);
  t.equal(b.transport.peerInfo(ba)!.endpoint!.host, '10.0.0.1', 'unchanged by an unauthenticated packet');
  a.transport.send(ab, text('from the cafe'));
  await env.settle(() => b.inbox.length === 2);
  t.equal(b.transport.peerInfo(ba)!.endpoint!.host, '10.9.9.9');
  t.equal(b.moves.at(-1)!.host, '10.9.9.9', 'endpoint event');
  b.transport.send(ba, text('reply to the new address'));
  t.ok(await env.settle(() => a.inbox.length === 1));
});

test('SimNet: sessions rekey after two minutes and keepalives are sent only when configured', async (t) => {
  const env = simEnv('rekey');
  const a = await node(env, alice, 0);
  const b = await node(env, bob, 1);
  const { ab } = pair(a, b);
  a.transport.send(ab, text('1'));
  await env.settle(() => b.inbox.length === 1);
  const sentIdle = a.transport.stats.sent + b.transport.stats.sent;
  await env.settle(() => false, 60_000);
  t.equal(a.transport.stats.sent + b.transport.stats.sent, sentIdle, 'idle: silence');
  await env.settle(() => false, 70_000);
  a.transport.send(ab, text('2'));
  await env.settle(() => b.inbox.length === 2 && a.transport.stats.handshakes === 2, 5000);
  t.equal(b.inbox.length, 2, 'the old session still carries data while the new one is made');
  t.equal(a.transport.stats.handshakes, 2, 'a new handshake after REKEY_AFTER_TIME');
  a.transport.send(ab, text('3'));
  t.ok(await env.settle(() => b.inbox.length === 3), 'the new session carries data');
  a.transport.addPeer({ dhKey: bob.dh.publicKey, psk: PSK, keepaliveMs: 25_000 });
  const before = a.transport.stats.sent;
  await env.settle(() => false, 100_000);
  const keepalives = a.transport.stats.sent - before;
  t.ok(keepalives >= 3 && keepalives <= 5, `${keepalives} keepalives in 100 s at 25 s`);
});

test('SimNet: under load a known peer gets a cookie and gets through; a stranger hears nothing', async (t) => {
  const env = simEnv('cookie');
  const a = await node(env, alice, 0);
  const bSock = await env.socket(1);
  const bInbox: string[] = [];
  const b = new Transport({ clock: env.clock, rng: env.rng, socket: bSock, events: { message: (_p, d) => bInbox.push(new TextDecoder().decode(d)) } }, { staticKey: bob.dh, certBytes: bob.certBytes, underLoadPerSec: 1 });
  const ab = a.transport.addPeer({ dhKey: bob.dh.publicKey, psk: PSK, endpoint: bSock.local });
  b.addPeer({ dhKey: alice.dh.publicKey, psk: PSK, endpoint: a.socket.local });
  a.transport.send(ab, text('one'));
  t.ok(await env.settle(() => bInbox.length === 1), 'first handshake, not under load');
  // Two more handshakes within the second: the load threshold (1/s) is crossed.
  a.transport.connect(ab);
  a.transport.connect(ab);
  await env.settle(() => false, 100);
  t.ok(b.stats.cookiesSent >= 1, 'a cookie reply went to the known endpoint');
  a.transport.send(ab, text('two'));
  await env.settle(() => false, 7000); // the retry after REKEY_TIMEOUT carries mac2
  t.ok(bInbox.includes('two'), 'the peer got through with mac2');
  const m = await node(env, mallory, 2);
  const mb = m.transport.addPeer({ dhKey: bob.dh.publicKey, psk: PSK, endpoint: bSock.local });
  const cookiesBefore = b.stats.cookiesSent;
  for (let i = 0; i < 5; i++) m.transport.connect(mb);
  await env.settle(() => false, 500);
  t.equal(b.stats.cookiesSent, cookiesBefore, 'no cookie for a stranger\'s address');
  t.equal(m.inbox.length, 0);
});

test('SimNet: under load, the response to our own initiation is still read', async (t) => {
  const env = simEnv('response-under-load');
  const a = await node(env, alice, 0, { opts: { underLoadPerSec: 1 } });
  const b = await node(env, bob, 1);
  const ab = a.transport.addPeer({ dhKey: bob.dh.publicKey, psk: PSK, endpoint: b.socket.local });
  b.transport.addPeer({ dhKey: alice.dh.publicKey, psk: PSK, endpoint: a.socket.local });
  // Strangers keep alice under load (2 valid-looking initiations every 100 ms).
  const m = await node(env, mallory, 2);
  const ma = m.transport.addPeer({ dhKey: alice.dh.publicKey, psk: PSK, endpoint: a.socket.local });
  let flooding = true;
  const flood = () => {
    m.transport.connect(ma);
    m.transport.connect(ma);
    if (flooding) env.clock.setTimer(100, flood);
  };
  flood();
  await env.settle(() => false, 300);
  a.transport.send(ab, text('out under load'));
  t.ok(await env.settle(() => b.inbox.length === 1, 3000), 'bob\'s response was read: the message went out in the new session');
  t.equal(a.transport.stats.cookiesSent, 0, 'no cookie reply to a response');
  flooding = false;
});

test('SimNet: a seeded run replays exactly (trace hashes equal)', async (t) => {
  const run = async (seed: string) => {
    const env = simEnv(seed);
    env.sim!.defaults = { ...env.sim!.defaults, jitterMs: 20, loss: 0.1, duplicate: 0.1 };
    const a = await node(env, alice, 0);
    const b = await node(env, bob, 1);
    const { ab } = pair(a, b);
    for (let i = 0; i < 50; i++) a.transport.send(ab, text(`m${i}`));
    await env.settle(() => false, 20_000);
    return env.sim!.traceHash();
  };
  t.equal(await run('seed-a'), await run('seed-a'));
  t.not(await run('seed-a'), await run('seed-b'));
});

test('SimNet: a captured initiation replayed from elsewhere after the responder restarts gets no answer and moves nothing', async (t) => {
  // issue 18 break 5. Restart = a new Transport on the same address, given the same stored state.
  const replayOnce = async (persist: boolean) => {
    const env = simEnv(`replay-after-restart-${persist}`);
    const stored = new MemoryInitiationTs();
    const extra = persist ? { initiationTs: stored } : {};
    let a = await node(env, alice, 0, extra);
    const b = await node(env, bob, 1);
    const fromBob = tap(b);
    const { ab: bobToAlice } = pair(b, a);
    b.transport.send(bobToAlice, text('hello'));
    t.ok(await env.settle(() => a.inbox.length === 1), 'bob reached alice');
    const captured = fromBob.find((x) => x.data[0] === 1)!.data;
    await a.transport.close();
    await a.socket.close();
    a = await node(env, alice, 0, extra);
    const ab = a.transport.addPeer({ dhKey: bob.dh.publicKey, psk: PSK, endpoint: b.socket.local });
    const fromAlice = tap(a);
    const replayer = await env.socket(5);
    for (let i = 0; i < 3; i++) replayer.send(a.socket.local, captured);
    await env.settle(() => false, 2000);
    return { a, b, ab, fromAlice, replayer, env };
  };

  const kept = await replayOnce(true);
  t.same(kept.fromAlice, [], 'with the timestamp kept across the restart: not one datagram to anyone');
  t.equal(kept.a.transport.stats.dropped['replayed-init'], 3, 'refused as replays');
  t.equal(kept.a.transport.peerInfo(kept.ab)!.endpoint!.host, '10.0.0.2', 'bob\'s endpoint unchanged');
  t.same(kept.a.moves, []);
  // Bob himself still gets in after the restart (his next initiation has a newer timestamp);
  // a new handshake is what membership starts when a member stops answering.
  const bobToAlice = kept.b.transport.peerIds()[0]!;
  kept.b.transport.connect(bobToAlice);
  await kept.env.settle(() => kept.b.transport.stats.handshakes === 2);
  kept.b.transport.send(bobToAlice, text('after the restart'));
  t.ok(await kept.env.settle(() => kept.a.inbox.some((m) => m.text === 'after the restart')), 'bob reconnects');

  // Without the stored timestamp the replay is answered (one response; WireGuard's limit too),
  // but a handshake alone moves nothing: the endpoint waits for data from the new address.
  const lost = await replayOnce(false);
  t.equal(lost.fromAlice.filter((x) => x.to.host === lost.replayer.local.host).length, 1, 'one response to the replayer, no more');
  t.equal(lost.a.transport.peerInfo(lost.ab)!.endpoint!.host, '10.0.0.2', 'bob\'s endpoint unchanged by a handshake alone');
  t.same(lost.a.moves, [], 'no endpoint event');
  lost.a.transport.send(lost.ab, text('to bob'));
  t.ok(await lost.env.settle(() => lost.b.inbox.some((m) => m.text === 'to bob')), 'alice still reaches bob where he is');
});

test('SimNet: a member\'s initiation from a new address moves its endpoint only when data arrives from there', async (t) => {
  const env = simEnv('confirm-by-data');
  const a = await node(env, alice, 0);
  const b = await node(env, bob, 1);
  const { ab, ba } = pair(a, b);
  a.transport.send(ab, text('1'));
  await env.settle(() => b.inbox.length === 1);
  // Alice moves; her new initiation reaches bob, but her data packets are lost for a while.
  const hostA = [...(env.sim as unknown as { hosts: Map<string, { setAddress(x: string): void }> }).hosts.values()][0]!;
  hostA.setAddress('10.9.9.9');
  env.sim!.partition(['10.9.9.9'], ['10.0.0.2']);
  const send = a.socket.send.bind(a.socket);
  a.socket.send = (to, d) => (d[0] === 4 ? undefined : send(to, d));
  env.sim!.heal();
  a.transport.connect(ab);
  await env.settle(() => b.transport.stats.handshakes === 2, 2000);
  t.equal(b.transport.stats.handshakes, 2, 'bob accepted the initiation from the new address');
  t.equal(b.transport.peerInfo(ba)!.endpoint!.host, '10.0.0.1', 'but keeps the old endpoint until data confirms the session');
  a.socket.send = send;
  a.transport.send(ab, text('2'));
  t.ok(await env.settle(() => b.inbox.length === 2));
  t.equal(b.transport.peerInfo(ba)!.endpoint!.host, '10.9.9.9', 'data from the new address moved it');
  t.same(b.moves.map((m) => m.host), ['10.0.0.1', '10.9.9.9'], 'one endpoint event for the move');
});

test('SimNet: payloads queued while reaching a peer at several addresses go to the one that answered', async (t) => {
  const env = simEnv('queued-to-answer');
  const a = await node(env, alice, 0);
  const b = await node(env, bob, 1);
  const stale = { host: '10.0.0.99', port: 5484 }; // nobody there any more
  const ab = a.transport.addPeer({ dhKey: bob.dh.publicKey, psk: PSK, endpoint: stale });
  b.transport.addPeer({ dhKey: alice.dh.publicKey, psk: PSK });
  a.transport.send(ab, text('queued'));
  a.transport.connect(ab, [stale, b.socket.local]);
  const fromAlice = tap(a);
  t.ok(await env.settle(() => b.inbox.length === 1), 'the queued payload arrived');
  t.equal(b.inbox[0]!.text, 'queued');
  t.equal(a.transport.peerInfo(ab)!.endpoint!.host, '10.0.0.2', 'the endpoint moved to the answer');
  t.same(fromAlice.filter((x) => x.data[0] === 4).map((x) => x.to.host), ['10.0.0.2'], 'one data packet, to the new endpoint (the queued payload confirms the keys: no extra keepalive)');
});

test('SimNet: crossing initiations both complete, and data flows both ways in either session', async (t) => {
  // cluster/README.md §Pending initiations: an initiation received does not cancel our own.
  const env = simEnv('crossing');
  const a = await node(env, alice, 0);
  const b = await node(env, bob, 1);
  const ab = a.transport.addPeer({ dhKey: bob.dh.publicKey, psk: PSK, endpoint: b.socket.local });
  const ba = b.transport.addPeer({ dhKey: alice.dh.publicKey, psk: PSK, endpoint: a.socket.local });
  a.transport.connect(ab);
  b.transport.connect(ba);
  await env.settle(() => false, 500);
  t.equal(a.transport.stats.handshakes, 2, 'alice: her own handshake and bob\'s');
  t.equal(b.transport.stats.handshakes, 2);
  for (let i = 0; i < 5; i++) {
    a.transport.send(ab, text(`a${i}`));
    b.transport.send(ba, text(`b${i}`));
  }
  t.ok(await env.settle(() => a.inbox.length === 5 && b.inbox.length === 5), 'every message delivered both ways');
  t.equal(a.transport.stats.handshakes + b.transport.stats.handshakes, 4, 'no further handshake needed');
  t.same(a.transport.stats.dropped, {}, 'nothing dropped');
  t.same(b.transport.stats.dropped, {});
});

test('SimNet: two transports built from one seed send byte-identical handshakes (ephemerals from the Rng)', async (t) => {
  // Every random choice (ephemeral keys, indexes, jitter, cookie secrets and nonces) comes from
  // the Rng the transport is built with, so the bytes on the wire replay with the seed.
  const run = async (seed: string) => {
    const env = simEnv(seed);
    const a = await node(env, alice, 0);
    const b = await node(env, bob, 1);
    const wire: string[] = [];
    for (const n of [a, b]) {
      const send = n.socket.send.bind(n.socket);
      n.socket.send = (to, d) => {
        wire.push(`${n.user.hex.slice(0, 8)}→${to.host}:${to.port} ${toHex(d)}`);
        send(to, d);
      };
    }
    const { ab, ba } = pair(a, b);
    a.transport.send(ab, text('one'));
    await env.settle(() => b.inbox.length === 1);
    b.transport.send(ba, text('two'));
    await env.settle(() => a.inbox.length === 1);
    return wire;
  };
  const first = await run('same-seed');
  const again = await run('same-seed');
  t.ok(first.some((w) => / 01/.test(w)) && first.some((w) => / 02/.test(w)), 'an initiation and a response were sent');
  t.same(again, first, 'every datagram equal, byte for byte');
  const other = await run('other-seed');
  t.equal(other.length, first.length);
  t.not(other.find((w) => / 01/.test(w)), first.find((w) => / 01/.test(w)), 'another seed, another ephemeral key');
});

  return cases;
}

/** NAT behaviour of the transport on SimNet: mappings, their timeouts, and keepalives holding them. */
export function natCases(): Case[] {
  const cases: Case[] = [];
  for (const type of ['full-cone', 'address-restricted', 'port-restricted', 'symmetric'] as const) {
    cases.push({
      name: `SimNet ${type} NAT: the peer behind it is reached through its mapping; a keepalive holds it`,
      fn: async (t) => {
        const env = simEnv(`nat-${type}`);
        const net = env.sim!;
        const nat = net.nat('203.0.113.7', type, 30_000);
        const home = net.host('192.168.1.10', { behind: nat });
        const server = net.host('198.51.100.1');
        const mk = (user: TestUser, sock: UdpSocket) => {
          const n: Node = { user, socket: sock, inbox: [], moves: [], sessions: [], transport: undefined as unknown as Transport };
          n.transport = new Transport({ clock: env.clock, rng: env.rng, socket: sock, events: { message: (p, d) => n.inbox.push({ peer: p, text: new TextDecoder().decode(d) }) } }, { staticKey: user.dh, certBytes: user.certBytes });
          return n;
        };
        const a = mk(alice, home.bind(5484));
        const b = mk(bob, server.bind(5484));
        const ab = a.transport.addPeer({ dhKey: bob.dh.publicKey, psk: PSK, endpoint: b.socket.local });
        const ba = b.transport.addPeer({ dhKey: alice.dh.publicKey, psk: PSK });
        a.transport.send(ab, text('out'));
        t.ok(await env.settle(() => b.inbox.length === 1), 'outbound through the NAT');
        t.equal(b.transport.peerInfo(ba)!.endpoint!.host, '203.0.113.7', 'the server sees the public address');
        b.transport.send(ba, text('back'));
        t.ok(await env.settle(() => a.inbox.length === 1), 'the reply comes back through the mapping');
        await env.settle(() => false, 40_000);
        b.transport.send(ba, text('after the mapping expired'));
        await env.settle(() => false, 2000);
        t.equal(a.inbox.length, 1, 'no mapping, no delivery');
        // With a keepalive shorter than the mapping timeout, the mapping stays.
        a.transport.addPeer({ dhKey: bob.dh.publicKey, psk: PSK, keepaliveMs: 20_000 });
        a.transport.send(ab, text('again'));
        await env.settle(() => b.inbox.length >= 2, 5000);
        await env.settle(() => false, 90_000);
        b.transport.send(ba, text('held'));
        t.ok(await env.settle(() => a.inbox.some((m) => m.text === 'held'), 5000), 'the keepalive held the mapping');
      },
    });
  }
  return cases;
}
