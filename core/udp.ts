// The network as an input: a UDP socket interface, and its real version: node:dgram on Node,
// Bun's own UDP socket (Bun.udpSocket) on Bun, whose node:dgram is a layer over that one and costs
// ~1.5 µs more per datagram sent (bench/README.md, branch h15-stream). SimNet provides the
// simulated one.
import dgram from 'node:dgram';
import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';
import { KithError } from './errors.js';

export interface Endpoint {
  host: string;
  port: number;
}

export interface UdpSocket {
  readonly local: Endpoint;
  send(to: Endpoint, data: Uint8Array): void;
  /** Each datagram comes in a buffer of its own: the handler may keep it, or write over it (the transport opens data in place). */
  onMessage(fn: (data: Uint8Array, from: Endpoint) => void): void;
  close(): Promise<void>;
}

export function formatEndpoint(e: Endpoint): string {
  return e.host.includes(':') ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`;
}

function bindError(opts: { host: string; port: number }, err: NodeJS.ErrnoException): KithError {
  const where = `UDP ${formatEndpoint(opts)}`;
  if (err.code === 'EADDRINUSE') return new KithError('PORT_IN_USE', `cannot bind ${where}: address already in use`, { cause: err });
  return new KithError('BIND_FAILED', `cannot bind ${where}: ${err.code ?? err.message}`, { cause: err });
}

type DgramLookup = NonNullable<dgram.SocketOptions['lookup']>;

/**
 * node:dgram passes the host of every send (and bind) through dns.lookup, which for an IP literal,
 * what kith's endpoints are, still costs a regular-expression test and a nextTick before the
 * datagram goes (0–0.8 µs of the 6–9 µs a datagram costs to send and receive on this machine,
 * bench/udp-cpu.ts; bench/README.md, branch h15-frag). This one answers an IP literal at once
 * (as dns.lookup does, less the nextTick), and hands anything else to dns.lookup. node:dgram
 * calls it with the socket's family (4 or 6) as the options.
 */
const literalLookup = ((host: string, family: number, callback: (err: NodeJS.ErrnoException | null, address: string, family: number) => void): void => {
  const f = isIP(host);
  if (f !== 0) callback(null, host, f);
  else dnsLookup(host, family, callback);
}) as unknown as DgramLookup;

/** What kith uses of Bun's UDP socket (bun-types is not a dependency). */
interface BunUdpSocket {
  readonly port: number;
  readonly address: { address: string; port: number };
  send(data: Uint8Array, port: number, host: string): boolean;
  close(): void;
}
interface BunUdp {
  udpSocket(opts: {
    hostname: string;
    port: number;
    binaryType: 'uint8array';
    socket: { data(s: BunUdpSocket, data: Uint8Array, port: number, host: string): void; error?(s: BunUdpSocket, e: Error): void };
  }): Promise<BunUdpSocket>;
}

/** Binds a real UDP socket. A port in use becomes PORT_IN_USE, other failures BIND_FAILED. */
export async function bindUdp(opts: { host: string; port: number }): Promise<UdpSocket> {
  const bun = (globalThis as { Bun?: BunUdp }).Bun;
  if (bun !== undefined && typeof bun.udpSocket === 'function') return bindBunUdp(bun, opts);
  const type = opts.host.includes(':') ? 'udp6' : 'udp4';
  const sock = dgram.createSocket({ type, reuseAddr: false, lookup: literalLookup });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      sock.close();
      reject(bindError(opts, err));
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

/**
 * The same on Bun's UDP socket. Each datagram arrives in a buffer of its own (Bun copies it out of
 * its receive batch), as node:dgram's do. A send the kernel refuses at once (no route, a full
 * send buffer) is a lost datagram, as it would be one hop later; node:dgram reports those on the
 * socket's 'error' event, which the version above ignores too.
 */
async function bindBunUdp(bun: BunUdp, opts: { host: string; port: number }): Promise<UdpSocket> {
  let handler: ((data: Uint8Array, from: Endpoint) => void) | undefined;
  let sock: BunUdpSocket;
  try {
    sock = await bun.udpSocket({
      hostname: opts.host,
      port: opts.port,
      binaryType: 'uint8array',
      socket: {
        data(_s, data, port, host) {
          try {
            handler?.(data, { host, port });
          } catch {
            /* dropped: handlers count and log their own failures */
          }
        },
        error() {},
      },
    });
  } catch (e) {
    throw bindError(opts, e as NodeJS.ErrnoException);
  }
  let closed = false;
  return {
    local: { host: sock.address.address, port: sock.port },
    send(to, data) {
      if (closed) return;
      try {
        sock.send(data, to.port, to.host);
      } catch {
        /* lost, as above */
      }
    },
    onMessage(fn) {
      handler = fn;
    },
    close() {
      if (!closed) {
        closed = true;
        sock.close();
      }
      return Promise.resolve();
    },
  };
}
