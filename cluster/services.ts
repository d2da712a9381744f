// One way in for every service on a cluster node (cluster/README.md, "Channels"). The transport
// carries two channels (reliable delivery and membership, named by the first byte of each data
// payload); on top of reliable delivery, every message and every stream names its service by a
// byte from SERVICE below. A service registers once, with what it handles:
//
//   const port = node.services.register({
//     name: 'roster',
//     onMessage: (peer, body, respond) => …,        // reliable messages (body without the byte)
//     streams: { [KIND_SNAPSHOT]: (peer, s) => … },  // incoming streams of its kinds
//     onState: (id, state, previous) => …,          // membership changes (any number of services)
//     isAllowed: (cert) => …,                       // a veto in every handshake
//   });
//   await port.send(peer, body);                    // the byte is put in front here
//
// A message or stream of an unknown service, or a stream of a kind its service did not register,
// is dropped (a stream is refused) and counted in `stats`. Adding a service touches its own files,
// one row of SERVICE and one register() call where the agent builds it.
import type { NodeCertificate } from '../identity/certificate.js';
import type { MemberState } from './membership.js';
import type { MessageHandler, Reliable } from './reliable.js';
import type { StreamHandler, Streams } from './stream.js';

/** Transport channels: the first byte of every non-empty transport data payload. Never renumbered. */
export const CHANNEL = { reliableData: 0x01, reliableAck: 0x02, membership: 0x4d } as const;

/**
 * Service bytes: the first byte of every reliable message and the service byte of every stream
 * header. Never renumbered; a new service takes a free byte and adds a row here and in the README.
 */
export const SERVICE = {
  /** 'R': friends, own nodes, revocations (cluster/roster.ts). */
  roster: 0x52,
  /** 'C': conversations (consensus/), reserved. */
  conversations: 0x43,
  /** 'B': mailbox, store-and-forward of ciphertext, reserved. */
  mailbox: 0x42,
  /** 'A': archive holders, audits, repair (archive/), reserved. */
  archive: 0x41,
} as const;
export type ServiceName = keyof typeof SERVICE;

export interface ServiceSpec {
  name: ServiceName;
  /** Reliable messages of this service; `body` is the message without its service byte. */
  onMessage?: MessageHandler;
  /** Incoming streams of this service, by stream kind (0–255, the service's own numbering). */
  streams?: Record<number, StreamHandler>;
  /** A member's state changed. Called for every registered service, in registration order. */
  onState?: (id: string, state: MemberState, previous: MemberState) => void;
  /** A verified certificate in a handshake: false from any service refuses it. */
  isAllowed?: (cert: NodeCertificate) => boolean;
}

/** What a registered service sends with: its service byte goes in front of every message. */
export interface ServicePort {
  readonly byte: number;
  send(peer: string, body: Uint8Array): Promise<void>;
  request(peer: string, body: Uint8Array, timeoutMs?: number): Promise<Uint8Array>;
  stream(peer: string, kind: number, source: Iterable<Uint8Array> | AsyncIterable<Uint8Array>, onProgress?: (sentBytes: number) => void): Promise<number>;
}

type StateWatcher = (id: string, state: MemberState, previous: MemberState) => void;

export class Services {
  /** Dropped: messages whose first byte names no registered service (or are empty). */
  readonly stats = { unknownService: 0 };
  private readonly byByte = new Map<number, ServiceSpec>();
  private readonly watchers: StateWatcher[] = [];
  private readonly vetoes: ((cert: NodeCertificate) => boolean)[] = [];

  constructor(private readonly deps: { reliable: Reliable; streams: Streams }) {
    deps.reliable.onMessage((peer, payload, respond) => this.dispatch(peer, payload, respond));
  }

  /** Registers a service; a name or byte registered twice is a programmer's mistake. */
  register(spec: ServiceSpec): ServicePort {
    const byte = SERVICE[spec.name];
    if (byte === undefined) throw new RangeError(`no service byte for "${spec.name}" in SERVICE`);
    if (this.byByte.has(byte)) throw new RangeError(`service "${spec.name}" is registered twice`);
    this.byByte.set(byte, spec);
    for (const [kind, fn] of Object.entries(spec.streams ?? {})) this.deps.streams.handle(byte, Number(kind), fn);
    if (spec.onState) this.watchers.push(spec.onState);
    if (spec.isAllowed) this.vetoes.push(spec.isAllowed);
    const { reliable, streams } = this.deps;
    const framed = (body: Uint8Array): Uint8Array => {
      const m = new Uint8Array(body.length + 1);
      m[0] = byte;
      m.set(body, 1);
      return m;
    };
    return {
      byte,
      send: (peer, body) => reliable.send(peer, framed(body)),
      request: (peer, body, timeoutMs) => reliable.request(peer, framed(body), timeoutMs),
      stream: (peer, kind, source, onProgress) => streams.send(peer, { service: byte, kind }, source, onProgress),
    };
  }

  /** Follows membership changes without being a service (tests, status); returns an unsubscribe. */
  watch(fn: StateWatcher): () => void {
    this.watchers.push(fn);
    return () => {
      const i = this.watchers.indexOf(fn);
      if (i >= 0) this.watchers.splice(i, 1);
    };
  }

  /** Hands a membership change to every watcher; one that throws does not stop the others. */
  stateChanged(id: string, state: MemberState, previous: MemberState): void {
    for (const w of [...this.watchers]) {
      try {
        w(id, state, previous);
      } catch {
        /* a service's exception never reaches membership */
      }
    }
  }

  isAllowed(cert: NodeCertificate): boolean {
    return this.vetoes.every((v) => v(cert));
  }

  private dispatch(peer: string, payload: Uint8Array, respond: Parameters<MessageHandler>[2]): void {
    const spec = payload.length > 0 ? this.byByte.get(payload[0]!) : undefined;
    if (!spec?.onMessage) {
      this.stats.unknownService++;
      return;
    }
    spec.onMessage(peer, payload.subarray(1), respond);
  }
}
