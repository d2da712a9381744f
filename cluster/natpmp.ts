// NAT-PMP (RFC 6886) client: the router's external address, and UDP port mappings with a
// lifetime. 12-byte requests to the default gateway's port 5351, answered by miniupnpd and most
// home routers; PCP-capable routers answer version-0 requests too. Retransmits from 250 ms,
// doubling, `attempts` times (RFC 6886 §3.1 allows up to 9; a window cannot wait that long).
//
//   external address request:  u8 version=0, u8 op=0
//   response:                  u8 0, u8 128, u16 result, u32 epoch, u8[4] address
//   map request (UDP):         u8 0, u8 op=1, u16 0, u16 internal port, u16 suggested external
//                              port, u32 lifetime (s; 0 = remove)
//   response:                  u8 0, u8 129, u16 result, u32 epoch, u16 internal, u16 external,
//                              u32 lifetime
import type { Clock, Timer } from '../core/clock.js';
import { KithError } from '../core/errors.js';
import type { Endpoint, UdpSocket } from '../core/udp.js';

export const NATPMP_PORT = 5351;
const RESULT_TEXT = ['success', 'unsupported version', 'not authorized or refused', 'network failure', 'out of resources', 'unsupported opcode'];

interface Waiting {
  op: number;
  internalPort: number;
  resolve(v: Uint8Array): void;
  reject(e: Error): void;
  timer: Timer | undefined;
}

export class NatPmpClient {
  private waiting: Waiting[] = [];
  private readonly gateway: Endpoint;

  constructor(private readonly deps: { clock: Clock; socket: UdpSocket; gateway: string }, private readonly opts = { firstRtoMs: 250, attempts: 4 }) {
    this.gateway = { host: deps.gateway, port: NATPMP_PORT };
    deps.socket.onMessage((data, from) => this.onMessage(data, from));
  }

  async externalAddress(): Promise<string> {
    const r = await this.request(0, new Uint8Array([0, 0]), 0);
    if (r.length < 12) throw new KithError('PORT_MAPPING_FAILED', 'NAT-PMP: short external address response');
    return `${r[8]}.${r[9]}.${r[10]}.${r[11]}`;
  }

  /** Maps (or with lifetime 0 removes) a UDP port; resolves to the external port granted. */
  async mapUdp(internalPort: number, externalPort: number, lifetimeSec: number): Promise<{ externalPort: number; lifetimeSec: number }> {
    const req = new Uint8Array(12);
    const v = new DataView(req.buffer);
    req[1] = 1;
    v.setUint16(4, internalPort);
    v.setUint16(6, externalPort);
    v.setUint32(8, lifetimeSec);
    const r = await this.request(1, req, internalPort);
    if (r.length < 16) throw new KithError('PORT_MAPPING_FAILED', 'NAT-PMP: short mapping response');
    const rv = new DataView(r.buffer, r.byteOffset, r.byteLength);
    return { externalPort: rv.getUint16(10), lifetimeSec: rv.getUint32(12) };
  }

  private request(op: number, bytes: Uint8Array, internalPort: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const w: Waiting = { op, internalPort, resolve, reject, timer: undefined };
      this.waiting.push(w);
      const attempt = (n: number, rto: number): void => {
        this.deps.socket.send(this.gateway, bytes);
        w.timer = this.deps.clock.setTimer(rto, () => {
          if (!this.waiting.includes(w)) return;
          if (n + 1 < this.opts.attempts) return attempt(n + 1, rto * 2);
          this.waiting = this.waiting.filter((x) => x !== w);
          reject(new KithError('PORT_MAPPING_FAILED', `no NAT-PMP answer from ${this.gateway.host} after ${this.opts.attempts} tries`));
        });
      };
      attempt(0, this.opts.firstRtoMs);
    });
  }

  private onMessage(data: Uint8Array, from: Endpoint): void {
    // Only the gateway's answers count (RFC 6886 §3.1); anything else is ignored.
    if (from.host !== this.gateway.host || from.port !== NATPMP_PORT || data.length < 8 || data[0] !== 0 || data[1]! < 128) return;
    const op = data[1]! - 128;
    const v = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const internal = op === 1 && data.length >= 16 ? v.getUint16(8) : 0;
    const w = this.waiting.find((x) => x.op === op && x.internalPort === internal);
    if (!w) return;
    this.waiting = this.waiting.filter((x) => x !== w);
    w.timer?.cancel();
    const result = v.getUint16(2);
    if (result !== 0) w.reject(new KithError('PORT_MAPPING_FAILED', `NAT-PMP: the router answered "${RESULT_TEXT[result] ?? `result ${result}`}"`));
    else w.resolve(data);
  }

  close(): void {
    for (const w of this.waiting) {
      w.timer?.cancel();
      w.reject(new KithError('PORT_MAPPING_FAILED', 'the agent is stopping'));
    }
    this.waiting = [];
  }
}
