// The signed records of a conversation, on the wire and in the store (consensus/README.md has
// the byte-level description). Every record is a core/signed.ts envelope signed by the author's
// node key and carries that node's certificate, so anyone can check the chain to the user key.
import * as nodeCrypto from 'node:crypto';
import { DEFAULT_LIMITS, type CborValue } from '../core/cbor.js';
import { KithError, isKithError } from '../core/errors.js';
import { bytesEqual, idHex, toHex } from '../core/hex.js';
import { checkOpenedSignature, readSignedObject, signObject, type OpenedObject } from '../core/signed.js';
import { verifyCertificate } from '../identity/certificate.js';
import type { BallotShape } from './ballots.js';
import type { MethodSpec } from './method-spec.js';

export const CONV_TYPE = 'kith/conv';
export const MESSAGE_TYPE = 'kith/conv-msg';
export const CLOSING_TYPE = 'kith/conv-close';

export const PATTERNS = ['discussion', 'announcement', 'invitation', 'poll', 'proposal', 'debate'] as const;
export type PatternName = (typeof PATTERNS)[number];

export interface Side {
  name: string;
  members: Uint8Array[];
}

export interface PatternDef {
  name: PatternName;
  /** poll: the fixed options. */
  options: string[];
  /** poll: the ballot shape. */
  ballot: BallotShape;
  /** debate: exactly two sides. */
  sides: Side[];
  /** debate: rounds of arguments (each side speaks once per round). */
  rounds: number;
}

export interface Conversation {
  id: string;
  topic: string;
  author: Uint8Array;
  participants: Uint8Array[];
  pattern: PatternDef;
  method: MethodSpec;
  /** ms since the epoch, or 0 for none. */
  deadlineMs: number;
  createdAtMs: number;
}

export type MessageKind = 'text' | 'ack' | 'rsvp' | 'ballot' | 'position' | 'argument' | 'receipt';
export const MESSAGE_KINDS: readonly MessageKind[] = ['text', 'ack', 'rsvp', 'ballot', 'position', 'argument', 'receipt'];

export interface Message {
  hash: string;
  conv: string;
  author: Uint8Array;
  authorHex: string;
  /** The author node's signing key (hex): the hash chain this message belongs to. A user with
   * several access nodes has one chain per node, so two devices never fork one chain. */
  chain: string;
  seq: number;
  prev: string;
  atMs: number;
  kind: MessageKind;
  data: Record<string, CborValue>;
  bytes: Uint8Array;
}

export interface Closing {
  hash: string;
  conv: string;
  messages: string[];
  evaluatedAtMs: number;
  /** The recorded outcome (consensus/outcome.ts): canonical CBOR, compared as bytes. */
  outcome: CborValue;
  closer: Uint8Array;
  bytes: Uint8Array;
}

export interface Signer {
  userKey: Uint8Array;
  signSecret: Uint8Array;
  certBytes: Uint8Array;
}

/**
 * Hex SHA-256 (native: a catch-up hashes every record and every envelope). The one-shot
 * crypto.hash (Node 20.12+, Bun) where it exists: half the cost of a Hash object per call.
 */
export const hashHex: (bytes: Uint8Array) => string = typeof nodeCrypto.hash === 'function'
  ? (bytes) => nodeCrypto.hash('sha256', bytes, 'hex')
  : (bytes) => nodeCrypto.createHash('sha256').update(bytes).digest('hex');

function sign(type: string, body: Record<string, CborValue>, signer: Signer): Uint8Array {
  return signObject(type, { ...body, cert: signer.certBytes }, signer.signSecret);
}

/** Certificates already verified, by their bytes (every message of a node carries the same one). */
const verifiedCerts = new Map<string, ReturnType<typeof verifyCertificate>>();
/** The same by the array itself: a conversation hands the one certificate of a chain to every message of it (no base64 of 270 bytes each). */
const certsByArray = new WeakMap<Uint8Array, { cert: ReturnType<typeof verifyCertificate>; bytes: Uint8Array }>();

function verifiedCertificate(cert: Uint8Array): ReturnType<typeof verifyCertificate> {
  const seen = certsByArray.get(cert);
  // The bytes are compared too: whoever holds the array could have changed them since.
  if (seen && bytesEqual(seen.bytes, cert)) return seen.cert;
  const c = verifiedByBytes(cert);
  certsByArray.set(cert, { cert: c, bytes: Uint8Array.from(cert) });
  return c;
}

function verifiedByBytes(cert: Uint8Array): ReturnType<typeof verifyCertificate> {
  const key = Buffer.from(cert).toString('base64');
  let c = verifiedCerts.get(key);
  if (!c) {
    c = verifyCertificate(cert);
    if (verifiedCerts.size >= 1024) verifiedCerts.delete(verifiedCerts.keys().next().value!);
    verifiedCerts.set(key, c);
  }
  return c;
}

/** Opens an envelope whose body carries `cert`: checks the certificate, the user and the signature. */
function openSigned(bytes: Uint8Array, type: string, userField: string): { body: Record<string, CborValue>; signKey: Uint8Array } {
  try {
    const opened = readSignedObject(bytes, type);
    const body = opened.body as Record<string, CborValue>;
    if (body === null || typeof body !== 'object' || Array.isArray(body) || body instanceof Uint8Array) throw new KithError('MESSAGE_REJECTED', `${type}: body is not a map`);
    const cert = body['cert'];
    const user = body[userField];
    if (!(cert instanceof Uint8Array) || !(user instanceof Uint8Array)) throw new KithError('MESSAGE_REJECTED', `${type}: no certificate or author`);
    const c = verifiedCertificate(cert);
    if (!bytesEqual(c.userKey, user)) throw new KithError('MESSAGE_REJECTED', `${type}: the certificate belongs to another user`);
    checkOpenedSignature(opened, c.signKey);
    return { body, signKey: c.signKey };
  } catch (e) {
    if (isKithError(e, 'MESSAGE_REJECTED')) throw e;
    throw new KithError('MESSAGE_REJECTED', `${type} does not verify: ${(e as Error).message}`, { cause: e });
  }
}

function bad(what: string): never {
  throw new KithError('MESSAGE_REJECTED', what);
}

const isBytes = (v: unknown, n: number): v is Uint8Array => v instanceof Uint8Array && v.length === n;
const isUint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isText = (v: unknown, max = 10_000): v is string => typeof v === 'string' && v.length <= max;

// --- conversation header ---

function methodToCbor(m: MethodSpec): CborValue {
  return m.kind === 'builtin'
    ? { kind: 'builtin', name: m.name, params: Object.fromEntries(Object.entries(m.params).map(([k, v]) => [k, String(v)])) }
    : { kind: 'cel', reached: m.reached, outcome: m.outcome ?? '' };
}

function methodFromCbor(v: CborValue): MethodSpec {
  const m = v as Record<string, CborValue>;
  if (m?.['kind'] === 'builtin' && isText(m['name'], 64) && m['params'] && typeof m['params'] === 'object') {
    const params: Record<string, string | number | boolean> = {};
    for (const [k, x] of Object.entries(m['params'] as Record<string, CborValue>)) {
      if (!isText(x, 64)) bad('method parameters must be text');
      params[k] = /^-?\d+(\.\d+)?$/.test(x) ? Number(x) : x === 'true' ? true : x === 'false' ? false : x;
    }
    return { kind: 'builtin', name: m['name'], params };
  }
  if (m?.['kind'] === 'cel' && isText(m['reached'], 4000) && isText(m['outcome'], 4000)) {
    return { kind: 'cel', reached: m['reached'], ...(m['outcome'] !== '' ? { outcome: m['outcome'] } : {}) };
  }
  return bad('unknown method encoding');
}

export function signConversation(c: Omit<Conversation, 'id'>, nonce: Uint8Array, signer: Signer): Uint8Array {
  return sign(CONV_TYPE, {
    v: 1,
    topic: c.topic,
    author: c.author,
    participants: c.participants,
    pattern: {
      name: c.pattern.name,
      options: c.pattern.options,
      ballot: c.pattern.ballot,
      sides: c.pattern.sides.map((s) => ({ name: s.name, members: s.members })),
      rounds: c.pattern.rounds,
    },
    method: methodToCbor(c.method),
    deadline: c.deadlineMs,
    createdAt: c.createdAtMs,
    nonce,
  }, signer);
}

export function openConversation(bytes: Uint8Array): Conversation {
  const b = openSigned(bytes, CONV_TYPE, 'author').body;
  const p = b['pattern'] as Record<string, CborValue>;
  if (b['v'] !== 1 || !isText(b['topic'], 500) || !Array.isArray(b['participants']) || !b['participants'].every((x) => isBytes(x, 32))) bad('malformed conversation header');
  if (!p || !(PATTERNS as readonly unknown[]).includes(p['name']) || !Array.isArray(p['options']) || !p['options'].every((o) => isText(o, 200))) bad('malformed pattern');
  if (!Array.isArray(p['sides']) || !isUint(p['rounds']) || !isText(p['ballot'], 16)) bad('malformed pattern');
  const sides = (p['sides'] as Record<string, CborValue>[]).map((s) => {
    if (!isText(s['name'], 100) || !Array.isArray(s['members']) || !s['members'].every((x) => isBytes(x, 32))) bad('malformed debate side');
    return { name: s['name'] as string, members: s['members'] as Uint8Array[] };
  });
  if (!isUint(b['deadline']) || !isUint(b['createdAt'])) bad('malformed times');
  return {
    id: hashHex(bytes),
    topic: b['topic'] as string,
    author: b['author'] as Uint8Array,
    participants: b['participants'] as Uint8Array[],
    pattern: { name: p['name'] as PatternName, options: p['options'] as string[], ballot: p['ballot'] as BallotShape, sides, rounds: p['rounds'] as number },
    method: methodFromCbor(b['method']!),
    deadlineMs: b['deadline'] as number,
    createdAtMs: b['createdAt'] as number,
  };
}

// --- messages ---

/**
 * v2: the author node's certificate travels once per chain, in its seq 1 message; later messages
 * name the node by its signing key (`node`) and are checked against that certificate (270 of the
 * 611 bytes of a typical v1 message were its certificate).
 */
export function signMessage(m: { conv: string; seq: number; prev: string; atMs: number; kind: MessageKind; data: Record<string, CborValue> }, signer: Signer): Uint8Array {
  const body: Record<string, CborValue> = {
    v: 2,
    conv: Buffer.from(m.conv, 'hex'),
    author: signer.userKey,
    node: verifiedCertificate(signer.certBytes).signKey,
    seq: m.seq,
    prev: m.prev === '' ? new Uint8Array(0) : Buffer.from(m.prev, 'hex'),
    at: m.atMs,
    kind: m.kind,
    data: m.data,
  };
  if (m.seq === 1) body['cert'] = signer.certBytes;
  return signObject(MESSAGE_TYPE, body, signer.signSecret);
}

/**
 * Byte strings of a message as views of its bytes: a Message keeps its bytes, so its fields
 * (author, the certificate, the signature) need no copies of their own.
 */
const MESSAGE_LIMITS = { ...DEFAULT_LIMITS, views: true };

/** A message's signed object, decoded once for peekMessage and openMessage; undefined when it is none. */
export function readMessage(bytes: Uint8Array): OpenedObject | undefined {
  try {
    return readSignedObject(bytes, MESSAGE_TYPE, MESSAGE_LIMITS);
  } catch {
    return undefined;
  }
}

/** The routing fields of a message, not verified (to tell a gap from a bad message). */
export function peekMessage(bytes: Uint8Array, read: OpenedObject | undefined = readMessage(bytes)): { conv: string; chain: string; seq: number } | undefined {
  if (!read) return undefined;
  try {
    const b = read.body as Record<string, CborValue>;
    if (!isBytes(b['conv'], 32) || !isBytes(b['node'], 32) || !isUint(b['seq'])) return undefined;
    return { conv: idHex(b['conv'] as Uint8Array), chain: idHex(b['node'] as Uint8Array), seq: b['seq'] as number };
  } catch {
    return undefined;
  }
}

/**
 * Opens a message. A seq 1 message carries its node's certificate; a later one is checked
 * against the certificate `certOf(node)` returns (the one of that chain's seq 1 message).
 * `read`: readMessage(bytes) when the caller already has it (one decode instead of two).
 * `signedBy`: a key the caller already checked `read`'s signature under (a record taken from
 * its sender's envelope, consensus/README.md "One signature per message"); the check is skipped
 * only when that is the key of the chain's certificate.
 */
export function openMessage(bytes: Uint8Array, certOf?: (chainHex: string) => Uint8Array | undefined, read?: OpenedObject, signedBy?: Uint8Array): Message & { certBytes: Uint8Array } {
  let b: Record<string, CborValue>;
  let certBytes: Uint8Array;
  try {
    const opened = read ?? readSignedObject(bytes, MESSAGE_TYPE, MESSAGE_LIMITS);
    b = opened.body as Record<string, CborValue>;
    if (b === null || typeof b !== 'object' || Array.isArray(b) || b instanceof Uint8Array) bad('conv-msg: body is not a map');
    // v1 (stores written before v2): the certificate in every message, no `node`.
    if (b['v'] === 1 && b['cert'] instanceof Uint8Array && b['node'] === undefined) b = { ...b, node: verifiedCertificate(b['cert']).signKey };
    else if (b['v'] !== 2) bad('malformed message');
    if (!isBytes(b['author'], 32) || !isBytes(b['node'], 32) || !isUint(b['seq'])) bad('malformed message');
    const given = b['cert'];
    if (b['v'] === 2 && (b['seq'] === 1) !== (given !== undefined)) bad('a chain\'s first message carries its certificate, and only that one');
    const known = given instanceof Uint8Array ? given : certOf?.(toHex(b['node'] as Uint8Array));
    if (!known) bad(`message from node ${toHex(b['node'] as Uint8Array).slice(0, 12)}, whose first message (with its certificate) is not here`);
    certBytes = known;
    const c = verifiedCertificate(certBytes);
    if (!bytesEqual(c.userKey, b['author'] as Uint8Array) || !bytesEqual(c.signKey, b['node'] as Uint8Array)) bad('conv-msg: the certificate is of another node or user');
    if (!(read && signedBy && bytesEqual(signedBy, c.signKey))) checkOpenedSignature(opened, c.signKey);
  } catch (e) {
    if (isKithError(e, 'MESSAGE_REJECTED')) throw e;
    throw new KithError('MESSAGE_REJECTED', `${MESSAGE_TYPE} does not verify: ${(e as Error).message}`, { cause: e });
  }
  if (!isBytes(b['conv'], 32) || (b['seq'] as number) < 1 || !isUint(b['at'])) bad('malformed message');
  const prev = b['prev'];
  if (!(prev instanceof Uint8Array) || (prev.length !== 0 && prev.length !== 32)) bad('malformed message chain');
  if (!(MESSAGE_KINDS as readonly unknown[]).includes(b['kind'])) bad(`unknown message kind ${JSON.stringify(b['kind'])}`);
  const data = b['data'];
  if (data === null || typeof data !== 'object' || Array.isArray(data) || data instanceof Uint8Array) bad('message data must be a map');
  const author = b['author'] as Uint8Array;
  return {
    hash: hashHex(bytes),
    conv: idHex(b['conv'] as Uint8Array),
    author,
    authorHex: idHex(author),
    chain: idHex(b['node'] as Uint8Array),
    seq: b['seq'] as number,
    prev: toHex(prev),
    atMs: b['at'] as number,
    kind: b['kind'] as MessageKind,
    data: data as Record<string, CborValue>,
    bytes,
    certBytes,
  };
}

// --- closing records ---

export function signClosing(c: { conv: string; messages: string[]; evaluatedAtMs: number; outcome: CborValue }, signer: Signer): Uint8Array {
  return sign(CLOSING_TYPE, {
    v: 2,
    conv: Buffer.from(c.conv, 'hex'),
    closer: signer.userKey,
    messages: [...c.messages].sort().map((h) => Buffer.from(h, 'hex')),
    evaluatedAt: c.evaluatedAtMs,
    outcome: c.outcome,
  }, signer);
}

export function openClosing(bytes: Uint8Array): Closing {
  const b = openSigned(bytes, CLOSING_TYPE, 'closer').body;
  const o = b['outcome'];
  if (b['v'] !== 2 || !isBytes(b['conv'], 32) || !Array.isArray(b['messages']) || !b['messages'].every((h) => isBytes(h, 32)) || !isUint(b['evaluatedAt']) || o === null || typeof o !== 'object' || Array.isArray(o) || o instanceof Uint8Array) {
    bad('malformed closing record');
  }
  const messages = (b['messages'] as Uint8Array[]).map(toHex);
  if ([...messages].sort().join() !== messages.join() || new Set(messages).size !== messages.length) bad('closing record messages must be sorted and unique');
  return { hash: hashHex(bytes), conv: toHex(b['conv'] as Uint8Array), messages, evaluatedAtMs: b['evaluatedAt'] as number, outcome: o, closer: b['closer'] as Uint8Array, bytes };
}
