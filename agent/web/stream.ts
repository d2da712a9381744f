// The page's live view of the agent's event log (agent/events.ts), over the WebSocket at
// /api/v1/events?since=N, else the long poll /api/v1/events/poll, else (both failing) a slow
// refresh of everything until a transport works again. Readers hear each event once, in id
// order; `resync` runs when what they show may be stale: on the first batch (the state they
// fetched before the stream started may already be old), on a gap (the reader fell behind a
// channel's buffer), and on each fallback tick. No DOM here: the transports are given (client.ts
// gives the browser's), so test/unit/web-stream.test.ts drives it with fakes.
import type { EventBatchView, EventView } from '../api-shapes.js';

export interface Socket {
  close(): void;
}

export interface StreamDeps {
  /** Opens the WebSocket from `since` (undefined: from now); calls back per batch and once on close. */
  openSocket(since: number | undefined, on: { open(): void; batch(b: EventBatchView): void; closed(): void }): Socket;
  /** One long poll from `since`; rejects when the agent cannot be reached. */
  poll(since: number | undefined): Promise<EventBatchView>;
  setTimer(ms: number, fn: () => void): { cancel(): void };
  onEvent(e: EventView): void;
  resync(): void;
  onTransport?(t: Transport): void;
}

export type Transport = 'connecting' | 'socket' | 'long-poll' | 'fallback' | 'stopped';

/** Consecutive failures of one transport before the next one is tried. */
export const FAILURES_BEFORE_NEXT = 2;
export const RETRY_MS = 1000;
/** While both transports fail: everything is refreshed this often, and the socket retried every RETRY_AGAIN_MS. */
export const FALLBACK_REFRESH_MS = 2000;
export const RETRY_AGAIN_MS = 15_000;

export interface EventStream {
  readonly transport: Transport;
  readonly since: number | undefined;
  stop(): void;
}

export function startStream(deps: StreamDeps): EventStream {
  let since: number | undefined;
  let transport: Transport = 'connecting';
  let failures = 0;
  let socket: Socket | undefined;
  const timers = new Set<{ cancel(): void }>();
  const later = (ms: number, fn: () => void) => {
    const t = deps.setTimer(ms, () => (timers.delete(t), fn()));
    timers.add(t);
  };
  /** Bumped on every change of transport: a loop of an earlier one sees it and ends. */
  let epoch = 0;
  const set = (t: Transport) => {
    if (transport !== t) deps.onTransport?.(t);
    transport = t;
    return ++epoch;
  };

  const deliver = (b: EventBatchView) => {
    const first = since === undefined;
    if (b.gap !== undefined || first) deps.resync();
    for (const e of b.events) {
      if (since !== undefined && e.id <= since) continue; // a resumed socket may repeat what a poll gave
      since = e.id;
      deps.onEvent(e);
    }
    since = Math.max(since ?? 0, b.next);
  };

  const viaSocket = () => {
    if (transport === 'stopped') return;
    let opened = false;
    const on: Parameters<StreamDeps['openSocket']>[1] = {
      open: () => {
        opened = true;
        failures = 0;
        set('socket');
      },
      batch: (b) => transport !== 'stopped' && deliver(b),
      closed: () => {
        socket = undefined;
        if (transport === 'stopped') return;
        if (!opened) failures++;
        if (failures >= FAILURES_BEFORE_NEXT) {
          failures = 0;
          viaPoll();
        } else later(opened ? 0 : RETRY_MS, viaSocket);
      },
    };
    try {
      socket = deps.openSocket(since, on);
    } catch {
      on.closed(); // a browser without WebSocket (or one that refuses the URL)
    }
  };

  const viaPoll = () => {
    const mine = set('long-poll');
    const round = () => {
      if (epoch !== mine) return;
      deps.poll(since).then((b) => {
        if (epoch !== mine) return;
        failures = 0;
        deliver(b);
        round();
      }, () => {
        if (epoch !== mine) return;
        if (++failures >= FAILURES_BEFORE_NEXT) viaFallback();
        else later(RETRY_MS, round);
      });
    };
    round();
  };

  const viaFallback = () => {
    const mine = set('fallback');
    failures = 0;
    const tick = () => {
      if (epoch !== mine) return;
      deps.resync();
      later(FALLBACK_REFRESH_MS, tick);
    };
    tick();
    // The socket again now and then: one failure brings it back to the poll, and so here.
    later(RETRY_AGAIN_MS, () => {
      if (epoch !== mine) return;
      failures = FAILURES_BEFORE_NEXT - 1;
      viaSocket();
    });
  };

  viaSocket();
  return {
    get transport() { return transport; },
    get since() { return since; },
    stop() {
      set('stopped');
      for (const t of timers) t.cancel();
      timers.clear();
      socket?.close();
    },
  };
}
