// HTTP as a browser (or an attacker's page) would send it to a real agent on 127.0.0.0/8: any Host,
// Origin and Sec-Fetch-Site header (fetch() may not set Host), cookies by hand, bounded to 10 s.
// Also: following a one-time login link into a session cookie, and a free port on a loopback address.
import http from 'node:http';
import net from 'node:net';

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
  /** The parsed body, or undefined when it is not JSON. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  json: any;
}

export interface Req {
  /** The address connected to (127.0.0.1 unless given); Host defaults to it with the port. */
  address?: string;
  port: number;
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: unknown;
}

export function send(r: Req): Promise<Answer> {
  const address = r.address ?? '127.0.0.1';
  const body = r.body === undefined ? undefined : JSON.stringify(r.body);
  const headers: Record<string, string> = { host: `${address}:${r.port}`, ...(body === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }), ...r.headers };
  return new Promise((resolve, reject) => {
    const q = http.request({ host: address, port: r.port, method: r.method ?? 'GET', path: r.path, headers, timeout: 10_000, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let json: unknown;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    q.on('timeout', () => q.destroy(new Error(`no answer from ${address}:${r.port}${r.path} within 10 s`)));
    q.on('error', reject);
    q.end(body);
  });
}

/** The error code of an {error: {code}} answer. */
export const codeOf = (a: Answer): string | undefined => a.json?.error?.code;

/** Follows a login link like a browser: the session cookie ("name=value") it sets, and the answer. */
export async function followLogin(link: string, headers: Record<string, string> = {}): Promise<{ answer: Answer; cookie: string | undefined }> {
  const u = new URL(link);
  const answer = await send({ address: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port), path: `${u.pathname}${u.search}`, headers });
  const set = answer.headers['set-cookie']?.[0];
  return { answer, cookie: set?.split(';')[0] };
}

/** A TCP port free on `address` a moment ago (for a config that needs a fixed one). */
export function freePort(address: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, address, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Whether something accepts TCP connections at address:port (bounded to 2 s). */
export function listening(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect({ host: address, port, timeout: 2000 });
    c.on('connect', () => (c.destroy(), resolve(true)));
    c.on('timeout', () => (c.destroy(), resolve(false)));
    c.on('error', () => resolve(false));
  });
}
