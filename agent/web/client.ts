// The page's one door to the agent: the /api/v1 routes by their names (agent/api-shapes.ts gives
// the shapes as types, routes.ts the paths), with the session cookie the login link of `kith ui`
// set (HttpOnly: the page never sees it, and no token is ever in the page), the CSRF value of
// GET /api/v1/session sent back as X-Kith-CSRF on every POST and DELETE, and the event log
// (stream.ts) that tells the pages when to fetch again: watch(refresh, match).
import type { EventView, Reply } from '../api-shapes.js';
import type { CallArgs } from '../api-client.js';
import { startStream, type EventStream, type Transport } from './stream.js';
import { EVENTS_SOCKET, WEB_ROUTES, type WebRoute } from './routes.js';

export interface ApiError { code: string; message: string; hint?: string }

export class CallError extends Error {
  constructor(readonly error: ApiError, readonly status: number) {
    super(error.message);
  }
}

/** Codes that mean "this page has no session (any more)": the page asks for a new login link. */
const SIGNED_OUT = ['API_UNAUTHORIZED', 'API_SESSION_INVALID'];
let csrf: string | null = null;
const signedOutListeners = new Set<() => void>();
export const onSignedOut = (fn: () => void): (() => void) => (signedOutListeners.add(fn), () => signedOutListeners.delete(fn));

const fill = (path: string, params: Record<string, string> | undefined) => path.replace(/:([A-Za-z]+)/g, (_, k: string) => encodeURIComponent(params?.[k] ?? ''));

/** Calls route `name`; the answer is typed by its declared response shape. */
export async function call<N extends WebRoute>(name: N, ...args: CallArgs<N>): Promise<Reply<N>> {
  const [method, path] = WEB_ROUTES[name];
  const input = (args[0] ?? {}) as { params?: Record<string, string>; query?: Record<string, string>; body?: unknown };
  const headers: Record<string, string> = {};
  if (method !== 'GET') {
    headers['content-type'] = 'application/json';
    if (csrf !== null) headers['x-kith-csrf'] = csrf;
  }
  const qs = input.query ? `?${new URLSearchParams(input.query).toString()}` : '';
  const res = await fetch(fill(path, input.params) + qs, { method, headers, credentials: 'same-origin', ...(method === 'GET' ? {} : { body: JSON.stringify(input.body ?? {}) }) });
  const json = (await res.json()) as { error?: ApiError };
  // An error answer has an error status; a 200 may carry its own `error` field (a failed archive job).
  if (!res.ok && json.error) {
    if (SIGNED_OUT.includes(json.error.code)) for (const fn of signedOutListeners) fn();
    throw new CallError(json.error, res.status);
  }
  return json as Reply<N>;
}

let scopeValue = 'full';
/** The session's scope: "full", or "conversations" for a companion client (a phone) that may only take part in conversations. */
export const scope = (): string => scopeValue;

/** Asks who this page is; false when it has no session (open a login link from `kith ui`). */
export async function signIn(): Promise<boolean> {
  try {
    const s = await call('session');
    csrf = s.csrf;
    scopeValue = s.scope;
    return true;
  } catch (e) {
    if (e instanceof CallError && SIGNED_OUT.includes(e.error.code)) return false;
    throw e;
  }
}

type Reader = { refresh: () => void; match: (e: EventView) => boolean };
const readers = new Set<Reader>();
let stream: EventStream | undefined;
const transportListeners = new Set<(t: Transport) => void>();
export const onTransport = (fn: (t: Transport) => void): (() => void) => (transportListeners.add(fn), () => transportListeners.delete(fn));
export const currentTransport = (): Transport => stream?.transport ?? 'connecting';

function browserSocket(since: number | undefined, on: { open(): void; batch(b: never): void; closed(): void }) {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${EVENTS_SOCKET}${since === undefined ? '' : `?since=${since}`}`;
  const ws = new WebSocket(url);
  ws.onopen = () => on.open();
  ws.onmessage = (m) => {
    try { on.batch(JSON.parse(String(m.data)) as never); } catch { /* a frame that is no batch is skipped */ }
  };
  ws.onclose = () => on.closed();
  return { close: () => ws.close() };
}

function ensureStream(): void {
  stream ??= startStream({
    openSocket: browserSocket,
    poll: (since) => call('events', { query: { waitMs: '25000', ...(since === undefined ? {} : { since: String(since) }) } }),
    setTimer: (ms, fn) => { const h = setTimeout(fn, ms); return { cancel: () => clearTimeout(h) }; },
    onEvent: (e) => { for (const r of readers) if (r.match(e)) r.refresh(); },
    resync: () => { for (const r of readers) r.refresh(); },
    onTransport: (t) => { for (const fn of transportListeners) fn(t); },
  });
}

/** Event types by prefix: watch(load, types('conv.', 'friend.')). */
export const types = (...prefixes: string[]) => (e: EventView): boolean => prefixes.some((p) => e.type.startsWith(p));

/**
 * Calls `refresh` now, and again whenever an event that `match`es arrives or the stream says what
 * the page shows may be stale (its start, a gap, the fallback's ticks). Calls never overlap: one
 * asked for while one runs happens once after it. Returns the stop function.
 */
export function watch(refresh: () => Promise<void>, match: (e: EventView) => boolean = () => true): () => void {
  let running = false;
  let again = false;
  let stopped = false;
  const run = async () => {
    if (stopped) return;
    if (running) { again = true; return; }
    running = true;
    try { await refresh(); } catch { /* the page shows its own error state */ }
    running = false;
    if (again) { again = false; void run(); }
  };
  const reader: Reader = { refresh: () => void run(), match };
  readers.add(reader);
  ensureStream();
  void run();
  return () => { stopped = true; readers.delete(reader); };
}

/** An error as a person reads it: code, message and the hint. */
export const errText = (e: unknown): string => (e instanceof CallError ? `${e.error.code}: ${e.message}${e.error.hint ? ` (${e.error.hint})` : ''}` : String(e));
