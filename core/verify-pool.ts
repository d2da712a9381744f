// Ed25519 verification on worker threads, for large batches (consensus/sync.ts: the signatures
// of an `items` message; consensus/README.md, "Batch verification"). A local optimisation: each
// verdict is what `signatures.ed25519Verify` gives on the main thread, so what is accepted never
// depends on whether the pool ran. Only the agent and the benches make one; domain code takes a
// `VerifyMany` as an input and verifies inline without it (the simulations stay on one thread).
//
// - Size: min(2, availableParallelism − 1), at least 1. Started on first use, not before.
// - Batches wait in one queue; each worker has at most two posted (one to work on, one ready so
//   it never waits for the main thread's reply), and takes the next as it answers. When the main
//   thread comes to the end of its event-loop turn with batches still queued (it is waiting for
//   verdicts, or has nothing else to do), it verifies the next queued batch itself (setImmediate,
//   one batch per turn, so I/O still runs between them): on a machine with one worker, both
//   cores verify while the main thread has nothing to decode or apply (`help: false` turns it off).
// - An idle worker is unref'd (it never keeps a process alive); one with a batch outstanding is
//   ref'd (an awaited verdict is not lost to an exiting event loop).
// - The worker is the source below, run with `eval: true`: no file to find next to dist/, the .ts
//   sources on Bun, or inside the single binary and the Node bundle (packaging/build.ts). It uses
//   node:crypto only, as core/crypto.ts's native backend does (the same strict checks first).
// - Workers run only when the main thread's backend is node:crypto (otherwise the verdicts could
//   differ from noble's): else, and after close(), every batch is verified inline.
// - A worker that fails (an error, an exit, a reply that does not fit) has its outstanding
//   batches verified inline, and the pool verifies inline from then on: nothing is lost and
//   nothing is taken without a verdict from the same check.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { nativeBackend, signatures, verifyCheck, type SignatureCheck } from './crypto.js';

/**
 * The worker: batches in, verdicts out (one byte each). Its verify is nativeBackend.ed25519Verify
 * (core/crypto.ts) written again in plain JS: lengths, the canonical-point check, a JWK public key
 * cached by value, node:crypto.verify, false for anything that throws.
 * Batch layout (little-endian): u32 n, then n × (u32 key length, u32 msg length, u32 sig length),
 * then every key, msg and sig in that order.
 */
export const VERIFY_WORKER_SOURCE = `
'use strict';
const { parentPort } = require('node:worker_threads');
const nodeCrypto = require('node:crypto');
const keys = new Map();
function publicKey(pub) {
  const x = Buffer.from(pub).toString('base64url');
  let k = keys.get(x);
  if (!k) {
    k = nodeCrypto.createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' });
    if (keys.size >= 512) keys.delete(keys.keys().next().value);
    keys.set(x, k);
  }
  return k;
}
function isCanonicalPoint(pub) {
  if ((pub[31] & 0x7f) !== 0x7f) return true;
  for (let i = 30; i >= 1; i--) if (pub[i] !== 0xff) return true;
  return pub[0] < 0xed;
}
function verify(pub, msg, sig) {
  if (pub.length !== 32 || sig.length !== 64) return false;
  try {
    if (!isCanonicalPoint(pub)) return false;
    return nodeCrypto.verify(null, msg, publicKey(pub), sig);
  } catch {
    return false;
  }
}
parentPort.on('message', (m) => {
  const bytes = new Uint8Array(m.buf);
  const view = new DataView(m.buf);
  const n = view.getUint32(0, true);
  const out = new Uint8Array(n);
  let at = 4 + 12 * n;
  for (let i = 0; i < n; i++) {
    const kl = view.getUint32(4 + 12 * i, true), ml = view.getUint32(8 + 12 * i, true), sl = view.getUint32(12 + 12 * i, true);
    const key = bytes.subarray(at, at + kl); at += kl;
    const msg = bytes.subarray(at, at + ml); at += ml;
    const sig = bytes.subarray(at, at + sl); at += sl;
    out[i] = verify(key, msg, sig) ? 1 : 0;
  }
  parentPort.postMessage({ id: m.id, out }, [out.buffer]);
});
`;

/** Packs checks into one fresh buffer (transferred: a view's whole backing buffer is never copied). */
export function packChecks(checks: readonly SignatureCheck[]): ArrayBuffer {
  let size = 4 + 12 * checks.length;
  for (const c of checks) size += c.key.length + c.msg.length + c.sig.length;
  const buf = new ArrayBuffer(size);
  const bytes = new Uint8Array(buf);
  const view = new DataView(buf);
  view.setUint32(0, checks.length, true);
  let at = 4 + 12 * checks.length;
  checks.forEach((c, i) => {
    view.setUint32(4 + 12 * i, c.key.length, true);
    view.setUint32(8 + 12 * i, c.msg.length, true);
    view.setUint32(12 + 12 * i, c.sig.length, true);
    for (const part of [c.key, c.msg, c.sig]) (bytes.set(part, at), (at += part.length));
  });
  return buf;
}

/** min(2, cores − 1), at least 1: the main thread keeps a core for decoding and applying. */
export function defaultPoolSize(): number {
  return Math.max(1, Math.min(2, availableParallelism() - 1));
}

interface Job {
  checks: readonly SignatureCheck[];
  done(verdicts: boolean[]): void;
}

/** Batches posted to one worker before it answers: one it works on, one ready for when it is done. */
const POSTED_PER_WORKER = 2;

interface Slot {
  worker: Worker;
  jobs: Map<number, Job>;
}

export interface VerifyPoolOptions {
  /** Workers (default defaultPoolSize()). */
  size?: number;
  log?(line: string): void;
  /** The worker's code (tests: a worker that fails). */
  source?: string;
  /** The main thread verifies queued batches when its event-loop turn ends with some waiting (default true). */
  help?: boolean;
}

export class VerifyPool {
  readonly size: number;
  /**
   * Batches verified on workers, on the main thread while it waited (help), inline otherwise
   * (closed, failed or no native backend); worker failures.
   */
  readonly stats = { onWorkers: 0, onMain: 0, inline: 0, failures: 0 };
  private readonly slots: Slot[] = [];
  /** Batches not posted to a worker yet, oldest first. */
  private readonly queue: Job[] = [];
  private helping = false;
  private nextId = 1;
  private failed = false;
  private closed = false;

  constructor(private readonly opts: VerifyPoolOptions = {}) {
    this.size = Math.max(1, opts.size ?? defaultPoolSize());
  }

  /** A VerifyMany (core/crypto.ts): the verdicts of `checks`, in order. Never rejects. */
  readonly verifyMany = (checks: readonly SignatureCheck[]): Promise<boolean[]> => {
    if (checks.length === 0) return Promise.resolve([]);
    if (this.closed || this.failed || signatures !== nativeBackend) return Promise.resolve(this.inline(checks));
    try {
      if (this.slots.length < this.size && this.slots.every((s) => s.jobs.size > 0)) this.start();
    } catch (e) {
      this.fail(`cannot start a worker: ${(e as Error).message}`);
      return Promise.resolve(this.inline(checks));
    }
    return new Promise<boolean[]>((done) => {
      this.queue.push({ checks, done });
      this.pump();
      if (this.queue.length > 0 && this.opts.help !== false && !this.helping) {
        this.helping = true;
        setImmediate(this.help);
      }
    });
  };

  /** Posts queued batches to workers with room, least busy first. */
  private pump(): void {
    while (this.queue.length > 0 && !this.failed && !this.closed) {
      let slot: Slot | undefined;
      for (const s of this.slots) if (s.jobs.size < POSTED_PER_WORKER && (!slot || s.jobs.size < slot.jobs.size)) slot = s;
      if (!slot) return;
      const job = this.queue.shift()!;
      const id = this.nextId++;
      slot.jobs.set(id, job);
      if (slot.jobs.size === 1) slot.worker.ref();
      const buf = packChecks(job.checks);
      try {
        slot.worker.postMessage({ id, buf }, [buf]);
      } catch (e) {
        this.lose(slot, `cannot post a batch: ${(e as Error).message}`);
      }
    }
    // A pool that failed or closed meanwhile: what is still queued is verified here.
    if (this.failed || this.closed) this.settleQueued();
  }

  /** The end of an event-loop turn with batches queued: this thread verifies the oldest. */
  private readonly help = (): void => {
    this.helping = false;
    const job = this.queue.shift();
    if (!job) return;
    this.stats.onMain++;
    job.done(job.checks.map(verifyCheck));
    if (this.queue.length > 0) {
      this.helping = true;
      setImmediate(this.help);
    }
  };

  /** Stops the workers; outstanding batches are verified inline, later ones too. */
  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    for (const s of slots) this.settleInline(s);
    this.settleQueued();
    await Promise.all(slots.map((s) => s.worker.terminate().catch(() => 0)));
  }

  private start(): Slot {
    const worker = new Worker(this.opts.source ?? VERIFY_WORKER_SOURCE, { eval: true });
    worker.unref();
    const slot: Slot = { worker, jobs: new Map() };
    this.slots.push(slot);
    worker.on('message', (m: { id?: unknown; out?: unknown }) => {
      const job = typeof m?.id === 'number' ? slot.jobs.get(m.id) : undefined;
      if (!job || !(m.out instanceof Uint8Array) || m.out.length !== job.checks.length) return this.lose(slot, 'a reply that does not fit its batch');
      slot.jobs.delete(m.id as number);
      if (slot.jobs.size === 0) worker.unref();
      this.stats.onWorkers++;
      job.done(Array.from(m.out, (v) => v === 1));
      this.pump();
    });
    worker.on('error', (e) => this.lose(slot, e.message));
    worker.on('messageerror', (e) => this.lose(slot, e.message));
    worker.on('exit', (code) => this.lose(slot, `exited with code ${code}`));
    return slot;
  }

  /** A worker failed: its batches are verified here, and so is everything after. */
  private lose(slot: Slot, why: string): void {
    if (this.closed) return;
    const i = this.slots.indexOf(slot);
    if (i < 0) return; // already handled (an error is followed by an exit)
    this.slots.splice(i, 1);
    this.stats.failures++;
    this.settleInline(slot);
    void slot.worker.terminate().catch(() => 0);
    this.fail(`a worker failed (${why})`);
    this.settleQueued();
  }

  private fail(why: string): void {
    if (!this.failed) this.opts.log?.(`verify pool: ${why}; verifying on the main thread from now on`);
    this.failed = true;
  }

  private settleInline(slot: Slot): void {
    const jobs = [...slot.jobs.values()];
    slot.jobs.clear();
    slot.worker.unref();
    for (const j of jobs) j.done(this.inline(j.checks));
  }

  private settleQueued(): void {
    for (const j of this.queue.splice(0)) j.done(this.inline(j.checks));
  }

  private inline(checks: readonly SignatureCheck[]): boolean[] {
    this.stats.inline++;
    return checks.map(verifyCheck);
  }
}
