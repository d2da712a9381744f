// Port mapping on the home router for rendezvous windows: NAT-PMP to the default gateway
// (cluster/natpmp.ts). Nothing is sent until the first window opens, so an agent without
// members stays silent. The router's own external address is checked: a private or CGNAT one
// means another NAT in front of it (double NAT): a mapping on this router cannot be reached from
// the internet, and status says so.
import fs from 'node:fs';
import { realClock } from '../core/clock.js';
import { KithError } from '../core/errors.js';
import { bindUdp, type UdpSocket } from '../core/udp.js';
import { isCarrierGrade, isPrivate } from '../cluster/nat.js';
import { NatPmpClient } from '../cluster/natpmp.js';
import type { PortMapper } from '../cluster/rendezvous.js';

export type PortMappingMode = 'natpmp' | 'off';

/** The IPv4 default gateway from /proc/net/route (Linux), if any. */
export function defaultGateway(routeTable = '/proc/net/route'): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync(routeTable, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 3 || f[1] !== '00000000') continue;
    const g = parseInt(f[2]!, 16);
    if (!Number.isFinite(g) || g === 0) continue;
    return [g & 255, (g >>> 8) & 255, (g >>> 16) & 255, (g >>> 24) & 255].join('.');
  }
  return undefined;
}

export interface RouterInfo {
  protocol: 'natpmp';
  gateway: string;
  externalIp: string;
  doubleNat: boolean;
}

export function createPortMapper(gatewayOverride?: string): PortMapper & { router(): RouterInfo | undefined } {
  let client: NatPmpClient | undefined;
  let socket: UdpSocket | undefined;
  let info: RouterInfo | undefined;

  const ready = async (): Promise<NatPmpClient> => {
    if (client) return client;
    const gateway = gatewayOverride ?? defaultGateway();
    if (!gateway) throw new KithError('PORT_MAPPING_FAILED', 'no IPv4 default gateway to ask for a port mapping');
    socket = await bindUdp({ host: '0.0.0.0', port: 0 });
    client = new NatPmpClient({ clock: realClock, socket, gateway });
    try {
      const ip = await client.externalAddress();
      info = { protocol: 'natpmp', gateway, externalIp: ip, doubleNat: isPrivate(ip) || isCarrierGrade(ip) };
    } catch (e) {
      client.close();
      await socket.close();
      client = undefined;
      socket = undefined;
      throw e;
    }
    return client;
  };

  return {
    protocol: 'natpmp',
    router: () => info,
    async map(internalPort, externalPort, lifetimeMs) {
      const c = await ready();
      // The router's outside address may have changed since the last window: ask every time.
      const ip = await c.externalAddress();
      info = { ...info!, externalIp: ip, doubleNat: isPrivate(ip) || isCarrierGrade(ip) };
      const m = await c.mapUdp(internalPort, externalPort, Math.max(1, Math.ceil(lifetimeMs / 1000)));
      return { externalHost: info!.externalIp, externalPort: m.externalPort };
    },
    async unmap(internalPort) {
      // Removal names the internal port, with external port and lifetime 0 (RFC 6886 §3.4).
      if (client) await client.mapUdp(internalPort, 0, 0);
    },
    async close() {
      client?.close();
      await socket?.close();
    },
  };
}
