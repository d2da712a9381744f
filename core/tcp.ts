// TCP as an input (pairing runs over it): listen and connect behind a small interface, its real
// version on node:net here and its in-memory twin in sim-tcp.ts, so the pairing service runs the
// same on both. A connection reports each chunk it receives and, once, that it closed; its
// errors (a reset, a refused write) only close it: they never escape into the event loop.
import net from 'node:net';
import type { Endpoint } from './udp.js';

export interface TcpConn {
  /** The other end's address (IPv4-mapped IPv6 written as plain IPv4). */
  readonly remote: Endpoint;
  write(data: Uint8Array): void;
  /** Sends what was written, then closes. */
  end(): void;
  /** Closes at once, dropping what was not sent. */
  destroy(): void;
  onData(fn: (data: Uint8Array) => void): void;
  /** Called once when the connection is gone, whichever side ended it and however. */
  onClose(fn: () => void): void;
}

export interface TcpServer {
  readonly port: number;
  close(): void;
}

export interface TcpNet {
  /** Listens on host:port (0 = any free port); each accepted connection goes to onConnection. */
  listen(host: string, port: number, onConnection: (c: TcpConn) => void): Promise<TcpServer>;
  /** Connects; rejects with an Error whose `code` is ECONNREFUSED, ETIMEDOUT, … */
  connect(to: Endpoint): Promise<TcpConn>;
}

const plainHost = (h: string | undefined): string => (h ?? '').replace(/^::ffff:/, '');

/** A node:net socket as a TcpConn. The error listener is attached before anything is written. */
export function tcpConnOf(sock: net.Socket): TcpConn {
  sock.on('error', () => sock.destroy());
  const closers: (() => void)[] = [];
  let closed = false;
  sock.on('close', () => {
    closed = true;
    for (const fn of closers) fn();
  });
  return {
    remote: { host: plainHost(sock.remoteAddress), port: sock.remotePort ?? 0 },
    write: (d) => void (sock.writable && sock.write(d)),
    end: () => void sock.end(),
    destroy: () => void sock.destroy(),
    onData: (fn) => void sock.on('data', (d: Buffer) => fn(new Uint8Array(d.buffer, d.byteOffset, d.byteLength))),
    onClose: (fn) => (closed ? fn() : void closers.push(fn)),
  };
}

export const realTcp: TcpNet = {
  listen(host, port, onConnection) {
    const server = net.createServer((sock) => onConnection(tcpConnOf(sock)));
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        server.on('error', () => {});
        resolve({ port: (server.address() as net.AddressInfo).port, close: () => void server.close() });
      });
    });
  },
  connect(to) {
    return new Promise((resolve, reject) => {
      const sock = net.connect(to.port, to.host);
      const fail = (e: Error) => reject(e);
      sock.once('error', fail);
      sock.once('connect', () => {
        sock.off('error', fail);
        resolve(tcpConnOf(sock));
      });
    });
  },
};
