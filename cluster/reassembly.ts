// The receiving half of reliable delivery for one peer: fragments put back together into
// messages with bounded memory, and completed messages remembered so that a retransmission is
// never delivered twice. Pure bookkeeping: no clock, no network.
//
// A partial message is charged its full possible size (count × MAX_FRAGMENT) from its first
// fragment on, not the bytes that have arrived: otherwise a peer sending only 1-byte last
// fragments under ever new message ids would pile up partial messages without bound.
//
// Fragments are kept as they came (views of the frames handed to accept(), which it takes as
// its own: the transport opens each datagram into a buffer of its own), and copied once, into
// the message, when the last one arrives; a message of one fragment is a view of its frame.
import { MAX_FRAGMENT, type DataFrame } from './reliable-wire.js';

interface InMessage {
  count: number;
  flags: number;
  reqId: number;
  /** Fragments by index: sparse, so memory follows what arrived, not the declared count. */
  parts: (Uint8Array | undefined)[];
  /** Fragments that arrived. */
  arrived: number;
  /** Bytes that arrived. */
  bytes: number;
  /** What this message is charged against maxReassemblyBytes: count × MAX_FRAGMENT. */
  charged: number;
}

/** What one arriving fragment did. `evicted`: older partial messages dropped to stay in bounds. */
export type Arrival =
  | { kind: 'duplicate' }
  | { kind: 'partial'; evicted: number }
  | { kind: 'complete'; evicted: number; flags: number; reqId: number; payload: Uint8Array };

export class Reassembly {
  private readonly incoming = new Map<number, InMessage>();
  private bytes = 0;
  private readonly done = new Set<number>();
  private readonly doneOrder: number[] = [];

  constructor(private readonly o: { maxReassemblyBytes: number; dedupeWindow: number }) {}

  /** Takes one DATA frame (already acknowledged by the caller: a duplicate is acked again too). */
  accept(f: DataFrame): Arrival {
    if (this.done.has(f.msgId)) return { kind: 'duplicate' };
    if (f.count === 1 && !this.incoming.has(f.msgId)) {
      this.remember(f.msgId);
      return { kind: 'complete', evicted: 0, flags: f.flags, reqId: f.reqId, payload: f.part };
    }
    let m = this.incoming.get(f.msgId);
    if (!m) {
      m = { count: f.count, flags: f.flags, reqId: f.reqId, parts: [], arrived: 0, bytes: 0, charged: f.count * MAX_FRAGMENT };
      this.incoming.set(f.msgId, m);
      this.bytes += m.charged;
    }
    if (m.count !== f.count || m.parts[f.index] !== undefined) return { kind: 'duplicate' };
    m.parts[f.index] = f.part;
    m.arrived++;
    m.bytes += f.part.length;
    const evicted = this.evict(f.msgId);
    if (m.arrived < m.count) return { kind: 'partial', evicted };
    this.incoming.delete(f.msgId);
    this.bytes -= m.charged;
    this.remember(f.msgId);
    return { kind: 'complete', evicted, flags: m.flags, reqId: m.reqId, payload: concatParts(m, m.bytes) };
  }

  /** Bounded memory: drops the oldest partial messages (their senders will retransmit). */
  private evict(keep: number): number {
    let evicted = 0;
    for (const [id, m] of this.incoming) {
      if (this.bytes <= this.o.maxReassemblyBytes || id === keep) break;
      this.incoming.delete(id);
      this.bytes -= m.charged;
      evicted++;
    }
    return evicted;
  }

  private remember(id: number): void {
    this.done.add(id);
    this.doneOrder.push(id);
    if (this.doneOrder.length > this.o.dedupeWindow) this.done.delete(this.doneOrder.shift()!);
  }
}

function concatParts(m: InMessage, total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (let i = 0; i < m.count; i++) {
    const p = m.parts[i]!;
    out.set(p, o);
    o += p.length;
  }
  return out;
}
