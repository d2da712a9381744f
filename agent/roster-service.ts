// The roster in the agent: cluster/roster-service.ts (friends, own nodes, revocations, how
// changes spread), wired to this agent's cluster, store and identity. The protocol and its store
// entries are specified in cluster/README.md, "Roster".
import type { Clock } from '../core/clock.js';
import type { Log } from '../core/log.js';
import type { KvStore } from '../core/store.js';
import type { NodeIdentity } from '../identity/keystore.js';
import type { ClusterService } from '../cluster/cluster-service.js';
import { RosterService } from '../cluster/roster-service.js';

export type { EnrollOutcome, FriendView, NodeView, PairOutcome, RevokeOutcome } from '../cluster/roster-service.js';
export { RosterService };
export { friendKey, revocationKey, storeWelcome } from '../cluster/roster-store.js';

export function startRoster(deps: {
  clock: Clock; store: KvStore; identity: NodeIdentity; cluster: ClusterService; log: Log; name: string; nameAtMs?: number; onOwnName?(name: string, atMs: number): void;
}): Promise<RosterService> {
  const { identity, cluster } = deps;
  return RosterService.start(
    {
      clock: deps.clock, store: deps.store, log: deps.log, members: cluster.members, register: (spec) => cluster.node.services.register(spec),
      ...(deps.onOwnName ? { onOwnName: deps.onOwnName } : {}),
    },
    {
      cert: identity.cert, certBytes: identity.certBytes, signSecret: identity.keys.sign.secretKey, name: deps.name, nameAtMs: deps.nameAtMs ?? 0,
      ...(identity.ownSecret ? { ownSecret: identity.ownSecret } : {}),
    },
  );
}
