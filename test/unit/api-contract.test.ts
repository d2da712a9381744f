// Contract tests generated from agent/api-shapes.ts, over real sockets on 127.0.0.1: every route
// with a body refuses a body of the wrong shape with 400 API_BAD_REQUEST; answers of the routes
// served here validate against their declared response shapes. Then the browser refusals: a
// foreign Host, a cross-origin request, a missing or stale cookie, a replayed login link and a
// POST without the CSRF header are each refused with their code.
import t from 'tap';
import { Value } from '@sinclair/typebox/value';
import { request as httpRequest } from 'node:http';
import { createApi } from '../../agent/api.js';
import { serveHttp, type HttpServer } from '../../agent/http-server.js';
import { ROUTES, fillPath, type RouteSpec } from '../../agent/api-shapes.js';
import { Access, CSRF_HEADER, sessionCookieName } from '../../agent/access.js';
import { EventLog } from '../../agent/events.js';
import { realClock } from '../../core/clock.js';
import { cryptoRng } from '../../core/rng.js';
import { FIXTURE_IDENTITY, fixtureStatus } from '../helpers/api-fixtures.js';

const TOKEN = 'd'.repeat(64);
const friend = { userKey: 'e'.repeat(64), name: 'bob', nodes: 1, since: '2026-12-01T00:00:00.000Z', blocked: false };
const access = new Access({ clock: realClock, rng: cryptoRng });
const events = new EventLog(realClock);
let http: HttpServer | undefined;
const app = createApi({
  token: TOKEN,
  listen: () => ({ host: '127.0.0.1', port: http!.port }),
  status: async () => fixtureStatus(http!.port),
  identity: () => FIXTURE_IDENTITY,
  roster: { friends: () => [friend], nodes: () => [], ownName: () => 'alice', setName: (n: string) => n, removeFriend: async () => friend, blockFriend: async () => ({ ...friend, blocked: true }), undoPairing: async () => friend, revoke: async () => ({ nodeIndex: 1, generation: 0, toldRevokedNode: false, members: 0 }) } as never,
  convOps: { list: async () => [], create: async () => ({ id: 'c1' }) as never, show: async () => ({ id: 'c1' }) as never, post: async () => ({ posted: 'h', closed: false }), vote: async () => ({ posted: 'h', closed: false }), chat: async () => ({}), feed: async () => ({ next: 0, last: 0, entries: [] }) },
  mailbox: async () => ({ household: 'a'.repeat(64), relay: null, queued: [], problems: [], pulls: [] }),
  archive: {
    list: async () => [{ id: 'ab', name: 'f.txt', kind: 'file', size: 3, createdMs: 1 }],
    status: async () => [{ id: 'ab', name: 'f.txt', kind: 'file', size: 3, createdMs: 1, version: 1, k: 2, m: 1, healthyShards: 3, shards: 3, households: 2, lastAuditMs: null, repairs: 0, holders: [{ id: 'h1', household: 'e'.repeat(64), state: 'ok' }] }],
    held: async () => [{ user: 'e'.repeat(64), name: 'bob', usedBytes: 10, quotaBytes: 100 }],
    job: () => ({ id: 'j1', op: 'put', state: 'done', bytes: 3, totalBytes: 3, result: { objects: [] } }),
  } as never,
  events,
  access,
  links: { local: () => `http://127.0.0.1:${http!.port}`, companion: () => undefined },
});
t.before(async () => {
  http = await serveHttp(app, '127.0.0.1', 0);
});
t.teardown(() => http?.close());

const base = () => `http://127.0.0.1:${http!.port}`;
const call = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
  fetch(base() + path, { method, headers: { authorization: `Bearer ${TOKEN}`, ...headers }, ...(body === undefined ? {} : { body }), redirect: 'manual', signal: AbortSignal.timeout(5000) });
const params = (spec: RouteSpec) => Object.fromEntries([...spec.path.matchAll(/:([A-Za-z]+)/g)].map((m) => [m[1]!, 'x1']));

t.test('every route with a body refuses a body of the wrong shape with API_BAD_REQUEST', async (t) => {
  for (const [name, spec] of Object.entries(ROUTES) as [string, RouteSpec][]) {
    if (!spec.body || name === 'addPeer' || name.startsWith('pair')) continue; // no cluster or pairing service here
    for (const [why, body] of [['a list', '[]'], ['not JSON', '{"a":'], ['a wrong field type', JSON.stringify({ text: 5, topic: 5, confirm: 'yes', name: '../x', revocation: '!' })]] as const) {
      const res = await call(spec.method, fillPath(spec.path, params(spec)), { 'content-type': 'application/json' }, body);
      const j = (await res.json()) as { error?: { code: string } };
      t.equal(res.status, 400, `${name}: ${why} → 400`);
      t.equal(j.error?.code, 'API_BAD_REQUEST', `${name}: ${why} → API_BAD_REQUEST`);
    }
  }
});

t.test('answers validate against their declared shapes', async (t) => {
  const ok: [string, string, string?][] = [['status', ''], ['identity', ''], ['session', ''], ['friends', ''], ['nodes', ''], ['conversations', ''], ['removeFriend', ''], ['blockFriend', ''], ['postMessage', '', '{"text":"hi"}'], ['vote', '', '{"choice":"a"}'], ['uiLogin', ''], ['clients', ''], ['name', ''], ['setName', '', '{"name":"alice"}'], ['mailbox', ''], ['archiveObjects', ''], ['archiveStatus', ''], ['archiveJob', ''], ['feed', ''], ['events', '?since=0&waitMs=0']];
  events.emit('member.state', { id: 'x', state: 'dead' });
  for (const [name, query, body] of ok) {
    const spec = ROUTES[name as keyof typeof ROUTES] as RouteSpec;
    const res = await call(spec.method, fillPath(spec.path, params(spec)) + query, body ? { 'content-type': 'application/json' } : {}, body);
    const j = await res.json();
    t.equal(res.status, 200, `${name}: 200`);
    t.ok(Value.Check(spec.response, j), `${name}: the answer fits its shape`);
  }
});

t.test('browser refusals, each with its code', async (t) => {
  const code = async (res: Response) => ((await res.json()) as { error: { code: string } }).error.code;
  // fetch sets Host itself: node:http sends the one given.
  const evil = await new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: http!.port, path: '/api/v1/status', headers: { host: 'evil.example', authorization: `Bearer ${TOKEN}` }, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
  t.equal(evil.status, 403);
  t.equal((JSON.parse(evil.body) as { error: { code: string } }).error.code, 'API_HOST_REFUSED', 'Host: evil.example');
  const cross = await call('GET', '/api/v1/status', { origin: 'http://evil.example' });
  t.equal(await code(cross), 'API_ORIGIN_REFUSED', 'a cross-origin request, even with the token');
  const site = await call('POST', '/api/v1/conversations/x/messages', { 'sec-fetch-site': 'cross-site' }, '{"text":"x"}');
  t.equal(await code(site), 'API_ORIGIN_REFUSED', 'Sec-Fetch-Site: cross-site');
  t.equal(cross.headers.get('access-control-allow-origin'), null, 'no CORS header');

  const noCookie = await fetch(`${base()}/api/v1/status`);
  t.equal(noCookie.status, 401);
  t.equal(await code(noCookie), 'API_UNAUTHORIZED', 'no token and no cookie');
  const cookieName = sessionCookieName(http!.port);
  const stale = await fetch(`${base()}/api/v1/friends`, { headers: { cookie: `${cookieName}=${'0'.repeat(64)}` } });
  t.equal(await code(stale), 'API_SESSION_INVALID', 'a stale cookie');

  const { link } = (await (await call('POST', '/api/v1/ui/login-link')).json()) as { link: string };
  const login = await fetch(link, { redirect: 'manual' });
  t.equal(login.status, 303, 'the login link signs in');
  const setCookie = login.headers.get('set-cookie') ?? '';
  t.match(setCookie, /HttpOnly/);
  t.match(setCookie, /SameSite=Strict/);
  const cookie = setCookie.split(';')[0]!;
  const replay = await fetch(link, { redirect: 'manual' });
  t.equal(replay.status, 403);
  t.equal(await code(replay), 'API_LOGIN_LINK_USED', 'a replayed login link');

  const session = (await (await fetch(`${base()}/api/v1/session`, { headers: { cookie } })).json()) as { kind: string; csrf: string };
  t.equal(session.kind, 'cookie');
  const noCsrf = await fetch(`${base()}/api/v1/conversations/x/messages`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: '{"text":"x"}' });
  t.equal(noCsrf.status, 403);
  t.equal(await code(noCsrf), 'API_CSRF_REFUSED', 'a POST without the CSRF header');
  const withCsrf = await fetch(`${base()}/api/v1/conversations/x/messages`, { method: 'POST', headers: { cookie, 'content-type': 'application/json', [CSRF_HEADER]: session.csrf }, body: '{"text":"x"}' });
  t.equal(withCsrf.status, 200, 'with it, the POST goes through');
  const mint = await fetch(`${base()}/api/v1/ui/login-link`, { method: 'POST', headers: { cookie, [CSRF_HEADER]: session.csrf } });
  t.equal(await code(mint), 'API_SCOPE_REFUSED', 'a cookie cannot make login links');
  const csp = withCsrf.headers.get('content-security-policy') ?? '';
  t.match(csp, /default-src 'self'/, 'strict CSP on answers');
});

t.test('the event WebSocket sends the backlog after since, then each new event', async (t) => {
  const { WebSocket } = await import('ws');
  const since = events.lastId();
  events.emit('friend.added', { name: 'carol' });
  const ws = new WebSocket(`ws://127.0.0.1:${http!.port}/api/v1/events?since=${since}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const frames: { events: { id: number; type: string }[] }[] = [];
  const got = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no frames within 5 s')), 5000);
    ws.on('message', (d) => {
      frames.push(JSON.parse(String(d)));
      if (frames.length === 1) events.emit('conv.message', { conv: 'c1' });
      if (frames.length === 2) (clearTimeout(timer), resolve());
    });
    ws.on('error', reject);
  });
  await got;
  ws.close();
  t.same(frames[0]!.events.map((e) => e.type), ['friend.added'], 'the backlog');
  t.same(frames[1]!.events.map((e) => e.type), ['conv.message'], 'then the live event');
  const plain = await call('GET', '/api/v1/events');
  t.equal(plain.status, 400, 'without an upgrade: 400 pointing at the long poll');
});
