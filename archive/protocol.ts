// The archive protocol between an owner and a holder (archive/README.md "Wire format"): one
// request and one response per exchange, carried as cluster reliable messages (request/respond)
// over the Noise session. Each message is the service byte 0x41 ('A') followed by a canonical
// CBOR map whose "t" names the kind. Decoding is strict; anything else is ARCHIVE_MESSAGE_INVALID
// (or CBOR_INVALID), and never changes what a holder has stored.
import { decodeCanonical, encodeCanonical, type CborValue, type DecodeLimits } from '../core/cbor.js';
import { ERROR_CODES, KithError, type ErrorCode } from '../core/errors.js';
import type { BlockProof } from './audit.js';
import type { KeyWrap } from './seal.js';

export const SERVICE_ARCHIVE = 0x41;
/** A shard is at most 1 MiB + tag at the default chunk size; 4 MiB leaves room for larger chunks. */
export const MAX_SHARD_BYTES = 4 * 1024 * 1024;
export const MESSAGE_LIMITS: DecodeLimits = { maxBytes: MAX_SHARD_BYTES + 4096, maxDepth: 6, maxItems: 2048 };
export const MAX_AUDIT_BLOCKS = 16;
/** Largest root (signed index manifest) a holder keeps per owner. */
export const MAX_ROOT_BYTES = 1024 * 1024;
/** Longest holder id (a node id is 64 hex digits) an unwrap request may name. */
export const MAX_HOLDER_ID_CHARS = 128;

export interface ShardRef {
  object: Uint8Array;
  chunk: number;
  shard: number;
}

export type Request =
  | ({ t: 'put'; root: Uint8Array; blockBytes: number; expiresMs: number; wrap: KeyWrap; data: Uint8Array } & ShardRef)
  | ({ t: 'get'; peel: boolean } & ShardRef)
  | ({ t: 'audit'; indices: number[] } & ShardRef)
  | { t: 'renew'; object: Uint8Array; expiresMs: number }
  | { t: 'del'; object: Uint8Array }
  | { t: 'usage' }
  /** Keep this signed manifest (of the owner's index object) as the owner's root: what a recovered node asks for. */
  | { t: 'rput'; data: Uint8Array }
  | { t: 'rget' }
  /** To one of the owner's own access devices (device B): unwrap the outer key of holder slot `holder`. */
  | { t: 'unwrap'; object: Uint8Array; holder: string; wrap: KeyWrap };

export type Response =
  | { t: 'ok' }
  | { t: 'shard'; peeled: boolean; data: Uint8Array }
  | { t: 'proof'; proofs: BlockProof[] }
  | { t: 'usage'; usedBytes: number; quotaBytes: number }
  /** The owner's root (empty when this holder keeps none). */
  | { t: 'root'; data: Uint8Array }
  /** An unwrapped outer key (answer to unwrap). */
  | { t: 'key'; key: Uint8Array }
  | { t: 'err'; code: string; message: string };

function frame(v: CborValue): Uint8Array {
  const body = encodeCanonical(v);
  const out = new Uint8Array(body.length + 1);
  out[0] = SERVICE_ARCHIVE;
  out.set(body, 1);
  return out;
}

const wrapCbor = (w: KeyWrap): CborValue => ({ recipient: w.recipient, enc: w.enc, ct: w.ct });
const ref = (r: ShardRef) => ({ o: r.object, c: r.chunk, s: r.shard });

export function encodeRequest(r: Request): Uint8Array {
  switch (r.t) {
    case 'put': return frame({ t: 'put', ...ref(r), r: r.root, b: r.blockBytes, x: r.expiresMs, w: wrapCbor(r.wrap), d: r.data });
    case 'get': return frame({ t: 'get', ...ref(r), p: r.peel });
    case 'audit': return frame({ t: 'audit', ...ref(r), i: r.indices });
    case 'renew': return frame({ t: 'renew', o: r.object, x: r.expiresMs });
    case 'del': return frame({ t: 'del', o: r.object });
    case 'usage': return frame({ t: 'usage' });
    case 'rput': return frame({ t: 'rput', d: r.data });
    case 'rget': return frame({ t: 'rget' });
    case 'unwrap': return frame({ t: 'unwrap', o: r.object, h: r.holder, w: wrapCbor(r.wrap) });
  }
}

export function encodeResponse(r: Response): Uint8Array {
  switch (r.t) {
    case 'ok': return frame({ t: 'ok' });
    case 'shard': return frame({ t: 'shard', p: r.peeled, d: r.data });
    case 'proof': return frame({ t: 'proof', p: r.proofs.map((p) => [p.index, p.block, p.path]) });
    case 'usage': return frame({ t: 'usage', u: r.usedBytes, q: r.quotaBytes });
    case 'root': return frame({ t: 'root', d: r.data });
    case 'key': return frame({ t: 'key', k: r.key });
    case 'err': return frame({ t: 'err', code: r.code, m: r.message });
  }
}

function bad(why: string): never {
  throw new KithError('ARCHIVE_MESSAGE_INVALID', `archive message: ${why}`);
}

type Obj = Record<string, CborValue>;
function open(payload: Uint8Array, keys: Record<string, string[]>): Obj {
  if (payload.length < 2 || payload[0] !== SERVICE_ARCHIVE) bad('not an archive message');
  const v = decodeCanonical(payload.subarray(1), MESSAGE_LIMITS);
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) bad('not a map');
  const t = (v as Obj).t;
  if (typeof t !== 'string' || !(t in keys)) bad(`unknown kind ${JSON.stringify(t)}`);
  const want = ['t', ...keys[t]!].sort().join();
  if (Object.keys(v).sort().join() !== want) bad(`${t} must have exactly the fields ${want}`);
  return v as Obj;
}

const u32 = (v: CborValue | undefined, what: string): number => (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? v : bad(`${what} is not a u32`));
const uint = (v: CborValue | undefined, what: string): number => (typeof v === 'number' && Number.isInteger(v) && v >= 0 ? v : bad(`${what} is not an unsigned integer`));
const bytes = (v: CborValue | undefined, what: string, len?: number, max = MAX_SHARD_BYTES): Uint8Array =>
  v instanceof Uint8Array && (len === undefined || v.length === len) && v.length <= max ? v : bad(`${what} is not ${len ?? `≤ ${max}`} bytes`);
const bool = (v: CborValue | undefined, what: string): boolean => (typeof v === 'boolean' ? v : bad(`${what} is not a boolean`));

function shardRef(v: Obj): ShardRef {
  return { object: bytes(v.o, 'o', 32), chunk: u32(v.c, 'c'), shard: u32(v.s, 's') };
}

function wrapFrom(v: CborValue | undefined): KeyWrap {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array || Object.keys(v).length !== 3) bad('w is not a key wrap');
  const w = v as Obj;
  return { recipient: bytes(w.recipient, 'w.recipient', 32), enc: bytes(w.enc, 'w.enc', 32), ct: bytes(w.ct, 'w.ct', 48) };
}

const REQUEST_KEYS = { put: ['o', 'c', 's', 'r', 'b', 'x', 'w', 'd'], get: ['o', 'c', 's', 'p'], audit: ['o', 'c', 's', 'i'], renew: ['o', 'x'], del: ['o'], usage: [], rput: ['d'], rget: [], unwrap: ['o', 'h', 'w'] };
const RESPONSE_KEYS = { ok: [], shard: ['p', 'd'], proof: ['p'], usage: ['u', 'q'], root: ['d'], key: ['k'], err: ['code', 'm'] };

export function decodeRequest(payload: Uint8Array): Request {
  const v = open(payload, REQUEST_KEYS);
  switch (v.t as keyof typeof REQUEST_KEYS) {
    case 'put': {
      const blockBytes = u32(v.b, 'b');
      if (blockBytes < 64 || blockBytes > 1 << 20) bad('b (block size) out of range 64..1 MiB');
      return { t: 'put', ...shardRef(v), root: bytes(v.r, 'r', 32), blockBytes, expiresMs: uint(v.x, 'x'), wrap: wrapFrom(v.w), data: bytes(v.d, 'd') };
    }
    case 'get': return { t: 'get', ...shardRef(v), peel: bool(v.p, 'p') };
    case 'audit': {
      const i = Array.isArray(v.i) ? v.i : bad('i is not an array');
      if (i.length < 1 || i.length > MAX_AUDIT_BLOCKS) bad(`i must name 1..${MAX_AUDIT_BLOCKS} blocks`);
      return { t: 'audit', ...shardRef(v), indices: i.map((x) => u32(x, 'i[]')) };
    }
    case 'renew': return { t: 'renew', object: bytes(v.o, 'o', 32), expiresMs: uint(v.x, 'x') };
    case 'del': return { t: 'del', object: bytes(v.o, 'o', 32) };
    case 'usage': return { t: 'usage' };
    case 'rput': return { t: 'rput', data: bytes(v.d, 'd', undefined, MAX_ROOT_BYTES) };
    case 'rget': return { t: 'rget' };
    case 'unwrap': {
      const h = typeof v.h === 'string' && v.h.length >= 1 && v.h.length <= MAX_HOLDER_ID_CHARS ? v.h : bad(`h is not a holder id of 1..${MAX_HOLDER_ID_CHARS} characters`);
      return { t: 'unwrap', object: bytes(v.o, 'o', 32), holder: h, wrap: wrapFrom(v.w) };
    }
  }
}

export function decodeResponse(payload: Uint8Array): Response {
  const v = open(payload, RESPONSE_KEYS);
  switch (v.t as keyof typeof RESPONSE_KEYS) {
    case 'ok': return { t: 'ok' };
    case 'shard': return { t: 'shard', peeled: bool(v.p, 'p'), data: bytes(v.d, 'd') };
    case 'proof': {
      const p = Array.isArray(v.p) && v.p.length <= MAX_AUDIT_BLOCKS ? v.p : bad('p is not a list of proofs');
      return {
        t: 'proof',
        proofs: p.map((x) => {
          const a = Array.isArray(x) && x.length === 3 ? x : bad('a proof is not [index, block, path]');
          const path = Array.isArray(a[2]) && a[2].length <= 32 ? a[2] : bad('path is not a list of ≤ 32 hashes');
          return { index: u32(a[0], 'index'), block: bytes(a[1], 'block', undefined, 1 << 20), path: path.map((h) => bytes(h, 'path[]', 32)) };
        }),
      };
    }
    case 'usage': return { t: 'usage', usedBytes: uint(v.u, 'u'), quotaBytes: uint(v.q, 'q') };
    case 'root': return { t: 'root', data: bytes(v.d, 'd', undefined, MAX_ROOT_BYTES) };
    case 'key': return { t: 'key', key: bytes(v.k, 'k', 32) };
    case 'err': return { t: 'err', code: typeof v.code === 'string' ? v.code : bad('code'), message: typeof v.m === 'string' ? v.m : bad('m') };
  }
}

/** The error a holder's `err` answer stands for (an unknown code becomes ARCHIVE_MESSAGE_INVALID). */
export function errorFromResponse(r: { code: string; message: string }): KithError {
  const code = (r.code in ERROR_CODES ? r.code : 'ARCHIVE_MESSAGE_INVALID') as ErrorCode;
  return new KithError(code, `holder: ${r.message.slice(0, 300)}`);
}
