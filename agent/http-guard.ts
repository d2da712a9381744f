// What every request to the local API passes before any route sees it, in one place (routes added
// later, such as /api/v1/, get it too):
//   1. Host: the Host header must name this API (127.0.0.1, localhost, [::1] or the configured
//      api.host, with the port it listens on). A web page on another site that rebinds its DNS
//      name to 127.0.0.1 sends its own name and is refused, on /health as on /api/*.
//   2. Token: everything but GET /health needs `Authorization: Bearer <api.token>` (compared in
//      constant time); nothing else (query, cookie, Basic) counts, and no path trick
//      (`//api/…`, `/API/…`, `/health/../api/…`) reaches a route without it.
//   2b. Browsers (agent/access.ts): a session cookie from a one-time login link stands in for the
//      token; then every POST/DELETE needs the X-Kith-CSRF header matching the session, and a
//      companion client's session reaches only the routes its scope allows. Any request whose
//      Origin is not this API's own origin, or whose Sec-Fetch-Site says another site sent it, is
//      refused (API_ORIGIN_REFUSED) before credentials are looked at. No CORS header is ever sent.
//      Every answer carries a strict Content-Security-Policy and no-store/no-referrer headers.
//   3. Size: a body may have at most 256 KiB. A Content-Length above that is refused unread; a
//      chunked body is counted while it is read, and refused as soon as it passes the limit, so a
//      big upload never sits in memory (issue 18, weak spot 8). Hono's bodyLimit does the counting.
import type { Context, MiddlewareHandler } from 'hono';
import { getCookie } from 'hono/cookie';
import type { ErrorCode } from '../core/errors.js';
import { CSRF_HEADER, sameSecret, sessionCookieName, type Access, type Scope } from './access.js';
import { routeOf } from './api-shapes.js';
import { bodyLimit } from 'hono/body-limit';
import os from 'node:os';
import { timingSafeEqual } from 'node:crypto';

export const MAX_BODY_BYTES = 256 * 1024;

export interface GuardOptions {
  token: string;
  /** Where the API listens, once bound. Without it, any port of a loopback name passes. */
  listen?: () => { host: string; port: number };
  maxBodyBytes?: number;
  /** Browser sessions and companion clients; without it only the token opens the API. */
  access?: Access;
  /** The companion listener beyond loopback: only companion clients' sessions, never the token. */
  lan?: boolean;
}

/** Who a request is, once the guard let it through. */
export interface Auth {
  kind: 'token' | 'cookie';
  client: string | null;
  scope: Scope;
  csrf: string | null;
}

const AUTH = new WeakMap<Request, Auth>();
/** The Auth of a request that passed apiGuard. */
export const authOf = (c: Context): Auth => AUTH.get(c.req.raw) ?? { kind: 'token', client: null, scope: 'full', csrf: null };

/** Routes a cookie never reaches: only a program holding the token may make login links. */
const TOKEN_ONLY = new Set(['uiLogin']);
/** Routes no companion client reaches, whatever its scope. */
const NOT_FOR_COMPANIONS = new Set(['uiLogin', 'clients', 'addClient', 'removeClient']);

export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/** Paths a browser may load without a session: the login link and the UI's static files. */
export const isOpenPath = (method: string, path: string): boolean =>
  (method === 'GET' || method === 'HEAD') && (path === '/health' || path === '/ui/login' || path === '/ui' || path.startsWith('/ui/'));

/** Whether a browser request comes from this API's own origin (or from no page at all). */
export function sameOrigin(origin: string | undefined, fetchSite: string | undefined, host: string): boolean {
  if (fetchSite !== undefined && fetchSite !== 'same-origin' && fetchSite !== 'none') return false;
  return origin === undefined || origin === `http://${host.trim().toLowerCase()}`;
}

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];
const WILDCARDS = ['0.0.0.0', '::', ''];

/** The host names a request may give for an API bound to `bindHost`. */
export function allowedHostNames(bindHost: string, interfaceAddrs: () => string[]): string[] {
  const names = [...LOOPBACK_NAMES];
  const bracket = (a: string) => (a.includes(':') ? `[${a}]` : a);
  if (WILDCARDS.includes(bindHost)) names.push(...interfaceAddrs().map(bracket));
  else names.push(bracket(bindHost));
  return names;
}

/** Whether a Host header names this API: one of the names, with exactly the port it listens on. */
export function isAllowedHost(header: string | undefined, names: readonly string[], port: number | undefined): boolean {
  if (header === undefined) return false;
  const m = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(header.trim());
  if (!m) return false;
  const name = m[1]!.toLowerCase();
  const given = m[2] === undefined ? 80 : Number(m[2]);
  return names.includes(name) && (port === undefined || given === port);
}

export function tokenMatches(header: string | undefined, token: string): boolean {
  if (header === undefined || !header.startsWith('Bearer ')) return false;
  const given = Buffer.from(header.slice(7).trim());
  const want = Buffer.from(token);
  return given.length === want.length && timingSafeEqual(given, want);
}

const interfaceAddrs = (): string[] => Object.values(os.networkInterfaces()).flatMap((l) => (l ?? []).map((i) => i.address.toLowerCase()));

const refuse = (c: Context, status: 401 | 403 | 413, code: ErrorCode, message: string, hint: string) =>
  c.json({ error: { code, message, hint } }, status);

/** Who the credentials of a request name, or the refusal. */
function authenticate(c: Context, opts: GuardOptions, port: number): Auth | Response {
  const bearer = c.req.header('authorization');
  if (bearer !== undefined && !opts.lan && tokenMatches(bearer, opts.token)) return { kind: 'token', client: null, scope: 'full', csrf: null };
  const cookie = opts.access ? getCookie(c, sessionCookieName(port)) : undefined;
  if (cookie === undefined || bearer !== undefined) {
    c.header('WWW-Authenticate', 'Bearer realm="kith"');
    return refuse(c, 401, 'API_UNAUTHORIZED', 'missing or wrong bearer token', 'send the token from <data-dir>/api.token, or open the UI with the link `kith ui` prints');
  }
  const s = opts.access!.session(cookie);
  if (s === undefined || (opts.lan && s.client === null)) return refuse(c, 401, 'API_SESSION_INVALID', 'the session cookie is unknown, expired or revoked', 'open a new login link: `kith ui` (or `kith client add` for a phone)');
  return { kind: 'cookie', client: s.client, scope: s.scope, csrf: s.csrf };
}

/** What a cookie session may not do on this route: CSRF, token-only and scope checks. */
function cookieRefusal(c: Context, auth: Auth): Response | undefined {
  const route = routeOf(c.req.method, c.req.path);
  if (route !== undefined && TOKEN_ONLY.has(route.name)) return refuse(c, 403, 'API_SCOPE_REFUSED', `${route.name} needs the bearer token`, 'run `kith ui` on the agent\'s machine');
  if (c.req.method !== 'GET' && c.req.method !== 'HEAD') {
    const given = c.req.header(CSRF_HEADER);
    if (given === undefined || auth.csrf === null || !sameSecret(given, auth.csrf)) return refuse(c, 403, 'API_CSRF_REFUSED', `a ${c.req.method} with a session cookie needs the ${CSRF_HEADER} header of that session`, 'send the csrf value of GET /api/v1/session as the X-Kith-CSRF header');
  }
  const eventSocket = c.req.path === '/api/v1/events';
  if (auth.client !== null && !eventSocket && (route === undefined || NOT_FOR_COMPANIONS.has(route.name) || (auth.scope === 'conversations' && !route.companion))) {
    return refuse(c, 403, 'API_SCOPE_REFUSED', `the companion client "${auth.client}" may not call ${route?.name ?? c.req.path}`, 'do it on the agent\'s machine');
  }
  return undefined;
}

export function apiGuard(opts: GuardOptions): MiddlewareHandler {
  const maxBytes = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  const limit = bodyLimit({
    maxSize: maxBytes,
    // The rest of the body is never read: the connection closes after the answer.
    onError: (c) => (c.header('Connection', 'close'), refuse(c, 413, 'API_BODY_TOO_LARGE', `request body over ${maxBytes} bytes`, 'send a smaller request')),
  });
  const check = async (c: Context, next: () => Promise<void>): Promise<Response | void> => {
    const listen = opts.listen?.();
    const names = allowedHostNames(listen?.host ?? '127.0.0.1', interfaceAddrs);
    const host = c.req.header('host');
    if (!isAllowedHost(host, names, listen?.port)) {
      return refuse(c, 403, 'API_HOST_REFUSED', 'the Host header does not name this API', 'call the API as http://127.0.0.1:PORT/ (the port is in <data-dir>/agent.json)');
    }
    if (!sameOrigin(c.req.header('origin'), c.req.header('sec-fetch-site'), host!)) {
      return refuse(c, 403, 'API_ORIGIN_REFUSED', 'the request came from a page of another origin', 'open the UI from the link `kith ui` prints');
    }
    if (!isOpenPath(c.req.method, c.req.path)) {
      const auth = authenticate(c, opts, listen?.port ?? Number(/:(\d+)$/.exec(host!)?.[1] ?? 80));
      if (auth instanceof Response) return auth;
      if (auth.kind === 'cookie') {
        const no = cookieRefusal(c, auth);
        if (no) return no;
      }
      AUTH.set(c.req.raw, auth);
    }
    return limit(c, next);
  };
  return async (c, next) => {
    const res = await check(c, next);
    if (res instanceof Response) c.res = res;
    // A WebSocket upgrade (101) on Bun has no response to decorate.
    if (c.res.status === 101) return;
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) c.res.headers.set(k, v);
    if (c.req.path.startsWith('/api/')) c.res.headers.set('cache-control', 'no-store');
  };
}
