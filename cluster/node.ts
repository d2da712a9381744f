// One cluster node: the secure transport on a UDP socket, membership on top of it, and the
// channel demultiplexer between them (the first byte of each transport payload names the
// channel: 0x4D membership; 0x01 and 0x02 are reliable-delivery frames). Reliable messages and
// streams go to the service their first byte names, membership changes to every service that
// follows them (`services`, cluster/services.ts). The agent and the simulations build nodes the
// same way, from a Clock, an Rng and a socket.
import type { Clock } from '../core/clock.js';
import type { Rng } from '../core/rng.js';
import type { Endpoint, UdpSocket } from '../core/udp.js';
import type { NodeCertificate } from '../identity/certificate.js';
import { Membership, type MembershipEvents, type MembershipTiming } from './membership.js';
import { CHANNEL_MEMBERSHIP } from './membership-wire.js';
import { FRAME_ACK, FRAME_DATA, Reliable } from './reliable.js';
import { Services } from './services.js';
import { Streams } from './stream.js';
import { Transport } from './transport.js';

export interface NodeKeys {
  cert: NodeCertificate;
  certBytes: Uint8Array;
  dh: { secretKey: Uint8Array; publicKey: Uint8Array };
  signSecret: Uint8Array;
}

export interface ClusterNodeOptions {
  timing: MembershipTiming;
  /** Membership's events; `state` goes to every service's onState too (after this one). */
  events?: MembershipEvents;
  /** Refuse a verified certificate; called during handshakes, with every service's veto. */
  isAllowed?: (cert: NodeCertificate) => boolean;
  /** A member's endpoint moved (an authenticated packet from a new address). */
  onEndpoint?: (peer: string, endpoint: Endpoint, previous: Endpoint | undefined) => void;
  incarnation?: number;
  recordSeq?: number;
}

export class ClusterNode {
  readonly transport: Transport;
  readonly membership: Membership;
  /** Reliable delivery to members: messages of any size, acknowledged, exactly once. */
  readonly reliable: Reliable;
  /** Bulk streams to and from members, over `reliable`, routed by service and kind. */
  readonly streams: Streams;
  /** The one way in: services register their byte, message and stream handlers, and state watchers. */
  readonly services: Services;

  constructor(deps: { clock: Clock; rng: Rng; socket: UdpSocket }, keys: NodeKeys, opts: ClusterNodeOptions) {
    let membership: Membership | undefined;
    // A removed member's retransmissions must not reach the transport (which no longer knows it).
    this.reliable = new Reliable({ clock: deps.clock, rng: deps.rng, link: { send: (peer, p) => this.transport.peerInfo(peer) && this.transport.send(peer, p) } });
    this.streams = new Streams({ clock: deps.clock, rng: deps.rng, reliable: this.reliable });
    const services = new Services({ reliable: this.reliable, streams: this.streams });
    this.services = services;
    const isAllowed = (cert: NodeCertificate): boolean => (opts.isAllowed?.(cert) ?? true) && services.isAllowed(cert);
    const events: MembershipEvents = {
      ...opts.events,
      state: (id, s, prev) => {
        // Back from suspect or dead: what waited for it goes now, not at its backed-off timeout.
        if (s === 'alive' && prev !== undefined && prev !== 'alive') this.reliable.peerReturned(id, prev === 'dead');
        opts.events?.state?.(id, s, prev);
        services.stateChanged(id, s, prev);
      },
    };
    this.transport = new Transport(
      {
        clock: deps.clock,
        rng: deps.rng,
        socket: deps.socket,
        events: {
          message: (peer, payload) => {
            if (payload[0] === CHANNEL_MEMBERSHIP) membership?.receive(peer, payload, this.transport.peerInfo(peer)?.endpoint);
            else if (payload[0] === FRAME_DATA || payload[0] === FRAME_ACK) this.reliable.receive(peer, payload);
          },
          endpoint: (peer, ep, prev) => {
            if (prev) this.reliable.pathChanged(peer);
            membership?.endpointChanged(peer);
            opts.onEndpoint?.(peer, ep, prev);
          },
        },
      },
      { staticKey: keys.dh, certBytes: keys.certBytes, isAllowed },
    );
    membership = new Membership({
      clock: deps.clock,
      rng: deps.rng,
      link: {
        addPeer: (cfg) => this.transport.addPeer(cfg),
        removePeer: (id) => {
          this.forget(id);
          this.transport.removePeer(id);
        },
        send: (id, p) => this.transport.send(id, p),
        connect: (id, eps) => this.transport.connect(id, eps),
        peerInfo: (id) => this.transport.peerInfo(id),
      },
      self: { cert: keys.cert, signSecret: keys.signSecret },
      timing: opts.timing,
      events,
      ...(opts.incarnation !== undefined ? { incarnation: opts.incarnation } : {}),
      ...(opts.recordSeq !== undefined ? { recordSeq: opts.recordSeq } : {}),
    });
    this.membership = membership;
  }

  async close(): Promise<void> {
    this.membership.stop();
    for (const id of this.transport.peerIds()) this.forget(id);
    await this.transport.close();
  }

  /** Pending streams and messages to and from a member that is going fail now. */
  private forget(id: string): void {
    this.streams.dropPeer(id);
    this.reliable.dropPeer(id);
  }
}
