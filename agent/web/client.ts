// The page's one door to the agent. Today it speaks the bearer-token API (agent/api.ts: /api/…),
// the token handed over in the URL fragment (never sent to a server) and kept in sessionStorage.
// When the versioned API with the session cookie and events lands (/api/v1/…), only this file
// changes: the pages call get/post/del and watch(), nothing else.
export interface ApiError { code: string; message: string; hint?: string }

export class CallError extends Error {
  constructor(readonly error: ApiError) {
    super(error.message);
  }
}

const TOKEN_KEY = 'kith.token';

/** Takes `#token=…` out of the address (so it is not bookmarked or shown) and keeps it for the tab. */
export function adoptToken(): void {
  const m = /(?:^#|&)token=([0-9a-zA-Z_-]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, m[1]!);
    history.replaceState(null, '', location.pathname + '#/conversations');
  }
}

export const hasToken = (): boolean => sessionStorage.getItem(TOKEN_KEY) !== null;

async function call(method: 'GET' | 'POST' | 'DELETE', route: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = {};
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers['authorization'] = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(route, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }), credentials: 'same-origin' });
  const json = (await res.json()) as { result?: unknown; error?: ApiError };
  if (json.error) throw new CallError(json.error);
  return 'result' in json ? json.result : json;
}

export const get = (route: string) => call('GET', route);
export const post = (route: string, body: unknown = {}) => call('POST', route, body);
export const del = (route: string) => call('DELETE', route);
export const conv = (op: string, body: Record<string, unknown> = {}) => post(`/api/conv/${op}`, body);

/**
 * Calls `refresh` now and whenever the agent's state may have changed. On the current API that is
 * a poll every `intervalMs` (fast enough that a friend's poll shows within a second); the event
 * stream replaces it without the pages noticing. Returns the stop function.
 */
export function watch(refresh: () => Promise<void>, intervalMs = 400): () => void {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const tick = async () => {
    if (stopped) return;
    try {
      await refresh();
    } catch {
      /* shown by the page's own error state on the next explicit action */
    }
    if (!stopped && document.visibilityState !== 'hidden') timer = setTimeout(tick, intervalMs);
    else if (!stopped) timer = setTimeout(tick, intervalMs * 5);
  };
  void tick();
  return () => {
    stopped = true;
    if (timer !== undefined) clearTimeout(timer);
  };
}
