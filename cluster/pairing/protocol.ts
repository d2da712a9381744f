// The pairing protocol as two pure state machines (no I/O, no clock): the joiner (CPace
// initiator, who typed the code) and the offerer's responder (one per connection to an offer).
// agent/pairing-service.ts carries their messages over TCP; test/sim drives them directly.
// Wire format: cluster/pairing/README.md.
//
//   J → O  hello   { t: "hello", v: 1, offer, sid: 16 B, Y: Ya }
//   O → J  share   { t: "share", Y: Yb, mac: macO }                (or abort)
//   J → O  confirm { t: "confirm", mac: macJ, box: seal(kJ, friend card J) }   (or abort)
//   O → J  card    { t: "card", box: seal(kO, friend card O) }     (or abort)
//
// With `verify: true` in the confirm (`kith pair --code … --verify`), the joiner's person compares
// the safety numbers first, and neither side commits until they answered:
//   J → O  verdict { t: "verdict", box: seal(kJ2, { ok: bool }) }   O befriends only on ok: true
// With `verify: true` in the card (`kith pair --verify` offering), the offerer's person answers
// last (after the joiner's ok, when both verify), and the joiner commits only on its ok:
//   O → J  verdict { t: "verdict", box: seal(kO2, { ok: bool }) }   J befriends only on ok: true
//
// A new node of the same user (`kith node add`) enrolls instead of befriending, after the share:
//   J → O  enroll  { t: "enroll", mac: macJ, box: seal(kJ, user key) }
//   O → J  index   { t: "index", box: seal(kO, { node: uint }) }     the index O allots
//   J → O  card    { t: "card", box: seal(kJ2, friend card of the new node, certified as that index) }
//   O → J  welcome { t: "welcome", box: seal(kO2, welcome (cluster/roster.ts)) }
//
// A wrong code makes the MACs differ: the joiner sees it in `share` and aborts, the responder
// sees the abort (or a bad macJ): both fail with PAIR_WRONG_CODE, and the offer is used up.
import { hmac } from '@noble/hashes/hmac.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { aead } from '../../core/aead.js';
import { decodeCanonical, encodeCanonical, type CborValue } from '../../core/cbor.js';
import { KithError, isKithError, type ErrorCode } from '../../core/errors.js';
import { bytesEqual, toHex } from '../../core/hex.js';
import type { Rng } from '../../core/rng.js';
import { calculateGenerator, cpaceIsk, cpaceSecret, cpaceShare, lvCat } from './cpace.js';
import { pakePassword, safetyNumber, type PairCode } from './code.js';
import { openFriendCard, type FriendCard } from './friend-card.js';
import type { NodeCard } from '../card.js';
import { openWelcome, type Welcome } from '../roster.js';

export const PAIR_VERSION = 1;
const MAX_MESSAGE = 32 * 1024;
const LIMITS = { maxBytes: MAX_MESSAGE, maxDepth: 4, maxItems: 64 };
const utf8 = new TextEncoder();
const NONCE = new Uint8Array(12);

/** What a side brings: its signed friend card, and who it refuses. */
export interface PairSelf {
  userKey: Uint8Array;
  friendCard: Uint8Array;
  isBlocked(userKey: Uint8Array): boolean;
  /** On an offerer that can enroll the user's new nodes: the index to give, and what to give. */
  enroll?: {
    nextIndex(): number;
    welcome(node: NodeCard): Uint8Array;
  };
}

/** A new machine of a user joining with `kith node add`: it certifies itself once told its index. */
export interface EnrollSelf {
  userKey: Uint8Array;
  /** The new node's friend card (only itself), its certificate for `nodeIndex`. */
  certify(nodeIndex: number): Uint8Array;
}

/** The end of an enrollment, on the new node's side. */
export interface EnrollResult {
  nodeIndex: number;
  welcome: Welcome;
}

export interface PairResult {
  friend: FriendCard;
  /** The pair's fresh 32-byte secret (PSK and rendezvous secret are derived from it). */
  secret: Uint8Array;
  safetyNumber: string;
}

/** One step of a side: what to send, and how it ended (a friend, an enrolled node, a welcome, or an error). */
export type Step = { send?: Uint8Array; result?: PairResult; enrolled?: NodeCard; welcome?: EnrollResult; error?: KithError; confirming?: PairResult };

/** How long an offerer waits for a verifying joiner's verdict (a person reads two screens). */
export const VERDICT_TIMEOUT_MS = 2 * 60_000;

/** The channel identifier: binds the exchange to kith pairing and to the offer number. */
export function channelId(offer: number): Uint8Array {
  return lvCat(utf8.encode('kith-pair-v1'), new Uint8Array([offer >> 8, offer & 255]));
}

function derive(isk: Uint8Array, label: string): Uint8Array {
  return hmac(sha512, isk, utf8.encode(`kith-pair ${label}`)).slice(0, 32);
}

interface Keys {
  macJ: Uint8Array;
  macO: Uint8Array;
  kJ: Uint8Array;
  kO: Uint8Array;
  kJ2: Uint8Array;
  kO2: Uint8Array;
  secret: Uint8Array;
}

function keysFrom(isk: Uint8Array): Keys {
  return {
    macJ: derive(isk, 'confirm initiator'), macO: derive(isk, 'confirm responder'),
    kJ: derive(isk, 'key initiator'), kO: derive(isk, 'key responder'),
    kJ2: derive(isk, 'key initiator 2'), kO2: derive(isk, 'key responder 2'), secret: derive(isk, 'pair secret'),
  };
}

const seal = (key: Uint8Array, plain: Uint8Array, ad: string): Uint8Array => aead.seal(key, NONCE, plain, utf8.encode(ad));
const open = (key: Uint8Array, box: Uint8Array, ad: string): Uint8Array => {
  const plain = aead.open(key, NONCE, box, utf8.encode(ad));
  if (!plain) throw new KithError('PAIR_FAILED', `pairing: a box (${ad}) does not decrypt`);
  return plain;
};

export function encodeMessage(m: Record<string, CborValue>): Uint8Array {
  return encodeCanonical(m);
}

/** A message as a map with a known `t`, or PAIR_FAILED. */
export function decodeMessage(bytes: Uint8Array): Record<string, CborValue> {
  try {
    const v = decodeCanonical(bytes, LIMITS);
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) throw new Error('not a map');
    const m = v as Record<string, CborValue>;
    if (typeof m['t'] !== 'string') throw new Error('no type');
    return m;
  } catch (e) {
    throw new KithError('PAIR_FAILED', `pairing: a malformed message (${isKithError(e) ? e.message : (e as Error).message})`);
  }
}

function bytesField(m: Record<string, CborValue>, k: string, len?: number): Uint8Array {
  const v = m[k];
  if (!(v instanceof Uint8Array) || (len !== undefined && v.length !== len)) throw new KithError('PAIR_FAILED', `pairing: field "${k}" must be ${len ?? 'some'} bytes`);
  return v;
}

/** An abort message: the reason is one of the stable codes, nothing more. */
function abort(code: ErrorCode): Uint8Array {
  return encodeMessage({ t: 'abort', code });
}

const ABORT_CODES: ErrorCode[] = ['PAIR_WRONG_CODE', 'PAIR_EXPIRED', 'PAIR_REFUSED', 'PAIR_RATE_LIMITED', 'PAIR_FAILED', 'PAIR_BUSY'];

function fromAbort(m: Record<string, CborValue>): KithError {
  const code = ABORT_CODES.includes(m['code'] as ErrorCode) ? (m['code'] as ErrorCode) : 'PAIR_FAILED';
  const text: Partial<Record<ErrorCode, string>> = {
    PAIR_WRONG_CODE: 'the codes did not match: nothing was exchanged, and that offer is used up',
    PAIR_EXPIRED: 'that offer expired or was already used',
    PAIR_REFUSED: 'the other agent refused to pair',
    PAIR_RATE_LIMITED: 'the other agent asks to wait before trying again',
    PAIR_BUSY: 'another joiner is pairing with that offer right now',
  };
  return new KithError(code, text[code] ?? 'the other agent gave up');
}

function openPeerCard(self: PairSelf, key: Uint8Array, box: Uint8Array, ad: string): FriendCard | KithError {
  const plain = aead.open(key, NONCE, box, utf8.encode(ad));
  if (!plain) return new KithError('PAIR_FAILED', 'pairing: the friend card does not decrypt');
  let card: FriendCard;
  try {
    card = openFriendCard(plain);
  } catch (e) {
    return isKithError(e) ? new KithError('PAIR_FAILED', `pairing: ${e.message}`) : new KithError('PAIR_FAILED', 'pairing: a bad friend card');
  }
  if (bytesEqual(card.userKey, self.userKey)) return new KithError('PAIR_REFUSED', 'that is this same user: add own machines with `kith node add`');
  if (self.isBlocked(card.userKey)) return new KithError('PAIR_REFUSED', `user ${toHex(card.userKey).slice(0, 12)}… is blocked`);
  return card;
}

/** The side that typed the code: a friend pairing, or (with an EnrollSelf) a new own node enrolling. */
export class PairInitiator {
  private state: 'new' | 'sent-hello' | 'sent-confirm' | 'sent-enroll' | 'sent-card' | 'wait-offer-verdict' | 'done' = 'new';
  /** The friend pairing, held while the offerer's person compares the safety numbers. */
  private held: PairResult | undefined;
  /** The offerer's card said `verify`: the pairing waits for its verdict. */
  offererVerifies = false;
  private readonly y: Uint8Array;
  private readonly sid: Uint8Array;
  private ya: Uint8Array | undefined;
  private keys: Keys | undefined;
  private nodeIndex = -1;

  /** `verify`: the offerer waits for `verdict(ok)` before it commits the friendship. */
  constructor(private readonly code: PairCode, private readonly self: PairSelf | EnrollSelf, rng: Rng, private readonly opts: { verify?: boolean } = {}) {
    this.y = rng.bytes(32);
    this.sid = rng.bytes(16);
  }

  private get enrolling(): EnrollSelf | undefined {
    return 'certify' in this.self ? this.self : undefined;
  }

  start(): Uint8Array {
    if (this.state !== 'new') throw new KithError('PAIR_FAILED', 'pairing: already started');
    const g = calculateGenerator(pakePassword(this.code), channelId(this.code.offer), this.sid);
    this.ya = cpaceShare(this.y, g);
    this.state = 'sent-hello';
    return encodeMessage({ t: 'hello', v: PAIR_VERSION, offer: this.code.offer, sid: this.sid, Y: this.ya });
  }

  receive(bytes: Uint8Array): Step {
    const fail = (e: KithError, send?: Uint8Array): Step => {
      this.state = 'done';
      this.y.fill(0);
      return send ? { error: e, send } : { error: e };
    };
    if (this.state === 'done' || this.state === 'new') return { error: new KithError('PAIR_FAILED', 'pairing: a message after the end') };
    let m: Record<string, CborValue>;
    try {
      m = decodeMessage(bytes);
    } catch (e) {
      return fail(e as KithError, abort('PAIR_FAILED'));
    }
    if (m['t'] === 'abort') return fail(fromAbort(m));
    try {
      if (this.state === 'sent-hello' && m['t'] === 'share') {
        const yb = bytesField(m, 'Y', 32);
        const mac = bytesField(m, 'mac', 32);
        const k = cpaceSecret(this.y, yb);
        if (!k) return fail(new KithError('PAIR_FAILED', 'pairing: the other share is a low-order point'), abort('PAIR_FAILED'));
        const keys = keysFrom(cpaceIsk(this.sid, k, this.ya!, new Uint8Array(), yb, new Uint8Array()));
        if (!bytesEqual(mac, keys.macO)) {
          return fail(new KithError('PAIR_WRONG_CODE', 'the codes did not match: nothing was exchanged, and that offer is used up'), abort('PAIR_WRONG_CODE'));
        }
        this.keys = keys;
        const enrolling = this.enrolling;
        if (enrolling) {
          this.state = 'sent-enroll';
          return { send: encodeMessage({ t: 'enroll', mac: keys.macJ, box: seal(keys.kJ, enrolling.userKey, 'kith-pair enroll') }) };
        }
        this.state = 'sent-confirm';
        const box = seal(keys.kJ, (this.self as PairSelf).friendCard, 'kith-pair card initiator');
        return { send: encodeMessage({ t: 'confirm', mac: keys.macJ, box, ...(this.opts.verify ? { verify: true } : {}) }) };
      }
      if (this.state === 'sent-confirm' && m['t'] === 'card') {
        const verifies = m['verify'] === true;
        const card = openPeerCard(this.self as PairSelf, this.keys!.kO, bytesField(m, 'box'), verifies ? 'kith-pair card responder verify' : 'kith-pair card responder');
        if (card instanceof KithError) return fail(card);
        const result = { friend: card, secret: this.keys!.secret, safetyNumber: safetyNumber(this.self.userKey, card.userKey) };
        if (!verifies) {
          this.state = 'done';
          return { result };
        }
        // Nothing is committed until the offerer's person answers (after this side's, if it verifies).
        this.offererVerifies = true;
        this.state = 'wait-offer-verdict';
        this.held = result;
        return this.opts.verify ? { result } : {};
      }
      if (this.state === 'wait-offer-verdict' && m['t'] === 'verdict') {
        const v = decodeCanonical(open(this.keys!.kO2, bytesField(m, 'box'), 'kith-pair offer verdict'), LIMITS) as Record<string, CborValue>;
        if (typeof v?.['ok'] !== 'boolean') return fail(new KithError('PAIR_FAILED', 'pairing: a bad verdict'));
        if (!v['ok']) return fail(new KithError('PAIR_NOT_CONFIRMED', 'the offerer did not confirm the safety number: nothing changed'));
        const result = this.held!;
        this.held = undefined;
        this.state = 'done';
        return { result };
      }
      if (this.state === 'sent-enroll' && m['t'] === 'index') {
        const v = decodeCanonical(open(this.keys!.kO, bytesField(m, 'box'), 'kith-pair index'), LIMITS) as Record<string, CborValue>;
        const n = v?.['node'];
        if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 0x7fffffff) return fail(new KithError('PAIR_FAILED', 'pairing: a bad node index'), abort('PAIR_FAILED'));
        this.nodeIndex = n;
        this.state = 'sent-card';
        return { send: encodeMessage({ t: 'card', box: seal(this.keys!.kJ2, this.enrolling!.certify(n), 'kith-pair card initiator') }) };
      }
      if (this.state === 'sent-card' && m['t'] === 'welcome') {
        const welcome = openWelcome(open(this.keys!.kO2, bytesField(m, 'box'), 'kith-pair welcome'), this.self.userKey);
        this.state = 'done';
        return { welcome: { nodeIndex: this.nodeIndex, welcome } };
      }
    } catch (e) {
      return fail(isKithError(e) ? new KithError(e.code === 'ROSTER_INVALID' ? 'PAIR_FAILED' : e.code, e.message) : new KithError('PAIR_FAILED', 'pairing: a bad message'), abort('PAIR_FAILED'));
    }
    return fail(new KithError('PAIR_FAILED', `pairing: unexpected "${String(m['t']).slice(0, 20)}"`), abort('PAIR_FAILED'));
  }

  /** After a verifying friend pairing: the person's answer, the last message (the offerer commits only on ok). */
  verdict(ok: boolean): Uint8Array {
    if (!this.opts.verify || !this.keys || this.enrolling) throw new KithError('PAIR_FAILED', 'pairing: no verdict to give');
    return encodeMessage({ t: 'verdict', box: seal(this.keys.kJ2, encodeCanonical({ ok }), 'kith-pair verdict') });
  }
}

/** The offerer's side of one connection. Made by PairOffer.accept. */
export class PairResponder {
  private state: 'wait-hello' | 'wait-confirm' | 'wait-card' | 'wait-verdict' | 'wait-own' | 'done' = 'wait-hello';
  private readonly y: Uint8Array;
  private keys: Keys | undefined;
  /** A verifying joiner's pairing, held until its verdict. */
  private held: PairResult | undefined;
  private nodeIndex = -1;
  /**
   * 'none' until a share is sent; then a spent guess ('wrong-code') unless it succeeds. 'refused':
   * the code was proven but the joiner's person said no (the offer is used, the address may retry).
   */
  outcome: 'none' | 'success' | 'wrong-code' | 'failed' | 'refused' = 'none';

  /** `verify`: this side's person answers (`answer(ok)`) before either side commits. */
  constructor(private readonly code: PairCode, private readonly self: PairSelf, rng: Rng, private readonly opts: { verify?: boolean } = {}) {
    this.y = rng.bytes(32);
  }

  /** The cards are exchanged and a person (the joiner's or this side's) is comparing the safety numbers. */
  get awaitingVerdict(): boolean {
    return this.state === 'wait-verdict' || this.state === 'wait-own';
  }

  /** This side's person's answer, after a `confirming` step: the verdict to send, and on ok the result. */
  answer(ok: boolean): Step {
    if (this.state !== 'wait-own') return { error: new KithError('PAIR_EXPIRED', 'pairing: no answer is awaited') };
    const send = encodeMessage({ t: 'verdict', box: seal(this.keys!.kO2, encodeCanonical({ ok }), 'kith-pair offer verdict') });
    const result = this.held!;
    this.held = undefined;
    this.state = 'done';
    this.y.fill(0);
    this.outcome = ok ? 'success' : 'refused';
    return ok ? { send, result } : { send, error: new KithError('PAIR_NOT_CONFIRMED', 'the safety number was not confirmed here: nothing changed') };
  }

  private holdForOwn(result: PairResult, send?: Uint8Array): Step {
    this.state = 'wait-own';
    this.outcome = 'failed';
    this.held = result;
    return send ? { send, confirming: result } : { confirming: result };
  }

  receive(bytes: Uint8Array): Step {
    const fail = (e: KithError, outcome: PairResponder['outcome'], send?: Uint8Array): Step => {
      this.held = undefined;
      this.state = 'done';
      this.outcome = outcome;
      this.y.fill(0);
      return send ? { error: e, send } : { error: e };
    };
    // After the share, a failure spends the guess; once the code is proven, it is a plain failure.
    const spent = (): PairResponder['outcome'] => (this.state === 'wait-confirm' ? 'wrong-code' : this.state === 'wait-card' || this.awaitingVerdict ? 'failed' : 'none');
    if (this.state === 'done') return { error: new KithError('PAIR_FAILED', 'pairing: a message after the end') };
    let m: Record<string, CborValue>;
    try {
      m = decodeMessage(bytes);
    } catch (e) {
      return fail(e as KithError, spent(), abort('PAIR_FAILED'));
    }
    try {
      if (this.state === 'wait-hello' && m['t'] === 'hello') {
        if (m['v'] !== PAIR_VERSION) return fail(new KithError('PAIR_FAILED', `pairing: version ${String(m['v'])} is not spoken here`), 'none', abort('PAIR_FAILED'));
        if (m['offer'] !== this.code.offer) return fail(new KithError('PAIR_FAILED', 'pairing: a hello for another offer'), 'none', abort('PAIR_EXPIRED'));
        const sid = bytesField(m, 'sid', 16);
        const ya = bytesField(m, 'Y', 32);
        const g = calculateGenerator(pakePassword(this.code), channelId(this.code.offer), sid);
        const yb = cpaceShare(this.y, g);
        const k = cpaceSecret(this.y, ya);
        // From here on the offer is at stake: a bad share counts as a guess.
        if (!k) return fail(new KithError('PAIR_WRONG_CODE', 'pairing: the joiner sent a low-order point'), 'wrong-code', abort('PAIR_FAILED'));
        this.keys = keysFrom(cpaceIsk(sid, k, ya, new Uint8Array(), yb, new Uint8Array()));
        this.state = 'wait-confirm';
        // macO lets the joiner check its guess: from here on, leaving without a valid confirm
        // (even by just disconnecting) counts as a wrong guess and spends the offer.
        this.outcome = 'wrong-code';
        return { send: encodeMessage({ t: 'share', Y: yb, mac: this.keys.macO }) };
      }
      if ((this.state === 'wait-confirm' || this.state === 'wait-verdict' || this.state === 'wait-own') && m['t'] === 'abort') {
        const e = fromAbort(m);
        return fail(e, e.code === 'PAIR_WRONG_CODE' ? 'wrong-code' : 'failed');
      }
      if (this.state === 'wait-confirm' && (m['t'] === 'confirm' || m['t'] === 'enroll')) {
        if (!bytesEqual(bytesField(m, 'mac', 32), this.keys!.macJ)) {
          return fail(new KithError('PAIR_WRONG_CODE', 'the codes did not match: nothing was exchanged, and this offer is used up'), 'wrong-code', abort('PAIR_WRONG_CODE'));
        }
        if (m['t'] === 'enroll') return this.enroll(bytesField(m, 'box'), fail);
        const card = openPeerCard(this.self, this.keys!.kJ, bytesField(m, 'box'), 'kith-pair card initiator');
        if (card instanceof KithError) return fail(card, 'failed', abort(card.code === 'PAIR_REFUSED' ? 'PAIR_REFUSED' : 'PAIR_FAILED'));
        const mine = this.opts.verify === true;
        const box = seal(this.keys!.kO, this.self.friendCard, mine ? 'kith-pair card responder verify' : 'kith-pair card responder');
        const send = encodeMessage({ t: 'card', box, ...(mine ? { verify: true } : {}) });
        const result = { friend: card, secret: this.keys!.secret, safetyNumber: safetyNumber(this.self.userKey, card.userKey) };
        if (m['verify'] === true) {
          // Nothing is committed until the joiner's person answers; no answer is a "no".
          this.state = 'wait-verdict';
          this.outcome = 'failed';
          this.held = result;
          return { send };
        }
        if (mine) return this.holdForOwn(result, send);
        this.state = 'done';
        this.outcome = 'success';
        return { send, result };
      }
      if (this.state === 'wait-verdict' && m['t'] === 'verdict') {
        const v = decodeCanonical(open(this.keys!.kJ2, bytesField(m, 'box'), 'kith-pair verdict'), LIMITS) as Record<string, CborValue>;
        if (typeof v?.['ok'] !== 'boolean') return fail(new KithError('PAIR_FAILED', 'pairing: a bad verdict'), 'failed');
        if (!v['ok']) return fail(new KithError('PAIR_NOT_CONFIRMED', 'the joiner did not confirm the safety number: nothing changed'), 'refused');
        const result = this.held!;
        if (this.opts.verify) return this.holdForOwn(result);
        this.held = undefined;
        this.state = 'done';
        this.outcome = 'success';
        return { result };
      }
      if (this.state === 'wait-card' && m['t'] === 'card') {
        const card = openFriendCard(open(this.keys!.kJ2, bytesField(m, 'box'), 'kith-pair card initiator'));
        const node = card.nodes[0]!;
        if (!bytesEqual(card.userKey, this.self.userKey) || card.nodes.length !== 1 || node.cert.nodeIndex !== this.nodeIndex) {
          return fail(new KithError('PAIR_FAILED', `pairing: the new node did not send one certificate of this user for node ${this.nodeIndex}`), 'failed', abort('PAIR_FAILED'));
        }
        this.state = 'done';
        this.outcome = 'success';
        return { send: encodeMessage({ t: 'welcome', box: seal(this.keys!.kO2, this.self.enroll!.welcome(node), 'kith-pair welcome') }), enrolled: node };
      }
    } catch (e) {
      return fail(isKithError(e) ? new KithError(e.code === 'CARD_INVALID' ? 'PAIR_FAILED' : e.code, e.message) : new KithError('PAIR_FAILED', 'pairing: a bad message'), spent(), abort('PAIR_FAILED'));
    }
    return fail(new KithError('PAIR_FAILED', `pairing: unexpected "${String(m['t']).slice(0, 20)}"`), spent(), abort('PAIR_FAILED'));
  }

  /** The code is proven: a new node of this same user asks to enroll. */
  private enroll(box: Uint8Array, fail: (e: KithError, o: PairResponder['outcome'], send?: Uint8Array) => Step): Step {
    const user = open(this.keys!.kJ, box, 'kith-pair enroll');
    if (!bytesEqual(user, this.self.userKey)) {
      return fail(new KithError('PAIR_REFUSED', 'a node of another user tried to enroll as this user\'s node'), 'failed', abort('PAIR_REFUSED'));
    }
    if (!this.self.enroll) {
      return fail(new KithError('PAIR_REFUSED', 'this node cannot enroll new nodes: its key file predates own-node pairing (recreate it with `kith init --recover`)'), 'failed', abort('PAIR_REFUSED'));
    }
    this.nodeIndex = this.self.enroll.nextIndex();
    this.state = 'wait-card';
    this.outcome = 'failed';
    return { send: encodeMessage({ t: 'index', box: seal(this.keys!.kO, encodeCanonical({ node: this.nodeIndex }), 'kith-pair index') }) };
  }
}

/**
 * One offer: its code, its expiry, single use, and a per-address rate limit. A connection whose
 * hello fails before the PAKE (malformed, other offer) does not spend the offer; one that reaches
 * the PAKE does, whatever its end: one guess per code.
 */
export class PairOffer {
  private spent = false;
  private active: PairResponder | undefined;
  /** Address → time of its last failed attempt (shared by the agent's offers). */
  constructor(
    readonly code: PairCode,
    readonly expiresAtMs: number,
    private readonly self: PairSelf,
    private readonly rng: Rng,
    private readonly failures: Map<string, number>,
    private readonly rateLimitMs = 60_000,
    private readonly opts: { verify?: boolean } = {},
  ) {}

  get isOpen(): boolean {
    return !this.spent;
  }

  /** A responder for a connection from `host`, or the abort to send back. */
  accept(host: string, nowMs: number): PairResponder | { refuse: Uint8Array; error: KithError } {
    const last = this.failures.get(host);
    if (last !== undefined && nowMs - last < this.rateLimitMs) return { refuse: abort('PAIR_RATE_LIMITED'), error: new KithError('PAIR_RATE_LIMITED', `${host} failed a moment ago`) };
    if (this.spent || nowMs >= this.expiresAtMs) return { refuse: abort('PAIR_EXPIRED'), error: new KithError('PAIR_EXPIRED', 'the offer is used or expired') };
    if (this.active) return { refuse: abort('PAIR_BUSY'), error: new KithError('PAIR_BUSY', 'another joiner is pairing with the offer') };
    this.active = new PairResponder(this.code, this.self, this.rng, this.opts);
    return this.active;
  }

  /** Called when a connection ends: spends the offer if the PAKE was reached. */
  settle(r: PairResponder, host: string, nowMs: number): void {
    if (r !== this.active) return;
    this.active = undefined;
    if (r.outcome === 'none') return;
    if (r.outcome === 'success' || r.outcome === 'refused') this.spent = true;
    else {
      this.spent = true;
      this.failures.set(host, nowMs);
    }
  }

  expire(): void {
    this.spent = true;
  }
}
