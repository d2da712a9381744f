// `kith ui` and `kith client add|list|remove` end to end, against real agents on loopback: the
// printed one-time link sets the session cookie once (a second use is refused); a companion
// client's QR and link, its scoped session working only through the companion listener on
// 127.0.0.2 (a loopback stand-in for a LAN address), the listener open exactly while a client
// exists; and an agent without api.companionHost refusing `client add` and listening nowhere else.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { kith, startAgent, until } from '../helpers/proc.js';
import { codeOf, followLogin, freePort, listening, send } from '../helpers/browser-http.js';

const LAN = '127.0.0.2';

function init(dir: string, name: string): string {
  const d = path.join(dir, name);
  const r = kith(['init', '--data-dir', d, '--phrase-file', `${d}.phrase`]);
  if (r.status !== 0) throw new Error(r.stderr);
  return d;
}

t.test('kith ui: a one-time link that sets the session cookie once', async (t) => {
  const dir = t.testdir();
  const d = init(dir, 'alice');
  const agent = await startAgent(t, d, ['--profile', 'test']);
  const r = kith(['ui', '--data-dir', d]);
  t.equal(r.status, 0, r.stderr);
  const link = /http:\/\/127\.0\.0\.1:\d+\/ui\/login\?t=[0-9a-f]{64}/.exec(r.stdout)?.[0];
  t.ok(link, `the link is printed:\n${r.stdout}`);
  t.match(r.stdout, /works once/, 'and says it works once');
  t.ok(link!.startsWith(`http://127.0.0.1:${agent.apiPort}/`), 'on this agent\'s API port');
  const first = await followLogin(link!);
  t.equal(first.answer.status, 303);
  t.match(first.cookie, new RegExp(`^kith_session_${agent.apiPort}=[0-9a-f]{64}$`), 'the session cookie is set');
  t.match(first.answer.headers['set-cookie']![0], /HttpOnly; SameSite=Strict/i);
  const s = await send({ port: agent.apiPort, path: '/api/v1/session', headers: { cookie: first.cookie! } });
  t.same({ kind: s.json.kind, client: s.json.client, scope: s.json.scope }, { kind: 'cookie', client: null, scope: 'full' }, 'a full local session');
  const second = await followLogin(link!);
  t.equal(second.answer.status, 403, 'the second use is refused');
  t.equal(codeOf(second.answer), 'API_LOGIN_LINK_USED');
  t.equal(second.cookie, undefined);
  const j = kith(['ui', '--data-dir', d, '--json']);
  t.match(JSON.parse(j.stdout), { link: /\/ui\/login\?t=/, expiresAt: /^\d{4}-/ }, '--json answers {link, expiresAt}');
  t.not(JSON.parse(j.stdout).link, link, 'each run makes a new link');
});

t.test('kith client add|list|remove: QR, scoped session on the companion listener, listener only while clients exist', async (t) => {
  const dir = t.testdir();
  const d = init(dir, 'alice');
  const port = await freePort(LAN);
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(config, `[cluster]\nhost = "127.0.0.1"\n\n[api]\ncompanionHost = "${LAN}"\ncompanionPort = ${port}\n`);
  const agent = await startAgent(t, d, ['--config', config, '--profile', 'test']);
  t.notOk(await listening(LAN, port), 'no companion listener before any client');
  t.equal(kith(['client', 'list', '--data-dir', d]).stdout.trim(), 'no companion clients');

  const add = kith(['client', 'add', 'phone', '--data-dir', d]);
  t.equal(add.status, 0, add.stderr);
  t.match(add.stdout, /[▀▄█]{8}/, 'a QR code is drawn');
  const link = new RegExp(`http://127\\.0\\.0\\.2:${port}/ui/login\\?t=[0-9a-f]{64}`).exec(add.stdout)?.[0];
  t.ok(link, 'the link names the companion listener');
  t.match(add.stdout, /kith client remove phone/);
  t.ok((await until(() => listening(LAN, port), 5000, 50)) !== undefined, 'the companion listener opens with the first client');
  const list = kith(['client', 'list', '--data-dir', d, '--json']);
  t.match(JSON.parse(list.stdout), [{ name: 'phone', scope: 'conversations', lastSeenAt: null }], 'listed, link not opened yet');

  const { answer, cookie } = await followLogin(link!);
  t.equal(answer.status, 303, 'the phone opens its link');
  const lan = (p: string, headers: Record<string, string>) => send({ address: LAN, port, path: p, headers });
  t.equal((await lan('/api/v1/conversations', { cookie: cookie! })).status, 200, 'its session reads conversations on the companion listener');
  t.equal(codeOf(await lan('/api/v1/peers', { cookie: cookie! })), 'API_SCOPE_REFUSED', 'but not cluster members (scope "conversations")');
  const onLoopback = await send({ port: agent.apiPort, path: '/api/v1/conversations', headers: { cookie: `kith_session_${agent.apiPort}=${cookie!.split('=')[1]}` } });
  t.equal(onLoopback.status, 200, 'the same session works on loopback too (the phone is a client of this agent)');
  t.equal(codeOf(await lan('/api/v1/status', { authorization: `Bearer ${agent.token}` })), 'API_UNAUTHORIZED', 'the bearer token is refused on the companion listener');
  t.match(JSON.parse(kith(['client', 'list', '--data-dir', d, '--json']).stdout), [{ name: 'phone', lastSeenAt: /^\d{4}-/ }], 'list shows it was seen');

  const other = kith(['client', 'add', 'tablet', '--scope', 'full', '--no-qr', '--data-dir', d, '--json']);
  t.match(JSON.parse(other.stdout), { name: 'tablet', scope: 'full' }, 'a second client, full scope, as JSON');
  t.equal(kith(['client', 'remove', 'phone', '--data-dir', d]).stdout.trim(), 'removed phone');
  t.equal(codeOf(await lan('/api/v1/conversations', { cookie: cookie! })), 'API_SESSION_INVALID', 'the removed phone\'s session is refused at once');
  t.ok(await listening(LAN, port), 'the listener stays while the tablet is a client');
  kith(['client', 'remove', 'tablet', '--data-dir', d]);
  t.ok((await until(async () => !(await listening(LAN, port)), 5000, 50)) !== undefined, 'the listener closes with the last client');
  const again = kith(['client', 'remove', 'tablet', '--data-dir', d]);
  t.not(again.status, 0, 'removing an unknown client fails');
  t.match(again.stderr, /CLIENT_UNKNOWN/);
});

t.test('without api.companionHost: client add is refused, nothing listens beyond loopback', async (t) => {
  const dir = t.testdir();
  const d = init(dir, 'bob');
  await startAgent(t, d, ['--profile', 'test']);
  const r = kith(['client', 'add', 'phone', '--data-dir', d]);
  t.not(r.status, 0);
  t.match(r.stderr, /CONFIG_INVALID|api\.companionHost/, 'it says what to configure');
  t.equal(kith(['client', 'list', '--data-dir', d]).stdout.trim(), 'no companion clients', 'and adds nothing');
  t.notOk(await listening(LAN, 5486), 'no companion listener on the default port');
});
