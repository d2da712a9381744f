// Holders (consensus/holders.ts): which group nodes hold what, learned first hand from HAVEs and
// second hand from `held` gossip. The gossip tells each peer only what grew since it was last told
// (a conversation of 200 messages among 8 nodes sent its whole table to every node on every
// change), tells everything again to a peer that comes up (it may have restarted), and ignores
// entries from non-members or about nodes outside the epoch.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { hexBytes } from '../../core/hex.js';
import type { CborValue } from '../../core/cbor.js';
import { Holders, HELD_FLUSH_MS } from '../../consensus/holders.js';
import type { EpochRecord } from '../../consensus/epochs.js';

const hex = (n: number) => n.toString(16).padStart(2, '0').repeat(32);
const GROUP = hex(0xaa);
const [SELF, LAPTOP, ROUTER, PHONE, STRANGER] = [hex(1), hex(2), hex(3), hex(4), hex(9)];
const CHAIN = hex(0xc1);
const toHex = (b: CborValue) => Buffer.from(b as Uint8Array).toString('hex');

function epoch(): EpochRecord {
  const w = { enc: new Uint8Array(32), ct: new Uint8Array(48) };
  return {
    hash: hex(0xe0), conv: GROUP, number: 0, prev: '', startedAtMs: 0, user: new Uint8Array(32), node: SELF, bytes: new Uint8Array(0),
    readers: new Map([[SELF, { user: hex(0x11), ...w }], [LAPTOP, { user: hex(0x12), ...w }], [PHONE, { user: hex(0x12), ...w }]]),
    holders: new Map([[ROUTER, hex(0x12)]]),
  };
}

function world() {
  const clock = new VirtualClock();
  const own = new Map<string, number>();
  const peers = new Set([LAPTOP, ROUTER]);
  const sent: { peer: string; entries: [string, string, string, number][] }[] = [];
  const h = new Holders({
    self: SELF, clock, epoch: (g) => (g === GROUP ? epoch() : undefined), ownTips: () => own, peers: () => [...peers],
    send: (peer, m) => sent.push({ peer, entries: (m['h'] as CborValue[][]).map((e) => [toHex(e[0]!), toHex(e[1]!), toHex(e[2]!), e[3] as number]) }),
  });
  const flush = () => clock.advance(HELD_FLUSH_MS);
  const to = (peer: string) => sent.filter((s) => s.peer === peer).flatMap((s) => s.entries);
  return { clock, own, peers, sent, h, flush, to };
}

t.test('a message stored here is told once to every reachable group node', async (t) => {
  const w = world();
  w.own.set(CHAIN, 1);
  w.h.onStored(GROUP);
  w.flush();
  t.same(w.to(LAPTOP), [[GROUP, SELF, CHAIN, 1]]);
  t.same(w.to(ROUTER), [[GROUP, SELF, CHAIN, 1]]);
  t.same(w.to(PHONE), [], 'an unreachable node is not sent to');
  w.sent.length = 0;
  w.h.onStored(GROUP); // nothing grew
  w.flush();
  t.same(w.sent, [], 'nothing is sent when nothing grew');
});

t.test('only what grew since the last telling goes out (the table is not resent on every change)', async (t) => {
  const w = world();
  w.own.set(CHAIN, 1);
  w.h.onHave(GROUP, LAPTOP, new Map([[CHAIN, 1]]));
  w.flush();
  t.same(w.to(ROUTER).sort(), [[GROUP, SELF, CHAIN, 1], [GROUP, LAPTOP, CHAIN, 1]].sort(), 'the router hears of this node and the laptop');
  t.same(w.to(LAPTOP), [[GROUP, SELF, CHAIN, 1]], 'the laptop is not told about itself');
  w.sent.length = 0;
  w.own.set(CHAIN, 2);
  w.h.onStored(GROUP);
  w.flush();
  t.same(w.to(ROUTER), [[GROUP, SELF, CHAIN, 2]], 'the second message: one entry, not the whole table');
  t.same(w.to(LAPTOP), [[GROUP, SELF, CHAIN, 2]]);
});

t.test('a peer that comes up again is told everything (it may have restarted and forgotten)', async (t) => {
  const w = world();
  w.own.set(CHAIN, 3);
  w.h.onStored(GROUP);
  w.flush();
  w.sent.length = 0;
  w.h.peerUp(ROUTER);
  w.flush();
  t.same(w.to(ROUTER), [[GROUP, SELF, CHAIN, 3]], 'the whole table again');
  t.same(w.to(LAPTOP), [], 'the others were told already');
  w.sent.length = 0;
  w.h.peerUp(PHONE); // never told anything: nothing to forget, nothing to flush
  w.flush();
  t.same(w.sent, []);
});

t.test('a peer that goes down is forgotten at once: told everything again on reconnect, even without a peerUp', async (t) => {
  const w = world();
  w.own.set(CHAIN, 3);
  w.h.onHave(GROUP, LAPTOP, new Map([[CHAIN, 2]]));
  w.flush();
  t.same(w.to(ROUTER).length, 2, 'the router was told of this node and the laptop');
  w.sent.length = 0;
  w.peers.delete(ROUTER);
  w.h.peerDown(ROUTER);
  w.own.set(CHAIN, 4);
  w.h.onStored(GROUP);
  w.flush();
  t.same(w.to(ROUTER), [], 'nothing goes to a node that is down');
  w.sent.length = 0;
  // It comes back: membership says alive (peerUp), the whole table goes to it.
  w.peers.add(ROUTER);
  w.h.peerUp(ROUTER);
  w.flush();
  t.same(w.to(ROUTER).sort(), [[GROUP, SELF, CHAIN, 4], [GROUP, LAPTOP, CHAIN, 2]].sort(), 'the whole table again, the laptop\'s entry too (unchanged since it was last told)');
  t.same(w.to(LAPTOP), [], 'the laptop was told already');
  w.sent.length = 0;
  // Down again, and back without a peerUp (a restart the agent's start-up loop or a later change reaches): the next change tells it all.
  w.h.peerDown(ROUTER);
  w.own.set(CHAIN, 5);
  w.h.onStored(GROUP);
  w.flush();
  t.same(w.to(ROUTER).sort(), [[GROUP, SELF, CHAIN, 5], [GROUP, LAPTOP, CHAIN, 2]].sort(), 'the forgotten peer gets every entry with the next flush, not only what grew');
  w.sent.length = 0;
  w.h.peerDown(PHONE); // never told anything: nothing to keep
  w.h.peerUp(PHONE);
  w.flush();
  t.same(w.sent, []);
});

t.test('second-hand entries: taken from group nodes about group nodes, passed on, shown in heldBy', async (t) => {
  const w = world();
  const b = hexBytes;
  w.h.receive(LAPTOP, { t: 'held', h: [[b(GROUP), b(PHONE), b(CHAIN), 2]] });
  w.h.receive(STRANGER, { t: 'held', h: [[b(GROUP), b(PHONE), b(CHAIN), 9]] });
  w.h.receive(LAPTOP, { t: 'held', h: [[b(GROUP), b(STRANGER), b(CHAIN), 9], [b(GROUP), b(PHONE), 'x', 1]] });
  t.equal(w.h.stats.ignored, 3, 'a stranger, an entry about a non-member and a malformed entry are ignored');
  w.flush();
  t.same(w.to(ROUTER), [[GROUP, PHONE, CHAIN, 2]], 'what the laptop told is passed on to the router');
  t.same(w.to(LAPTOP), [], 'the laptop is not told back what it told');
  const by = w.h.heldBy({ conv: GROUP, chain: CHAIN, seq: 2, authorHex: hex(0x11) }, [hex(0x11), hex(0x12)], epoch());
  t.same(by, [{ user: hex(0x11), nodes: 1, of: 1 }, { user: hex(0x12), nodes: 1, of: 3 }], 'the phone holds seq 2; the laptop and router are not known to');
});

t.test('a lower or equal tip heard later changes nothing and sends nothing', async (t) => {
  const w = world();
  w.h.onHave(GROUP, LAPTOP, new Map([[CHAIN, 5]]));
  w.flush();
  w.sent.length = 0;
  w.h.onHave(GROUP, LAPTOP, new Map([[CHAIN, 4]]));
  w.flush();
  t.same(w.sent, []);
});

t.test('close stops the flush timer', async (t) => {
  const w = world();
  w.own.set(CHAIN, 1);
  w.h.onStored(GROUP);
  w.h.close();
  w.flush();
  t.same(w.sent, []);
});
