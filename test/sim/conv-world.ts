// A world of whole agents for the conversation simulation (test/sim/conv-world.test.ts): users
// with a laptop (access), a router (relay only) and sometimes a phone (a second access device),
// enrolled with `kith node add`; a friend graph that is not complete (some participants share a
// friend without being friends); conversations of every pattern and method, each a script of
// steps run through the agents' APIs. Everything is drawn from the run's seed.
import { SeededRng } from '../../core/rng.js';
import { toHex } from '../../core/hex.js';
import type { Message, Conversation } from '../../consensus/records.js';
import { simAgents, type SimAgents } from '../helpers/sim-agents.js';

export interface WorldUser {
  name: string;
  laptop: string;
  router: string;
  phone: string | undefined;
  key: string;
}

export interface ConvWorld {
  sim: SimAgents;
  users: WorldUser[];
  /** Friend pairs (user names, sorted within the pair). */
  friends: Set<string>;
  /** Per agent name: how many times each message hash reached its application. */
  delivered: Map<string, Map<string, number>>;
  /** Wires the delivery counter into an agent that (re)started. */
  watch(name: string): void;
  accessNodes(user: WorldUser): string[];
  allNodes(user: WorldUser): string[];
}

export const isFriend = (friends: Set<string>, a: string, b: string) => friends.has([a, b].sort().join('|'));

/**
 * The friend graph: a ring where each user is friends with the next two (so 0 and 3 are not
 * friends but share 1 and 2), plus one chord per four users. Never complete for more than 4 users.
 */
export function friendGraph(n: number, rng: SeededRng): [number, number][] {
  const pairs = new Set<string>();
  const add = (a: number, b: number) => a !== b && pairs.add([Math.min(a, b), Math.max(a, b)].join('|'));
  for (let i = 0; i < n; i++) {
    add(i, (i + 1) % n);
    if (n > 3) add(i, (i + 2) % n);
  }
  for (let k = 0; k < Math.floor(n / 4); k++) add(rng.below(n), rng.below(n));
  return [...pairs].map((p) => p.split('|').map(Number) as [number, number]);
}

export async function buildWorld(seed: string, dir: string, userCount: number): Promise<ConvWorld> {
  const rng = new SeededRng(`conv-world:${seed}`);
  const names = Array.from({ length: userCount }, (_, i) => `u${String(i).padStart(2, '0')}`);
  const sim = await simAgents({ seed, dir, trace: false, agents: names.map((n) => ({ name: `${n}-laptop`, user: n, roles: ['access', 'relay'] })) });
  const users: WorldUser[] = [];
  for (const [i, n] of names.entries()) {
    const laptop = `${n}-laptop`;
    // Enrollment through the laptop: a relay-only router, and for every third user a phone.
    await sim.addNode(laptop, `${n}-router`, `${n}-router`, ['relay']);
    const phone = i % 3 === 1 ? `${n}-phone` : undefined;
    if (phone) await sim.addNode(laptop, phone, phone, ['access']);
    users.push({ name: n, laptop, router: `${n}-router`, phone, key: toHex(sim.get(laptop).agent!.identity.cert.userKey) });
  }
  const friends = new Set<string>();
  for (const [a, b] of friendGraph(userCount, rng)) {
    await sim.pair(users[a]!.laptop, users[b]!.laptop);
    friends.add([names[a]!, names[b]!].sort().join('|'));
  }
  const delivered = new Map<string, Map<string, number>>();
  const watch = (name: string) => {
    const sealed = sim.get(name).agent?.conversations.sealed;
    if (!sealed) return;
    const counts = delivered.get(name) ?? new Map<string, number>();
    delivered.set(name, counts);
    // Every call of SealedConversations' onMessage hook (what feeds the node's feed, which it still calls).
    const deps = (sealed as unknown as { deps: { onMessage?: (c: Conversation, m: Message) => void } }).deps;
    const feed = deps.onMessage;
    deps.onMessage = (c, m) => {
      counts.set(m.hash, (counts.get(m.hash) ?? 0) + 1);
      feed?.(c, m);
    };
  };
  for (const u of users) for (const n of [u.laptop, u.phone]) if (n) watch(n);
  return {
    sim, users, friends, delivered, watch,
    accessNodes: (u) => [u.laptop, ...(u.phone ? [u.phone] : [])],
    allNodes: (u) => [u.laptop, u.router, ...(u.phone ? [u.phone] : [])],
  };
}
