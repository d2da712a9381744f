// Mailbox messages (cluster/README.md, "Mailbox"): requests from a member to a relay and the
// relay's answers, canonical CBOR maps after the mailbox service byte (0x42) (where a blob is
// placed: mailbox-outbox.ts). Parsing is strict: anything else is MAILBOX_BAD_REQUEST, never a crash.
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { hexBytes, toHex } from '../core/hex.js';

export type MailboxRequest =
  | { t: 'hello'; inc: string; after: number }
  | { t: 'push'; group: string; sender: string; seq: number; to: string[]; blob: Uint8Array }
  /** A push by hash (no bytes): for recipients added to a blob the relay holds; MAILBOX_UNKNOWN when it holds none. */
  | { t: 'push'; group: string; sender: string; seq: number; to: string[]; hash: string; blob?: undefined }
  | { t: 'pull'; inc: string; after: number; limit: number }
  | { t: 'ack'; inc: string; upTo: number };

export interface PulledBlob {
  cursor: number;
  group: string;
  sender: string;
  seq: number;
  hash: string;
  blob: Uint8Array;
}

export type MailboxAnswer =
  | { t: 'welcome'; inc: string; head: number; waiting: number; hh: string }
  | { t: 'pushed'; inc: string; cursor: number; hash: string; to: string[] }
  | { t: 'blobs'; inc: string; items: PulledBlob[]; hasMore: boolean; complete: boolean }
  | { t: 'acked'; inc: string; deleted: number }
  | { t: 'notify'; inc: string; cursor: number }
  | { t: 'err'; code: 'STORAGE_FULL' | 'RATE_LIMITED' | 'MAILBOX_TOO_LARGE' | 'MAILBOX_REFUSED' | 'MAILBOX_STALE' | 'MAILBOX_BAD_REQUEST' | 'MAILBOX_UNKNOWN'; why: string };

/** A blob's record as the relay stores it (mbox/b/<cursor>); its bytes are in mbox/d/<hash> (cluster/README.md). */
export interface StoredBlob {
  cursor: number;
  group: string;
  sender: string;
  seq: number;
  hash: string;
  /** The user (hex) whose node pushed it: the friend quota it counts against. */
  from: string;
  /** Relay wall time at arrival: for the TTL only, never a cursor. */
  atMs: number;
  /** Recipient nodes (DH keys, hex) and those that acknowledged it. */
  to: string[];
  acked: string[];
  /** The blob's length in bytes (its bytes are apart, in mbox/d/<hash>: start-up reads records only). */
  size: number;
  /** A record written before the bytes moved apart holds them here (read, counted and deleted as ever). */
  blob?: Uint8Array;
}

export const MAX_RECIPIENTS = 256;
/** Largest answer a client reads: a pull page (maxPullBytes of blobs, 1 MiB) and its fields, with room. */
export const MAX_ANSWER_BYTES = 2 * 1024 * 1024;
const HEX32 = /^[0-9a-f]{64}$/;
const HEX8 = /^[0-9a-f]{16}$/;

/** Parses a request body; `{ error }` says what is wrong. */
export function parseRequest(body: Uint8Array): MailboxRequest | { error: string } {
  let v: CborValue;
  try {
    v = decodeCanonical(body, { maxBytes: 128 * 1024, maxDepth: 3, maxItems: MAX_RECIPIENTS + 32 });
  } catch {
    return { error: 'not canonical CBOR' };
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) return { error: 'not a map' };
  const m = v as Record<string, CborValue>;
  const uint = (k: string) => (typeof m[k] === 'number' && Number.isSafeInteger(m[k]) && (m[k] as number) >= 0 ? (m[k] as number) : undefined);
  const hex = (k: string, re: RegExp) => (m[k] instanceof Uint8Array && re.test(toHex(m[k] as Uint8Array)) ? toHex(m[k] as Uint8Array) : undefined);
  const inc = m['inc'] instanceof Uint8Array && (m['inc'].length === 0 || m['inc'].length === 8) ? toHex(m['inc'] as Uint8Array) : undefined;
  switch (m['t']) {
    case 'hello': {
      const after = uint('after');
      return inc !== undefined && after !== undefined ? { t: 'hello', inc, after } : { error: 'hello takes inc and after' };
    }
    case 'pull': {
      const after = uint('after');
      const limit = uint('limit');
      return inc !== undefined && after !== undefined && limit !== undefined && limit > 0 ? { t: 'pull', inc, after, limit } : { error: 'pull takes inc, after and limit' };
    }
    case 'ack': {
      const upTo = uint('upTo');
      return inc !== undefined && HEX8.test(inc) && upTo !== undefined ? { t: 'ack', inc, upTo } : { error: 'ack takes inc and upTo' };
    }
    case 'push': {
      const group = hex('group', HEX32);
      const sender = hex('sender', HEX32);
      const seq = uint('seq');
      const to = m['to'];
      const blob = m['blob'];
      const hash = m['blob'] === undefined ? hex('hash', HEX32) : undefined; // a push by hash names no bytes
      if (group === undefined || sender === undefined || seq === undefined || !(blob instanceof Uint8Array || hash !== undefined)) return { error: 'push takes group, sender, seq, to and blob (or hash)' };
      if (!Array.isArray(to) || to.length === 0 || to.length > MAX_RECIPIENTS || !to.every((x) => x instanceof Uint8Array && x.length === 32)) return { error: `push names 1 to ${MAX_RECIPIENTS} recipient nodes` };
      const names = (to as Uint8Array[]).map(toHex);
      return blob instanceof Uint8Array ? { t: 'push', group, sender, seq, to: names, blob } : { t: 'push', group, sender, seq, to: names, hash: hash! };
    }
    default:
      return { error: 'unknown request' };
  }
}


/** An answer on the wire: incarnations, groups, senders and hashes as byte strings. */
export function encodeAnswer(a: MailboxAnswer): Uint8Array {
  if (a.t === 'err') return encodeCanonical(a);
  const inc = hexBytes(a.inc);
  switch (a.t) {
    case 'welcome':
    case 'acked':
    case 'notify':
      return encodeCanonical({ ...a, inc });
    case 'pushed':
      return encodeCanonical({ ...a, inc, hash: hexBytes(a.hash), to: a.to.map(hexBytes) });
    case 'blobs':
      return encodeCanonical({ ...a, inc, items: a.items.map((i) => ({ ...i, group: hexBytes(i.group), sender: hexBytes(i.sender), hash: hexBytes(i.hash) })) });
  }
}

/** Reads a relay's answer strictly; undefined when it is not one. */
export function decodeAnswer(raw: Uint8Array, maxItems: number): MailboxAnswer | undefined {
  let v: Record<string, CborValue>;
  try {
    v = decodeCanonical(raw, { maxBytes: MAX_ANSWER_BYTES, maxDepth: 4, maxItems: 20 * Math.max(maxItems, MAX_RECIPIENTS) + 64 }) as Record<string, CborValue>;
  } catch {
    return undefined;
  }
  const hex = (x: CborValue | undefined): string => (x instanceof Uint8Array ? toHex(x) : '');
  const n = (x: CborValue | undefined): number => (typeof x === 'number' ? x : -1);
  switch (v?.['t']) {
    case 'blobs': {
      if (!Array.isArray(v['items'])) return undefined;
      const items = (v['items'] as Record<string, CborValue>[]).map((i) => ({ cursor: n(i['cursor']), group: hex(i['group']), sender: hex(i['sender']), seq: n(i['seq']), hash: hex(i['hash']), blob: i['blob'] as Uint8Array }));
      if (!items.every((i) => i.cursor > 0 && i.seq >= 0 && i.blob instanceof Uint8Array)) return undefined;
      return { t: 'blobs', inc: hex(v['inc']), hasMore: v['hasMore'] === true, complete: v['complete'] === true, items };
    }
    case 'welcome':
      return { t: 'welcome', inc: hex(v['inc']), head: n(v['head']), waiting: n(v['waiting']), hh: typeof v['hh'] === 'string' ? v['hh'].slice(0, 64) : '' };
    case 'pushed':
      return { t: 'pushed', inc: hex(v['inc']), cursor: n(v['cursor']), hash: hex(v['hash']), to: Array.isArray(v['to']) ? v['to'].filter((x): x is Uint8Array => x instanceof Uint8Array && x.length === 32).map(toHex) : [] };
    case 'notify':
      return { t: 'notify', inc: hex(v['inc']), cursor: n(v['cursor']) };
    case 'acked':
      return { t: 'acked', inc: hex(v['inc']), deleted: n(v['deleted']) };
    case 'err':
      return { t: 'err', code: v['code'] as Extract<MailboxAnswer, { t: 'err' }>['code'], why: String(v['why']) };
    default:
      return undefined;
  }
}
