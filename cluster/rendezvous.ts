// Rendezvous windows: when, and on which external port, a node opens its router for members
// who lost track of it. Nothing stays mapped: in each period of `periodMs` every node has one
// window of `lengthMs`, at an offset and on a port that only holders of the cluster's rendezvous
// secret can compute:
//
//   h      = HMAC-BLAKE2s(secret, "kith-rdv-v1" || dhKey(32) || u64be(period))
//   start  = period * periodMs + (u32be(h[0..4]) mod (periodMs - lengthMs))     (cluster time, ms)
//   port   = portMin + (u16be(h[4..6]) mod (portMax - portMin + 1))
//
// "Cluster time" is the wall clock corrected by the members' median offset (membership's
// clusterClock). The node keeps its window open `guardMs` longer on each side, where guardMs
// covers its measured clock error, so a member whose clock is off by less than that still meets
// it; members aim at the middle of the window.
import { hmacBlake2s } from '../core/blake2s.js';

export interface WindowParams {
  periodMs: number;
  lengthMs: number;
  portMin: number;
  portMax: number;
}

export interface RendezvousWindow {
  period: number;
  startMs: number;
  endMs: number;
  port: number;
}

const LABEL = new TextEncoder().encode('kith-rdv-v1');

export function validateWindowParams(p: WindowParams): void {
  if (!(p.periodMs > 0 && p.lengthMs > 0 && p.lengthMs < p.periodMs)) throw new RangeError('rendezvous windows need 0 < length < period');
  if (!(Number.isInteger(p.portMin) && Number.isInteger(p.portMax) && p.portMin >= 1024 && p.portMax <= 65535 && p.portMin <= p.portMax)) {
    throw new RangeError('rendezvous ports must be a range within 1024..65535');
  }
}

/** The window of one node in one period. */
export function windowIn(secret: Uint8Array, dhKey: Uint8Array, period: number, p: WindowParams): RendezvousWindow {
  const input = new Uint8Array(LABEL.length + 32 + 8);
  input.set(LABEL);
  input.set(dhKey, LABEL.length);
  new DataView(input.buffer).setBigUint64(LABEL.length + 32, BigInt(period));
  const h = hmacBlake2s(secret, input);
  const v = new DataView(h.buffer, h.byteOffset, h.byteLength);
  const startMs = period * p.periodMs + (v.getUint32(0) % (p.periodMs - p.lengthMs));
  return { period, startMs, endMs: startMs + p.lengthMs, port: p.portMin + (v.getUint16(4) % (p.portMax - p.portMin + 1)) };
}

/** The window in progress at `nowMs`, or else the next one. */
export function currentOrNextWindow(secret: Uint8Array, dhKey: Uint8Array, nowMs: number, p: WindowParams): RendezvousWindow {
  const period = Math.floor(nowMs / p.periodMs);
  const w = windowIn(secret, dhKey, period, p);
  return nowMs < w.endMs ? w : windowIn(secret, dhKey, period + 1, p);
}

/** The guard a node adds to each side of its window: its clock error, at least `minMs`. */
export function guardFor(clockErrorMs: number, minMs: number): number {
  return Math.max(minMs, Math.ceil(2 * Math.abs(clockErrorMs)));
}
