// The agent's pairing offer over real TCP on loopback, attacked the way a stranger on the LAN can:
// connections that say nothing, connections reset at once, a joiner that stops mid-PAKE. The
// offer must survive, the real friend must still get in, and when the offer really is taken the
// friend hears "busy", not "expired" (issue 18, break 1 and weak spot 7).
import t from 'tap';
import net from 'node:net';
import { realClock } from '../../core/clock.js';
import { cryptoRng } from '../../core/rng.js';
import { bytesEqual, toHex } from '../../core/hex.js';
import { isKithError } from '../../core/errors.js';
import { verifyCertificate } from '../../identity/certificate.js';
import { makeFriendCard } from '../../cluster/pairing/friend-card.js';
import { parsePairTarget } from '../../cluster/pairing/code.js';
import { decodeMessage, encodeMessage, PairInitiator, type PairSelf } from '../../cluster/pairing/protocol.js';
import { encodeCanonical } from '../../core/cbor.js';
import { SeededRng } from '../../core/rng.js';
import { readDiscovery } from '../../agent/pair-net.js';
import { startPairing, type PairingService } from '../../agent/pairing-service.js';
import { sendFrame, framed } from '../../agent/pair-net.js';
import type { RosterService } from '../../agent/roster-service.js';
import { testUser } from '../helpers/users.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function self(name: string): PairSelf {
  const u = testUser(name);
  const card = { cert: verifyCertificate(u.certBytes), certBytes: u.certBytes, endpoints: [{ kind: 'lan' as const, host: '127.0.0.1', port: 5484 }] };
  return { userKey: u.userKey, friendCard: makeFriendCard(name, [card], u.signSecret), isBlocked: () => false };
}

/** Only what pairing uses of the roster: who we are, and what becomes of a friend. */
function fakeRoster(name: string): RosterService {
  const me = self(name);
  return {
    pairSelf: async () => me,
    befriend: async (r) => ({ kind: 'friend', friendUserKey: toHex(r.friend.userKey), friendName: r.friend.name, safetyNumber: r.safetyNumber, nodes: r.friend.nodes.length }),
  } as Partial<RosterService> as RosterService;
}

const logLines: string[] = [];
const log = { debug: (m: string) => logLines.push(m), info: (m: string) => logLines.push(m), warn: (m: string) => logLines.push(m), error: (m: string) => logLines.push(m) };

function service(name: string): PairingService {
  return startPairing({ clock: realClock, rng: cryptoRng, roster: fakeRoster(name), log, host: '127.0.0.1', defaultTtlMs: 60_000 });
}

function portOf(qr: string): number {
  return parsePairTarget(qr).endpoint!.port;
}

/** A TCP connection that connects and then says nothing. */
function idle(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => resolve(s));
    s.on('error', reject);
  });
}

/** Connects, then resets at once (RST, no FIN). */
function connectAndReset(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.resetAndDestroy();
      resolve();
    });
    s.on('error', () => resolve());
  });
}

async function joinError(svc: PairingService, qr: string): Promise<string> {
  try {
    await svc.join(qr);
    return 'none';
  } catch (e) {
    return isKithError(e) ? e.code : String(e);
  }
}

t.test('an idle connection plus 20 connect-and-reset ones: the agent stays up and the friend still pairs', async (t) => {
  const alice = service('alice');
  const bob = service('bob');
  t.teardown(() => Promise.all([alice.stop(), bob.stop()]));
  const offer = await alice.offer();
  const port = portOf(offer.qr);
  const held = await idle(port);
  t.teardown(() => held.destroy());
  for (let round = 0; round < 3; round++) {
    await Promise.all(Array.from({ length: 20 }, () => connectAndReset(port)));
    await sleep(50);
  }
  t.equal(alice.offerState(offer.id).state, 'waiting', 'resets leave the offer waiting');
  const out = await bob.join(offer.qr);
  t.equal(out.friendName, 'alice', 'the friend pairs while the idle connection is still open');
  t.equal(alice.offerState(offer.id).state, 'paired');
  t.notOk(logLines.some((l) => /\n|\s+at\s/.test(l)), 'no stack traces logged');
});

t.test('a connection that never says hello does not keep the friend out', async (t) => {
  const alice = service('alice');
  const bob = service('bob');
  t.teardown(() => Promise.all([alice.stop(), bob.stop()]));
  const offer = await alice.offer();
  const port = portOf(offer.qr);
  const squatters = await Promise.all(Array.from({ length: 40 }, () => idle(port)));
  t.teardown(() => squatters.forEach((s) => s.destroy()));
  const out = await bob.join(offer.qr);
  t.equal(out.friendName, 'alice', 'the friend pairs past 40 idle connections');
  const r = alice.offerState(offer.id).result as { friendUserKey: string };
  t.ok(bytesEqual(Buffer.from(r.friendUserKey, 'hex'), testUser('bob').userKey), 'alice befriended bob');
});

t.test('while another joiner is mid-PAKE, the friend hears PAIR_BUSY (not PAIR_EXPIRED)', async (t) => {
  const alice = service('alice');
  const bob = service('bob');
  t.teardown(() => Promise.all([alice.stop(), bob.stop()]));
  const offer = await alice.offer();
  const port = portOf(offer.qr);
  // Carol has the right code, sends her hello and stalls after the share.
  const carol = new PairInitiator(parsePairTarget(offer.qr).code, self('carol'), cryptoRng);
  const sock = await idle(port);
  t.teardown(() => sock.destroy());
  const share = new Promise<Uint8Array>((resolve) => framed(sock, resolve, () => undefined));
  sendFrame(sock, carol.start());
  t.equal(decodeMessage(await share)['t'], 'share', 'the stalling joiner got the share');
  t.equal(await joinError(bob, offer.qr), 'PAIR_BUSY', 'a second joiner is told the offer is busy');
  t.equal(alice.offerState(offer.id).state, 'waiting', 'and the offer still waits for the first');
});

/** A frame as the offer reads them: u32 big-endian length, then the bytes. */
const frame = (b: Uint8Array) => Buffer.concat([Buffer.from([b.length >>> 24, (b.length >>> 16) & 255, (b.length >>> 8) & 255, b.length & 255]), b]);

/** Sends bytes on a fresh connection, then waits for the offer to close it (or 1 s). */
function sendRaw(port: number, bytes: Buffer, opts: { thenClose?: boolean } = {}): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      if (bytes.length) s.write(bytes);
      if (opts.thenClose) s.end();
    });
    const done = () => (clearTimeout(timer), s.destroy(), resolve());
    const timer = setTimeout(done, 1000);
    s.on('error', done);
    s.on('close', done);
  });
}

t.test('pairing garbage of 16 kinds leaves the offer waiting, and the friend pairs afterwards from the same address', async (t) => {
  const alice = service('alice');
  const bob = service('bob');
  t.teardown(() => Promise.all([alice.stop(), bob.stop()]));
  const offer = await alice.offer();
  const port = portOf(offer.qr);
  const code = parsePairTarget(offer.qr).code;
  const rng = new SeededRng('garbage');
  const hello = (m: Record<string, unknown>) => frame(encodeMessage({ t: 'hello', v: 1, offer: code.offer, sid: rng.bytes(16), Y: rng.bytes(32), ...m } as never));
  const kinds: [string, Buffer, boolean?][] = [
    ['connect and close', Buffer.alloc(0), true],
    ['random bytes', Buffer.from(rng.bytes(700))],
    ['a 4 GiB frame length', Buffer.from([255, 255, 255, 255, 1, 2, 3])],
    ['a zero-length frame', frame(new Uint8Array(0))],
    ['a frame that is not CBOR', frame(new TextEncoder().encode('GET / HTTP/1.1\r\n\r\n'))],
    ['CBOR that is not a map', frame(encodeCanonical([1, 2, 3]))],
    ['a map without "t"', frame(encodeCanonical({ v: 1 }))],
    ['an unknown "t"', frame(encodeCanonical({ t: 'zzz' }))],
    ['hello, version 2', hello({ v: 2 })],
    ['hello for another offer', hello({ offer: code.offer === 9999 ? 1000 : code.offer + 1 })],
    ['hello with a 3-byte sid', hello({ sid: rng.bytes(3) })],
    ['hello with a 31-byte share', hello({ Y: rng.bytes(31) })],
    ['confirm before hello', frame(encodeCanonical({ t: 'confirm', mac: rng.bytes(32), box: rng.bytes(40) }))],
    ['abort before hello', frame(encodeCanonical({ t: 'abort', code: 'PAIR_WRONG_CODE' }))],
    ['half a frame, then close', frame(encodeCanonical({ t: 'hello', v: 1 })).subarray(0, 6), true],
    ['100 garbage frames in one write', Buffer.concat(Array.from({ length: 100 }, (_, i) => frame(encodeCanonical({ t: `x${i}` }))))],
  ];
  for (const [why, bytes, close] of kinds) {
    await sendRaw(port, bytes, { thenClose: close === true });
    t.equal(alice.offerState(offer.id).state, 'waiting', `${why}: the offer still waits`);
  }
  const out = await bob.join(offer.qr);
  t.equal(out.friendName, 'alice', 'then the friend pairs, from the same address (no rate limit was earned)');
});

t.test('3,000 discovery datagrams of garbage: none is taken for a question, and only a well-formed one is', async (t) => {
  const rng = new SeededRng('discovery');
  let taken = 0;
  for (let i = 0; i < 3000; i++) {
    const kind = i % 4;
    const d = kind === 0 ? rng.bytes(1 + rng.below(200))
      : kind === 1 ? encodeCanonical({ t: 'where', offer: 'x'.repeat(rng.below(200)) }).subarray(0, 1 + rng.below(20))
        : kind === 2 ? encodeCanonical([{ t: 'where' }, rng.below(10_000)])
          : (() => {
            const b = new Uint8Array(encodeCanonical({ t: 'where', offer: 1000 + rng.below(9000) }));
            b[rng.below(b.length)]! ^= 1 << rng.below(8);
            return b;
          })();
    const m = readDiscovery(d);
    if (m?.['t'] === 'where' && typeof m['offer'] === 'number') taken++;
  }
  t.ok(taken < 3000 * 0.25 * 0.2, `${taken} of 3,000 (bit flips may leave a valid question: that is fine, it only asks)`);
  t.same(readDiscovery(encodeCanonical({ t: 'where', offer: 4096 })), { t: 'where', offer: 4096 });
  t.equal(readDiscovery(new Uint8Array(2000)), undefined, 'an oversized datagram is not read');
});
