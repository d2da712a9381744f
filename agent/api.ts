// The local HTTP API (Hono, the same routes on Node and Bun). GET /health answers without a
// token and says nothing but that the agent is up; everything under /api/ needs the bearer token
// kept in <data-dir>/api.token (mode 0600).
import { Hono } from 'hono';
import { timingSafeEqual } from 'node:crypto';
import { isKithError } from '../core/errors.js';

export interface ApiDeps {
  token: string;
  status: () => Promise<Record<string, unknown>>;
  identity: () => Record<string, unknown>;
  /** Conversation operations (agent/conv-ops.ts): POST /api/conv/<op> with a JSON body. */
  conv?: (op: string, body: Record<string, unknown>) => Promise<unknown>;
}

const MAX_BODY_BYTES = 256 * 1024;

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
  app.post('/api/conv/:op', async (c) => {
    if (deps.conv === undefined) return c.json({ error: { code: 'NOT_FOUND', message: 'conversations are not served here' } }, 404);
    const text = await c.req.text();
    if (text.length > MAX_BODY_BYTES) return c.json({ error: { code: 'USAGE', message: `request body over ${MAX_BODY_BYTES} bytes` } }, 413);
    let body: unknown;
    try {
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      return c.json({ error: { code: 'USAGE', message: 'the request body is not JSON' } }, 400);
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return c.json({ error: { code: 'USAGE', message: 'the request body must be a JSON object' } }, 400);
    try {
      return c.json({ result: await deps.conv(c.req.param('op'), body as Record<string, unknown>) });
    } catch (e) {
      if (isKithError(e)) return c.json({ error: e.toJSON() }, e.code === 'CONV_NOT_FOUND' ? 404 : 400);
      throw e;
    }
  });
  app.notFound((c) => c.json({ error: { code: 'NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  app.onError((err, c) => c.json({ error: { code: 'INTERNAL', message: 'internal error' } }, 500));
  return app;
}
