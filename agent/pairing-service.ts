// Pairing in the agent: cluster/pairing/pairing-service.ts (offers, joins, what a pairing
// produces) on this agent's TCP, with the LAN multicast search (agent/pair-net.ts) unless the
// agent is bound to loopback, where codes need the QR content.
import type { Clock } from '../core/clock.js';
import type { Log } from '../core/log.js';
import type { Rng } from '../core/rng.js';
import { realTcp, type TcpNet } from '../core/tcp.js';
import { isLoopback, lanEndpoints, type NetInterface } from '../cluster/cluster-service.js';
import { PairingService, type PairDiscovery, type PairingRoster, type PairProgress } from '../cluster/pairing/pairing-service.js';
import type { Emit } from './event-sources.js';
import { osInterfaces } from './cluster-service.js';
import { lanDiscovery } from './pair-net.js';

export type { OfferView } from '../cluster/pairing/pairing-service.js';
export { PairingService };

export function startPairing(deps: {
  clock: Clock; rng: Rng; roster: PairingRoster; log: Log; host: string; defaultTtlMs: number;
  /** The environment's TCP and interfaces (agent/env.ts); real ones when not given. */
  tcp?: TcpNet; interfaces?: () => NetInterface[];
  /** The LAN search; by default multicast, none on loopback. */
  discovery?: PairDiscovery | undefined;
  /** The event log: one `pair.progress` event per step of an offer or a join. */
  emit?: Emit;
}): PairingService {
  const interfaces = deps.interfaces ?? osInterfaces;
  const discovery = 'discovery' in deps ? deps.discovery : isLoopback(deps.host) ? undefined : lanDiscovery(deps.clock, deps.log);
  return new PairingService(
    {
      clock: deps.clock, rng: deps.rng, tcp: deps.tcp ?? realTcp, roster: deps.roster, log: deps.log, ...(discovery ? { discovery } : {}),
      ...(deps.emit ? { onProgress: (p: PairProgress) => deps.emit!('pair.progress', { ...p }) } : {}),
    },
    // The QR names an address the joiner can reach: the first LAN address when bound to every interface.
    { host: deps.host, advertisedHost: () => lanEndpoints(deps.host, 0, interfaces())[0]?.host ?? '127.0.0.1', defaultTtlMs: deps.defaultTtlMs },
  );
}
