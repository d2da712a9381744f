// The network as an input: a UDP socket interface, and its real version on node:dgram
// (which both Node and Bun provide). SimNet provides the simulated one.
import dgram from 'node:dgram';
import { KithError } from './errors.js';

export interface Endpoint {
  host: string;
  port: number;
}

export interface UdpSocket {
  readonly local: Endpoint;
  send(to: Endpoint, data: Uint8Array): void;
  onMessage(fn: (data: Uint8Array, from: Endpoint) => void): void;
  close(): Promise<void>;
}

export function formatEndpoint(e: Endpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

/** Binds a real UDP socket. A port in use becomes PORT_IN_USE, other failures BIND_FAILED. */
export async function bindUdp(opts: { host: string; port: number }): Promise<UdpSocket> {
  const type = opts.host.includes(':') ? 'udp6' : 'udp4';
  const sock = dgram.createSocket({ type, reuseAddr: false });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      sock.close();
      const where = `UDP ${formatEndpoint(opts)}`;
      if (err.code === 'EADDRINUSE') reject(new KithError('PORT_IN_USE', `cannot bind ${where}: address already in use`, { cause: err }));
      else reject(new KithError('BIND_FAILED', `cannot bind ${where}: ${err.code ?? err.message}`, { cause: err }));
    };
    sock.once('error', onError);
    sock.bind(opts.port, opts.host, () => {
      sock.off('error', onError);
      resolve();
    });
  });
  const addr = sock.address();
  let handler: ((data: Uint8Array, from: Endpoint) => void) | undefined;
  sock.on('message', (msg, rinfo) => {
    // Never let a handler's exception escape into the event loop: the network cannot crash us.
    try {
      handler?.(new Uint8Array(msg.buffer, msg.byteOffset, msg.byteLength), { host: rinfo.address, port: rinfo.port });
    } catch {
      /* dropped: handlers count and log their own failures */
    }
  });
  // Late socket errors (ICMP unreachable on some systems) must not crash the process.
  sock.on('error', () => {});
  let closed = false;
  return {
    local: { host: addr.address, port: addr.port },
    send(to, data) {
      if (closed) return;
      sock.send(data, to.port, to.host);
    },
    onMessage(fn) {
      handler = fn;
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise((resolve) => sock.close(() => resolve()));
    },
  };
}
