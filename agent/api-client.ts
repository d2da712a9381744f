// The CLI's side of the local API: find the running agent of a data dir, call a route with its
// token, and turn an {"error": ...} answer back into the same KithError the agent raised.
import fs from 'node:fs';
import { KithError } from '../core/errors.js';
import { dataFiles } from './paths.js';
import { readRuntimeRecord } from './runtime-file.js';

export async function apiCall(apiPort: number, token: string, method: 'GET' | 'POST' | 'DELETE', route: string, body?: unknown): Promise<unknown> {
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
  const json = (await res.json()) as { result?: unknown; error?: { code: string; message: string; hint?: string; details?: string[] } } & Record<string, unknown>;
  if (json.error) {
    const e = json.error;
    throw new KithError(e.code as never, e.message, { ...(e.hint ? { hint: e.hint } : {}), ...(e.details ? { details: e.details } : {}) });
  }
  return 'result' in json ? json.result : json;
}

/** The running agent of a data dir, or AGENT_NOT_RUNNING. */
export function runningAgent(dataDir: string): { call(method: 'GET' | 'POST' | 'DELETE', route: string, body?: unknown): Promise<unknown> } {
  const files = dataFiles(dataDir);
  const rec = readRuntimeRecord(files.runtime);
  if (rec === undefined || !fs.existsSync(files.token)) {
    throw new KithError('AGENT_NOT_RUNNING', `no agent runs for ${dataDir}`, { hint: 'start it with `kith run` (or `systemctl start kith`)' });
  }
  const token = fs.readFileSync(files.token, 'utf8').trim();
  return { call: (method, route, body) => apiCall(rec.api.port, token, method, route, body) };
}
