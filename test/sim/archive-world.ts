// A world of whole agents for the archive simulation (test/sim/archive-world.test.ts): six users,
// fifteen nodes. Each user has a laptop (access + relay); most have a relay-only router or NAS;
// some a second access device (a phone or desktop). Users pair laptop to laptop, every user with
// every other (so each object can spread over up to six households). Everything from the seed.
import { toHex } from '../../core/hex.js';
import type { Role } from '../../identity/certificate.js';
import { simAgents, type SimAgents } from '../helpers/sim-agents.js';

export interface ArchiveUser {
  name: string;
  laptop: string;
  /** Relay-only machines (router, NAS). */
  relays: string[];
  /** A second access device, if the user has one. */
  second: string | undefined;
  key: string;
}

export interface ArchiveWorld {
  sim: SimAgents;
  users: ArchiveUser[];
  nodes: (u: ArchiveUser) => string[];
  /** agent name → its user. */
  userOf: Map<string, ArchiveUser>;
}

/** The 15 nodes of 6 users: [relay-only machines, second access device]. */
export const LAYOUT: { relays: string[]; second?: string }[] = [
  { relays: ['router'], second: 'phone' },
  { relays: ['nas'], second: 'desktop' },
  { relays: ['router'] },
  { relays: ['nas'] },
  { relays: ['router'] },
  { relays: ['router'], second: 'phone' },
];

export async function buildArchiveWorld(seed: string, dir: string): Promise<ArchiveWorld> {
  const names = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
  const sim = await simAgents({ seed, dir, agents: names.map((n) => ({ name: `${n}-laptop`, user: n, roles: ['access', 'relay'] as Role[] })) });
  const users: ArchiveUser[] = [];
  const userOf = new Map<string, ArchiveUser>();
  for (const [i, n] of names.entries()) {
    const laptop = `${n}-laptop`;
    const spec = LAYOUT[i]!;
    const relays = [];
    for (const r of spec.relays) {
      await sim.addNode(laptop, `${n}-${r}`, `${n}-${r}`, ['relay']);
      relays.push(`${n}-${r}`);
    }
    const second = spec.second ? `${n}-${spec.second}` : undefined;
    if (second) await sim.addNode(laptop, second, second, ['access']);
    const u: ArchiveUser = { name: n, laptop, relays, second, key: toHex(sim.get(laptop).agent!.identity.cert.userKey) };
    users.push(u);
    for (const a of [laptop, ...relays, ...(second ? [second] : [])]) userOf.set(a, u);
  }
  for (let a = 0; a < users.length; a++) for (let b = a + 1; b < users.length; b++) await sim.pair(users[a]!.laptop, users[b]!.laptop);
  return { sim, users, userOf, nodes: (u) => [u.laptop, ...u.relays, ...(u.second ? [u.second] : [])] };
}
