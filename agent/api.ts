// The local HTTP API (Hono, the same routes on Node and Bun). GET /health answers without a
// token and says nothing but that the agent is up; everything under /api/ needs the bearer token
// kept in <data-dir>/api.token (mode 0600).
import { Hono } from 'hono';
import { timingSafeEqual } from 'node:crypto';

export interface ApiDeps {
  token: string;
  status: () => Promise<Record<string, unknown>>;
  identity: () => Record<string, unknown>;
}

function tokenMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice(7).trim());
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

export function createApi(deps: ApiDeps): Hono {
  const app = new Hono();
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.use('/api/*', async (c, next) => {
    if (!tokenMatches(c.req.header('authorization'), deps.token)) {
      c.header('WWW-Authenticate', 'Bearer realm="kith"');
      return c.json({ error: { code: 'API_UNAUTHORIZED', message: 'missing or wrong bearer token', hint: 'send the token from <data-dir>/api.token' } }, 401);
    }
    await next();
  });
  app.get('/api/status', async (c) => c.json(await deps.status()));
  app.get('/api/id', (c) => c.json(deps.identity()));
  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  app.onError((err, c) => c.json({ error: { code: 'INTERNAL', message: 'internal error' } }, 500));
  return app;
}
