// What feeds the event log (agent/events.ts) from services that have no event hook yet: members'
// states and addresses, friends, and the conversation feed (consensus/feed.ts), each compared with
// what it was a moment ago (every `intervalMs`). Services that gain a hook emit directly instead
// (events.emit(type, data): one line) and leave this list.
import type { Clock, Timer } from '../core/clock.js';
import type { Feed } from '../consensus/feed.js';
import type { EventLog } from './events.js';

export interface SourceDeps {
  clock: Clock;
  events: EventLog;
  peers?: () => { id: string; state: string; endpoint: string | null; label: string; rttMs: number | null }[];
  friends?: () => { userKey: string; name: string; blocked: boolean }[];
  feed?: Pick<Feed, 'after'>;
}

/** Events for what changed between two snapshots of keyed things (pure: tested through the log). */
export function diffEvents<T>(before: Map<string, T>, after: Map<string, T>, changed: (a: T, b: T) => [string, Record<string, unknown>][], added: (b: T) => [string, Record<string, unknown>], removed: (a: T) => [string, Record<string, unknown>]): [string, Record<string, unknown>][] {
  const out: [string, Record<string, unknown>][] = [];
  for (const [k, b] of after) {
    const a = before.get(k);
    if (a === undefined) out.push(added(b));
    else out.push(...changed(a, b));
  }
  for (const [k, a] of before) if (!after.has(k)) out.push(removed(a));
  return out;
}

export function startEventSources(deps: SourceDeps, intervalMs = 250): { stop(): void } {
  const { events } = deps;
  type P = ReturnType<NonNullable<SourceDeps['peers']>>[number];
  type F = ReturnType<NonNullable<SourceDeps['friends']>>[number];
  let peers = new Map<string, P>((deps.peers?.() ?? []).map((p) => [p.id, p]));
  let friends = new Map<string, F>((deps.friends?.() ?? []).map((f) => [f.userKey, f]));
  let feedCursor = -1;
  let timer: Timer | undefined;
  let busy = false;
  const tick = async () => {
    if (deps.peers) {
      const now = new Map(deps.peers().map((p) => [p.id, p]));
      for (const [type, data] of diffEvents(peers, now,
        (a, b) => [
          ...(a.state !== b.state ? [['member.state', { id: b.id, label: b.label, state: b.state, previous: a.state }] as [string, Record<string, unknown>]] : []),
          ...(a.endpoint !== b.endpoint && b.endpoint !== null ? [['member.moved', { id: b.id, label: b.label, endpoint: b.endpoint }] as [string, Record<string, unknown>]] : []),
          ...(a.rttMs !== b.rttMs && b.rttMs !== null ? [['member.rtt', { id: b.id, rttMs: b.rttMs }] as [string, Record<string, unknown>]] : []),
        ],
        (b) => ['member.added', { id: b.id, label: b.label, state: b.state }],
        (a) => ['member.removed', { id: a.id, label: a.label }])) events.emit(type, data);
      peers = now;
    }
    if (deps.friends) {
      const now = new Map(deps.friends().map((f) => [f.userKey, f]));
      for (const [type, data] of diffEvents(friends, now,
        (a, b) => (a.blocked !== b.blocked ? [[b.blocked ? 'friend.blocked' : 'friend.unblocked', { userKey: b.userKey, name: b.name }]] : a.name !== b.name ? [['friend.renamed', { userKey: b.userKey, name: b.name }]] : []),
        (b) => ['friend.added', { userKey: b.userKey, name: b.name }],
        (a) => ['friend.removed', { userKey: a.userKey, name: a.name }])) events.emit(type, data);
      friends = now;
    }
    if (deps.feed) {
      const first = feedCursor < 0; // the first pass only finds the end: events are for what arrives from now on
      if (first) feedCursor = 0;
      for (let page = 0; page < (first ? 10_000 : 20); page++) {
        const { entries, next } = await deps.feed.after(feedCursor);
        if (!first) for (const e of entries) events.emit(e.kind === 'ballot' || e.kind === 'position' ? 'conv.vote' : e.kind === 'closing' ? 'conv.closed' : 'conv.message', { conv: e.conv, hash: e.hash, author: e.author, kind: e.kind, n: e.n });
        if (entries.length === 0 || next === feedCursor) break;
        feedCursor = next;
      }
    }
  };
  const loop = () => {
    timer = deps.clock.setTimer(intervalMs, () => {
      if (busy) return loop();
      busy = true;
      void tick().catch(() => undefined).finally(() => { busy = false; loop(); });
    });
  };
  loop();
  return { stop: () => timer?.cancel() };
}
