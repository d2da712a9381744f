// Carrying pairing messages (protocol.ts) between machines: length-prefixed frames over a TCP
// connection (core/tcp.ts, real or simulated), and the joiner's side of a pairing over one.
// Frames: u32 big-endian length (≤ 32 KiB), then the message (pairing/README.md).
import type { Clock } from '../../core/clock.js';
import { KithError } from '../../core/errors.js';
import type { TcpConn, TcpNet } from '../../core/tcp.js';
import type { Endpoint } from '../../core/udp.js';
import { VERDICT_TIMEOUT_MS, type PairInitiator, type Step } from './protocol.js';

export const MAX_FRAME = 32 * 1024;
/** How long either side waits for the other's next message. */
export const STEP_TIMEOUT_MS = 15_000;

export function encodeFrame(f: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + f.length);
  new DataView(out.buffer).setUint32(0, f.length);
  out.set(f, 4);
  return out;
}

/** Cuts a byte stream into frames; a length over MAX_FRAME is reported once and ends reading. */
export class FrameReader {
  private buf = new Uint8Array(0);
  private broken = false;

  constructor(private readonly onFrame: (f: Uint8Array) => void, private readonly onBad: (why: string) => void) {}

  push(d: Uint8Array): void {
    if (this.broken) return;
    const joined = new Uint8Array(this.buf.length + d.length);
    joined.set(this.buf);
    joined.set(d, this.buf.length);
    this.buf = joined;
    while (this.buf.length >= 4) {
      const n = new DataView(this.buf.buffer, this.buf.byteOffset, 4).getUint32(0);
      if (n > MAX_FRAME) {
        this.broken = true;
        this.onBad(`a frame of ${n} bytes`);
        return;
      }
      if (this.buf.length < 4 + n) return;
      const f = this.buf.slice(4, 4 + n);
      this.buf = this.buf.subarray(4 + n);
      this.onFrame(f);
    }
  }
}

export function framed(conn: TcpConn, onFrame: (f: Uint8Array) => void, onBad: (why: string) => void): void {
  const reader = new FrameReader(onFrame, onBad);
  conn.onData((d) => reader.push(d));
}

export function sendFrame(conn: TcpConn, f: Uint8Array): void {
  conn.write(encodeFrame(f));
}

/** A join's end; for a verifying joiner (`hold`), the connection stays open for its one verdict. */
export type JoinEnd = Step & { verdict?: (ok: boolean) => Promise<void> };

/**
 * Runs the joiner's side against an offer's endpoint; resolves with the last step (a result or a
 * welcome). With `hold`, a result leaves the connection open: `verdict(ok)` sends this side's
 * verdict and, when the offerer verifies too and ok, resolves only on the offerer's ok (rejects on
 * its no, a close, or 2 min of silence) (pairing/README.md "Verifying before committing").
 */
export async function runJoin(clock: Clock, tcp: TcpNet, endpoint: Endpoint, init: PairInitiator, hold = false): Promise<JoinEnd> {
  const where = `${endpoint.host}:${endpoint.port}`;
  let conn: TcpConn;
  try {
    conn = await tcp.connect(endpoint);
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new KithError(code === 'ECONNREFUSED' ? 'PAIR_EXPIRED' : 'PAIR_FAILED', `cannot reach the offer at ${where}: ${code ?? (e as Error).message}`);
  }
  return new Promise<JoinEnd>((resolve, reject) => {
    let settled = false;
    /** A verifying joiner that said yes, waiting for the verifying offerer's verdict. */
    let after: { resolve: () => void; reject: (e: KithError) => void } | undefined;
    const verdict = (ok: boolean): Promise<void> => {
      sendFrame(conn, init.verdict(ok));
      if (!ok || !init.offererVerifies) return (conn.end(), Promise.resolve());
      return new Promise<void>((res, rej) => {
        after = { resolve: res, reject: rej };
        timer = clock.setTimer(VERDICT_TIMEOUT_MS, () => settle(new KithError('PAIR_NOT_CONFIRMED', 'the offerer did not confirm the safety number in time: nothing changed')));
      });
    };
    const settle = (e?: KithError, r?: Step) => {
      if (after) {
        const a = after;
        after = undefined;
        timer.cancel();
        conn.end();
        if (e) a.reject(e);
        else a.resolve();
        return;
      }
      if (settled) return;
      settled = true;
      timer.cancel();
      if (hold && r?.result) {
        resolve({ ...r, verdict });
        return;
      }
      conn.end();
      if (e) reject(e);
      else resolve(r!);
    };
    let timer = clock.setTimer(STEP_TIMEOUT_MS, () => settle(new KithError('PAIR_FAILED', `the offer at ${where} stopped answering`)));
    conn.onClose(() => settle(new KithError('PAIR_FAILED', 'the offer closed the connection')));
    framed(conn, (f) => {
      if (settled && !after) return;
      timer.cancel();
      let step: Step;
      try {
        step = init.receive(f);
      } catch (e) {
        settle(new KithError('PAIR_FAILED', `pairing: ${(e as Error).message}`));
        return;
      }
      // A verifying offerer's person may take up to 2 min to answer.
      const waitMs = init.offererVerifies ? VERDICT_TIMEOUT_MS : STEP_TIMEOUT_MS;
      timer = clock.setTimer(waitMs, () => settle(new KithError(init.offererVerifies ? 'PAIR_NOT_CONFIRMED' : 'PAIR_FAILED', 'the offer stopped answering')));
      if (step.send) sendFrame(conn, step.send);
      if (step.result || step.welcome) settle(undefined, step);
      else if (step.error) settle(step.error);
    }, (why) => settle(new KithError('PAIR_FAILED', `the offer sent ${why}`)));
    sendFrame(conn, init.start());
  });
}
