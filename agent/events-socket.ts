// GET /api/v1/events?since=N&channel=all|high|low as a WebSocket, on Bun (hono/bun) and Node
// (@hono/node-server with ws). Each text frame the agent sends is one EventBatch, the same shape
// the long poll answers (agent/api-shapes.ts): first the backlog after `since` (with `gap` when
// the reader fell behind a channel's buffer), then one batch per new event. The client sends
// nothing. A reader that does not keep up (over 1 MiB unsent) is closed with code 4000; it
// resumes with ?since= the last id it saw.
import type { Context, Hono } from 'hono';
import type { WSContext } from 'hono/ws';
import type { EventLog, ChannelFilter } from './events.js';
import { apiError } from './api-v1.js';

export const EVENTS_SOCKET_PATH = '/api/v1/events';
export const MAX_UNSENT_BYTES = 1024 * 1024;
export const SLOW_READER_CLOSE_CODE = 4000;

// hono/bun cannot even be imported on Node (it reads the Bun global at load): each runtime loads its own.
const upgrade: typeof import('hono/bun').upgradeWebSocket = (globalThis as { Bun?: unknown }).Bun !== undefined
  ? (await import('hono/bun')).upgradeWebSocket
  : ((await import('@hono/node-server')).upgradeWebSocket as unknown as typeof import('hono/bun').upgradeWebSocket);

/** Bytes queued on a socket, as either runtime tells it. */
function unsent(ws: WSContext): number {
  const raw = ws.raw as { bufferedAmount?: number; getBufferedAmount?: () => number } | undefined;
  return raw?.getBufferedAmount?.() ?? raw?.bufferedAmount ?? 0;
}

export function mountEventSocket(app: Hono, events: EventLog): void {
  app.get(EVENTS_SOCKET_PATH, async (c: Context, next) => {
    const since = c.req.query('since') ?? String(events.lastId());
    const channel = c.req.query('channel') ?? 'all';
    if (!/^[0-9]{1,15}$/.test(since) || !['all', 'high', 'low'].includes(channel)) {
      return apiError(c, 400, 'API_BAD_REQUEST', 'GET /api/v1/events: ?since must be an event id and ?channel all, high or low', 'send ?since=<last id seen>');
    }
    if (c.req.header('upgrade')?.toLowerCase() !== 'websocket') {
      return apiError(c, 400, 'API_BAD_REQUEST', 'GET /api/v1/events is a WebSocket; without one, use GET /api/v1/events/poll', 'open it as a WebSocket, or long-poll /api/v1/events/poll?since=N');
    }
    const ch = channel as ChannelFilter;
    let off: (() => void) | undefined;
    const handler = upgrade(() => ({
      onOpen(_evt, ws) {
        // Backlog and subscription in one turn: nothing emitted in between is lost or doubled.
        let from = Number(since);
        for (let i = 0; i < 10_000; i++) {
          const batch = events.read(from, ch);
          if (batch.events.length === 0 && batch.gap === undefined && i > 0) break;
          ws.send(JSON.stringify(batch));
          if (batch.next === from) break;
          from = batch.next;
        }
        off = events.subscribe((e) => {
          if (ch !== 'all' && e.channel !== ch) return;
          if (unsent(ws) > MAX_UNSENT_BYTES) {
            off?.();
            ws.close(SLOW_READER_CLOSE_CODE, 'reader too slow: resume with ?since=');
            return;
          }
          ws.send(JSON.stringify({ events: [e], next: e.id }));
        });
      },
      onClose() {
        off?.();
      },
      onError() {
        off?.();
      },
    }));
    return handler(c, next);
  });
}
