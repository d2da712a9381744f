// UPnP IGD client: the parsers on miniupnpd 2.3.1's real answers (captured in the lab, in
// test/golden/upnp), the client's flow against a fake router, and hostile input.
import fs from 'node:fs';
import t from 'tap';
import fc from 'fast-check';
import { VirtualClock } from '../../core/clock.js';
import { isKithError } from '../../core/errors.js';
import type { Endpoint, UdpSocket } from '../../core/udp.js';
import {
  findWanService, msearch, parseSearchResponse, parseSoapResponse, soapRequest, UpnpError, UpnpIgdClient,
  type HttpRequest, type HttpResponse,
} from '../../cluster/upnp.js';

const golden = (f: string) => fs.readFileSync(new URL(`../golden/upnp/${f}`, import.meta.url), 'utf8');
const ROOT = golden('miniupnpd-2.3.1-rootDesc.xml');
const SEARCH_ANSWER =
  'HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n' +
  'USN: uuid:9126ea14::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nEXT:\r\nSERVER: Debian UPnP/1.1 MiniUPnPd/2.3.1\r\n' +
  'LOCATION: http://10.77.1.1:5000/rootDesc.xml\r\n\r\n';
const enc = (s: string) => new TextEncoder().encode(s);

t.test('SSDP: the search datagram and the answer', async (t) => {
  const m = new TextDecoder().decode(msearch({ host: '10.77.1.1', port: 1900 }));
  t.match(m, /^M-SEARCH \* HTTP\/1\.1\r\nHOST: 10\.77\.1\.1:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n$/);
  t.same(parseSearchResponse(enc(SEARCH_ANSWER)), { location: 'http://10.77.1.1:5000/rootDesc.xml', st: 'urn:schemas-upnp-org:device:InternetGatewayDevice:1' });
  t.equal(parseSearchResponse(enc(SEARCH_ANSWER.replace('200 OK', '404 Not Found'))), undefined, 'not a 200');
  t.equal(parseSearchResponse(enc(SEARCH_ANSWER.replace('http://', 'file://'))), undefined, 'only http: locations');
  t.equal(parseSearchResponse(enc('NOTIFY * HTTP/1.1\r\nLOCATION: http://x/\r\n\r\n')), undefined, 'a NOTIFY is not an answer');
});

t.test('device description: miniupnpd 2.3.1 (IGD:2) offers WANIPConnection:2 at /ctl/IPConn', async (t) => {
  t.same(findWanService(ROOT, 'http://10.77.1.1:5000/rootDesc.xml'), {
    serviceType: 'urn:schemas-upnp-org:service:WANIPConnection:2', controlUrl: 'http://10.77.1.1:5000/ctl/IPConn',
  });
  // A typical IGD:1 router: PPP only, absolute control URL on the same host, URLBase given.
  const ppp = `<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><URLBase>http://192.168.1.1:49152/</URLBase><device>
    <deviceType>urn:schemas-upnp-org:device:InternetGatewayDevice:1</deviceType><deviceList><device><deviceList><device>
    <serviceList><service><serviceType>urn:schemas-upnp-org:service:WANPPPConnection:1</serviceType><controlURL>upnp/control/WANPPPConn1</controlURL></service></serviceList>
    </device></deviceList></device></deviceList></device></root>`;
  t.same(findWanService(ppp, 'http://192.168.1.1:49152/desc.xml'), {
    serviceType: 'urn:schemas-upnp-org:service:WANPPPConnection:1', controlUrl: 'http://192.168.1.1:49152/upnp/control/WANPPPConn1',
  });
  const elsewhere = ROOT.replace('<controlURL>/ctl/IPConn</controlURL>', '<controlURL>http://203.0.113.9/ctl</controlURL>');
  t.equal(findWanService(elsewhere, 'http://10.77.1.1:5000/rootDesc.xml'), undefined, 'a control URL on another host is refused');
  t.equal(findWanService('<root><device></device></root>', 'http://10.0.0.1/'), undefined, 'no WAN service');
  t.throws(() => findWanService('<root><device>', 'http://10.0.0.1/'), { code: 'PORT_MAPPING_FAILED' }, 'broken XML is a clear error');
});

t.test('SOAP: requests, answers and faults', async (t) => {
  const r = soapRequest('urn:schemas-upnp-org:service:WANIPConnection:2', 'DeletePortMapping', [['NewRemoteHost', ''], ['NewExternalPort', 45011], ['NewProtocol', 'UDP']]);
  t.equal(r.soapAction, '"urn:schemas-upnp-org:service:WANIPConnection:2#DeletePortMapping"');
  t.match(r.body, '<u:DeletePortMapping xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2"><NewRemoteHost></NewRemoteHost><NewExternalPort>45011</NewExternalPort><NewProtocol>UDP</NewProtocol></u:DeletePortMapping>');
  t.match(soapRequest('s', 'A', [['X', '<&>']]).body, '<X>&#60;&#38;&#62;</X>', 'values are escaped');
  t.same(parseSoapResponse('GetExternalIPAddress', 200, golden('miniupnpd-2.3.1-external-ip.xml')), { NewExternalIPAddress: '203.0.113.11' });
  t.same(parseSoapResponse('AddPortMapping', 200, '<s:Envelope xmlns:s="x"><s:Body><u:AddPortMappingResponse xmlns:u="y"/></s:Body></s:Envelope>'), {});
  const e = t.throws(() => parseSoapResponse('AddPortMapping', 500, golden('miniupnpd-2.3.1-fault-718.xml'))) as unknown as UpnpError;
  t.equal(e.upnpCode, 718);
  t.equal(e.code, 'PORT_MAPPING_FAILED');
  t.match(e.message, 'UPnP AddPortMapping: the router answered 718 ConflictInMappingEntry');
  t.throws(() => parseSoapResponse('AddPortMapping', 200, '<s:Envelope><s:Body><u:Other/></s:Body></s:Envelope>'), { code: 'PORT_MAPPING_FAILED' });
  t.throws(() => parseSoapResponse('AddPortMapping', 502, '<html>bad gateway</html>'), { code: 'PORT_MAPPING_FAILED' });
});

t.test('hostile input: any bytes are a clear error or nothing, never a crash', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), (b) => {
      parseSearchResponse(b);
      for (const f of [() => findWanService(new TextDecoder().decode(b), 'http://10.0.0.1/'), () => parseSoapResponse('A', 200, new TextDecoder().decode(b))]) {
        try {
          f();
        } catch (e) {
          if (!isKithError(e, 'PORT_MAPPING_FAILED')) throw e;
        }
      }
    }),
    { numRuns: 2000, seed: 5 },
  );
  for (let cut = 0; cut < ROOT.length; cut += 97) {
    try {
      findWanService(ROOT.slice(0, cut), 'http://10.77.1.1:5000/rootDesc.xml');
    } catch (e) {
      t.ok(isKithError(e, 'PORT_MAPPING_FAILED'), `a description cut at ${cut} is PORT_MAPPING_FAILED`);
    }
  }
});

/** A router on a fake LAN: answers searches from `answerFrom` and serves SOAP like miniupnpd. */
function fakeRouter(opts: { answerFrom?: string; permanentOnly?: boolean } = {}) {
  const clock = new VirtualClock();
  let handler: ((d: Uint8Array, from: Endpoint) => void) | undefined;
  const sent: Endpoint[] = [];
  const mappings = new Map<number, { client: string; lease: number }>();
  const posts: string[] = [];
  const socket: UdpSocket = {
    local: { host: '0.0.0.0', port: 40000 },
    send(to) {
      sent.push(to);
      if (opts.answerFrom !== undefined) clock.setTimer(5, () => handler?.(enc(SEARCH_ANSWER), { host: opts.answerFrom!, port: 1900 }));
    },
    onMessage: (fn) => void (handler = fn),
    close: async () => {},
  };
  const env = (action: string, inner = '') => `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><u:${action}Response xmlns:u="urn:schemas-upnp-org:service:WANIPConnection:2">${inner}</u:${action}Response></s:Body></s:Envelope>`;
  const fault = (code: number) => ({ status: 500, body: golden('miniupnpd-2.3.1-fault-718.xml').replace('718', String(code)), localAddress: '10.77.1.10' });
  const arg = (body: string, k: string) => new RegExp(`<${k}>([^<]*)</${k}>`).exec(body)?.[1] ?? '';
  const http = async (req: HttpRequest): Promise<HttpResponse> => {
    if (req.method === 'GET') return { status: req.url === 'http://10.77.1.1:5000/rootDesc.xml' ? 200 : 404, body: ROOT, localAddress: '10.77.1.10' };
    const action = /#(\w+)"$/.exec(req.headers['SOAPAction'] ?? '')?.[1] ?? '';
    posts.push(`${action} ${req.url}`);
    const b = req.body ?? '';
    if (action === 'GetExternalIPAddress') return { status: 200, body: env(action, '<NewExternalIPAddress>203.0.113.11</NewExternalIPAddress>'), localAddress: '10.77.1.10' };
    if (action === 'AddPortMapping') {
      const lease = Number(arg(b, 'NewLeaseDuration'));
      if (opts.permanentOnly && lease !== 0) return fault(725);
      const port = Number(arg(b, 'NewExternalPort'));
      if (mappings.has(port) && mappings.get(port)!.client !== arg(b, 'NewInternalClient')) return fault(718);
      mappings.set(port, { client: arg(b, 'NewInternalClient'), lease });
      return { status: 200, body: env(action), localAddress: '10.77.1.10' };
    }
    if (action === 'DeletePortMapping') {
      const port = Number(arg(b, 'NewExternalPort'));
      if (!mappings.delete(port)) return fault(714);
      return { status: 200, body: env(action), localAddress: '10.77.1.10' };
    }
    return fault(401);
  };
  const client = new UpnpIgdClient({ clock, socket, http, gateway: '10.77.1.1' });
  const settle = async <T>(p: Promise<T>): Promise<T> => {
    p.catch(() => {}); // awaited below: the rejection is seen there
    for (let i = 0; i < 50; i++) {
      clock.advance(50);
      await new Promise<void>((r) => setImmediate(r));
    }
    return p;
  };
  return { clock, client, sent, mappings, posts, settle };
}

t.test('client: search, map with a lease, remove; removing twice is fine', async (t) => {
  const r = fakeRouter({ answerFrom: '10.77.1.1' });
  t.equal(await r.settle(r.client.externalAddress()), '203.0.113.11');
  t.same(r.sent[0], { host: '10.77.1.1', port: 1900 }, 'the first search goes to the gateway only (unicast)');
  t.same(await r.settle(r.client.mapUdp(5484, 45011, 30)), { externalPort: 45011, leaseSec: 30 });
  t.same(r.mappings.get(45011), { client: '10.77.1.10', lease: 30 }, 'the internal client is this host\'s address on the connection');
  await r.settle(r.client.unmapUdp(45011));
  t.equal(r.mappings.size, 0);
  await r.settle(r.client.unmapUdp(45011));
  t.pass('714 NoSuchEntryInArray on a second removal is not an error');
  t.equal(r.posts.filter((p) => p.startsWith('AddPortMapping'))[0], 'AddPortMapping http://10.77.1.1:5000/ctl/IPConn');
});

t.test('client: an IGD:1 router that takes only permanent leases (725) gets lease 0', async (t) => {
  const r = fakeRouter({ answerFrom: '10.77.1.1', permanentOnly: true });
  t.same(await r.settle(r.client.mapUdp(5484, 45012, 30)), { externalPort: 45012, leaseSec: 0 });
  t.equal(r.mappings.get(45012)?.lease, 0);
});

t.test('client: a conflict (718) is PORT_MAPPING_FAILED with the code', async (t) => {
  const r = fakeRouter({ answerFrom: '10.77.1.1' });
  r.mappings.set(45013, { client: '10.77.1.77', lease: 0 });
  await t.rejects(r.settle(r.client.mapUdp(5484, 45013, 30)), { code: 'PORT_MAPPING_FAILED', upnpCode: 718 });
});

t.test('client: silence, or an answer pointing at another host, is PORT_MAPPING_FAILED after bounded retries', async (t) => {
  const silent = fakeRouter();
  await t.rejects(silent.settle(silent.client.externalAddress()), { code: 'PORT_MAPPING_FAILED', message: /no UPnP IGD answered/ });
  t.equal(silent.sent.length, 5, 'three unicast searches and two multicast ones');
  t.ok(silent.sent.some((e) => e.host === '239.255.255.250'), 'multicast only after the gateway stayed silent');
  const spoof = fakeRouter({ answerFrom: '10.77.1.66' });
  await t.rejects(spoof.settle(spoof.client.externalAddress()), { code: 'PORT_MAPPING_FAILED' }, 'a LOCATION on a host other than the answerer is ignored');
});
