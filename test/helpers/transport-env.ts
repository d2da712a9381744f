// Two environments for the same transport tests: SimNet on a VirtualClock, and real node:dgram
// sockets on 127.0.0.1 with the real clock. `settle` runs until a condition holds (bounded).
import { VirtualClock, realClock, type Clock } from '../../core/clock.js';
import { SeededRng, cryptoRng, type Rng } from '../../core/rng.js';
import { SimNet } from '../../core/simnet.js';
import { bindUdp, type UdpSocket } from '../../core/udp.js';

export interface TransportEnv {
  name: string;
  clock: Clock;
  rng: Rng;
  socket(hostIndex: number): Promise<UdpSocket>;
  /** Runs time forward until `done()` or `maxMs` of (virtual or real) time; returns done(). */
  settle(done: () => boolean, maxMs?: number): Promise<boolean>;
  close(): Promise<void>;
  sim?: SimNet;
}

export function simEnv(seed: string | number): TransportEnv {
  const clock = new VirtualClock();
  const net = new SimNet(clock, seed);
  const hosts = new Map<number, ReturnType<SimNet['host']>>();
  return {
    name: 'SimNet',
    clock,
    rng: new SeededRng(`env:${seed}`),
    sim: net,
    async socket(i) {
      let h = hosts.get(i);
      if (!h) {
        h = net.host(`10.0.0.${i + 1}`);
        hosts.set(i, h);
      }
      return h.bind(5484 + hosts.size * 0 + h.sockets.size);
    },
    async settle(done, maxMs = 30_000) {
      for (let t = 0; t < maxMs && !done(); t += 5) {
        clock.advance(5);
        // Let promise callbacks (send results, responses) run between steps of virtual time.
        await new Promise<void>((r) => setImmediate(r));
      }
      return done();
    },
    async close() {},
  };
}

export function realEnv(): TransportEnv {
  const sockets: UdpSocket[] = [];
  return {
    name: 'node:dgram',
    clock: realClock,
    rng: cryptoRng,
    async socket() {
      const s = await bindUdp({ host: '127.0.0.1', port: 0 });
      sockets.push(s);
      return s;
    },
    async settle(done, maxMs = 10_000) {
      const end = Date.now() + maxMs;
      while (!done() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
      return done();
    },
    async close() {
      await Promise.all(sockets.map((s) => s.close()));
    },
  };
}
