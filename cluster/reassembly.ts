// The receiving half of reliable delivery for one peer: fragments put back together into
// messages with bounded memory, and completed messages remembered so that a retransmission is
// never delivered twice. Pure bookkeeping: no clock, no network.
import type { DataFrame } from './reliable-wire.js';

interface InMessage {
  count: number;
  flags: number;
  reqId: number;
  parts: (Uint8Array | undefined)[];
  received: number;
  bytes: number;
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
    let m = this.incoming.get(f.msgId);
    if (!m) {
      m = { count: f.count, flags: f.flags, reqId: f.reqId, parts: new Array(f.count), received: 0, bytes: 0 };
      this.incoming.set(f.msgId, m);
    }
    if (m.count !== f.count || m.parts[f.index] !== undefined) return { kind: 'duplicate' };
    m.parts[f.index] = new Uint8Array(f.part);
    m.received++;
    m.bytes += f.part.length;
    this.bytes += f.part.length;
    const evicted = this.evict(f.msgId);
    if (m.received < m.count) return { kind: 'partial', evicted };
    this.incoming.delete(f.msgId);
    this.bytes -= m.bytes;
    this.remember(f.msgId);
    return { kind: 'complete', evicted, flags: m.flags, reqId: m.reqId, payload: concatParts(m.parts as Uint8Array[], m.bytes) };
  }

  /** Bounded memory: drops the oldest partial messages (their senders will retransmit). */
  private evict(keep: number): number {
    let evicted = 0;
    for (const [id, m] of this.incoming) {
      if (this.bytes <= this.o.maxReassemblyBytes || id === keep) break;
      this.incoming.delete(id);
      this.bytes -= m.bytes;
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

function concatParts(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
