// Serves a Hono app on Bun (Bun.serve) or Node (@hono/node-server), with the same errors on both:
// PORT_IN_USE when the port is taken, BIND_FAILED otherwise.
import type { Hono } from 'hono';
import { KithError } from '../core/errors.js';
import { uiHandler } from './ui-static.js';

export interface HttpServer {
  port: number;
  close(): Promise<void>;
}

interface BunLike {
  serve(opts: { port: number; hostname: string; fetch: (req: Request) => Response | Promise<Response> }): { port: number; stop(force?: boolean): void };
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
  const fetch = (req: Request): Response | Promise<Response> => ui(req) ?? app.fetch(req);
  const bun = (globalThis as { Bun?: BunLike }).Bun;
  if (bun !== undefined) {
    let server: ReturnType<BunLike['serve']>;
    try {
      server = bun.serve({ port, hostname: host, fetch });
    } catch (e) {
      throw bindError(host, port, e);
    }
    return { port: server.port, close: async () => server.stop(true) };
  }
  const { createAdaptorServer } = await import('@hono/node-server');
  const server = createAdaptorServer({ fetch });
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
