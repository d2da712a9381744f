// STUN (RFC 8489) binding: the message codec, MESSAGE-INTEGRITY (HMAC-SHA1) and FINGERPRINT
// (CRC-32) checks, XOR-MAPPED-ADDRESS, and a client that runs binding transactions over the
// cluster socket (so the reflexive address is the one members reach us at). Checked against the
// RFC 5769 sample messages in test/vectors/data/stun. Only what kith uses is implemented: binding
// requests without credentials, and reading any well-formed response.
import { createHash, createHmac } from 'node:crypto';
import zlib from 'node:zlib';
import type { Clock, Timer } from '../core/clock.js';
import { KithError } from '../core/errors.js';
import type { Rng } from '../core/rng.js';
import type { Endpoint } from '../core/udp.js';

export const MAGIC_COOKIE = 0x2112a442;
export const HEADER_BYTES = 20;
export const BINDING_REQUEST = 0x0001;
export const BINDING_SUCCESS = 0x0101;
export const BINDING_ERROR = 0x0111;

export const ATTR = {
  MAPPED_ADDRESS: 0x0001,
  CHANGE_REQUEST: 0x0003,
  USERNAME: 0x0006,
  MESSAGE_INTEGRITY: 0x0008,
  ERROR_CODE: 0x0009,
  REALM: 0x0014,
  NONCE: 0x0015,
  XOR_MAPPED_ADDRESS: 0x0020,
  SOFTWARE: 0x8022,
  FINGERPRINT: 0x8028,
  OTHER_ADDRESS: 0x802c,
} as const;

const FINGERPRINT_XOR = 0x5354554e;

export interface StunAttribute {
  type: number;
  /** Offset of the attribute's header in the message (for integrity and fingerprint checks). */
  offset: number;
  value: Uint8Array;
}

export interface StunMessage {
  type: number;
  transactionId: Uint8Array;
  attributes: StunAttribute[];
  bytes: Uint8Array;
}

/** True when the bytes look like STUN (RFC 8489 §5: top bits 00, magic cookie, length % 4). */
export function looksLikeStun(b: Uint8Array): boolean {
  return b.length >= HEADER_BYTES && (b[0]! & 0xc0) === 0 && b[4] === 0x21 && b[5] === 0x12 && b[6] === 0xa4 && b[7] === 0x42 && (((b[2]! << 8) | b[3]!) & 3) === 0;
}

/** Parses a STUN message strictly; STUN_INVALID for anything malformed. */
export function decodeStun(bytes: Uint8Array): StunMessage {
  const bad = (why: string): never => {
    throw new KithError('STUN_INVALID', `not a valid STUN message: ${why}`);
  };
  if (!looksLikeStun(bytes)) bad('no STUN header');
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = v.getUint16(2);
  if (HEADER_BYTES + length !== bytes.length) bad(`length field ${length} does not match ${bytes.length - HEADER_BYTES} bytes of attributes`);
  const attributes: StunAttribute[] = [];
  let off = HEADER_BYTES;
  while (off < bytes.length) {
    if (off + 4 > bytes.length) bad('truncated attribute header');
    const type = v.getUint16(off);
    const len = v.getUint16(off + 2);
    if (off + 4 + len > bytes.length) bad(`attribute 0x${type.toString(16)} overruns the message`);
    attributes.push({ type, offset: off, value: bytes.subarray(off + 4, off + 4 + len) });
    off += 4 + ((len + 3) & ~3); // padding content is ignored (RFC 8489 §14)
    if (attributes.length > 64) bad('too many attributes');
  }
  if (off !== bytes.length) bad('attribute padding overruns the message');
  return { type: v.getUint16(0), transactionId: bytes.slice(8, 20), attributes, bytes };
}

/** The message as it was up to an attribute, with the length field covering that attribute too. */
function prefixFor(m: StunMessage, attr: StunAttribute, attrBytes: number): Uint8Array {
  const prefix = m.bytes.slice(0, attr.offset);
  new DataView(prefix.buffer).setUint16(2, attr.offset - HEADER_BYTES + attrBytes);
  return prefix;
}

export function crc32(data: Uint8Array): number {
  return zlib.crc32(data) >>> 0;
}

/** FINGERPRINT check: absent → undefined; present → whether it matches and is last. */
export function checkFingerprint(m: StunMessage): boolean | undefined {
  const i = m.attributes.findIndex((a) => a.type === ATTR.FINGERPRINT);
  if (i < 0) return undefined;
  const a = m.attributes[i]!;
  if (i !== m.attributes.length - 1 || a.value.length !== 4) return false;
  const want = (crc32(prefixFor(m, a, 8)) ^ FINGERPRINT_XOR) >>> 0;
  return new DataView(a.value.buffer, a.value.byteOffset, 4).getUint32(0) === want;
}

/** Short-term credential key: the password as given (kith never uses SASLprep'd non-ASCII ones). */
export function shortTermKey(password: string): Uint8Array {
  return new TextEncoder().encode(password);
}

/** Long-term credential key: MD5(username ":" realm ":" password) (RFC 8489 §9.2.2). */
export function longTermKey(username: string, realm: string, password: string): Uint8Array {
  return new Uint8Array(createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest());
}

/** MESSAGE-INTEGRITY (HMAC-SHA1) check: absent → undefined; present → whether it verifies. */
export function checkIntegrity(m: StunMessage, key: Uint8Array): boolean | undefined {
  const a = m.attributes.find((x) => x.type === ATTR.MESSAGE_INTEGRITY);
  if (!a) return undefined;
  if (a.value.length !== 20) return false;
  const mac = createHmac('sha1', key).update(prefixFor(m, a, 24)).digest();
  return Buffer.compare(mac, Buffer.from(a.value)) === 0;
}

function readAddress(value: Uint8Array, xorWith: Uint8Array | undefined): Endpoint {
  const bad = (why: string): never => {
    throw new KithError('STUN_INVALID', `bad address attribute: ${why}`);
  };
  if (value.length < 8) bad('too short');
  const family = value[1];
  const v = new DataView(value.buffer, value.byteOffset, value.byteLength);
  let port = v.getUint16(2);
  if (xorWith) port ^= MAGIC_COOKIE >>> 16;
  const size = family === 0x01 ? 4 : family === 0x02 ? 16 : bad(`unknown family ${family}`);
  if (value.length !== 4 + size) bad('wrong length for its family');
  const raw = value.slice(4, 4 + size);
  if (xorWith) for (let i = 0; i < size; i++) raw[i]! ^= xorWith[i]!;
  if (size === 4) return { host: [...raw].join('.'), port };
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((raw[i]! << 8) | raw[i + 1]!).toString(16));
  return { host: compressV6(groups), port };
}

function compressV6(groups: string[]): string {
  // RFC 5952: the longest run (≥ 2) of zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** The reflexive address in a response: XOR-MAPPED-ADDRESS, else the old MAPPED-ADDRESS. */
export function mappedAddress(m: StunMessage): Endpoint | undefined {
  const x = m.attributes.find((a) => a.type === ATTR.XOR_MAPPED_ADDRESS);
  if (x) {
    const key = new Uint8Array(16);
    new DataView(key.buffer).setUint32(0, MAGIC_COOKIE);
    key.set(m.transactionId, 4);
    return readAddress(x.value, key);
  }
  const plain = m.attributes.find((a) => a.type === ATTR.MAPPED_ADDRESS);
  return plain ? readAddress(plain.value, undefined) : undefined;
}

/** RFC 5780 OTHER-ADDRESS: the server's alternate address, for NAT behaviour tests. */
export function otherAddress(m: StunMessage): Endpoint | undefined {
  const a = m.attributes.find((x) => x.type === ATTR.OTHER_ADDRESS);
  return a ? readAddress(a.value, undefined) : undefined;
}

/** A binding request with FINGERPRINT (and CHANGE-REQUEST flags when given, RFC 5780). */
export function encodeBindingRequest(transactionId: Uint8Array, opts: { changeIp?: boolean; changePort?: boolean } = {}): Uint8Array {
  if (transactionId.length !== 12) throw new RangeError('a STUN transaction id is 12 bytes');
  const change = opts.changeIp || opts.changePort;
  const length = (change ? 8 : 0) + 8;
  const out = new Uint8Array(HEADER_BYTES + length);
  const v = new DataView(out.buffer);
  v.setUint16(0, BINDING_REQUEST);
  v.setUint16(2, length);
  v.setUint32(4, MAGIC_COOKIE);
  out.set(transactionId, 8);
  let off = HEADER_BYTES;
  if (change) {
    v.setUint16(off, ATTR.CHANGE_REQUEST);
    v.setUint16(off + 2, 4);
    v.setUint32(off + 4, (opts.changeIp ? 4 : 0) | (opts.changePort ? 2 : 0));
    off += 8;
  }
  v.setUint16(off, ATTR.FINGERPRINT);
  v.setUint16(off + 2, 4);
  v.setUint32(off + 4, (crc32(out.subarray(0, off)) ^ FINGERPRINT_XOR) >>> 0);
  return out;
}

export interface BindingResult {
  mapped: Endpoint;
  server: Endpoint;
  /** The server's alternate address (RFC 5780), when it has one. */
  other: Endpoint | undefined;
  rttMs: number;
}

interface Transaction {
  server: Endpoint;
  startedMs: number;
  resolve(r: BindingResult): void;
  reject(e: Error): void;
  timer: Timer | undefined;
}

/**
 * Binding transactions over a socket someone else owns: `send` writes a datagram and `handle`
 * is offered every datagram that arrives; it returns true for a response it was waiting for.
 * Retransmits per RFC 8489 §6.2.1 (RTO doubling from `rtoMs`), at most `attempts` times.
 */
export class StunClient {
  private readonly pending = new Map<string, Transaction>();

  constructor(private readonly deps: { clock: Clock; rng: Rng; send(to: Endpoint, data: Uint8Array): void }, private readonly opts: { rtoMs: number; attempts: number } = { rtoMs: 500, attempts: 4 }) {}

  binding(server: Endpoint, req: { changeIp?: boolean; changePort?: boolean } = {}): Promise<BindingResult> {
    const id = this.deps.rng.bytes(12);
    const key = Buffer.from(id).toString('hex');
    const bytes = encodeBindingRequest(id, req);
    return new Promise<BindingResult>((resolve, reject) => {
      const tx: Transaction = { server, startedMs: this.deps.clock.now(), resolve, reject, timer: undefined };
      this.pending.set(key, tx);
      const attempt = (n: number, rto: number): void => {
        this.deps.send(server, bytes);
        tx.timer = this.deps.clock.setTimer(rto, () => {
          if (!this.pending.has(key)) return;
          if (n + 1 < this.opts.attempts) return attempt(n + 1, rto * 2);
          this.pending.delete(key);
          reject(new KithError('STUN_TIMEOUT', `no STUN answer from ${server.host}:${server.port} after ${this.opts.attempts} tries`));
        });
      };
      attempt(0, this.opts.rtoMs);
    });
  }

  /** Offers an incoming datagram; true when it answered one of our transactions. */
  handle(data: Uint8Array, from: Endpoint): boolean {
    if (this.pending.size === 0 || !looksLikeStun(data)) return false;
    const key = Buffer.from(data.subarray(8, 20)).toString('hex');
    const tx = this.pending.get(key);
    if (!tx) return false;
    let m: StunMessage;
    try {
      m = decodeStun(data);
    } catch {
      return true; // ours by its id, but garbled: wait for a retransmission's answer
    }
    if (checkFingerprint(m) === false) return true;
    // Answers come from the server we asked (or, for CHANGE-REQUEST, from its other address).
    if (m.type === BINDING_SUCCESS) {
      const mapped = safe(() => mappedAddress(m));
      if (!mapped) return true;
      this.finish(key, tx);
      tx.resolve({ mapped, server: from, other: safe(() => otherAddress(m)), rttMs: this.deps.clock.now() - tx.startedMs });
    } else if (m.type === BINDING_ERROR) {
      this.finish(key, tx);
      tx.reject(new KithError('STUN_ERROR', `STUN server ${tx.server.host}:${tx.server.port} answered with an error`));
    }
    return true;
  }

  private finish(key: string, tx: Transaction): void {
    tx.timer?.cancel();
    this.pending.delete(key);
  }

  close(): void {
    for (const [key, tx] of this.pending) {
      this.finish(key, tx);
      tx.reject(new KithError('STUN_TIMEOUT', 'the agent is stopping'));
    }
  }
}

function safe<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
