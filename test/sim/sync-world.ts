// A small world of users with several nodes each on SimNet, for the sync and end-to-end tests:
// each node is a ClusterNode whose members are its own user's other nodes and its friends'
// nodes (friends of friends are not members), running ConvSync, and on access nodes
// Conversations + SealedConversations. Nodes go offline and come back with their stores.
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { SimNet, type SimHost } from '../../core/simnet.js';
import type { UdpSocket } from '../../core/udp.js';
import { MemoryStore } from '../../core/store.js';
import { toHex } from '../../core/hex.js';
import { verifyCertificate, type Role } from '../../identity/certificate.js';
import { certifyNode } from '../../identity/create.js';
import { generatePhrase } from '../../identity/phrase.js';
import { ClusterNode } from '../../cluster/node.js';
import { pairPsk, rendezvousSecret } from '../../cluster/secrets.js';
import { TEST_TIMING } from '../../cluster/timing.js';
import { Conversations } from '../../consensus/conversations.js';
import { SealedConversations } from '../../consensus/sealed-conversations.js';
import { ConvSync } from '../../consensus/sync.js';
import type { ServicePort } from '../../cluster/services.js';
import type { Conversation, Message, Signer } from '../../consensus/records.js';

export interface NodeSpec {
  name: string;
  user: string;
  index: number;
  roles: Role[];
}

export interface WorldNode {
  spec: NodeSpec;
  id: string;
  address: string;
  signer: Signer;
  dh: { secretKey: Uint8Array; publicKey: Uint8Array };
  certBytes: Uint8Array;
  store: MemoryStore;
  host?: SimHost;
  socket?: UdpSocket;
  online: boolean;
  cluster?: ClusterNode;
  sync?: ConvSync;
  convs?: Conversations;
  sealed?: SealedConversations;
  /** Every message given to the application, in order (hash). */
  delivered: string[];
}

export class World {
  readonly clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1, 12) });
  readonly net: SimNet;
  readonly nodes = new Map<string, WorldNode>();
  readonly users = new Map<string, { key: Uint8Array; phrase: string }>();
  private readonly friends = new Set<string>();
  private readonly revoked = new Set<string>();
  private readonly secret: Uint8Array;

  constructor(readonly seed: string) {
    this.net = new SimNet(this.clock, seed);
    this.secret = new SeededRng(`secret:${seed}`).bytes(32);
  }

  addNode(spec: NodeSpec): WorldNode {
    let u = this.users.get(spec.user);
    const phrase = u?.phrase ?? generatePhrase(new SeededRng(`world-user:${spec.user}`));
    const c = certifyNode(this.clock, { phrase, nodeIndex: spec.index, generation: 0, roles: spec.roles, label: spec.name });
    if (!u) this.users.set(spec.user, (u = { key: c.userKey, phrase }));
    const address = `198.51.100.${this.nodes.size + 1}`;
    const n: WorldNode = {
      spec, id: toHex(c.keys.dh.publicKey), address, certBytes: c.certBytes, store: new MemoryStore(), online: false, delivered: [],
      signer: { userKey: c.userKey, signSecret: c.keys.sign.secretKey, certBytes: c.certBytes }, dh: c.keys.dh,
    };
    this.nodes.set(spec.name, n);
    return n;
  }

  befriend(a: string, b: string): void {
    this.friends.add(`${a}|${b}`).add(`${b}|${a}`);
  }

  /** Users a node knows: its own and its friends. */
  knows(n: WorldNode, user: string): boolean {
    return user === n.spec.user || this.friends.has(`${n.spec.user}|${user}`);
  }

  node(name: string): WorldNode {
    return this.nodes.get(name)!;
  }

  userKey(user: string): Uint8Array {
    return this.users.get(user)!.key;
  }

  /** Revokes a node: every node that knows its user stops listing it and drops it as a member. */
  revoke(name: string): void {
    this.revoked.add(name);
    const r = this.node(name);
    for (const n of this.nodes.values()) if (n.online && n !== r) n.cluster!.membership.remove(r.id);
    this.stop(name);
  }

  async start(name: string): Promise<void> {
    const n = this.node(name);
    n.host ??= this.net.host(n.address);
    const socket = n.host.bind(5484);
    n.socket = socket;
    const cert = verifyCertificate(n.certBytes);
    const rng = new SeededRng(`node:${this.seed}:${name}:${this.clock.now()}`);
    let port: ServicePort | undefined;
    const sync = new ConvSync({
      store: n.store, clock: this.clock, rng, self: n.id,
      send: (peer, body) => port!.send(peer, body),
      peers: () => this.members(n).filter((m) => n.cluster!.membership.stateOf(m.id) === 'alive').map((m) => m.id),
      onItem: (group, item) => n.sealed?.onItem(group, item),
    });
    const cluster = new ClusterNode({ clock: this.clock, rng, socket }, { cert, certBytes: n.certBytes, dh: n.dh, signSecret: n.signer.signSecret }, { timing: TEST_TIMING });
    port = cluster.services.register(ConvSync.serviceSpec(() => sync));
    cluster.membership.setLocalEndpoints('lan', [{ host: n.address, port: 5484 }]);
    for (const m of this.members(n)) {
      cluster.membership.add({ cert: verifyCertificate(m.certBytes), certBytes: m.certBytes, psk: pairPsk(this.secret, n.dh.publicKey, m.dh.publicKey), rendezvousSecret: rendezvousSecret(this.secret), endpoints: [{ host: m.address, port: 5484 }] });
    }
    Object.assign(n, { cluster, sync, online: true });
    await sync.start();
    if (n.spec.roles.includes('access')) {
      n.convs = new Conversations({ store: n.store, clock: this.clock, rng, signer: n.signer, isFriend: (k) => [...this.users].some(([u, x]) => toHex(x.key) === toHex(k) && this.knows(n, u)) });
      n.sealed = new SealedConversations({
        convs: n.convs, sync, signer: n.signer, dh: n.dh, clock: this.clock, rng,
        directory: { nodesOf: (user) => this.directory(n, user) },
        onMessage: (_c: Conversation, m: Message) => n.delivered.push(m.hash),
      });
    }
  }

  stop(name: string): void {
    const n = this.node(name);
    if (!n.online) return;
    n.sync!.close();
    void n.cluster!.close();
    void n.socket!.close();
    n.online = false;
    n.cluster = undefined;
  }

  /** The nodes a node has as members: its user's other nodes and its friends' nodes (not revoked). */
  members(n: WorldNode): WorldNode[] {
    return [...this.nodes.values()].filter((m) => m !== n && !this.revoked.has(m.spec.name) && this.knows(n, m.spec.user));
  }

  private directory(n: WorldNode, user: Uint8Array) {
    const name = [...this.users].find(([, x]) => toHex(x.key) === toHex(user))?.[0];
    if (name === undefined || !this.knows(n, name)) return undefined;
    return [...this.nodes.values()].filter((m) => m.spec.user === name && !this.revoked.has(m.spec.name)).map((m) => ({ dh: m.dh.publicKey, roles: m.spec.roles }));
  }

  async run(ms: number, step = 20): Promise<void> {
    for (let t = 0; t < ms; t += step) {
      this.clock.advance(Math.min(step, ms - t));
      await new Promise<void>((r) => setImmediate(r));
    }
  }

  async until(done: () => boolean | Promise<boolean>, maxMs: number, step = 20): Promise<number | undefined> {
    const start = this.clock.now();
    while (!(await done())) {
      if (this.clock.now() - start >= maxMs) return undefined;
      await this.run(step, step);
    }
    return this.clock.now() - start;
  }

  async close(): Promise<void> {
    for (const n of this.nodes.values()) if (n.online) this.stop(n.spec.name);
  }
}
