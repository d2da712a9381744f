// The simulated AgentEnv (agent/env.ts): whole agents on one VirtualClock, their UDP over one
// SimNet, their pairing TCP over one SimTcp, their stores in memory (kept per data dir across a
// restart), seeded randomness per agent, logs collected per agent. Nothing listens on a real port,
// nothing is sent to systemd, no router is asked and the LAN is never searched (joins use the QR
// content). test/helpers/sim-agents.ts builds clusters of agents with it.
import fs from 'node:fs';
import type { VirtualClock } from '../core/clock.js';
import type { Log } from '../core/log.js';
import { SeededRng } from '../core/rng.js';
import { SimTcp } from '../core/sim-tcp.js';
import type { SimHost, SimNet } from '../core/simnet.js';
import { MemoryStore } from '../core/store.js';
import type { AgentEnv } from './env.js';

/** What the simulated agents share: the clock, the networks, the disks. */
export interface SimWorld {
  clock: VirtualClock;
  net: SimNet;
  tcp: SimTcp;
  /** Store contents by directory: a restarted agent reopens what it left. */
  disks: Map<string, Map<string, Uint8Array>>;
  /** What every simulated disk reports free (the archive holder's check); tests lower it. */
  freeDiskBytes: number;
}

export function simWorld(clock: VirtualClock, net: SimNet): SimWorld {
  return { clock, net, tcp: new SimTcp(clock), disks: new Map(), freeDiskBytes: 1024 ** 4 };
}

/** One log line, kept with the virtual time it was written at. */
export interface LogLine {
  atMs: number;
  level: keyof Log;
  msg: string;
}

export function collectingLog(clock: VirtualClock, lines: LogLine[]): Log {
  const at = (level: keyof Log) => (msg: string) => void lines.push({ atMs: clock.now(), level, msg });
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

/**
 * The environment of one simulated agent on `host`. `rngSeed` names its randomness: give a
 * restarted agent a new one (as a real restart draws new randomness), derived from the run's seed.
 */
export function simAgentEnv(world: SimWorld, host: SimHost, opts: { rngSeed: string; log: Log }): AgentEnv {
  const openStore = async (dir: string) => {
    let disk = world.disks.get(dir);
    if (!disk) world.disks.set(dir, (disk = new Map()));
    return new MemoryStore(disk);
  };
  return {
    clock: world.clock,
    rng: new SeededRng(opts.rngSeed),
    bindUdp: async ({ port }) => host.bind(port),
    tcp: world.tcp.host(host.address),
    interfaces: () => [{ address: host.address, family: 'IPv4', internal: false }],
    openStore,
    log: opts.log,
    // Nothing listens: the simulation calls the Hono app in-process, naming the configured port.
    serveApi: async (_app, _host, port) => ({ port, close: async () => {} }),
    notifier: () => ({ ready() {}, stopping() {}, stop() {} }),
    portMapper: () => undefined,
    discovery: () => undefined,
    pid: process.pid,
    userName: () => 'sim',
    // No real statfs: a real disk call would let virtual time run on while it is out.
    freeDiskBytes: async () => world.freeDiskBytes,
    // No read stream either (the same reason): pieces read synchronously, in the same virtual instant.
    readFile: function* (file, pieceBytes) {
      const fd = fs.openSync(file, 'r');
      try {
        for (;;) {
          const piece = new Uint8Array(pieceBytes);
          const n = fs.readSync(fd, piece, 0, pieceBytes, null);
          if (n === 0) return;
          yield piece.subarray(0, n);
        }
      } finally {
        fs.closeSync(fd);
      }
    },
    // Signatures checked inline: worker threads would run outside virtual time.
    verifyPool: () => undefined,
  };
}
