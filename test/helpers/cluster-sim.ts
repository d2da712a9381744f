// Seeded clusters on SimNet: N nodes (each its own test user), all members of each other, with
// per-pair PSKs from one bootstrap secret. Used by test/sim and bench/cluster-sim.ts.
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { SimNet, type NatBox, type NatType, type SimHost } from '../../core/simnet.js';
import type { Endpoint, UdpSocket } from '../../core/udp.js';
import { verifyCertificate } from '../../identity/certificate.js';
import type { MembershipTiming, MemberState } from '../../cluster/membership.js';
import { ClusterNode, type NodeKeys } from '../../cluster/node.js';
import { pairPsk, rendezvousSecret } from '../../cluster/secrets.js';
import { testUser } from './users.js';

export interface SimNode {
  index: number;
  host: SimHost;
  nat: NatBox | undefined;
  socket: UdpSocket;
  keys: NodeKeys;
  node: ClusterNode;
  id: string;
  /** Every state change this node saw: [virtual ms, member id, new state]. */
  changes: [number, string, MemberState][];
}

export interface SimCluster {
  clock: VirtualClock;
  net: SimNet;
  nodes: SimNode[];
  secret: Uint8Array;
  /** Runs virtual time forward in steps (letting promise callbacks run between steps). */
  run(ms: number, step?: number): Promise<void>;
  /** Runs until done() or maxMs; returns the virtual ms it took, or undefined. */
  until(done: () => boolean, maxMs: number, step?: number): Promise<number | undefined>;
  stateOf(observer: SimNode, subject: SimNode): MemberState | undefined;
  restart(i: number): SimNode;
  kill(i: number): void;
  close(): Promise<void>;
}

export function nodeKeys(name: string): NodeKeys {
  const u = testUser(name);
  return { cert: verifyCertificate(u.certBytes), certBytes: u.certBytes, dh: u.dh, signSecret: u.signSecret };
}

export interface SimClusterOptions {
  seed: string | number;
  n: number;
  timing: MembershipTiming;
  /** NAT type per node index; undefined = a public address. */
  nat?: (i: number) => NatType | undefined;
}

export function publicAddress(i: number): string {
  return `198.51.${100 + (i >> 8)}.${(i & 0xff) + 1}`;
}

export async function simCluster(o: SimClusterOptions): Promise<SimCluster> {
  const clock = new VirtualClock();
  const net = new SimNet(clock, o.seed);
  const secret = new SeededRng(`secret:${o.seed}`).bytes(32);
  const rdv = rendezvousSecret(secret);
  const nodes: SimNode[] = [];
  const keys = Array.from({ length: o.n }, (_, i) => nodeKeys(`sim${i}`));

  const make = (i: number, host: SimHost, nat: NatBox | undefined): SimNode => {
    const socket = host.bind(5484);
    const changes: SimNode['changes'] = [];
    const node = new ClusterNode({ clock, rng: new SeededRng(`node:${o.seed}:${i}:${clock.now()}`), socket }, keys[i]!, {
      timing: o.timing,
      events: { state: (id, s) => changes.push([clock.now(), id, s]) },
    });
    const lan: Endpoint = { host: host.address, port: 5484 };
    node.membership.setLocalEndpoints('lan', [lan]);
    return { index: i, host, nat, socket, keys: keys[i]!, node, id: node.membership.selfId, changes };
  };

  for (let i = 0; i < o.n; i++) {
    const natType = o.nat?.(i);
    const nat = natType ? net.nat(publicAddress(i), natType) : undefined;
    const host = net.host(nat ? `10.${i >> 8}.${i & 0xff}.2` : publicAddress(i), nat ? { behind: nat } : {});
    nodes.push(make(i, host, nat));
  }
  const cardEndpoint = (n: SimNode): Endpoint => (n.nat ? { host: n.nat.publicIp, port: 0 } : { host: n.host.address, port: 5484 });
  const addAll = (n: SimNode): void => {
    for (const m of nodes) {
      if (m === n) continue;
      const ep = cardEndpoint(m);
      n.node.membership.add({
        cert: m.keys.cert, certBytes: m.keys.certBytes, psk: pairPsk(secret, n.keys.dh.publicKey, m.keys.dh.publicKey),
        rendezvousSecret: rdv, endpoints: ep.port ? [ep] : [],
      });
    }
  };
  for (const n of nodes) addAll(n);

  const step = async (ms: number): Promise<void> => {
    clock.advance(ms);
    await new Promise<void>((r) => setImmediate(r));
  };
  const c: SimCluster = {
    clock, net, nodes, secret,
    async run(ms, s = 50) {
      for (let t = 0; t < ms; t += s) await step(Math.min(s, ms - t));
    },
    async until(done, maxMs, s = 20) {
      const start = clock.now();
      while (!done()) {
        if (clock.now() - start >= maxMs) return undefined;
        await step(s);
      }
      return clock.now() - start;
    },
    stateOf(observer, subject) {
      return observer.node.membership.stateOf(subject.id);
    },
    kill(i) {
      const n = nodes[i]!;
      void n.node.close();
      void n.socket.close();
    },
    restart(i) {
      const old = nodes[i]!;
      const n = make(i, old.host, old.nat);
      nodes[i] = n;
      addAll(n);
      return n;
    },
    async close() {
      for (const n of nodes) await n.node.close();
    },
  };
  return c;
}
