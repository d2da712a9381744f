// The agent's one event log, served at /api/v1/events (WebSocket) and /api/v1/events/poll (long
// poll). Every event gets the next id (monotonic from 1, never reused while the agent runs) and goes
// to one of two channels, each a bounded buffer of its own: "high" for what a person must not miss
// (members' states, friends, pairing, conversation messages, votes and closings, mailbox, archive),
// "low" for chatty ones (RTT samples, counters, sync progress). A burst of low events pushes out
// only older low events, never a high one. A reader that asks for ids older than a channel still
// keeps is told so (`gap`), and should reload the state it shows before reading on.
//
// Emitting, from anywhere in the agent (one line):   events.emit('mailbox.held', { for: userHex })
// The channel comes from the type (lowChannelTypes below); give it explicitly as a third argument
// only for a new chatty type. Data is plain JSON; never put secrets in it.
import type { Clock, Timer } from '../core/clock.js';
import type { EventBatchView, EventView } from './api-shapes.js';

export type Channel = 'high' | 'low';
export type ChannelFilter = Channel | 'all';

/** Types that are chatty by nature: the low channel. Everything else is high. */
export const LOW_CHANNEL_TYPES: ReadonlySet<string> = new Set(['member.rtt', 'member.seen', 'stats', 'sync.progress', 'archive.progress', 'transport.stats']);

export const channelOf = (type: string): Channel => (LOW_CHANNEL_TYPES.has(type) ? 'low' : 'high');

export interface EventLogOptions {
  /** Events kept per channel. */
  highCapacity?: number;
  lowCapacity?: number;
  /** Events at most in one answer. */
  maxBatch?: number;
}

interface Ring {
  events: EventView[];
  capacity: number;
  /** The id of the newest event this channel dropped (0: none). */
  droppedUpTo: number;
}

export type Listener = (e: EventView) => void;

/** Which events and gap an answer for `since` holds (pure over the two rings). */
export function readSince(rings: Record<Channel, Ring>, since: number, channel: ChannelFilter, maxBatch: number, lastId: number): EventBatchView {
  const chans: Channel[] = channel === 'all' ? ['high', 'low'] : [channel];
  let gap: EventBatchView['gap'];
  for (const ch of chans) {
    const r = rings[ch];
    if (r.droppedUpTo > since && (gap === undefined || ch === 'high')) gap = { channel: ch, from: since + 1, to: r.droppedUpTo };
  }
  const picked = chans.flatMap((ch) => rings[ch].events.filter((e) => e.id > since)).sort((a, b) => a.id - b.id).slice(0, maxBatch);
  const full = picked.length === maxBatch;
  const next = full ? picked[picked.length - 1]!.id : Math.max(since, lastId);
  return { events: picked, next, ...(gap ? { gap } : {}) };
}

export class EventLog {
  private lastIdValue = 0;
  private readonly rings: Record<Channel, Ring>;
  private readonly listeners = new Set<Listener>();
  private readonly maxBatch: number;

  constructor(private readonly clock: Clock, opts: EventLogOptions = {}) {
    this.rings = {
      high: { events: [], capacity: opts.highCapacity ?? 4096, droppedUpTo: 0 },
      low: { events: [], capacity: opts.lowCapacity ?? 1024, droppedUpTo: 0 },
    };
    this.maxBatch = opts.maxBatch ?? 500;
  }

  lastId(): number {
    return this.lastIdValue;
  }

  /** Adds an event; listeners hear it at once. Returns it. */
  emit(type: string, data: Record<string, unknown> = {}, channel: Channel = channelOf(type)): EventView {
    const e: EventView = { id: ++this.lastIdValue, channel, type, at: new Date(this.clock.wallTime()).toISOString(), data };
    const ring = this.rings[channel];
    ring.events.push(e);
    if (ring.events.length > ring.capacity) ring.droppedUpTo = ring.events.shift()!.id;
    for (const fn of this.listeners) {
      try {
        fn(e);
      } catch {
        // A failing listener (a closed socket) never stops the others or the emitter.
      }
    }
    return e;
  }

  /** What a reader that has seen everything up to `since` gets now. */
  read(since: number, channel: ChannelFilter = 'all'): EventBatchView {
    return readSince(this.rings, since, channel, this.maxBatch, this.lastIdValue);
  }

  subscribe(fn: Listener): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Answers at once when there is something after `since` (or a gap), else at the first event, or empty after waitMs. */
  poll(since: number, opts: { waitMs: number; channel?: ChannelFilter; signal?: AbortSignal }): Promise<EventBatchView> {
    const channel = opts.channel ?? 'all';
    const now = this.read(since, channel);
    if (now.events.length > 0 || now.gap !== undefined || opts.waitMs <= 0) return Promise.resolve(now);
    return new Promise((resolve) => {
      let timer: Timer | undefined;
      let answered = false;
      const done = () => {
        if (answered) return;
        answered = true;
        off();
        timer?.cancel();
        opts.signal?.removeEventListener('abort', done);
        resolve(this.read(since, channel));
      };
      const off = this.subscribe((e) => {
        if (channel === 'all' || e.channel === channel) done();
      });
      timer = this.clock.setTimer(opts.waitMs, done);
      opts.signal?.addEventListener('abort', done);
    });
  }
}
