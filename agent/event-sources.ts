// What feeds the event log (agent/events.ts). Two ways in:
//   - pushed at the moment of change: members' states (membership's watchers, cluster/services.ts),
//     the conversation feed (consensus/feed.ts's long wait: messages and votes, whichever node
//     they came from), and the services that take an `emit` (pairing, mailbox, archive, closings:
//     see agent/README.md "Events" for each type and its data);
//   - compared with what they were a moment ago (every `intervalMs`), for what has no hook:
//     members' addresses, RTTs, arrivals and removals, and friends.
import { SECOND, type Clock, type Timer } from '../core/clock.js';
import type { Feed } from '../consensus/feed.js';
import type { EventLog } from './events.js';

/** How a service emits one event: `emit('mailbox.stored', {…})`. Never throws. */
export type Emit = (type: string, data: Record<string, unknown>) => void;
type Ev = [string, Record<string, unknown>];

export interface PeerRow { id: string; state: string; endpoint: string | null; label: string; rttMs: number | null }
export interface FriendRow { userKey: string; name: string; blocked: boolean }

export interface SourceDeps {
  clock: Clock;
  events: EventLog;
  peers?: () => PeerRow[];
  /** Membership's state changes as they happen (cluster/services.ts `watch`); returns an unsubscribe. */
  watchStates?: (fn: (id: string, state: string, previous: string) => void) => () => void;
  friends?: () => FriendRow[];
  feed?: Pick<Feed, 'wait' | 'last'>;
}

/** Events for what changed between two snapshots of keyed things (pure: tested through the log). */
export function diffEvents<T>(before: Map<string, T>, after: Map<string, T>, changed: (a: T, b: T) => Ev[], added: (b: T) => Ev, removed: (a: T) => Ev): Ev[] {
  const out: Ev[] = [];
  for (const [k, b] of after) {
    const a = before.get(k);
    if (a === undefined) out.push(added(b));
    else out.push(...changed(a, b));
  }
  for (const [k, a] of before) if (!after.has(k)) out.push(removed(a));
  return out;
}

/** A member's changes between two looks; `withState` false when states are pushed instead. */
export function peerChanges(a: PeerRow, b: PeerRow, withState: boolean): Ev[] {
  const out: Ev[] = [];
  if (withState && a.state !== b.state) out.push(['member.state', { id: b.id, label: b.label, state: b.state, previous: a.state }]);
  if (a.endpoint !== b.endpoint && b.endpoint !== null) out.push(['member.moved', { id: b.id, label: b.label, endpoint: b.endpoint, previous: a.endpoint }]);
  if (a.rttMs !== b.rttMs && b.rttMs !== null) out.push(['member.rtt', { id: b.id, rttMs: b.rttMs }]);
  return out;
}

export function friendChanges(a: FriendRow, b: FriendRow): Ev[] {
  if (a.blocked !== b.blocked) return [[b.blocked ? 'friend.blocked' : 'friend.unblocked', { userKey: b.userKey, name: b.name }]];
  return a.name !== b.name ? [['friend.renamed', { userKey: b.userKey, name: b.name, previous: a.name }]] : [];
}

/** The event type of a feed entry's kind: votes (consensus/patterns.ts's vote kinds), else messages. Closings are no feed entries: conv.closed comes from Conversations' onClosed. */
export const feedEventType = (kind: string): string => (['ballot', 'rsvp', 'position', 'ack'].includes(kind) ? 'conv.vote' : 'conv.message');

export function startEventSources(deps: SourceDeps, intervalMs = 250): { stop(): void } {
  const { events } = deps;
  let peers = new Map<string, PeerRow>((deps.peers?.() ?? []).map((p) => [p.id, p]));
  let friends = new Map<string, FriendRow>((deps.friends?.() ?? []).map((f) => [f.userKey, f]));
  const pushed = deps.watchStates !== undefined;
  const unwatch = deps.watchStates?.((id, state, previous) => {
    const label = deps.peers?.().find((p) => p.id === id)?.label ?? '';
    events.emit('member.state', { id, label, state, previous });
    const known = peers.get(id);
    if (known) peers.set(id, { ...known, state }); // the next comparison does not report it twice
  });
  let timer: Timer | undefined;
  let stopped = false;
  const tick = async () => {
    if (deps.peers) {
      const now = new Map(deps.peers().map((p) => [p.id, p]));
      for (const [type, data] of diffEvents(peers, now, (a, b) => peerChanges(a, b, !pushed),
        (b) => ['member.added', { id: b.id, label: b.label, state: b.state }],
        (a) => ['member.removed', { id: a.id, label: a.label }])) events.emit(type, data);
      peers = now;
    }
    if (deps.friends) {
      const now = new Map(deps.friends().map((f) => [f.userKey, f]));
      for (const [type, data] of diffEvents(friends, now, friendChanges,
        (b) => ['friend.added', { userKey: b.userKey, name: b.name }],
        (a) => ['friend.removed', { userKey: a.userKey, name: a.name }])) events.emit(type, data);
      friends = now;
    }
  };
  const loop = () => {
    if (stopped) return;
    timer = deps.clock.setTimer(intervalMs, () => void tick().catch(() => undefined).finally(loop));
  };
  loop();
  if (deps.feed) void followFeed(deps.feed, events, () => stopped);
  return {
    stop: () => {
      stopped = true;
      timer?.cancel();
      unwatch?.();
    },
  };
}

/** How long one wait on the feed lasts before it looks whether the sources were stopped. */
const FEED_WAIT_MS = SECOND;

/** Emits each feed entry as it is added, from the end the feed had at the start (bounded waits). */
async function followFeed(feed: Pick<Feed, 'wait' | 'last'>, events: EventLog, stopped: () => boolean): Promise<void> {
  try {
    let cursor = await feed.last();
    while (!stopped()) {
      const { entries, next } = await feed.wait(cursor, FEED_WAIT_MS);
      if (stopped()) return;
      for (const e of entries) events.emit(feedEventType(e.kind), { conv: e.conv, hash: e.hash, author: e.author, kind: e.kind, n: e.n });
      cursor = next;
    }
  } catch {
    // A store closed under the wait (the agent stopping): nothing more to follow.
  }
}
