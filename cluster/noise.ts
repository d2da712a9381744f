// The Noise Protocol Framework (revision 34, https://noiseprotocol.org/noise.html), just the parts
// kith uses: DH 25519, cipher ChaChaPoly, hash BLAKE2s, and the IK handshake with optional PSK
// modifiers (IKpsk2 is kith's transport; IK and IKpsk1 are here because the vectors cover them
// and they exercise the same code). Ephemeral keys come from the Rng the handshake is given (the
// transport's: seeded in simulations, the OS generator in real use), or are injected for the
// known-answer vectors.
import { blake2sHash, hmacBlake2s } from '../core/blake2s.js';
import type { Rng } from '../core/rng.js';
import { aead, TAG_BYTES } from '../core/aead.js';
import { signatures } from '../core/crypto.js';
import { concatBytes } from '@noble/hashes/utils.js';

export const DHLEN = 32;
export const HASHLEN = 32;

export interface KeyPair {
  secretKey: Uint8Array;
  publicKey: Uint8Array;
}

const EMPTY = new Uint8Array(0);

export const hash = (data: Uint8Array): Uint8Array => blake2sHash(data);

/** Noise §4.3 HKDF with HMAC-BLAKE2s: 2 or 3 outputs of HASHLEN bytes. */
export function hkdf(ck: Uint8Array, ikm: Uint8Array, n: 2 | 3): Uint8Array[] {
  const temp = hmacBlake2s(ck, ikm);
  const o1 = hmacBlake2s(temp, Uint8Array.of(1));
  const o2 = hmacBlake2s(temp, concatBytes(o1, Uint8Array.of(2)));
  if (n === 2) return [o1, o2];
  return [o1, o2, hmacBlake2s(temp, concatBytes(o2, Uint8Array.of(3)))];
}

/** Noise §5.1 CipherState: 96-bit nonce = 32 zero bits || 64-bit little-endian counter. */
export class CipherState {
  private k: Uint8Array | undefined;
  n = 0n;

  constructor(k?: Uint8Array) {
    this.k = k;
  }

  hasKey(): boolean {
    return this.k !== undefined;
  }

  static nonce(n: bigint): Uint8Array {
    const nonce = new Uint8Array(12);
    new DataView(nonce.buffer).setBigUint64(4, n, true);
    return nonce;
  }

  encryptWithAd(ad: Uint8Array, plaintext: Uint8Array): Uint8Array {
    if (this.k === undefined) return plaintext;
    const out = aead.seal(this.k, CipherState.nonce(this.n), plaintext, ad);
    this.n++;
    return out;
  }

  /** Throws on a bad tag (callers in the handshake turn that into a silent drop). */
  decryptWithAd(ad: Uint8Array, ciphertext: Uint8Array): Uint8Array {
    if (this.k === undefined) return ciphertext;
    const out = aead.open(this.k, CipherState.nonce(this.n), ciphertext, ad);
    if (out === undefined) throw new NoiseError('decryption failed');
    this.n++;
    return out;
  }

  /** The raw key, for transport sessions that manage their own nonces. */
  key(): Uint8Array {
    if (this.k === undefined) throw new NoiseError('no key');
    return this.k;
  }
}

export class NoiseError extends Error {}

/** Noise §5.2 SymmetricState. */
export class SymmetricState {
  ck: Uint8Array;
  h: Uint8Array;
  cipher = new CipherState();

  constructor(protocolName: string) {
    const name = new TextEncoder().encode(protocolName);
    this.h = name.length <= HASHLEN ? concatBytes(name, new Uint8Array(HASHLEN - name.length)) : hash(name);
    this.ck = this.h;
  }

  mixKey(ikm: Uint8Array): void {
    const [ck, k] = hkdf(this.ck, ikm, 2);
    this.ck = ck!;
    this.cipher = new CipherState(k);
  }

  mixHash(data: Uint8Array): void {
    this.h = hash(concatBytes(this.h, data));
  }

  mixKeyAndHash(ikm: Uint8Array): void {
    const [ck, th, k] = hkdf(this.ck, ikm, 3);
    this.ck = ck!;
    this.mixHash(th!);
    this.cipher = new CipherState(k);
  }

  encryptAndHash(plaintext: Uint8Array): Uint8Array {
    const c = this.cipher.encryptWithAd(this.h, plaintext);
    this.mixHash(c);
    return c;
  }

  decryptAndHash(ciphertext: Uint8Array): Uint8Array {
    const p = this.cipher.decryptWithAd(this.h, ciphertext);
    this.mixHash(ciphertext);
    return p;
  }

  split(): [CipherState, CipherState] {
    const [k1, k2] = hkdf(this.ck, EMPTY, 2);
    return [new CipherState(k1), new CipherState(k2)];
  }
}

type Token = 'e' | 's' | 'ee' | 'es' | 'se' | 'ss' | 'psk';

/** IK: <- s ... -> e, es, s, ss  <- e, ee, se. pskN puts "psk" after message N's tokens (N>0). */
function ikPattern(psk: 0 | 1 | 2): Token[][] {
  const m1: Token[] = ['e', 'es', 's', 'ss'];
  const m2: Token[] = ['e', 'ee', 'se'];
  if (psk === 1) m1.push('psk');
  if (psk === 2) m2.push('psk');
  return [m1, m2];
}

export interface HandshakeOptions {
  initiator: boolean;
  prologue: Uint8Array;
  s: KeyPair;
  /** Responder's static public key: known to the initiator (IK), learnt by the responder. */
  rs?: Uint8Array;
  psk?: Uint8Array;
  pskPosition?: 0 | 1 | 2;
  /** Injected ephemeral secret (test vectors only). */
  ephemeralSecret?: Uint8Array;
  /**
   * Where the ephemeral secret comes from otherwise: 32 bytes of `rng` (X25519 clamps them,
   * RFC 7748 §5), so that a seeded simulation replays byte for byte. Without either, the crypto
   * backend's own generator makes one.
   */
  rng?: Rng;
  protocolName?: string;
}

function x25519Pair(secret: Uint8Array): KeyPair {
  return { secretKey: secret, publicKey: signatures.x25519PublicKey(secret) };
}

/** An IK / IKpskN handshake (Noise §5.3 HandshakeState), two messages. */
export class IkHandshake {
  readonly ss: SymmetricState;
  private readonly messages: Token[][];
  private next = 0;
  private e: KeyPair | undefined;
  private re: Uint8Array | undefined;
  rs: Uint8Array | undefined;

  constructor(private readonly o: HandshakeOptions) {
    const psk = o.pskPosition ?? 0;
    if (psk !== 0 && (o.psk === undefined || o.psk.length !== 32)) throw new RangeError('a PSK handshake needs a 32-byte psk');
    this.ss = new SymmetricState(o.protocolName ?? `Noise_IK${psk ? `psk${psk}` : ''}_25519_ChaChaPoly_BLAKE2s`);
    this.messages = ikPattern(psk);
    this.rs = o.rs;
    this.ss.mixHash(o.prologue);
    // Pre-message pattern "<- s": both sides hash the responder's static public key.
    if (o.initiator) {
      if (o.rs === undefined) throw new RangeError('the IK initiator needs the responder\'s static key');
      this.ss.mixHash(o.rs);
    } else this.ss.mixHash(o.s.publicKey);
  }

  private get hasPsk(): boolean {
    return (this.o.pskPosition ?? 0) !== 0;
  }

  private dh(a: KeyPair | undefined, b: Uint8Array | undefined): Uint8Array {
    if (a === undefined || b === undefined) throw new NoiseError('missing key for DH');
    try {
      return signatures.x25519(a.secretKey, b);
    } catch {
      throw new NoiseError('low-order public key');
    }
  }

  private mixDh(token: Token): void {
    const init = this.o.initiator;
    // Noise §7: "es" is DH(e, rs) for the initiator and DH(s, re) for the responder, etc.
    const pair: Record<'ee' | 'es' | 'se' | 'ss', [KeyPair | undefined, Uint8Array | undefined]> = {
      ee: [this.e, this.re],
      es: init ? [this.e, this.rs] : [this.o.s, this.re],
      se: init ? [this.o.s, this.re] : [this.e, this.rs],
      ss: [this.o.s, this.rs],
    };
    const [a, b] = pair[token as 'ee'];
    this.ss.mixKey(this.dh(a, b));
  }

  private makeEphemeral(): KeyPair {
    if (this.o.ephemeralSecret !== undefined) return x25519Pair(this.o.ephemeralSecret);
    if (this.o.rng !== undefined) return x25519Pair(this.o.rng.bytes(DHLEN));
    return signatures.x25519Generate();
  }

  writeMessage(payload: Uint8Array): Uint8Array {
    const tokens = this.messages[this.next++];
    if (tokens === undefined) throw new NoiseError('handshake already complete');
    const out: Uint8Array[] = [];
    for (const t of tokens) {
      if (t === 'e') {
        this.e = this.makeEphemeral();
        out.push(this.e.publicKey);
        this.ss.mixHash(this.e.publicKey);
        if (this.hasPsk) this.ss.mixKey(this.e.publicKey);
      } else if (t === 's') out.push(this.ss.encryptAndHash(this.o.s.publicKey));
      else if (t === 'psk') this.ss.mixKeyAndHash(this.o.psk!);
      else this.mixDh(t);
    }
    out.push(this.ss.encryptAndHash(payload));
    return concatBytes(...out);
  }

  /** Sets the PSK late: a psk2 responder learns who the initiator is (and so the PSK) from message 1. */
  setPsk(psk: Uint8Array): void {
    if (psk.length !== 32) throw new RangeError('a psk has 32 bytes');
    (this.o as { psk?: Uint8Array }).psk = psk;
  }

  /**
   * Returns the payload; throws NoiseError for anything that does not authenticate, and then
   * leaves the state as it was, so that a forged message cannot spoil a handshake under way.
   * `acceptStatic` sees the remote static key as soon as an `s` token is decrypted; false stops
   * there (NoiseError, state restored) before the remaining DH work.
   */
  readMessage(message: Uint8Array, acceptStatic?: (rs: Uint8Array) => boolean): Uint8Array {
    const saved = { ck: this.ss.ck, h: this.ss.h, cipher: this.ss.cipher, n: this.ss.cipher.n, re: this.re, rs: this.rs, next: this.next };
    try {
      return this.readMessageUnsafe(message, acceptStatic);
    } catch (e) {
      Object.assign(this.ss, { ck: saved.ck, h: saved.h, cipher: saved.cipher });
      saved.cipher.n = saved.n;
      this.re = saved.re;
      this.rs = saved.rs;
      this.next = saved.next;
      throw e;
    }
  }

  private readMessageUnsafe(message: Uint8Array, acceptStatic?: (rs: Uint8Array) => boolean): Uint8Array {
    const tokens = this.messages[this.next++];
    if (tokens === undefined) throw new NoiseError('handshake already complete');
    let off = 0;
    const take = (n: number): Uint8Array => {
      if (off + n > message.length) throw new NoiseError('message too short');
      const b = message.subarray(off, off + n);
      off += n;
      return b;
    };
    for (const t of tokens) {
      if (t === 'e') {
        this.re = new Uint8Array(take(DHLEN));
        this.ss.mixHash(this.re);
        if (this.hasPsk) this.ss.mixKey(this.re);
      } else if (t === 's') {
        const len = this.ss.cipher.hasKey() ? DHLEN + TAG_BYTES : DHLEN;
        this.rs = new Uint8Array(this.ss.decryptAndHash(take(len)));
        if (acceptStatic && !acceptStatic(this.rs)) throw new NoiseError('static key refused');
      } else if (t === 'psk') this.ss.mixKeyAndHash(this.o.psk!);
      else this.mixDh(t);
    }
    return this.ss.decryptAndHash(message.subarray(off));
  }

  get complete(): boolean {
    return this.next >= this.messages.length;
  }

  /** After the last message: (initiator→responder, responder→initiator) cipher states. */
  split(): [CipherState, CipherState] {
    if (!this.complete) throw new NoiseError('handshake not complete');
    return this.ss.split();
  }

  get handshakeHash(): Uint8Array {
    return this.ss.h;
  }
}
