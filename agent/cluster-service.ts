// The cluster inside the agent: cluster/cluster-service.ts built from the config, the profile and
// the agent's environment (UDP socket, interfaces, port mapper), plus `kith peer add`'s input.
import os from 'node:os';
import { KithError } from '../core/errors.js';
import type { Endpoint } from '../core/udp.js';
import { openCard } from '../cluster/card.js';
import {
  isLoopback, lanEndpoints as lanEndpointsOf, startClusterService, type ClusterIdentity, type ClusterServiceDeps, type ClusterService as DomainCluster, type NetInterface,
} from '../cluster/cluster-service.js';
import type { Config } from './config.js';
import type { Profile } from './profiles.js';

export { isLoopback };

export interface ClusterService extends DomainCluster {
  /** `kith peer add` / POST /api/peers: a base64 card and a 64-hex bootstrap secret. */
  addPeer(cardBase64: string, secretHex: string): Promise<{ id: string; nodeSignKey: string; userKey: string; label: string }>;
}

/** The machine's interfaces as cluster/ reads them. */
export function osInterfaces(): NetInterface[] {
  return Object.values(os.networkInterfaces()).flatMap((a) => a ?? []).map((a) => ({ address: a.address, family: String(a.family), internal: a.internal }));
}

/** LAN endpoints of this machine for a bind host and port (cli `node add`, pairing offers). */
export function lanEndpoints(bindHost: string, port: number, interfaces: NetInterface[] = osInterfaces()): Endpoint[] {
  return lanEndpointsOf(bindHost, port, interfaces);
}

export function parseStunServers(text: string): Endpoint[] {
  return text.split(',').map((s) => s.trim()).filter(Boolean).map((s) => {
    const m = /^(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/.exec(s);
    if (!m) throw new KithError('CONFIG_INVALID', `nat.stunServers: ${JSON.stringify(s)} is not an IPv4 host:port`);
    return { host: m[1]!, port: Number(m[2]) };
  });
}

export async function startCluster(deps: ClusterServiceDeps, identity: ClusterIdentity, config: Config, profile: Profile): Promise<ClusterService> {
  const cluster = await startClusterService(deps, identity, {
    host: config.cluster.host,
    timing: profile.membership,
    rendezvous: profile.rendezvous,
    minGuardMs: profile.minGuardMs,
    stunServers: parseStunServers(config.nat.stunServers),
    stunIntervalMs: profile.stunIntervalMs,
    interfacePollMs: profile.interfacePollMs,
  });
  return {
    ...cluster,
    async addPeer(cardBase64, secretHex) {
      if (!/^[0-9a-fA-F]{64}$/.test(secretHex)) throw new KithError('SECRET_INVALID', 'the bootstrap secret must be 64 hex digits');
      if (!/^[A-Za-z0-9+/=\s]+$/.test(cardBase64)) throw new KithError('CARD_INVALID', 'the card must be base64');
      const card = openCard(new Uint8Array(Buffer.from(cardBase64, 'base64')));
      const secret = new Uint8Array(Buffer.from(secretHex, 'hex'));
      try {
        return await cluster.addMember(card, secret);
      } finally {
        secret.fill(0);
      }
    },
  };
}
