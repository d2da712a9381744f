// The CLI's API client (agent/api-client.ts) turns an error answer into a KithError with its code,
// and only an error answer: a 200 whose body has its own `error` field (a failed archive job, read
// while following it) is data, returned as it is.
import t from 'tap';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { apiRequest } from '../../agent/api-client.js';
import { isKithError } from '../../core/errors.js';

t.test('an error status throws its code; a 200 carrying an error field is returned', async (t) => {
  const server = http.createServer((req, res) => {
    const [status, body] = req.url === '/refused'
      ? [400, { error: { code: 'USAGE', message: 'no', hint: 'try again' } }]
      : [200, { id: 'j1', op: 'put', state: 'failed', error: { code: 'ARCHIVE_PLACEMENT_IMPOSSIBLE', message: 'no room' } }];
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;

  const job = (await apiRequest(port, 'token', 'GET', '/job')) as { state: string; error: { code: string } };
  t.equal(job.state, 'failed');
  t.equal(job.error.code, 'ARCHIVE_PLACEMENT_IMPOSSIBLE', 'the job\'s own error is data');

  const err = await apiRequest(port, 'token', 'GET', '/refused').catch((e: unknown) => e);
  t.ok(isKithError(err) && err.code === 'USAGE' && err.hint === 'try again', 'the error answer throws with its code and hint');
});
