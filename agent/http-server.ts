// Serves a Hono app on Bun (Bun.serve) or Node (@hono/node-server), with the same errors on both:
// PORT_IN_USE when the port is taken, BIND_FAILED otherwise. WebSocket routes work on both.
import type { Hono } from 'hono';
import { KithError } from '../core/errors.js';
import { uiHandler } from './ui-static.js';

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

interface BunLike {
  serve(opts: { port: number; hostname: string; fetch: (req: Request, server: unknown) => Response | Promise<Response>; websocket: unknown }): { port: number; stop(force?: boolean): void };
}

const bindError = (host: string, port: number, e: unknown): KithError => {
  const code = (e as NodeJS.ErrnoException).code;
  const where = `TCP ${host}:${port}`;
  return code === 'EADDRINUSE' || /in use/i.test(String((e as Error).message))
    ? new KithError('PORT_IN_USE', `cannot bind ${where}: address already in use`, { cause: e })
    : new KithError('BIND_FAILED', `cannot bind ${where}: ${code ?? (e as Error).message}`, { cause: e });
};

export async function serveHttp(app: Hono, host: string, port: number): Promise<HttpServer> {
  // The web UI's files at /ui/ (agent/ui-static.ts), everything else to the API.
  const ui = uiHandler();
  // (The second argument is the runtime's server or bindings, which WebSocket upgrades need.)
  const fetch = (req: Request, env?: unknown): Response | Promise<Response> => ui(req) ?? app.fetch(req, env as never);
  const bun = (globalThis as { Bun?: BunLike }).Bun;
  if (bun !== undefined) {
    let server: ReturnType<BunLike['serve']>;
    try {
      // hono/bun's WebSocket handler: routes made with its upgradeWebSocket (agent/events-socket.ts).
      const { websocket } = await import('hono/bun');
      server = bun.serve({ port, hostname: host, fetch, websocket });
    } catch (e) {
      throw bindError(host, port, e);
    }
    return { port: server.port, close: async () => server.stop(true) };
  }
  const { createAdaptorServer } = await import('@hono/node-server');
  const { WebSocketServer } = await import('ws');
  // WebSockets on Node: the adapter hands upgrades to ws (clients send nothing big: 64 KiB frames at most).
  const server = createAdaptorServer({ fetch, websocket: { server: new WebSocketServer({ noServer: true, maxPayload: 64 * 1024 }) } });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(bindError(host, port, e)));
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr !== null ? addr.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}
