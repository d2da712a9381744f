// The /api/v1 routes: each one is declared in agent/api-shapes.ts (method, path, shapes) and
// given a handler here. Before a handler runs, its path parameters, query and JSON body are checked
// against the declared shapes; anything else is answered 400 API_BAD_REQUEST naming the first
// wrong field. A handler's answer is the route's response shape itself (no envelope); failures are
// {"error": {code, message, hint}} with a code from core/errors.ts.
import type { Context, Hono } from 'hono';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isKithError, type ErrorCode } from '../core/errors.js';
import { ROUTES, type RouteSpec, type Body, type Params, type Query, type Reply, type RouteName } from './api-shapes.js';

/** Codes that mean "no such thing here": answered 404 instead of 400. */
const NOT_FOUND_CODES: readonly ErrorCode[] = ['CONV_NOT_FOUND', 'MEMBER_UNKNOWN', 'FRIEND_UNKNOWN', 'NODE_UNKNOWN', 'PAIR_EXPIRED', 'CLIENT_UNKNOWN', 'ARCHIVE_OBJECT_UNKNOWN'];

export const apiError = (c: Context, status: 400 | 401 | 403 | 404 | 413 | 500, code: ErrorCode, message: string, hint?: string): Response =>
  c.json({ error: { code, message, ...(hint === undefined ? {} : { hint }) } }, status);

/** The first reason a value does not fit a shape, as "field: problem", or undefined when it fits. */
export function firstProblem(schema: TSchema, value: unknown): string | undefined {
  if (Value.Check(schema, value)) return undefined;
  const e = Value.Errors(schema, value).First();
  if (e === undefined) return 'does not match';
  return `${e.path === '' ? 'the value' : e.path.slice(1).replaceAll('/', '.')}: ${e.message}`;
}

async function readJson(c: Context): Promise<{ ok: true; value: unknown } | { ok: false; why: string }> {
  const text = await c.req.text();
  if (text === '') return { ok: true, value: {} };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, why: 'the request body is not JSON' };
  }
}

export interface Input<N extends RouteName> {
  params: Params<N>;
  query: Query<N>;
  body: Body<N>;
  c: Context;
}
export type Handler<N extends RouteName> = (input: Input<N>) => Promise<Reply<N>> | Reply<N>;

/** Registers one declared route on the app with its handler. */
export function serve<N extends RouteName>(app: Hono, name: N, handler: Handler<N>): void {
  const spec: RouteSpec = ROUTES[name];
  const where = `${spec.method} ${spec.path}`;
  const bad = (c: Context, what: string, why: string) => apiError(c, 400, 'API_BAD_REQUEST', `${where}: ${what} ${why}`, 'send what docs/api/openapi.json declares for this route');
  const run = async (c: Context): Promise<Response> => {
    const params = c.req.param() as Record<string, string>;
    if (spec.params && firstProblem(spec.params, params) !== undefined) return bad(c, 'path', firstProblem(spec.params, params)!);
    const query = c.req.query();
    if (spec.query) {
      const p = firstProblem(spec.query, query);
      if (p !== undefined) return bad(c, 'query', p);
    }
    let body: unknown = undefined;
    if (spec.method !== 'GET') {
      const read = await readJson(c);
      if (!read.ok) return bad(c, 'body', read.why);
      body = read.value;
      if (spec.body) {
        const p = firstProblem(spec.body, body);
        if (p !== undefined) return bad(c, 'body', p);
      }
    }
    try {
      const out = await handler({ params, query, body, c } as Input<N>);
      return out instanceof Response ? out : c.json(out as object);
    } catch (e) {
      if (!isKithError(e)) throw e;
      return c.json({ error: e.toJSON() }, NOT_FOUND_CODES.includes(e.code) ? 404 : 400);
    }
  };
  if (spec.method === 'GET') app.get(spec.path, run);
  else if (spec.method === 'POST') app.post(spec.path, run);
  else app.delete(spec.path, run);
}
