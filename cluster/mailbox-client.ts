// The member's side of the mailbox: push a blob to relays, and catch up from a relay after a
// cursor kept per relay together with the relay's incarnation. A relay that answers with another
// incarnation lost its store (or is a new one): the client pulls from the start instead of
// trusting its old cursor. Blobs come back in cursor order; the caller drops duplicates by hash.
import { hexBytes } from '../core/hex.js';
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { KithError } from '../core/errors.js';
import type { KvStore } from '../core/store.js';
import { decodeAnswer, type MailboxAnswer, type PulledBlob } from './mailbox-wire.js';

export interface MailboxClientDeps {
  store: KvStore;
  /** One request to a relay over the mailbox service, its answer body. */
  request(relay: string, body: Uint8Array): Promise<Uint8Array>;
}

export interface CatchUp {
  blobs: number;
  /** The relay's incarnation differed from the one the cursor was for: pulled from the start. */
  reset: boolean;
  /** False when the relay says blobs for this node went away before it had them (a gap). */
  complete: boolean;
  /** The relay's household, as its WELCOME says (empty when it names none). */
  household: string;
}

export const PULL_LIMIT = 128;
/** Pull rounds per catch-up (each up to PULL_LIMIT blobs): bounds a loop against a relay that always says has_more. */
export const MAX_PULL_ROUNDS = 1000;

export class MailboxClient {
  /** Per relay: the catch-up running now, and whether another was asked for meanwhile. */
  private readonly running = new Map<string, { done: Promise<CatchUp>; again: boolean }>();

  constructor(private readonly deps: MailboxClientDeps) {}

  /** Pushes a blob; `to` in the answer: the recipients the relay keeps it for (its members). */
  async push(relay: string, p: { group: string; sender: string; seq: number; to: string[]; blob: Uint8Array }): Promise<{ cursor: number; to: string[] }> {
    const a = await this.call(relay, { t: 'push', group: hexBytes(p.group), sender: hexBytes(p.sender), seq: p.seq, to: p.to.map(hexBytes), blob: p.blob });
    if (a.t !== 'pushed') throw new KithError('MAILBOX_REFUSED', `unexpected mailbox answer ${a.t}`);
    return { cursor: a.cursor, to: a.to };
  }

  /**
   * Pushes by hash, without the bytes, for a blob the relay should already hold (another node
   * pushed it): the answer as push's, or undefined when the relay holds no such blob
   * (MAILBOX_UNKNOWN), or is of a version without pushes by hash (MAILBOX_BAD_REQUEST): push the
   * bytes then. Other refusals throw as push's do.
   */
  async pushByHash(relay: string, p: { group: string; sender: string; seq: number; to: string[]; hash: string }): Promise<{ cursor: number; to: string[] } | undefined> {
    const raw = await this.deps.request(relay, encodeCanonical({ t: 'push', group: hexBytes(p.group), sender: hexBytes(p.sender), seq: p.seq, to: p.to.map(hexBytes), hash: hexBytes(p.hash) }));
    const a = decodeAnswer(raw, 1);
    if (a?.t === 'err' && (a.code === 'MAILBOX_UNKNOWN' || a.code === 'MAILBOX_BAD_REQUEST')) return undefined;
    if (a?.t === 'err') throw new KithError(a.code === 'STORAGE_FULL' || a.code === 'RATE_LIMITED' ? a.code : 'MAILBOX_REFUSED', `mailbox ${relay.slice(0, 12)}: ${a.why}`);
    if (a?.t !== 'pushed') throw new KithError('MAILBOX_REFUSED', `mailbox ${relay.slice(0, 12)}: unexpected mailbox answer ${a?.t ?? '(none)'}`);
    return { cursor: a.cursor, to: a.to };
  }

  /**
   * A catch-up with one relay at a time: asked for while one runs (a NOTIFY during a pull), it
   * runs once more after it, so nothing announced meanwhile is missed and pulls never overlap.
   */
  pullFrom(relay: string, onBlob: (b: PulledBlob) => void | Promise<void>): Promise<CatchUp> {
    const now = this.running.get(relay);
    if (now) {
      now.again = true;
      return now.done;
    }
    const entry = { again: false, done: Promise.resolve() as unknown as Promise<CatchUp> };
    entry.done = (async () => {
      try {
        let r = await this.catchUp(relay, onBlob);
        for (let i = 0; i < 8 && entry.again; i++) {
          entry.again = false;
          const more = await this.catchUp(relay, onBlob);
          r = { ...more, blobs: r.blobs + more.blobs, reset: r.reset || more.reset, complete: r.complete && more.complete };
        }
        return r;
      } finally {
        this.running.delete(relay);
      }
    })();
    this.running.set(relay, entry);
    return entry.done;
  }

  /** The saved cursor for a relay (`inc` empty: never pulled). */
  savedCursor(relay: string): Promise<{ inc: string; after: number }> {
    return this.cursor(relay);
  }

  /** Pulls everything the relay holds for this node after the saved cursor, acknowledging as it goes. */
  async catchUp(relay: string, onBlob: (b: PulledBlob) => void | Promise<void>, depth = 0): Promise<CatchUp> {
    const saved = await this.cursor(relay);
    const hello = await this.call(relay, { t: 'hello', inc: hexBytes(saved.inc), after: saved.after });
    if (hello.t !== 'welcome') throw new KithError('MAILBOX_REFUSED', `unexpected mailbox answer ${hello.t}`);
    const reset = saved.inc !== '' && hello.inc !== saved.inc;
    let after = hello.inc === saved.inc ? saved.after : 0;
    let blobs = 0;
    let complete = true;
    for (let round = 0; round < MAX_PULL_ROUNDS; round++) {
      const a = await this.call(relay, { t: 'pull', inc: hexBytes(hello.inc), after, limit: PULL_LIMIT });
      if (a.t !== 'blobs') throw new KithError('MAILBOX_REFUSED', `unexpected mailbox answer ${a.t}`);
      if (a.inc !== hello.inc) {
        if (depth >= 2) throw new KithError('MAILBOX_REFUSED', `mailbox ${relay.slice(0, 12)}: its incarnation keeps changing`);
        return this.catchUp(relay, onBlob, depth + 1); // the relay restarted empty meanwhile
      }
      complete &&= a.complete;
      for (const b of a.items) {
        await onBlob(b);
        after = Math.max(after, b.cursor);
        blobs++;
      }
      if (a.items.length > 0) await this.call(relay, { t: 'ack', inc: hexBytes(a.inc), upTo: after });
      await this.deps.store.put(`mboxc/${relay}`, encodeCanonical({ inc: hexBytes(a.inc), after }));
      if (!a.hasMore) break;
    }
    return { blobs, reset, complete, household: hello.hh };
  }

  private async cursor(relay: string): Promise<{ inc: string; after: number }> {
    const v = await this.deps.store.get(`mboxc/${relay}`);
    if (!v) return { inc: '', after: 0 };
    const m = decodeCanonical(v) as Record<string, CborValue>;
    return { inc: Buffer.from(m['inc'] as Uint8Array).toString('hex'), after: m['after'] as number };
  }

  private async call(relay: string, req: Record<string, CborValue>): Promise<MailboxAnswer> {
    const raw = await this.deps.request(relay, encodeCanonical(req));
    const a = decodeAnswer(raw, PULL_LIMIT);
    if (!a) throw new KithError('MAILBOX_REFUSED', `mailbox ${relay.slice(0, 12)}: not a mailbox answer`);
    if (a.t === 'err') throw new KithError(a.code === 'STORAGE_FULL' || a.code === 'RATE_LIMITED' ? a.code : 'MAILBOX_REFUSED', `mailbox ${relay.slice(0, 12)}: ${a.why}`);
    return a;
  }
}
