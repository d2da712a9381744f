// What every request to the local API passes before any route sees it, in one place (routes added
// later, such as /api/v1/, get it too):
//   1. Host: the Host header must name this API (127.0.0.1, localhost, [::1] or the configured
//      api.host, with the port it listens on). A web page on another site that rebinds its DNS
//      name to 127.0.0.1 sends its own name and is refused, on /health as on /api/*.
//   2. Token: everything but GET /health needs `Authorization: Bearer <api.token>` (compared in
//      constant time); nothing else (query, cookie, Basic) counts, and no path trick
//      (`//api/…`, `/API/…`, `/health/../api/…`) reaches a route without it.
//   3. Size: a body may have at most 256 KiB. A Content-Length above that is refused unread; a
//      chunked body is counted while it is read, and refused as soon as it passes the limit, so a
//      big upload never sits in memory (issue 18, weak spot 8). Hono's bodyLimit does the counting.
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import os from 'node:os';
import { timingSafeEqual } from 'node:crypto';

export const MAX_BODY_BYTES = 256 * 1024;

export interface GuardOptions {
  token: string;
  /** Where the API listens, once bound. Without it, any port of a loopback name passes. */
  listen?: () => { host: string; port: number };
  maxBodyBytes?: number;
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

const refuse = (c: Context, status: 401 | 403 | 413, code: string, message: string, hint: string) =>
  c.json({ error: { code, message, hint } }, status);

export function apiGuard(opts: GuardOptions): MiddlewareHandler {
  const maxBytes = opts.maxBodyBytes ?? MAX_BODY_BYTES;
  const limit = bodyLimit({
    maxSize: maxBytes,
    // The rest of the body is never read: the connection closes after the answer.
    onError: (c) => (c.header('Connection', 'close'), refuse(c, 413, 'USAGE', `request body over ${maxBytes} bytes`, 'send a smaller request')),
  });
  return async (c, next) => {
    const listen = opts.listen?.();
    const names = allowedHostNames(listen?.host ?? '127.0.0.1', interfaceAddrs);
    if (!isAllowedHost(c.req.header('host'), names, listen?.port)) {
      return refuse(c, 403, 'API_HOST_REFUSED', 'the Host header does not name this API', 'call the API as http://127.0.0.1:PORT/ (the port is in <data-dir>/agent.json)');
    }
    if (!(c.req.path === '/health' && c.req.method === 'GET') && !tokenMatches(c.req.header('authorization'), opts.token)) {
      c.header('WWW-Authenticate', 'Bearer realm="kith"');
      return refuse(c, 401, 'API_UNAUTHORIZED', 'missing or wrong bearer token', 'send the token from <data-dir>/api.token');
    }
    return limit(c, next);
  };
}
