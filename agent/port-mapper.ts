// Port mapping on the home router for rendezvous windows: NAT-PMP (cluster/natpmp.ts) or UPnP
// IGD (cluster/upnp.ts) to the default gateway. Nothing is sent until the first window opens, so
// an agent without members stays silent. The router's own external address is checked: a private or CGNAT one
// means another NAT in front of it (double NAT): a mapping on this router cannot be reached from
// the internet, and status says so.
import fs from 'node:fs';
import { realClock } from '../core/clock.js';
import { KithError } from '../core/errors.js';
import { bindUdp, type UdpSocket } from '../core/udp.js';
import { isCarrierGrade, isPrivate } from '../cluster/nat.js';
import { NatPmpClient } from '../cluster/natpmp.js';
import { UpnpIgdClient } from '../cluster/upnp.js';
import type { PortMapper } from '../cluster/rendezvous.js';
import type { RouterInfo } from '../cluster/cluster-service.js';
import { lanHttp } from './lan-http.js';

export type PortMappingMode = 'auto' | 'natpmp' | 'upnp' | 'off';

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

export type { RouterInfo };

/** One way of asking the router: NAT-PMP or UPnP IGD. */
interface RouterProtocol {
  readonly name: 'natpmp' | 'upnp';
  externalAddress(): Promise<string>;
  /** Resolves to the external port and the lease granted (seconds; 0 = until removed). */
  map(internalPort: number, externalPort: number, leaseSec: number): Promise<{ externalPort: number; leaseSec: number }>;
  unmap(internalPort: number, externalPort: number): Promise<void>;
  close(): Promise<void>;
}

async function natPmp(gateway: string): Promise<RouterProtocol> {
  const socket = await bindUdp({ host: '0.0.0.0', port: 0 });
  const c = new NatPmpClient({ clock: realClock, socket, gateway });
  return {
    name: 'natpmp',
    externalAddress: () => c.externalAddress(),
    async map(internalPort, externalPort, leaseSec) {
      const m = await c.mapUdp(internalPort, externalPort, leaseSec);
      return { externalPort: m.externalPort, leaseSec: m.lifetimeSec };
    },
    // Removal names the internal port, with external port and lifetime 0 (RFC 6886 §3.4).
    unmap: async (internalPort) => void (await c.mapUdp(internalPort, 0, 0)),
    async close() {
      c.close();
      await socket.close();
    },
  };
}

async function upnp(gateway: string): Promise<RouterProtocol> {
  const socket = await bindUdp({ host: '0.0.0.0', port: 0 });
  const c = new UpnpIgdClient({ clock: realClock, socket, http: lanHttp, gateway });
  return {
    name: 'upnp',
    externalAddress: () => c.externalAddress(),
    map: (internalPort, externalPort, leaseSec) => c.mapUdp(internalPort, externalPort, leaseSec),
    unmap: (_internalPort, externalPort) => c.unmapUdp(externalPort),
    async close() {
      c.close();
      await socket.close();
    },
  };
}

/**
 * The rendezvous port mapper. `auto` asks NAT-PMP first (one datagram, answered by most routers
 * that speak it), then UPnP IGD; the protocol that answered is kept until it fails, when the next
 * window starts the choice again.
 */
export function createPortMapper(mode: Exclude<PortMappingMode, 'off'>, gatewayOverride?: string): PortMapper & { router(): RouterInfo | undefined } {
  let proto: RouterProtocol | undefined;
  let info: RouterInfo | undefined;
  const order: ('natpmp' | 'upnp')[] = mode === 'auto' ? ['natpmp', 'upnp'] : [mode];

  const setInfo = (p: RouterProtocol, gateway: string, ip: string) => {
    info = { protocol: p.name, gateway, externalIp: ip, doubleNat: isPrivate(ip) || isCarrierGrade(ip) };
  };

  const ready = async (): Promise<RouterProtocol> => {
    if (proto) return proto;
    const gateway = gatewayOverride ?? defaultGateway();
    if (!gateway) throw new KithError('PORT_MAPPING_NO_GATEWAY', 'no IPv4 default gateway to ask for a port mapping: none was tried');
    const failures: string[] = [];
    for (const name of order) {
      const p = name === 'natpmp' ? await natPmp(gateway) : await upnp(gateway);
      try {
        setInfo(p, gateway, await p.externalAddress());
        proto = p;
        return p;
      } catch (e) {
        failures.push((e as Error).message);
        await p.close();
      }
    }
    throw new KithError('PORT_MAPPING_FAILED', failures.join('; '));
  };

  return {
    get protocol() {
      return info?.protocol ?? mode;
    },
    router: () => info,
    async map(internalPort, externalPort, lifetimeMs) {
      const p = await ready();
      try {
        // The router's outside address may have changed since the last window: ask every time.
        setInfo(p, info!.gateway, await p.externalAddress());
        const m = await p.map(internalPort, externalPort, Math.max(1, Math.ceil(lifetimeMs / 1000)));
        return { externalHost: info!.externalIp, externalPort: m.externalPort, lifetimeMs: m.leaseSec * 1000 };
      } catch (e) {
        proto = undefined;
        await p.close();
        throw e;
      }
    },
    async unmap(internalPort, externalPort) {
      if (proto) await proto.unmap(internalPort, externalPort);
    },
    async close() {
      await proto?.close();
      proto = undefined;
    },
  };
}
