// What an agent takes from the world, in one place: time, randomness, the cluster's UDP socket,
// TCP for pairing, the network interfaces, the store, where logs go, the local API listener,
// systemd notification, the router's port mapping and the LAN search for pairing offers.
// `realEnv()` is the machine (used by `kith run`); agent/env-sim.ts is the simulated one, in which
// many whole agents share one VirtualClock and one SimNet in one process. The data dir (key file,
// API token, agent.json) stays on the file system in both.
import os from 'node:os';
import type { Hono } from 'hono';
import { realClock, type Clock } from '../core/clock.js';
import { cryptoRng, type Rng } from '../core/rng.js';
import type { KvStore } from '../core/store.js';
import type { VerifyMany } from '../core/crypto.js';
import { VerifyPool } from '../core/verify-pool.js';
import { realTcp, type TcpNet } from '../core/tcp.js';
import { bindUdp, type UdpSocket } from '../core/udp.js';
import { isLoopback, type NetInterface, type RouterInfo } from '../cluster/cluster-service.js';
import type { PairDiscovery } from '../cluster/pairing/pairing-service.js';
import type { PortMapper } from '../cluster/rendezvous.js';
import { osInterfaces } from './cluster-service.js';
import { serveHttp, type HttpServer } from './http-server.js';
import { openLevelStore } from './level-store.js';
import type { Logger } from './log.js';
import { createNotifier, type Notifier } from './notify.js';
import { trimStartupPages } from './page-trim.js';
import { lanDiscovery } from './pair-net.js';
import { createPortMapper, type PortMappingMode } from './port-mapper.js';

export interface AgentEnv {
  clock: Clock;
  rng: Rng;
  bindUdp(opts: { host: string; port: number }): Promise<UdpSocket>;
  tcp: TcpNet;
  interfaces(): NetInterface[];
  /** Opens (and locks) the store in this directory. */
  openStore(dir: string): Promise<KvStore>;
  /** Where log lines go; when absent, stderr at the configured level (agent/log.ts). */
  log?: Logger;
  /** Serves the local API; a simulation listens nowhere and calls the app's fetch in-process. */
  serveApi(app: Hono, host: string, port: number): Promise<HttpServer>;
  notifier(deps: { clock: Clock; log: Logger; maxIntervalMs: number }): Notifier;
  /** Once idle after READY, gives start-up-only pages back (agent/page-trim.ts); returns cancel. */
  trimStartup?(deps: { clock: Clock; log: Logger }): () => void;
  /** The router's port mapping for rendezvous windows (never on loopback, never with mode off). */
  portMapper(mode: Exclude<PortMappingMode, 'off'>, gateway: string | undefined): (PortMapper & { router(): RouterInfo | undefined }) | undefined;
  /** The LAN search for pairing offers; undefined where the LAN is not searched. */
  discovery(host: string, clock: Clock, log: Logger): PairDiscovery | undefined;
  /** The process id recorded in agent.json and shown by status. */
  pid: number;
  /** The OS user's name (a friend sees it when the node has no label). */
  userName(): string;
  /** Free bytes on the disk of a directory for the archive holder; statfs when absent (agent/archive-service.ts). */
  freeDiskBytes?: (dir: string) => Promise<number>;
  /**
   * The bytes of a file `kith archive put` archives, in pieces; a read stream (fs.createReadStream)
   * when absent. The simulation reads synchronously: a real read in flight lets virtual time run on
   * by a number of steps that depends on the machine, and a seed would not replay (test/sim/archive-world.test.ts).
   */
  readFile?: (file: string, pieceBytes: number) => AsyncIterable<Uint8Array> | Iterable<Uint8Array>;
  /**
   * Checks the signatures of a large sync batch on worker threads (core/verify-pool.ts);
   * undefined: inline, one by one (a simulation: no threads, the virtual clock stays exact).
   */
  verifyPool(log: Logger): { verifyMany: VerifyMany; close(): Promise<void> } | undefined;
}

export function realEnv(): AgentEnv {
  return {
    clock: realClock,
    rng: cryptoRng,
    bindUdp,
    tcp: realTcp,
    interfaces: osInterfaces,
    openStore: openLevelStore,
    serveApi: serveHttp,
    notifier: createNotifier,
    trimStartup: trimStartupPages,
    portMapper: createPortMapper,
    discovery: (host, clock, log) => (isLoopback(host) ? undefined : lanDiscovery(clock, log)),
    pid: process.pid,
    userName: () => os.userInfo().username,
    verifyPool: (log) => new VerifyPool({ log: (line) => log.info(line) }),
  };
}
