// The CLI's side of the local API: find the running agent of a data dir, call a /api/v1 route by
// its name in agent/api-shapes.ts (typed from the declared shapes), and turn an {"error": ...}
// answer back into the same KithError the agent raised.
import fs from 'node:fs';
import { KithError } from '../core/errors.js';
import { dataFiles } from './paths.js';
import { readRuntimeRecord } from './runtime-file.js';
import { fillPath, ROUTES, type Body, type Params, type Query, type Reply, type RouteName } from './api-shapes.js';

/** What a call of route N takes: its path parameters, query and body, where it declares them. */
export type CallInput<N extends RouteName> = (Params<N> extends undefined ? object : { params: Params<N> }) &
  (Body<N> extends undefined ? object : { body: Body<N> }) &
  (Query<N> extends undefined ? object : { query?: Query<N> });
export type CallArgs<N extends RouteName> = object extends CallInput<N> ? [input?: CallInput<N>] : [input: CallInput<N>];

export interface ApiClient {
  call<N extends RouteName>(name: N, ...args: CallArgs<N>): Promise<Reply<N>>;
  /** A route not (yet) declared in api-shapes.ts; an answer's `result` field is unwrapped. */
  raw(method: 'GET' | 'POST' | 'DELETE', route: string, body?: unknown): Promise<unknown>;
}

/** One raw request: the parsed JSON answer, or the agent's KithError. */
export async function apiRequest(apiPort: number, token: string, method: 'GET' | 'POST' | 'DELETE', route: string, body?: unknown): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(`http://127.0.0.1:${apiPort}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(15_000),
    });
  } catch (e) {
    throw new KithError('API_UNREACHABLE', `the agent on port ${apiPort} does not answer: ${(e as Error).message}`);
  }
  const json = (await res.json()) as { error?: { code: string; message: string; hint?: string; details?: string[] } };
  // An error answer has an error status; a 200 may carry its own `error` field (a failed archive job).
  if (!res.ok && json.error) {
    const e = json.error;
    throw new KithError(e.code as never, e.message, { ...(e.hint ? { hint: e.hint } : {}), ...(e.details ? { details: e.details } : {}) });
  }
  return json;
}

/** A typed client of the API on a port. */
export function apiClient(apiPort: number, token: string): ApiClient {
  return {
    call(name, ...args) {
      const spec = ROUTES[name];
      const input = (args[0] ?? {}) as { params?: Record<string, string>; query?: Record<string, string>; body?: unknown };
      const qs = input.query ? `?${new URLSearchParams(input.query as Record<string, string>).toString()}` : '';
      const body = spec.method === 'GET' ? undefined : (input.body ?? {});
      return apiRequest(apiPort, token, spec.method, fillPath(spec.path, input.params) + qs, body) as Promise<never>;
    },
    async raw(method, route, body) {
      const json = (await apiRequest(apiPort, token, method, route, body)) as Record<string, unknown>;
      return 'result' in json ? json['result'] : json;
    },
  };
}

/** The running agent of a data dir, or AGENT_NOT_RUNNING. */
export function runningAgent(dataDir: string): ApiClient {
  const files = dataFiles(dataDir);
  const rec = readRuntimeRecord(files.runtime);
  if (rec === undefined || !fs.existsSync(files.token)) {
    throw new KithError('AGENT_NOT_RUNNING', `no agent runs for ${dataDir}`, { hint: 'start it with `kith run` (or `systemctl start kith`)' });
  }
  return apiClient(rec.api.port, fs.readFileSync(files.token, 'utf8').trim());
}
