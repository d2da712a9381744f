// The in-memory twin of core/tcp.ts on a VirtualClock: listeners by address and port, connections
// that deliver bytes in order after a fixed latency, closes that arrive after the data sent before
// them. No loss (TCP hides it), no partial writes; connecting to nobody is ECONNREFUSED. Each host
// gets its own TcpNet (`simTcp.host(address)`) so servers see where a connection comes from.
// Like SimNet, it keeps a trace hash of every delivery (time, direction, bytes) for replay checks.
import { sha256 } from '@noble/hashes/sha2.js';
import type { VirtualClock } from './clock.js';
import type { TcpConn, TcpNet, TcpServer } from './tcp.js';
import type { Endpoint } from './udp.js';

interface End {
  conn: TcpConn;
  data: ((d: Uint8Array) => void)[];
  closers: (() => void)[];
  buffered: Uint8Array[];
  closed: boolean;
  peer?: End;
}

export class SimTcp {
  /** Every connection opened so far (for tests that want to count). */
  connections = 0;
  private readonly listeners = new Map<string, (c: TcpConn) => void>();
  private nextPort = 30000;
  private readonly trace = sha256.create();

  constructor(private readonly clock: VirtualClock, private readonly latencyMs = 1) {}

  /** A hex digest of every delivery so far: virtual time, source → destination, bytes; and closes. */
  traceHash(): string {
    return Buffer.from(this.trace.clone().digest()).toString('hex');
  }

  private record(what: string, bytes: Uint8Array = new Uint8Array(0)): void {
    this.trace.update(new TextEncoder().encode(`${this.clock.now().toFixed(3)} ${what} ${bytes.length}|`));
    this.trace.update(bytes);
  }

  host(address: string): TcpNet {
    return {
      listen: async (host, port, onConnection): Promise<TcpServer> => {
        const p = port || this.nextPort++;
        const key = `${host === '0.0.0.0' ? address : host}:${p}`;
        if (this.listeners.has(key)) throw Object.assign(new Error(`EADDRINUSE ${key}`), { code: 'EADDRINUSE' });
        this.listeners.set(key, onConnection);
        return { port: p, close: () => void this.listeners.delete(key) };
      },
      connect: (to) => this.connect(address, to),
    };
  }

  private connect(from: string, to: Endpoint): Promise<TcpConn> {
    return new Promise((resolve, reject) => {
      this.clock.setTimer(this.latencyMs, () => {
        const accept = this.listeners.get(`${to.host}:${to.port}`);
        if (!accept) {
          reject(Object.assign(new Error(`ECONNREFUSED ${to.host}:${to.port}`), { code: 'ECONNREFUSED' }));
          return;
        }
        this.connections++;
        const fromPort = this.nextPort++;
        const client = this.end({ host: to.host, port: to.port }, `${from}:${fromPort}>${to.host}:${to.port}`);
        const server = this.end({ host: from, port: fromPort }, `${to.host}:${to.port}>${from}:${fromPort}`);
        this.record(`connect ${from}:${fromPort}>${to.host}:${to.port}`);
        client.peer = server;
        server.peer = client;
        accept(server.conn);
        resolve(client.conn);
      });
    });
  }

  /** One end of a connection; `path` names its direction of sending in the trace. */
  private end(remote: Endpoint, path: string): End {
    const e: End = { data: [], closers: [], buffered: [], closed: false } as unknown as End;
    const close = (): void => {
      if (e.closed) return;
      e.closed = true;
      for (const fn of e.closers) fn();
    };
    const later = (fn: () => void): void => void this.clock.setTimer(this.latencyMs, fn);
    e.conn = {
      remote,
      write: (d) => {
        if (e.closed) return;
        const copy = new Uint8Array(d);
        const peer = e.peer!;
        later(() => {
          if (peer.closed) return;
          this.record(path, copy);
          if (peer.data.length === 0) peer.buffered.push(copy);
          for (const fn of peer.data) fn(copy);
        });
      },
      end: () => {
        if (e.closed) return;
        const peer = e.peer!;
        later(() => {
          this.record(`end ${path}`);
          peer.conn.destroy();
          close();
        });
      },
      destroy: () => {
        if (e.closed) return;
        close();
        const peer = e.peer!;
        later(() => peer.conn.destroy());
      },
      onData: (fn) => {
        e.data.push(fn);
        for (const d of e.buffered.splice(0)) fn(d);
      },
      onClose: (fn) => (e.closed ? fn() : void e.closers.push(fn)),
    };
    return e;
  }
}
