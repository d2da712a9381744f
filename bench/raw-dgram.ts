// The benchmarks' raw baseline socket: node:dgram itself, as it comes, on both runtimes (kith's
// own socket, core/udp.ts, is Bun's native one on Bun), behind the UdpSocket interface.
import dgram from 'node:dgram';
import type { UdpSocket } from '../core/udp.js';

export async function rawDgram(): Promise<UdpSocket> {
  const sock = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  let handler: ((d: Uint8Array) => void) | undefined;
  sock.on('message', (m) => handler?.(m));
  return {
    local: { host: '127.0.0.1', port: sock.address().port },
    send: (to, d) => sock.send(d, to.port, to.host),
    onMessage: (fn) => (handler = (d) => fn(d, { host: '127.0.0.1', port: 0 })),
    close: () => new Promise((resolve) => sock.close(() => resolve())),
  };
}
