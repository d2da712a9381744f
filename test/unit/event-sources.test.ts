// Every kind of event the agent's log is fed, each on its channel (agent/event-sources.ts and the
// services' emit hooks): members' states pushed at once from membership's watcher (alive →
// suspect → dead → alive, never doubled by the comparison), moves, RTTs, arrivals and removals;
// friends added, renamed, blocked, unblocked, removed; conversation messages, votes and closings
// from the feed (only what arrives after the start; closings come from Conversations' onClosed,
// tested with whole agents); the mailbox relay's answers (stored,
// refused, delivered; a pull makes none). Pairing and archive events come from whole agents:
// test/sim/events-agents.test.ts.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { EventLog, channelOf } from '../../agent/events.js';
import { startEventSources, feedEventType, type FriendRow, type PeerRow } from '../../agent/event-sources.js';
import { relayEvent } from '../../agent/mailbox-service.js';
import { encodeAnswer } from '../../cluster/mailbox-wire.js';
import type { FeedEntry } from '../../consensus/feed.js';

/** Lets the sources' timer fire and their async tick finish. */
async function step(clock: VirtualClock, ms = 250): Promise<void> {
  clock.advance(ms);
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

const kinds = (log: EventLog, since = 0) => log.read(since).events.map((e) => [e.type, e.channel, e.data] as const);

function world(initialFeed: FeedEntry[] = []) {
  const clock = new VirtualClock();
  const events = new EventLog(clock);
  const peers: PeerRow[] = [{ id: 'aa', state: 'alive', endpoint: '127.0.0.2:5484', label: 'bob laptop', rttMs: null }];
  const friends: FriendRow[] = [{ userKey: 'u1', name: 'bob', blocked: false }];
  const feed: FeedEntry[] = [...initialFeed];
  const wake = new Set<() => void>();
  const after = (cursor: number) => ({ entries: feed.filter((e) => e.n > cursor), next: Math.max(cursor, ...feed.map((e) => e.n)) });
  let watcher: ((id: string, state: string, previous: string) => void) | undefined;
  const sources = startEventSources({
    clock, events, peers: () => peers.map((p) => ({ ...p })), friends: () => friends.map((f) => ({ ...f })),
    watchStates: (fn) => ((watcher = fn), () => (watcher = undefined)),
    feed: {
      last: async () => Math.max(0, ...feed.map((e) => e.n)),
      wait: async (cursor: number, ms: number) => {
        if (after(cursor).entries.length === 0) await new Promise<void>((r) => { const timer = clock.setTimer(ms, r); wake.add(() => (timer.cancel(), r())); });
        return after(cursor);
      },
    },
  });
  const add = (...es: FeedEntry[]) => {
    feed.push(...es);
    for (const w of [...wake]) (wake.delete(w), w());
  };
  return { clock, events, peers, friends, feed, add, sources, state: (id: string, s: string, p: string) => watcher?.(id, s, p), watching: () => watcher !== undefined };
}

const entry = (n: number, kind: string): FeedEntry => ({ n, conv: 'c1', hash: `h${n}`, author: 'u1', chain: 'ch', seq: n, kind, data: {}, atMs: 0, addedAtMs: 0 });

t.test('members: a state change is an event at once; the comparison adds moves, RTTs, arrivals, removals', async (t) => {
  const w = world();
  t.teardown(() => w.sources.stop());
  w.state('aa', 'suspect', 'alive');
  t.same(kinds(w.events), [['member.state', 'high', { id: 'aa', label: 'bob laptop', state: 'suspect', previous: 'alive' }]], 'pushed before any comparison ran');
  w.peers[0]!.state = 'suspect';
  await step(w.clock);
  t.equal(w.events.lastId(), 1, 'the comparison does not report the same change again');
  for (const [s, p] of [['dead', 'suspect'], ['alive', 'dead']] as const) {
    w.peers[0]!.state = s;
    w.state('aa', s, p);
  }
  const seen = w.events.lastId();
  w.peers[0]!.endpoint = '127.0.0.3:5484';
  w.peers[0]!.rttMs = 12;
  w.peers.push({ id: 'bb', state: 'alive', endpoint: null, label: 'carol', rttMs: null });
  await step(w.clock);
  t.same(kinds(w.events, 1).slice(0, 2).map((k) => k[2]['state']), ['dead', 'alive'], 'dead, then alive again');
  t.same(kinds(w.events, seen), [
    ['member.moved', 'high', { id: 'aa', label: 'bob laptop', endpoint: '127.0.0.3:5484', previous: '127.0.0.2:5484' }],
    ['member.rtt', 'low', { id: 'aa', rttMs: 12 }],
    ['member.added', 'high', { id: 'bb', label: 'carol', state: 'alive' }],
  ]);
  w.peers.splice(1, 1);
  await step(w.clock);
  t.same(kinds(w.events, seen + 3), [['member.removed', 'high', { id: 'bb', label: 'carol' }]]);
});

t.test('friends: added, renamed, blocked, unblocked, removed', async (t) => {
  const w = world();
  t.teardown(() => w.sources.stop());
  const steps: [() => void, string][] = [
    [() => w.friends.push({ userKey: 'u2', name: 'carol', blocked: false }), 'friend.added'],
    [() => (w.friends[1]!.name = 'Carol B.'), 'friend.renamed'],
    [() => (w.friends[1]!.blocked = true), 'friend.blocked'],
    [() => (w.friends[1]!.blocked = false), 'friend.unblocked'],
    [() => w.friends.splice(1, 1), 'friend.removed'],
  ];
  for (const [change, type] of steps) {
    const since = w.events.lastId();
    change();
    await step(w.clock);
    const got = kinds(w.events, since);
    t.same(got.map((k) => [k[0], k[1], k[2]['userKey']]), [[type, 'high', 'u2']], type);
  }
  t.same(w.events.read(0).events.find((e) => e.type === 'friend.renamed')?.data, { userKey: 'u2', name: 'Carol B.', previous: 'carol' });
});

t.test('conversations: messages and votes (ballots, RSVPs, consent positions, acks) at once, only after the start', async (t) => {
  const w = world([entry(1, 'text')]);
  t.teardown(() => w.sources.stop());
  await step(w.clock, 0);
  t.equal(w.events.lastId(), 0, 'what the feed held before the first look is not news');
  w.add(entry(2, 'text'), entry(3, 'ballot'), entry(4, 'position'), entry(5, 'rsvp'), entry(6, 'ack'), entry(7, 'argument'));
  await step(w.clock, 0);
  t.same(kinds(w.events).map((k) => [k[0], k[1], k[2]['hash'], k[2]['kind']]), [
    ['conv.message', 'high', 'h2', 'text'], ['conv.vote', 'high', 'h3', 'ballot'], ['conv.vote', 'high', 'h4', 'position'],
    ['conv.vote', 'high', 'h5', 'rsvp'], ['conv.vote', 'high', 'h6', 'ack'], ['conv.message', 'high', 'h7', 'argument'],
  ]);
  t.equal(feedEventType('receipt'), 'conv.message', 'a read receipt is a message of kind receipt');
});

t.test('stop ends the comparisons and the watcher', async (t) => {
  const w = world();
  t.ok(w.watching());
  w.sources.stop();
  t.notOk(w.watching(), 'membership no longer calls in');
  w.friends.push({ userKey: 'u9', name: 'x', blocked: false });
  await step(w.clock, 1000);
  t.equal(w.events.lastId(), 0);
});

t.test('the mailbox relay\'s answers: stored, refused and delivered events; pulls and empty acks none', async (t) => {
  const stored = relayEvent('peer1', encodeAnswer({ t: 'pushed', inc: 'ab'.repeat(8), cursor: 7, hash: 'cd'.repeat(32), to: ['ef'.repeat(32), '01'.repeat(32)] }));
  t.same(stored, ['mailbox.stored', { from: 'peer1', cursor: 7, hash: 'cd'.repeat(32), waitingFor: 2 }]);
  t.same(relayEvent('peer1', encodeAnswer({ t: 'err', code: 'STORAGE_FULL', why: 'full' })), ['mailbox.refused', { from: 'peer1', code: 'STORAGE_FULL' }]);
  t.same(relayEvent('peer2', encodeAnswer({ t: 'acked', inc: 'ab'.repeat(8), deleted: 3 })), ['mailbox.delivered', { to: 'peer2', deleted: 3 }]);
  t.equal(relayEvent('peer2', encodeAnswer({ t: 'acked', inc: 'ab'.repeat(8), deleted: 0 })), undefined, 'an ack that deleted nothing');
  t.equal(relayEvent('peer2', encodeAnswer({ t: 'blobs', inc: 'ab'.repeat(8), hasMore: false, complete: true, items: [] })), undefined, 'a pull page');
  t.equal(relayEvent('peer2', new Uint8Array([0xff, 0x00])), undefined, 'bytes that are no answer');
  for (const type of ['mailbox.stored', 'mailbox.refused', 'mailbox.delivered', 'mailbox.pulled', 'mailbox.queued', 'pair.progress', 'archive.job', 'archive.audit', 'archive.repair']) t.equal(channelOf(type), 'high', `${type} is high`);
  t.equal(channelOf('archive.progress'), 'low', 'archive.progress is low');
});
