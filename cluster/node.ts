// One cluster node: the secure transport on a UDP socket, membership on top of it, and the
// channel demultiplexer between them (the first byte of each transport payload names the
// channel: 0x4D membership; 0x01 and 0x02 are reliable-delivery frames). The agent and the
// simulations build nodes the same way, from a Clock, an Rng and a socket.
import type { Clock } from '../core/clock.js';
import type { Rng } from '../core/rng.js';
import type { Endpoint, UdpSocket } from '../core/udp.js';
import type { NodeCertificate } from '../identity/certificate.js';
import { Membership, type MembershipEvents, type MembershipTiming } from './membership.js';
import { CHANNEL_MEMBERSHIP } from './membership-wire.js';
import { Transport } from './transport.js';

export interface NodeKeys {
  cert: NodeCertificate;
  certBytes: Uint8Array;
  dh: { secretKey: Uint8Array; publicKey: Uint8Array };
  signSecret: Uint8Array;
}

export interface ClusterNodeOptions {
  timing: MembershipTiming;
  events?: MembershipEvents;
  /** Other channels' payloads (reliable delivery), by peer. */
  onPayload?: (peer: string, payload: Uint8Array) => void;
  /** Refuse a verified certificate (revoked, blocked); called during handshakes. */
  isAllowed?: (cert: NodeCertificate) => boolean;
  /** A member's endpoint moved (an authenticated packet from a new address). */
  onEndpoint?: (peer: string, endpoint: Endpoint, previous: Endpoint | undefined) => void;
  incarnation?: number;
  recordSeq?: number;
}

export class ClusterNode {
  readonly transport: Transport;
  readonly membership: Membership;

  constructor(deps: { clock: Clock; rng: Rng; socket: UdpSocket }, keys: NodeKeys, opts: ClusterNodeOptions) {
    let membership: Membership | undefined;
    this.transport = new Transport(
      {
        clock: deps.clock,
        rng: deps.rng,
        socket: deps.socket,
        events: {
          message: (peer, payload) => {
            if (payload[0] === CHANNEL_MEMBERSHIP) membership?.receive(peer, payload, this.transport.peerInfo(peer)?.endpoint);
            else opts.onPayload?.(peer, payload);
          },
          endpoint: (peer, ep, prev) => {
            membership?.endpointChanged(peer);
            opts.onEndpoint?.(peer, ep, prev);
          },
        },
      },
      { staticKey: keys.dh, certBytes: keys.certBytes, ...(opts.isAllowed ? { isAllowed: opts.isAllowed } : {}) },
    );
    membership = new Membership({
      clock: deps.clock,
      rng: deps.rng,
      link: this.transport,
      self: { cert: keys.cert, signSecret: keys.signSecret },
      timing: opts.timing,
      ...(opts.events ? { events: opts.events } : {}),
      ...(opts.incarnation !== undefined ? { incarnation: opts.incarnation } : {}),
      ...(opts.recordSeq !== undefined ? { recordSeq: opts.recordSeq } : {}),
    });
    this.membership = membership;
  }

  async close(): Promise<void> {
    this.membership.stop();
    await this.transport.close();
  }
}
