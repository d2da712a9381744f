// The local HTTP API (Hono, the same routes on Node and Bun). GET /health answers without a
// token and says nothing but that the agent is up; everything else needs the bearer token kept in
// <data-dir>/api.token (mode 0600). Host, token and size checks: agent/http-guard.ts.
import { Hono, type Context } from 'hono';
import { isKithError } from '../core/errors.js';
import type { PairingService } from './pairing-service.js';
import type { RosterService } from './roster-service.js';
import type { ClusterService } from './cluster-service.js';
import { apiGuard } from './http-guard.js';
import { checkDisplayName } from '../identity/user-ref.js';
import { mountV1, type V1Deps } from './api-routes.js';
import { mountEventSocket } from './events-socket.js';
import { archiveRoutes } from './api-archive.js';
import type { ArchiveService } from './archive-service.js';

export interface ApiDeps extends V1Deps {
  token: string;
  /** The companion listener beyond loopback: companion clients only (agent/http-guard.ts). */
  lan?: boolean;
  /** The web UI's static files (agent/web/, served by its own module), mounted behind the guard. */
  ui?: (app: Hono) => void;
  /** Where the API listens once bound: requests must name it in their Host header. */
  listen?: () => { host: string; port: number };
  /** Conversation operations (agent/conv-ops.ts): POST /api/conv/<op> with a JSON body. */
  conv?: (op: string, body: Record<string, unknown>) => Promise<unknown>;
  /** Members: GET /api/peers, GET /api/card, POST /api/peers {card, secret}, DELETE /api/peers/:key. */
  cluster?: Pick<ClusterService, 'peers' | 'card' | 'addPeer' | 'removePeer'>;
  pairing?: PairingService;
  /** Friends and own nodes: GET /api/friends, DELETE /api/friends/:key, POST /api/friends/:key/block,
   *  GET /api/nodes, POST /api/nodes/revoke {revocation: base64}. */
  roster?: RosterService;
}

export function createApi(deps: ApiDeps): Hono {
  const app = new Hono();
  // Host, token and body size, checked before any route (agent/http-guard.ts).
  app.use('*', apiGuard({ token: deps.token, ...(deps.listen ? { listen: deps.listen } : {}), ...(deps.access ? { access: deps.access } : {}), lan: deps.lan === true }));
  if (deps.events) mountEventSocket(app, deps.events);
  app.get('/health', (c) => c.json({ status: 'ok' }));
  app.get('/api/status', async (c) => c.json(await deps.status()));
  app.get('/api/id', (c) => c.json(deps.identity()));
  /** Reads a JSON object body, or answers the error itself. */
  const jsonBody = async (c: Context): Promise<Record<string, unknown> | Response> => {
    const text = await c.req.text();
    let body: unknown;
    try {
      body = text === '' ? {} : JSON.parse(text);
    } catch {
      return c.json({ error: { code: 'USAGE', message: 'the request body is not JSON' } }, 400);
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body)) return c.json({ error: { code: 'USAGE', message: 'the request body must be a JSON object' } }, 400);
    return body as Record<string, unknown>;
  };
  const failed = (c: Context, e: unknown, notFound: string[]): Response => {
    if (isKithError(e)) return c.json({ error: e.toJSON() }, notFound.includes(e.code) ? 404 : 400);
    throw e;
  };
  app.post('/api/conv/:op', async (c) => {
    if (deps.conv === undefined) return c.json({ error: { code: 'NOT_FOUND', message: 'conversations are not served here' } }, 404);
    const body = await jsonBody(c);
    if (body instanceof Response) return body;
    try {
      return c.json({ result: await deps.conv(c.req.param('op'), body) });
    } catch (e) {
      return failed(c, e, ['CONV_NOT_FOUND']);
    }
  });
  const mailbox = deps.mailbox;
  if (mailbox) app.get('/api/mailbox/status', async (c) => c.json({ result: await mailbox() }));
  const cluster = deps.cluster;
  if (cluster) {
    app.get('/api/peers', (c) => c.json({ peers: cluster.peers() }));
    app.get('/api/card', async (c) => c.json(await cluster.card()));
    app.post('/api/peers', async (c) => {
      const body = await jsonBody(c);
      if (body instanceof Response) return body;
      if (typeof body['card'] !== 'string' || typeof body['secret'] !== 'string') {
        return c.json({ error: { code: 'USAGE', message: 'POST /api/peers needs {"card": base64, "secret": 64 hex digits}' } }, 400);
      }
      try {
        return c.json({ result: await cluster.addPeer(body['card'], body['secret']) });
      } catch (e) {
        return failed(c, e, []);
      }
    });
    app.delete('/api/peers/:key', async (c) => {
      try {
        await cluster.removePeer(c.req.param('key'));
        return c.json({ result: { removed: true } });
      } catch (e) {
        return failed(c, e, ['MEMBER_UNKNOWN']);
      }
    });
  }
  const guard = async (c: Context, notFound: string[], fn: () => Promise<unknown> | unknown): Promise<Response> => {
    try {
      return c.json({ result: await fn() });
    } catch (e) {
      return failed(c, e, notFound);
    }
  };
  const pairing = deps.pairing;
  if (pairing) {
    app.post('/api/pair/offer', async (c) => {
      const body = await jsonBody(c);
      if (body instanceof Response) return body;
      const ttl = body['ttlMinutes'];
      if (ttl !== undefined && (typeof ttl !== 'number' || !(ttl > 0 && ttl <= 60))) {
        return c.json({ error: { code: 'USAGE', message: 'ttlMinutes must be a number in (0, 60]' } }, 400);
      }
      return guard(c, [], () => pairing.offer({ ...(ttl === undefined ? {} : { ttlMs: Math.round(ttl * 60_000) }), verify: body['verify'] === true }));
    });
    app.get('/api/pair/offer/:id', (c) => guard(c, ['PAIR_EXPIRED'], () => pairing.offerState(c.req.param('id'))));
    app.post('/api/pair/offer/:id/confirm', async (c) => {
      const body = await jsonBody(c);
      if (body instanceof Response) return body;
      if (typeof body['confirm'] !== 'boolean') return c.json({ error: { code: 'USAGE', message: 'POST /api/pair/offer/:id/confirm needs {"confirm": true or false}' } }, 400);
      return guard(c, ['PAIR_EXPIRED'], () => pairing.answerOffer(c.req.param('id'), body['confirm'] as boolean));
    });
    app.delete('/api/pair/offer/:id', (c) => guard(c, [], () => (pairing.cancel(c.req.param('id')), { cancelled: true })));
    app.post('/api/pair/join', async (c) => {
      const body = await jsonBody(c);
      if (body instanceof Response) return body;
      if (typeof body['target'] !== 'string') return c.json({ error: { code: 'USAGE', message: 'POST /api/pair/join needs {"target": code or QR content}' } }, 400);
      return guard(c, [], () => pairing.join(body['target'] as string, { verify: body['verify'] === true }));
    });
    app.post('/api/pair/join/:id', async (c) => {
      const body = await jsonBody(c);
      if (body instanceof Response) return body;
      if (typeof body['confirm'] !== 'boolean') return c.json({ error: { code: 'USAGE', message: 'POST /api/pair/join/:id needs {"confirm": true or false}' } }, 400);
      return guard(c, ['PAIR_EXPIRED'], () => pairing.answerJoin(c.req.param('id'), body['confirm'] as boolean));
    });
  }
  const roster = deps.roster;
  if (roster) {
    app.get('/api/friends', (c) => c.json({ friends: roster.friends() }));
    app.delete('/api/friends/:key', (c) => guard(c, ['FRIEND_UNKNOWN'], () => roster.removeFriend(c.req.param('key'))));
    app.post('/api/friends/:key/block', (c) => guard(c, ['FRIEND_UNKNOWN'], () => roster.blockFriend(c.req.param('key'))));
    app.post('/api/friends/:key/undo-pairing', (c) => guard(c, ['FRIEND_UNKNOWN'], () => roster.undoPairing(c.req.param('key'))));
    app.get('/api/nodes', (c) => c.json({ nodes: roster.nodes() }));
    // `kith name set`: the user's display name, spread in this node's friend card.
    app.get('/api/name', (c) => c.json({ result: { name: roster.ownName() } }));
    app.post('/api/name', async (c) => {
      const body = await jsonBody(c);
      if (body instanceof Response) return body;
      if (typeof body['name'] !== 'string') return c.json({ error: { code: 'USAGE', message: 'POST /api/name needs {"name": text}' } }, 400);
      return guard(c, [], () => ({ name: roster.setName(checkDisplayName(body['name'] as string), deps.wallTime?.() ?? 0) }));
    });
    app.post('/api/nodes/revoke', async (c) => {
      const body = await jsonBody(c);
      if (body instanceof Response) return body;
      const b64 = body['revocation'];
      if (typeof b64 !== 'string' || !/^[A-Za-z0-9+/=]{1,8192}$/.test(b64)) return c.json({ error: { code: 'USAGE', message: 'POST /api/nodes/revoke needs {"revocation": base64 of a signed kith/node-revocation}' } }, 400);
      return guard(c, ['NODE_UNKNOWN'], () => roster.revoke(new Uint8Array(Buffer.from(b64, 'base64'))));
    });
  }
  if (deps.archive) archiveRoutes(app, deps.archive, jsonBody, guard);
  mountV1(app, deps);
  deps.ui?.(app);
  app.notFound((c) => c.json({ error: { code: 'API_NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}` } }, 404));
  app.onError((err, c) => c.json({ error: { code: 'API_INTERNAL', message: 'internal error' } }, 500));
  return app;
}
