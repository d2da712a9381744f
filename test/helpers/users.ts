// Test users: deterministic phrases from a seeded stream, each with node 0 certified.
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { toHex } from '../../core/hex.js';
import { certifyNode } from '../../identity/create.js';
import { generatePhrase } from '../../identity/phrase.js';
import type { Signer } from '../../consensus/records.js';

export interface TestUser extends Signer {
  name: string;
  hex: string;
  /** The node's X25519 static key pair (its certificate's `dh`). */
  dh: { secretKey: Uint8Array; publicKey: Uint8Array };
}

const cache = new Map<string, TestUser>();

export function testUser(name: string): TestUser {
  const hit = cache.get(name);
  if (hit) return hit;
  const phrase = generatePhrase(new SeededRng(`user:${name}`));
  const node = certifyNode(new VirtualClock(), { phrase, nodeIndex: 0, generation: 0, roles: ['access'], label: name });
  const u = { name, hex: toHex(node.userKey), userKey: node.userKey, signSecret: node.keys.sign.secretKey, certBytes: node.certBytes, dh: node.keys.dh };
  cache.set(name, u);
  return u;
}
