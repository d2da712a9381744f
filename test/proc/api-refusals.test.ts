// The local API's refusals against a real agent process on 127.0.0.1, with a companion listener
// on 127.0.0.2 (a stand-in for a LAN address: it is loopback): each attack answered with its
// stable error code (core/errors.ts), and the requests a person's browser and a phone make let
// through. Rebinding Host, a cross-site page (Origin, Sec-Fetch-Site), no cookie, a made-up or
// stale cookie (from before a restart), a replayed login link, a POST without or with a wrong
// X-Kith-CSRF, a bearer token or a local session on the companion listener, a companion asking
// beyond its scope, and a removed (revoked) companion's session. No answer carries a CORS header.
import t, { type Test } from 'tap';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { kith, startAgent, type AgentProc } from '../helpers/proc.js';
import { codeOf, followLogin, freePort, send, type Answer } from '../helpers/browser-http.js';

const LAN = '127.0.0.2';
let agent: AgentProc;
let dataDir: string;
let configFile: string;
let companionPort: number;

const bearer = () => ({ authorization: `Bearer ${agent.token}` });
const cookieName = () => `kith_session_${agent.apiPort}`;
const api = (p: string, o: { method?: string; headers?: Record<string, string>; body?: unknown; address?: string; port?: number } = {}) =>
  send({ port: o.port ?? agent.apiPort, path: p, ...o });

async function loginLink(): Promise<string> {
  const r = await api('/api/v1/ui/login-link', { method: 'POST', headers: bearer() });
  if (r.status !== 200) throw new Error(r.text);
  return r.json.link;
}

/** A fresh local session: its cookie header and CSRF value. */
async function session(): Promise<{ cookie: string; csrf: string }> {
  const { cookie } = await followLogin(await loginLink());
  const s = await api('/api/v1/session', { headers: { cookie: cookie! } });
  return { cookie: cookie!, csrf: s.json.csrf };
}

function refused(t: Test, a: Answer, status: number, code: string, what: string): void {
  t.equal(a.status, status, `${what}: ${status}`);
  t.equal(codeOf(a), code, `${what}: ${code}`);
  t.notOk(a.headers['access-control-allow-origin'], `${what}: no CORS header`);
}

t.before(async () => {
  const dir = t.testdir();
  dataDir = path.join(dir, 'data');
  companionPort = await freePort(LAN);
  configFile = path.join(dir, 'config.toml');
  fs.writeFileSync(configFile, `[cluster]\nhost = "127.0.0.1"\n\n[api]\ncompanionHost = "${LAN}"\ncompanionPort = ${companionPort}\n`);
  const r = kith(['init', '--data-dir', dataDir, '--phrase-file', path.join(dir, 'phrase.txt')]);
  if (r.status !== 0) throw new Error(r.stderr);
  agent = await startAgent(t, dataDir, ['--config', configFile, '--profile', 'test']);
});

t.test('a rebinding Host is refused everywhere, before credentials', async (t) => {
  for (const p of ['/health', '/ui/', '/ui/login?t=00', '/api/v1/status']) {
    refused(t, await api(p, { headers: { host: 'evil.example', ...bearer() } }), 403, 'API_HOST_REFUSED', `Host: evil.example on ${p}`);
  }
  refused(t, await api('/api/v1/status', { headers: { host: `evil.example:${agent.apiPort}`, ...bearer() } }), 403, 'API_HOST_REFUSED', 'Host: evil.example with the right port');
  refused(t, await api('/api/v1/status', { headers: { host: `127.0.0.1:${agent.apiPort + 1}`, ...bearer() } }), 403, 'API_HOST_REFUSED', 'Host naming another port');
  t.equal((await api('/health')).status, 200, 'its own Host passes');
  t.equal((await api('/api/v1/status', { headers: { host: `localhost:${agent.apiPort}`, ...bearer() } })).status, 200, 'localhost passes');
});

t.test('a cross-origin fetch is refused, with a cookie or the token', async (t) => {
  const s = await session();
  const evil = { origin: 'http://evil.example', 'sec-fetch-site': 'cross-site' };
  refused(t, await api('/api/v1/status', { headers: { ...evil, cookie: s.cookie } }), 403, 'API_ORIGIN_REFUSED', 'GET from evil.example with the cookie');
  refused(t, await api('/api/v1/pair/offer', { method: 'POST', body: {}, headers: { ...evil, cookie: s.cookie, 'x-kith-csrf': s.csrf } }), 403, 'API_ORIGIN_REFUSED', 'POST from evil.example with cookie and CSRF');
  refused(t, await api('/api/v1/status', { headers: { origin: 'http://evil.example', ...bearer() } }), 403, 'API_ORIGIN_REFUSED', 'Origin evil.example with the token');
  refused(t, await api('/api/v1/status', { headers: { 'sec-fetch-site': 'same-site', cookie: s.cookie } }), 403, 'API_ORIGIN_REFUSED', 'Sec-Fetch-Site: same-site (another port of this machine)');
  refused(t, await api('/api/v1/status', { headers: { origin: `http://127.0.0.1:${agent.apiPort + 1}`, cookie: s.cookie } }), 403, 'API_ORIGIN_REFUSED', 'Origin of another local port');
  const own = await api('/api/v1/status', { headers: { origin: `http://127.0.0.1:${agent.apiPort}`, 'sec-fetch-site': 'same-origin', cookie: s.cookie } });
  t.equal(own.status, 200, 'the page\'s own origin passes');
  t.notOk(own.headers['access-control-allow-origin'], 'and gets no CORS header either');
  const preflight = await api('/api/v1/status', { method: 'OPTIONS', headers: { origin: 'http://evil.example', 'access-control-request-method': 'GET' } });
  t.notOk(preflight.headers['access-control-allow-origin'], 'a CORS preflight gets no allow header');
});

t.test('no cookie, a made-up cookie, a token in the wrong place: refused', async (t) => {
  refused(t, await api('/api/v1/status'), 401, 'API_UNAUTHORIZED', 'no credentials');
  refused(t, await api('/api/v1/conversations', { headers: { cookie: `${cookieName()}=${'ab'.repeat(32)}` } }), 401, 'API_SESSION_INVALID', 'an unknown session id');
  refused(t, await api('/api/v1/status', { headers: { cookie: `kith_session_1=${'ab'.repeat(32)}` } }), 401, 'API_UNAUTHORIZED', 'a cookie of another port\'s agent');
  refused(t, await api(`/api/v1/status?token=${agent.token}`), 401, 'API_UNAUTHORIZED', 'the token in the query');
  const s = await session();
  refused(t, await api('/api/v1/status', { headers: { cookie: s.cookie, authorization: 'Bearer wrong' } }), 401, 'API_UNAUTHORIZED', 'a good cookie with a wrong bearer');
  refused(t, await api('/api/v1/ui/login-link', { method: 'POST', headers: { cookie: s.cookie, 'x-kith-csrf': s.csrf } }), 403, 'API_SCOPE_REFUSED', 'a cookie making login links');
});

t.test('a login link works once: the replay is refused and sets no cookie', async (t) => {
  const link = await loginLink();
  const first = await followLogin(link);
  t.equal(first.answer.status, 303, 'the first use redirects to the UI');
  t.equal(first.answer.headers.location, '/ui/');
  const set = first.answer.headers['set-cookie']![0]!;
  t.match(set, new RegExp(`^${cookieName()}=[0-9a-f]{64};`), 'the cookie is named for this port');
  t.match(set, /HttpOnly/i);
  t.match(set, /SameSite=Strict/i);
  t.equal((await api('/api/v1/status', { headers: { cookie: first.cookie! } })).status, 200, 'the cookie opens the API');
  const again = await followLogin(link);
  refused(t, again.answer, 403, 'API_LOGIN_LINK_USED', 'the same link again');
  t.equal(again.cookie, undefined, 'no cookie for the replay');
  refused(t, (await followLogin(link.replace(/t=[0-9a-f]+/, `t=${'0'.repeat(64)}`))).answer, 403, 'API_LOGIN_LINK_USED', 'a made-up link');
});

t.test('a POST with a valid cookie needs its CSRF header', async (t) => {
  const s = await session();
  const other = await session();
  refused(t, await api('/api/v1/pair/offer', { method: 'POST', body: {}, headers: { cookie: s.cookie } }), 403, 'API_CSRF_REFUSED', 'no X-Kith-CSRF');
  refused(t, await api('/api/v1/pair/offer', { method: 'POST', body: {}, headers: { cookie: s.cookie, 'x-kith-csrf': other.csrf } }), 403, 'API_CSRF_REFUSED', 'another session\'s CSRF value');
  refused(t, await api('/api/v1/clients/x', { method: 'DELETE', headers: { cookie: s.cookie } }), 403, 'API_CSRF_REFUSED', 'a DELETE without it');
  const ok = await api('/api/v1/pair/offer', { method: 'POST', body: {}, headers: { cookie: s.cookie, 'x-kith-csrf': s.csrf } });
  t.equal(ok.status, 200, `with it, the offer opens (${ok.text.slice(0, 80)})`);
  const cancel = await api(`/api/v1/pair/offer/${ok.json.id}`, { method: 'DELETE', headers: { cookie: s.cookie, 'x-kith-csrf': s.csrf } });
  t.equal(cancel.status, 200, 'and is cancelled the same way');
  t.equal((await api('/api/v1/events/poll?since=0&waitMs=0', { headers: { cookie: s.cookie } })).status, 200, 'a GET needs no CSRF');
});

t.test('companions: only on their listener, only in their scope, and not once removed', async (t) => {
  const add = async (name: string) => {
    const r = await api('/api/v1/clients', { method: 'POST', headers: bearer(), body: { name } });
    t.equal(r.status, 200, `client ${name} added`);
    return r.json.link as string;
  };
  // The first client opens the listener. With its port taken by another program, the add says
  // so (the client is kept); added again once the port is free, the listener opens, and the link
  // it hands out works at once (it answers only after the listener is up).
  const squatter = net.createServer();
  await new Promise<void>((r) => squatter.listen(companionPort, LAN, () => r()));
  refused(t, await api('/api/v1/clients', { method: 'POST', headers: bearer(), body: { name: 'phone1' } }), 400, 'PORT_IN_USE', 'the first client while another program holds the companion port');
  await new Promise<void>((r) => squatter.close(() => r()));
  const [l1, l2] = [await add('phone1'), await add('phone2')];
  t.match(l1, new RegExp(`^http://${LAN.replace(/\./g, '\\.')}:${companionPort}/ui/login\\?t=[0-9a-f]{64}$`), 'the link names the companion listener');
  const lan = (p: string, headers: Record<string, string> = {}) => send({ address: LAN, port: companionPort, path: p, headers });
  const p1 = (await followLogin(l1)).cookie!;
  const p2 = (await followLogin(l2)).cookie!;
  t.match(p1, new RegExp(`^kith_session_${companionPort}=`), 'the phone\'s cookie is named for the companion port');
  t.equal((await lan('/api/v1/conversations', { cookie: p1 })).status, 200, 'phone1 reads conversations');
  refused(t, await lan('/api/v1/peers', { cookie: p1 }), 403, 'API_SCOPE_REFUSED', 'phone1 asking for cluster members (beyond "conversations")');
  refused(t, await lan('/api/v1/clients', { cookie: p1 }), 403, 'API_SCOPE_REFUSED', 'phone1 listing clients');
  refused(t, await lan('/api/v1/status', bearer()), 401, 'API_UNAUTHORIZED', 'the bearer token on the companion listener');
  const local = await session();
  refused(t, await lan('/api/v1/conversations', { cookie: `kith_session_${companionPort}=${local.cookie.split('=')[1]}` }), 401, 'API_SESSION_INVALID', 'a local browser session on the companion listener');
  refused(t, await lan('/api/v1/conversations', { host: `evil.example:${companionPort}`, cookie: p1 }), 403, 'API_HOST_REFUSED', 'Host: evil.example on the companion listener');

  const rm = await api('/api/v1/clients/phone1', { method: 'DELETE', headers: bearer() });
  t.equal(rm.status, 200, 'phone1 removed');
  refused(t, await lan('/api/v1/conversations', { cookie: p1 }), 401, 'API_SESSION_INVALID', 'the removed phone1\'s session');
  t.equal((await lan('/api/v1/conversations', { cookie: p2 })).status, 200, 'phone2 still works');
  refused(t, (await followLogin(l1)).answer, 403, 'API_LOGIN_LINK_USED', 'phone1\'s used link');
  refused(t, await api('/api/v1/clients/phone1', { method: 'DELETE', headers: bearer() }), 404, 'CLIENT_UNKNOWN', 'removing phone1 twice');
  await api('/api/v1/clients/phone2', { method: 'DELETE', headers: bearer() });
});

t.test('a cookie from before a restart is stale: refused', async (t) => {
  const s = await session();
  const value = s.cookie.split('=')[1]!;
  await agent.stop();
  agent = await startAgent(t, dataDir, ['--config', configFile, '--profile', 'test']);
  refused(t, await api('/api/v1/status', { headers: { cookie: `${cookieName()}=${value}` } }), 401, 'API_SESSION_INVALID', 'the old session id');
  const fresh = await session();
  t.equal((await api('/api/v1/status', { headers: { cookie: fresh.cookie } })).status, 200, 'a new login link works');
});
