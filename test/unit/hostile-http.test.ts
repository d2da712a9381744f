// The local API's front door (agent/http-guard.ts) on a real server in this process, spoken to
// with raw HTTP over loopback: the body limit holds while a chunked body is still arriving (issue
// 18, weak spot 8), the Host header must name the API (weak spot 15), and only a bearer token
// opens /api/. test/proc/hostile-api.test.ts runs the same attacks against a whole agent, under
// Node and under Bun.
import t from 'tap';
import net from 'node:net';
import { createApi } from '../../agent/api.js';
import { serveHttp, type HttpServer } from '../../agent/http-server.js';
import { allowedHostNames, isAllowedHost, MAX_BODY_BYTES } from '../../agent/http-guard.js';
import { FIXTURE_IDENTITY, fixtureStatus } from '../helpers/api-fixtures.js';

const TOKEN = 'a'.repeat(64);

async function server(t: { teardown(fn: () => unknown): void }): Promise<HttpServer> {
  let http: HttpServer | undefined;
  const api = createApi({
    token: TOKEN,
    listen: () => ({ host: '127.0.0.1', port: http!.port }),
    status: async () => fixtureStatus(),
    identity: () => FIXTURE_IDENTITY,
    conv: async (op, body) => ({ op, keys: Object.keys(body).length }),
  });
  http = await serveHttp(api, '127.0.0.1', 0);
  t.teardown(() => http!.close());
  return http;
}

/** Sends raw request bytes; resolves with the status code and body of the answer. */
function raw(port: number, request: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(request));
    let got = '';
    s.setTimeout(10_000, () => s.destroy(new Error('no answer in 10 s')));
    s.on('data', (d) => (got += d.toString('latin1')));
    s.on('error', reject);
    s.on('close', () => {
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(got)?.[1] ?? 0);
      resolve({ status, body: got.slice(got.indexOf('\r\n\r\n') + 4) });
    });
  });
}

const get = (port: number, path: string, headers: string) => raw(port, `GET ${path} HTTP/1.1\r\n${headers}Connection: close\r\n\r\n`);

t.test('a chunked body is refused with 413 while it is still arriving, not after it was read in full', async (t) => {
  const http = await server(t);
  const planned = 64 * 1024 * 1024;
  const chunk = Buffer.concat([Buffer.from('10000\r\n'), Buffer.alloc(0x10000, 0x20), Buffer.from('\r\n')]);
  const result = await new Promise<{ status: number; sentBytes: number }>((resolve, reject) => {
    const s = net.connect(http.port, '127.0.0.1');
    let sent = 0;
    let answer = '';
    s.on('error', (e: NodeJS.ErrnoException) => (answer ? undefined : reject(e)));
    s.on('data', (d) => {
      answer += d.toString('latin1');
      if (/^HTTP\/1\.1 \d{3}/.test(answer)) {
        s.destroy();
        resolve({ status: Number(answer.slice(9, 12)), sentBytes: sent });
      }
    });
    s.on('connect', async () => {
      s.write(`POST /api/conv/post HTTP/1.1\r\nHost: 127.0.0.1:${http.port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`);
      while (sent < planned && !answer && !s.destroyed) {
        sent += 0x10000;
        if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
      }
      if (!answer && !s.destroyed) s.end('0\r\n\r\n');
    });
  });
  t.equal(result.status, 413, 'refused as too large');
  t.ok(result.sentBytes < 8 * 1024 * 1024, `the answer came after ${(result.sentBytes / 1048576).toFixed(1)} MiB of a planned 64 MiB`);
});

t.test('a Content-Length over the limit is refused unread; at the limit it is read', async (t) => {
  const http = await server(t);
  const head = (n: number) => `POST /api/conv/x HTTP/1.1\r\nHost: 127.0.0.1:${http.port}\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Length: ${n}\r\nConnection: close\r\n\r\n`;
  t.equal((await raw(http.port, head(1024 * 1024 * 1024))).status, 413, '1 GiB announced: 413 at once');
  const body = `{"a":"${'x'.repeat(MAX_BODY_BYTES - 8)}"}`;
  t.equal(body.length, MAX_BODY_BYTES);
  t.equal((await raw(http.port, head(body.length) + body)).status, 200, 'exactly 256 KiB is fine');
});

t.test('the Host header must name this API, on /health as on /api/', async (t) => {
  const http = await server(t);
  const p = http.port;
  const auth = `Authorization: Bearer ${TOKEN}\r\n`;
  const cases: [string, string, number][] = [
    ['127.0.0.1 and the port', `Host: 127.0.0.1:${p}\r\n`, 200],
    ['localhost and the port', `Host: localhost:${p}\r\n`, 200],
    ['LOCALHOST in capitals', `Host: LOCALHOST:${p}\r\n`, 200],
    ['[::1] and the port', `Host: [::1]:${p}\r\n`, 200],
    ['another site', 'Host: evil.example\r\n', 403],
    ['another site with our port', `Host: evil.example:${p}\r\n`, 403],
    ['loopback with another port', `Host: 127.0.0.1:${p === 1 ? 2 : p - 1}\r\n`, 403],
    ['loopback without a port', 'Host: 127.0.0.1\r\n', 403],
    ['a name ending in localhost', `Host: localhost.evil.example:${p}\r\n`, 403],
    ['userinfo (not a URL authority: @hono/node-server answers 400)', `Host: evil@127.0.0.1:${p}\r\n`, 400],
  ];
  for (const [why, host, want] of cases) {
    t.equal((await get(p, '/health', host)).status, want, `/health, ${why}`);
    t.equal((await get(p, '/api/status', host + auth)).status, want, `/api/status, ${why}`);
  }
  const refused = await get(p, '/health', 'Host: evil.example\r\n');
  t.equal(JSON.parse(refused.body).error.code, 'API_HOST_REFUSED');
});

t.test('only a bearer token in the Authorization header opens /api/; no path trick gets around it', async (t) => {
  const http = await server(t);
  const host = `Host: 127.0.0.1:${http.port}\r\n`;
  const cases: [string, string, string][] = [
    ['no token', '/api/status', ''],
    ['a wrong token', '/api/status', `Authorization: Bearer ${'b'.repeat(64)}\r\n`],
    ['a token one character short', '/api/status', `Authorization: Bearer ${TOKEN.slice(1)}\r\n`],
    ['the token in the query', `/api/status?token=${TOKEN}`, ''],
    ['the token as a cookie', '/api/status', `Cookie: token=${TOKEN}; api.token=${TOKEN}\r\n`],
    ['the token as Basic', '/api/status', `Authorization: Basic ${Buffer.from(`kith:${TOKEN}`).toString('base64')}\r\n`],
    ['lowercase bearer', '/api/status', `Authorization: bearer ${TOKEN}\r\n`],
    ['a double slash', '//api/status', ''],
    ['capitals', '/API/status', ''],
    ['dot segments', '/health/../api/status', ''],
    ['encoded slash', '/health%2F..%2Fapi%2Fstatus', ''],
  ];
  for (const [why, path, headers] of cases) {
    const r = await get(http.port, path, host + headers);
    t.equal(r.status, 401, why);
    t.notMatch(r.body, /running/, `${why}: nothing of the answer`);
  }
  t.equal((await get(http.port, '/api/status', host + `Authorization: Bearer ${TOKEN}\r\n`)).status, 200, 'the token opens it');
});

t.test('Host names: named cases', async (t) => {
  const lan = () => ['192.168.1.20', 'fe80::1'];
  t.same(allowedHostNames('127.0.0.1', lan), ['127.0.0.1', 'localhost', '[::1]', '127.0.0.1']);
  t.same(allowedHostNames('0.0.0.0', lan), ['127.0.0.1', 'localhost', '[::1]', '192.168.1.20', '[fe80::1]'], 'a wildcard bind allows the machine\'s own addresses');
  const names = allowedHostNames('192.168.1.20', lan);
  t.ok(isAllowedHost('192.168.1.20:5485', names, 5485), 'the configured LAN address');
  t.notOk(isAllowedHost('192.168.1.21:5485', names, 5485), 'a neighbour\'s address');
  t.notOk(isAllowedHost(undefined, names, 5485), 'no Host at all');
  t.notOk(isAllowedHost('', names, 5485), 'an empty Host');
  t.notOk(isAllowedHost('127.0.0.1:5485 ', names, 5486), 'a trailing space and another port');
  t.notOk(isAllowedHost('127.0.0.1:99999', names, 5485), 'a port out of range');
});
