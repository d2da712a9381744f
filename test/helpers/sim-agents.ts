// Whole agents (agent/daemon.ts runAgent: cluster, roster, pairing, conversations, the local API)
// on one VirtualClock over one SimNet, in one process, seeded (agent/env-sim.ts). Each agent has a
// data dir on disk (key file, API token; its config beside it), its store in memory (kept across a restart), an
// address 10.0.0.N and the `test` profile. Drive them through their API in-process (`api`, the
// Hono app's fetch) or their services (`get(name).agent.roster`), pair them, enroll new nodes
// with `kith node add`'s code, stop and restart them, and compare trace hashes of two runs.
//
//   const sim = await simAgents({ seed, agents: [{ name: 'alice0', user: 'alice' }, { name: 'frank', user: 'frank' }] });
//   await sim.pair('alice0', 'frank');
//   await sim.until(() => sim.stateOf('frank', 'alice0') === 'alive', 10_000);
//   await sim.close();
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { VirtualClock } from '../../core/clock.js';
import { toHex } from '../../core/hex.js';
import { SeededRng } from '../../core/rng.js';
import { SimNet } from '../../core/simnet.js';
import type { SimHost } from '../../core/simnet.js';
import { generatePhrase } from '../../identity/phrase.js';
import type { Role } from '../../identity/certificate.js';
import type { MemberState } from '../../cluster/membership.js';
import { runAgent, type RunningAgent } from '../../agent/daemon.js';
import { collectingLog, simAgentEnv, simWorld, type LogLine, type SimWorld } from '../../agent/env-sim.js';
import { initIdentity } from '../../agent/init.js';
import { addNode, type NodeAddResult } from '../../agent/node-add.js';

export const SIM_PORT = 5484;

export interface SimAgentSpec {
  /** Names the agent (and its data dir), e.g. "alice0". */
  name: string;
  /** Names the user (its seed phrase comes from the run's seed and this name). */
  user: string;
  /** Certificate roles (default access and relay). */
  roles?: Role[];
}

export interface SimAgent {
  name: string;
  user: string;
  address: string;
  dataDir: string;
  host: SimHost;
  /** The running agent, or undefined while stopped. */
  agent: RunningAgent | undefined;
  logs: LogLine[];
  starts: number;
  /** Its member id (DH key hex), known once it first started. */
  id: string | undefined;
}

export interface ApiAnswer {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
}

export interface SimAgents {
  seed: string;
  clock: VirtualClock;
  net: SimNet;
  world: SimWorld;
  get(name: string): SimAgent;
  /** The seed phrase of a user of this run. */
  phrase(user: string): string;
  /** Runs virtual time forward in steps, letting promise callbacks run between steps. */
  run(ms: number, stepMs?: number): Promise<void>;
  /** Runs until done() or maxMs of virtual time; the virtual ms it took, or undefined. */
  until(done: () => boolean, maxMs: number, stepMs?: number): Promise<number | undefined>;
  /** Waits for a promise while the clock runs (API calls and pairing wait on virtual timers). */
  settle<T>(p: Promise<T>, maxMs?: number): Promise<T>;
  /** An API call on one agent, in-process through its Hono app, with its bearer token. */
  api(name: string, method: string, route: string, body?: unknown): Promise<ApiAnswer>;
  /** `kith pair` on `offerer` and `kith pair --code <QR>` on `joiner`: both results. */
  pair(offerer: string, joiner: string): Promise<{ offered: ApiAnswer['body']; joined: ApiAnswer['body'] }>;
  /** `kith node add` of a new machine `name` through an offer on `via`, then starts its agent. */
  addNode(via: string, name: string, label?: string, roles?: Role[]): Promise<{ added: NodeAddResult; offered: ApiAnswer['body']; agent: SimAgent }>;
  start(name: string): Promise<SimAgent>;
  stop(name: string): Promise<void>;
  /** The store contents of an agent (kept across restarts): read it, or clear it to wipe its disk. */
  disk(name: string): Map<string, Uint8Array>;
  /** Member state of `subject`'s node as `observer` sees it. */
  stateOf(observer: string, subject: string): MemberState | undefined;
  /** SimNet's trace hash (every datagram: time, addresses, bytes) and SimTcp's (pairing), "udp:tcp". */
  traceHash(): string;
  /** Every agent's log, for a failure message. */
  dump(): string;
  close(): Promise<void>;
}

export interface SimAgentsOptions {
  seed: string | number;
  agents: SimAgentSpec[];
  /** Parent of the data dirs (a tap testdir); a temporary directory, removed on close, if absent. */
  dir?: string;
  /** Pairings made once every agent runs, in order: [offerer, joiner]. */
  pairs?: [string, string][];
  /** false: no trace hash of the datagrams (traceHash() then throws); for big runs that never compare traces. */
  trace?: boolean;
}

const STEP_MS = 20;

export async function simAgents(o: SimAgentsOptions): Promise<SimAgents> {
  const seed = String(o.seed);
  const clock = new VirtualClock();
  const net = new SimNet(clock, seed, o.trace === false ? { trace: false } : {});
  const world = simWorld(clock, net);
  const ownDir = o.dir === undefined;
  const dir = o.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'kith-sim-'));
  const agents = new Map<string, SimAgent>();
  const phrases = new Map<string, string>();
  const phrase = (user: string): string => {
    let p = phrases.get(user);
    if (!p) phrases.set(user, (p = generatePhrase(new SeededRng(`phrase:${seed}:${user}`))));
    return p;
  };

  const step = async (ms: number): Promise<void> => {
    clock.advance(ms);
    await new Promise<void>((r) => setImmediate(r));
  };
  const settle = async <T>(p: Promise<T>, maxMs = 60_000): Promise<T> => {
    let state: 'pending' | 'ok' | 'failed' = 'pending';
    let value: T | undefined;
    let error: unknown;
    p.then((v) => ((state = 'ok'), (value = v)), (e) => ((state = 'failed'), (error = e)));
    await new Promise<void>((r) => setImmediate(r));
    const start = clock.now();
    while (state === 'pending') {
      if (clock.now() - start > maxMs) throw new Error(`still waiting after ${maxMs} virtual ms (seed ${seed})`);
      await step(STEP_MS);
    }
    if (state === 'failed') throw error;
    return value as T;
  };

  const make = (name: string, user: string): SimAgent => {
    if (agents.has(name)) throw new RangeError(`agent ${name} exists`);
    const address = `10.0.0.${agents.size + 1}`;
    const dataDir = path.join(dir, name);
    fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    // The config sits beside the data dir (which holds only what an agent writes there).
    fs.writeFileSync(`${dataDir}.toml`, `[node]\nlabel = "${name}"\n[cluster]\nhost = "${address}"\nport = ${SIM_PORT}\n[agent]\nprofile = "test"\nlogLevel = "debug"\n`);
    const a: SimAgent = { name, user, address, dataDir, host: net.host(address), agent: undefined, logs: [], starts: 0, id: undefined };
    agents.set(name, a);
    return a;
  };
  const get = (name: string): SimAgent => {
    const a = agents.get(name);
    if (!a) throw new RangeError(`no agent ${name}`);
    return a;
  };
  const running = (name: string): RunningAgent => {
    const a = get(name).agent;
    if (!a) throw new Error(`agent ${name} is not running`);
    return a;
  };

  const start = async (name: string): Promise<SimAgent> => {
    const a = get(name);
    if (a.agent) return a;
    const env = simAgentEnv(world, a.host, { rngSeed: `agent:${seed}:${name}:${a.starts++}`, log: collectingLog(clock, a.logs) });
    a.agent = await settle(runAgent({ dataDir: a.dataDir, configPath: `${a.dataDir}.toml` }, env));
    a.id = toHex(a.agent.identity.cert.dhKey);
    return a;
  };
  const stop = async (name: string): Promise<void> => {
    const a = get(name);
    const r = a.agent;
    a.agent = undefined;
    if (r) await settle(r.stop());
  };

  const api = async (name: string, method: string, route: string, body?: unknown): Promise<ApiAnswer> => {
    const r = running(name);
    // The API checks the Host header (agent/http-guard.ts): name it as a local client would.
    const where = `127.0.0.1:${r.apiPort}`;
    const req = new Request(`http://${where}${route}`, {
      method,
      headers: { host: where, authorization: `Bearer ${r.token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const res = await settle(Promise.resolve(r.app.fetch(req)));
    return { status: res.status, body: await res.json() };
  };
  const ok = async (name: string, method: string, route: string, body?: unknown) => {
    const r = await api(name, method, route, body);
    if (r.status !== 200) throw new Error(`${method} ${route} on ${name}: ${r.status} ${JSON.stringify(r.body)} (seed ${seed})`);
    return r.body.result ?? r.body;
  };
  /** Opens an offer on `name`; resolves with its view. */
  const openOffer = (name: string) => ok(name, 'POST', '/api/pair/offer', {});
  const offerOutcome = async (name: string, id: string) => {
    let view = await ok(name, 'GET', `/api/pair/offer/${id}`);
    await sim.until(() => {
      view = running(name).pairing.offerState(id);
      return view.state !== 'waiting';
    }, 20_000);
    return view.result ?? view;
  };

  const sim: SimAgents = {
    seed, clock, net, world, get, phrase, settle, api, start, stop,
    async run(ms, s = STEP_MS) {
      for (let t = 0; t < ms; t += s) await step(Math.min(s, ms - t));
    },
    async until(done, maxMs, s = STEP_MS) {
      const t0 = clock.now();
      while (!done()) {
        if (clock.now() - t0 >= maxMs) return undefined;
        await step(s);
      }
      return clock.now() - t0;
    },
    async pair(offerer, joiner) {
      const offer = await openOffer(offerer);
      const joined = await ok(joiner, 'POST', '/api/pair/join', { target: offer.qr });
      return { offered: await offerOutcome(offerer, offer.id), joined };
    },
    async addNode(via, name, label = name, roles = ['access', 'relay']) {
      const viaUser = get(via).user;
      const a = make(name, viaUser);
      const offer = await openOffer(via);
      const env = simAgentEnv(world, a.host, { rngSeed: `node-add:${seed}:${name}`, log: collectingLog(clock, a.logs) });
      const added = await settle(addNode({ clock, rng: env.rng, tcp: env.tcp, openStore: env.openStore }, {
        dataDir: a.dataDir, phrase: phrase(viaUser), target: offer.qr, roles, label, name: viaUser,
        host: a.address, lan: [{ host: a.address, port: SIM_PORT }],
      }));
      const offered = await offerOutcome(via, offer.id);
      await start(name);
      return { added, offered, agent: a };
    },
    disk(name) {
      const dir = path.join(get(name).dataDir, 'store');
      let d = world.disks.get(dir);
      if (!d) world.disks.set(dir, (d = new Map()));
      return d;
    },
    stateOf(observer, subject) {
      const id = get(subject).id;
      return running(observer).cluster.peers().find((p) => p.id === id)?.state;
    },
    traceHash: () => `${net.traceHash()}:${world.tcp.traceHash()}`,
    dump() {
      return [...agents.values()].map((a) => `--- ${a.name} (${a.address})\n${a.logs.map((l) => `${l.atMs} ${l.level} ${l.msg}`).join('\n')}`).join('\n');
    },
    async close() {
      for (const a of agents.values()) await stop(a.name).catch(() => {});
      if (ownDir) fs.rmSync(dir, { recursive: true, force: true });
    },
  };

  for (const spec of o.agents) {
    const a = make(spec.name, spec.user);
    initIdentity({ clock, rng: new SeededRng(`init:${seed}:${spec.name}`) }, {
      dataDir: a.dataDir, nodeIndex: 0, generation: 0, roles: spec.roles ?? ['access', 'relay'], label: spec.name, phrase: phrase(spec.user),
    });
  }
  for (const spec of o.agents) await start(spec.name);
  for (const [offerer, joiner] of o.pairs ?? []) await sim.pair(offerer, joiner);
  return sim;
}
