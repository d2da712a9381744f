// UPnP IGD client (UPnP Device Architecture 1.1, WANIPConnection:1/2, WANPPPConnection:1): the
// router's external address and UDP port mappings with a lease. Three steps:
//
//   1. SSDP search: an HTTPU `M-SEARCH * HTTP/1.1` datagram to the default gateway's port 1900
//      (unicast, UDA 1.1 §1.3.2), and after the first silence also to 239.255.255.250:1900;
//      ST = urn:schemas-upnp-org:device:InternetGatewayDevice:1 (IGD:2 devices answer it too).
//      The answer's LOCATION header names the device description.
//   2. HTTP GET of the description (XML); the first WANIPConnection:2, WANIPConnection:1 or
//      WANPPPConnection:1 service anywhere in the device tree gives the control URL.
//   3. SOAP 1.1 POSTs to the control URL: GetExternalIPAddress, AddPortMapping,
//      DeletePortMapping. A refusal is an HTTP 500 whose body carries a UPnPError errorCode.
//
// Everything read from the network is bounded and checked: a description or control URL must be
// on the host that answered the search (a LAN host cannot point us at the internet), bodies are
// capped by the HTTP function, and malformed XML is a PORT_MAPPING_FAILED error, never a crash.
// The network comes in as inputs: a UDP socket for SSDP and an HTTP function.
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import type { Clock, Timer } from '../core/clock.js';
import { KithError } from '../core/errors.js';
import type { Endpoint, UdpSocket } from '../core/udp.js';

export const SSDP_PORT = 1900;
export const SSDP_MULTICAST = '239.255.255.250';
export const IGD_DEVICE = 'urn:schemas-upnp-org:device:InternetGatewayDevice:1';
/** Services that map ports, best first. */
export const WAN_SERVICES = [
  'urn:schemas-upnp-org:service:WANIPConnection:2',
  'urn:schemas-upnp-org:service:WANIPConnection:1',
  'urn:schemas-upnp-org:service:WANPPPConnection:1',
] as const;
/** The largest description or SOAP answer read. */
export const MAX_HTTP_BYTES = 64 * 1024;

/** UPnP error codes a caller can act on (IGD:2 WANIPConnection §2.4). */
export const UPNP_ERRORS: Record<number, string> = {
  401: 'Invalid Action',
  402: 'Invalid Args',
  501: 'Action Failed',
  606: 'Action not authorized',
  714: 'NoSuchEntryInArray',
  715: 'WildCardNotPermittedInSrcIP',
  716: 'WildCardNotPermittedInExtPort',
  718: 'ConflictInMappingEntry',
  724: 'SamePortValuesRequired',
  725: 'OnlyPermanentLeasesSupported',
  726: 'RemoteHostOnlySupportsWildcard',
  727: 'ExternalPortOnlySupportsWildcard',
  728: 'NoPortMapsAvailable',
  729: 'ConflictWithOtherMechanisms',
};

export interface HttpRequest {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
  maxBytes: number;
}
export interface HttpResponse {
  status: number;
  body: string;
  /** This host's address on the connection: the InternalClient of a mapping. */
  localAddress: string;
}
export type HttpFn = (req: HttpRequest) => Promise<HttpResponse>;

export interface IgdService {
  serviceType: string;
  controlUrl: string;
  /** The host that answered the search. */
  host: string;
}

/** A search datagram. */
export function msearch(target: Endpoint, st = IGD_DEVICE): Uint8Array {
  const lines = ['M-SEARCH * HTTP/1.1', `HOST: ${target.host}:${target.port}`, 'MAN: "ssdp:discover"', 'MX: 1', `ST: ${st}`, '', ''];
  return new TextEncoder().encode(lines.join('\r\n'));
}

/** The LOCATION of an SSDP search answer, or undefined for anything else. */
export function parseSearchResponse(data: Uint8Array): { location: string; st: string } | undefined {
  if (data.length > 4096) return undefined;
  const text = new TextDecoder('utf-8', { fatal: false }).decode(data);
  const lines = text.split(/\r?\n/);
  if (!/^HTTP\/1\.[01] 200\b/.test(lines[0] ?? '')) return undefined;
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i > 0) headers.set(line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim());
  }
  const location = headers.get('location');
  if (!location || !/^http:\/\//i.test(location)) return undefined;
  return { location, st: headers.get('st') ?? '' };
}

const xml = new XMLParser({
  removeNSPrefix: true,
  parseTagValue: false,
  ignoreAttributes: true,
  processEntities: true,
  isArray: (name) => name === 'service' || name === 'device',
});

function parseXml(text: string, what: string): Record<string, unknown> {
  try {
    // The parser is lenient about unclosed elements; the validator is not.
    if (XMLValidator.validate(text) !== true) throw new Error('invalid');
    const doc = xml.parse(text) as unknown;
    if (doc && typeof doc === 'object') return doc as Record<string, unknown>;
  } catch {
    /* reported below */
  }
  throw new KithError('PORT_MAPPING_FAILED', `UPnP: the router's ${what} is not well-formed XML`);
}

function obj(v: unknown): Record<string, unknown> | undefined {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}
function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : v === undefined ? [] : [v];
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v.trim() : undefined;
}

/**
 * The best port-mapping service in a device description, its control URL resolved against
 * URLBase or the description's own URL. The URL must stay on the description's host.
 */
export function findWanService(description: string, location: string): { serviceType: string; controlUrl: string } | undefined {
  const root = obj(parseXml(description, 'device description')['root']);
  if (!root) return undefined;
  const found: { serviceType: string; controlUrl: string }[] = [];
  const walk = (device: unknown, depth: number): void => {
    const d = obj(device);
    if (!d || depth > 8) return;
    for (const s of arr(obj(d['serviceList'])?.['service'])) {
      const so = obj(s);
      const serviceType = str(so?.['serviceType']);
      const control = str(so?.['controlURL']);
      if (serviceType && control) found.push({ serviceType, controlUrl: control });
    }
    for (const child of arr(obj(d['deviceList'])?.['device'])) walk(child, depth + 1);
  };
  for (const d of arr(root['device'])) walk(d, 0);
  const base = str(root['URLBase']) || location;
  for (const want of WAN_SERVICES) {
    const s = found.find((f) => f.serviceType === want);
    if (!s) continue;
    let url: URL;
    try {
      url = new URL(s.controlUrl, base);
    } catch {
      continue;
    }
    if (url.protocol !== 'http:' || url.hostname !== new URL(location).hostname) continue;
    return { serviceType: want, controlUrl: url.toString() };
  }
  return undefined;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A SOAP request: the SOAPAction header value and the envelope. */
export function soapRequest(serviceType: string, action: string, args: [string, string | number][]): { soapAction: string; body: string } {
  const inner = args.map(([k, v]) => `<${k}>${escapeXml(String(v))}</${k}>`).join('');
  const body =
    '<?xml version="1.0"?>\r\n' +
    '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" s:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/">' +
    `<s:Body><u:${action} xmlns:u="${escapeXml(serviceType)}">${inner}</u:${action}></s:Body></s:Envelope>\r\n`;
  return { soapAction: `"${serviceType}#${action}"`, body };
}

export class UpnpError extends KithError {
  constructor(readonly action: string, readonly upnpCode: number, description: string) {
    super('PORT_MAPPING_FAILED', `UPnP ${action}: the router answered ${upnpCode} ${description || UPNP_ERRORS[upnpCode] || ''}`.trim());
  }
}

/** The output arguments of a SOAP answer; a fault becomes an UpnpError. */
export function parseSoapResponse(action: string, status: number, body: string): Record<string, string> {
  const doc = parseXml(body, `${action} answer`);
  const soapBody = obj(obj(doc['Envelope'])?.['Body']);
  if (!soapBody) throw new KithError('PORT_MAPPING_FAILED', `UPnP ${action}: HTTP ${status} without a SOAP body`);
  const fault = obj(soapBody['Fault']);
  if (fault || status !== 200) {
    const e = obj(obj(fault?.['detail'])?.['UPnPError']);
    const code = Number(str(e?.['errorCode']));
    if (Number.isInteger(code)) throw new UpnpError(action, code, str(e?.['errorDescription']) ?? '');
    throw new KithError('PORT_MAPPING_FAILED', `UPnP ${action}: HTTP ${status}`);
  }
  const resp = soapBody[`${action}Response`];
  if (resp === undefined) throw new KithError('PORT_MAPPING_FAILED', `UPnP ${action}: the answer has no ${action}Response`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj(resp) ?? {})) {
    const s = str(v);
    if (s !== undefined) out[k] = s;
  }
  return out;
}

export class UpnpIgdClient {
  private service: (IgdService & { localAddress: string }) | undefined;
  private searching: { resolve(v: { location: string; host: string }): void; timer: Timer | undefined } | undefined;

  constructor(
    private readonly deps: { clock: Clock; socket: UdpSocket; http: HttpFn; gateway: string },
    private readonly opts = { firstRtoMs: 250, attempts: 3, httpTimeoutMs: 3000 },
  ) {
    deps.socket.onMessage((data, from) => this.onMessage(data, from));
  }

  /** Finds the router's port-mapping service (once; later calls reuse it). */
  async discover(): Promise<IgdService & { localAddress: string }> {
    if (this.service) return this.service;
    const found = await this.search();
    const desc = await this.deps.http({ url: found.location, method: 'GET', headers: {}, timeoutMs: this.opts.httpTimeoutMs, maxBytes: MAX_HTTP_BYTES });
    if (desc.status !== 200) throw new KithError('PORT_MAPPING_FAILED', `UPnP: the router's description ${found.location} answered HTTP ${desc.status}`);
    const s = findWanService(desc.body, found.location);
    if (!s) throw new KithError('PORT_MAPPING_FAILED', `UPnP: the router at ${found.host} offers no WANIPConnection or WANPPPConnection service`);
    this.service = { ...s, host: found.host, localAddress: desc.localAddress };
    return this.service;
  }

  async externalAddress(): Promise<string> {
    const r = await this.call('GetExternalIPAddress', []);
    const ip = r['NewExternalIPAddress'] ?? '';
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) throw new KithError('PORT_MAPPING_FAILED', 'UPnP: the router has no external IPv4 address');
    return ip;
  }

  /**
   * Maps external UDP port → this host's internal port for `leaseSec` seconds. A router that
   * only takes permanent leases (725, IGD:1) gets lease 0, and the caller's unmap removes it.
   */
  async mapUdp(internalPort: number, externalPort: number, leaseSec: number, description = 'kith'): Promise<{ externalPort: number; leaseSec: number }> {
    const s = await this.discover();
    const args = (lease: number): [string, string | number][] => [
      ['NewRemoteHost', ''], ['NewExternalPort', externalPort], ['NewProtocol', 'UDP'], ['NewInternalPort', internalPort],
      ['NewInternalClient', s.localAddress], ['NewEnabled', 1], ['NewPortMappingDescription', description], ['NewLeaseDuration', lease],
    ];
    try {
      await this.call('AddPortMapping', args(leaseSec));
      return { externalPort, leaseSec };
    } catch (e) {
      if (!(e instanceof UpnpError) || e.upnpCode !== 725) throw e;
      await this.call('AddPortMapping', args(0));
      return { externalPort, leaseSec: 0 };
    }
  }

  /** Removes the mapping of an external UDP port; one that is already gone (714) is fine. */
  async unmapUdp(externalPort: number): Promise<void> {
    try {
      await this.call('DeletePortMapping', [['NewRemoteHost', ''], ['NewExternalPort', externalPort], ['NewProtocol', 'UDP']]);
    } catch (e) {
      if (!(e instanceof UpnpError) || e.upnpCode !== 714) throw e;
    }
  }

  close(): void {
    this.searching?.timer?.cancel();
    this.searching = undefined;
  }

  private async call(action: string, args: [string, string | number][]): Promise<Record<string, string>> {
    const s = await this.discover();
    const req = soapRequest(s.serviceType, action, args);
    const r = await this.deps.http({
      url: s.controlUrl, method: 'POST', body: req.body, timeoutMs: this.opts.httpTimeoutMs, maxBytes: MAX_HTTP_BYTES,
      headers: { 'Content-Type': 'text/xml; charset="utf-8"', SOAPAction: req.soapAction },
    });
    return parseSoapResponse(action, r.status, r.body);
  }

  private search(): Promise<{ location: string; host: string }> {
    return new Promise((resolve, reject) => {
      const unicast = { host: this.deps.gateway, port: SSDP_PORT };
      const multicast = { host: SSDP_MULTICAST, port: SSDP_PORT };
      this.searching = { resolve, timer: undefined };
      const attempt = (n: number, rto: number): void => {
        if (!this.searching) return;
        this.deps.socket.send(unicast, msearch(unicast));
        if (n > 0) this.deps.socket.send(multicast, msearch(multicast));
        this.searching.timer = this.deps.clock.setTimer(rto, () => {
          if (!this.searching) return;
          if (n + 1 < this.opts.attempts) return attempt(n + 1, rto * 2);
          this.searching = undefined;
          reject(new KithError('PORT_MAPPING_FAILED', `no UPnP IGD answered a search (gateway ${this.deps.gateway}) after ${this.opts.attempts} tries`));
        });
      };
      attempt(0, this.opts.firstRtoMs);
    });
  }

  private onMessage(data: Uint8Array, from: Endpoint): void {
    if (!this.searching || from.port !== SSDP_PORT) return;
    const r = parseSearchResponse(data);
    if (!r) return;
    let host: string;
    try {
      host = new URL(r.location).hostname;
    } catch {
      return;
    }
    // The description must be on the host that answered: a LAN host cannot send us elsewhere.
    if (host !== from.host) return;
    const s = this.searching;
    this.searching = undefined;
    s.timer?.cancel();
    s.resolve({ location: r.location, host });
  }
}
