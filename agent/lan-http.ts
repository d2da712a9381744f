// HTTP/1.1 to a device on the LAN (the router's UPnP description and control URLs), on
// node:http, which Node and Bun both provide. Bounded in time and size: a router that stalls or
// sends a huge body is an error, not a hang. Reports this host's address on the connection, which
// is the address the router sees (a mapping's internal client).
import http from 'node:http';
import { KithError } from '../core/errors.js';
import type { HttpFn } from '../cluster/upnp.js';

export const lanHttp: HttpFn = (req) =>
  new Promise((resolve, reject) => {
    let url: URL;
    try {
      url = new URL(req.url);
    } catch {
      return reject(new KithError('PORT_MAPPING_FAILED', `not a URL: ${req.url.slice(0, 200)}`));
    }
    if (url.protocol !== 'http:') return reject(new KithError('PORT_MAPPING_FAILED', `only http: URLs are used on the LAN, not ${url.protocol}`));
    const body = req.body === undefined ? undefined : Buffer.from(req.body, 'utf8');
    const headers: Record<string, string | number> = { ...req.headers, Connection: 'close' };
    if (body) headers['Content-Length'] = body.length;
    let done = false;
    const fail = (msg: string, cause?: unknown) => {
      if (done) return;
      done = true;
      r.destroy();
      reject(new KithError('PORT_MAPPING_FAILED', msg, { cause }));
    };
    const r = http.request({ host: url.hostname, port: url.port || 80, path: `${url.pathname}${url.search}`, method: req.method, headers }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const localAddress = res.socket?.localAddress ?? '';
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > req.maxBytes) fail(`${req.method} ${url.host}${url.pathname}: the answer is larger than ${req.maxBytes} bytes`);
        else chunks.push(c);
      });
      res.on('end', () => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), localAddress: localAddress.replace(/^::ffff:/, '') });
      });
      res.on('error', (e) => fail(`${req.method} ${url.host}${url.pathname}: ${e.message}`, e));
    });
    const timer = setTimeout(() => fail(`${req.method} ${url.host}${url.pathname}: no answer within ${req.timeoutMs} ms`), req.timeoutMs);
    r.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      fail(`${req.method} ${url.host}${url.pathname}: ${e.code ?? e.message}`, e);
    });
    r.end(body);
  });
