// Conversations in a node's store: create, post, list, show, and deterministic closing.
//
// Store keys (core/store.ts):
//   conv/<id>/head                       the signed conversation header
//   conv/<id>/m/<author hex>/<seq, 10 digits>   signed messages; a range over one author's keys
//                                        is the cursor "everything after N"
//   conv/<id>/close/<closing hash>       signed closing records
//   convidx/<id>                         one key per conversation, for listing
//
// Closing is a pure function of the message set: replay in canonical order and evaluate the
// method after each accepted message at that message's time; the first prefix where the method is
// reached is the decision (evaluatedAt = that message's time). If none is reached and the deadline
// has passed, the decision is at deadline + 1 ms over every message. So every agent with the same
// messages writes a closing record with the same messages, time and outcome, whatever the arrival
// order; of two valid records, the one naming fewer messages wins, then the earlier time, then the
// smaller record hash.
import type { Clock } from '../core/clock.js';
import type { Rng } from '../core/rng.js';
import type { OpenedObject } from '../core/signed.js';
import type { CborValue } from '../core/cbor.js';
import { KithError, isKithError } from '../core/errors.js';
import { bytesEqual, fromHex, toHex } from '../core/hex.js';
import { encodeCanonical } from '../core/cbor.js';
import { outcomeValue } from './outcome.js';
import { prefixEnd, type BatchOp, type KvStore } from '../core/store.js';
import { ABSTAIN, type BallotShape } from './ballots.js';
import { fitProblems, LIMITS } from './fit.js';
import { checkMethodSpec, evaluateSpec, type MethodSpec } from './method-spec.js';
import type { MethodResult } from './methods/common.js';
import { applyMessage, canonicalOrder, checkMessage, methodInput, replay, type ReplayState } from './patterns.js';
import { verifyCertificate } from '../identity/certificate.js';
import {
  hashHex, openClosing, openConversation, openMessage, peekMessage, readMessage, signClosing, signConversation, signMessage, PATTERNS,
  type Closing, type Conversation, type Message, type MessageKind, type PatternName, type Signer,
} from './records.js';

export interface NewConversation {
  topic: string;
  with: Uint8Array[];
  pattern: PatternName;
  /** Optional for a discussion (it then closes at its deadline, if it has one). */
  method?: MethodSpec;
  deadlineMs?: number;
  options?: string[];
  ballot?: BallotShape;
  sides?: { name: string; members: Uint8Array[] }[];
  rounds?: number;
}

export interface Decision {
  messages: string[];
  evaluatedAtMs: number;
  result: MethodResult;
}

/** A discussion's default method: closed at the deadline (never, without one). */
export const DISCUSSION_METHOD: MethodSpec = { kind: 'cel', reached: 'deadlinePassed' };

const pad = (n: number) => String(n).padStart(10, '0');

/**
 * Finds the first reached prefix while messages are applied in canonical order. A built-in
 * method's input changes only with the votes, the informed participants or the deadline having
 * passed, so it is evaluated only when one of those changed (its answer in between is the same);
 * a CEL method sees the message count too and is evaluated after every accepted message.
 */
export class Decider {
  decision: Decision | undefined;
  private key = '';

  constructor(private readonly conv: Conversation) {}

  /** After `m` was accepted into `s`; true once the decision is reached. */
  step(s: ReplayState, m: Message): boolean {
    if (this.decision) return true;
    const c = this.conv;
    const passed = c.deadlineMs > 0 && m.atMs > c.deadlineMs;
    const key = c.method.kind === 'cel' ? String(s.accepted.length) : `${s.votesVersion}|${s.informed.size}|${passed}`;
    if (key === this.key) return false;
    this.key = key;
    const result = evaluateSpec(c.method, methodInput(s, m.atMs), { messages: s.accepted.length, deadlineMs: c.deadlineMs, nowMs: m.atMs });
    if (result.reached) this.decision = { messages: s.accepted.map((x) => x.hash).sort(), evaluatedAtMs: m.atMs, result };
    return result.reached;
  }
}

/** The decision at the deadline (none reached before it): every message up to it, at deadline + 1. */
export function deadlineDecision(conv: Conversation, accepted: Message[]): Decision {
  const at = conv.deadlineMs + 1;
  const upTo = accepted.filter((m) => m.atMs <= conv.deadlineMs);
  const s = replay(conv, upTo);
  const result = evaluateSpec(conv.method, methodInput(s, at), { messages: upTo.length, deadlineMs: conv.deadlineMs, nowMs: at });
  return { messages: upTo.map((m) => m.hash).sort(), evaluatedAtMs: at, result };
}

/** The decision of a message set (see the file comment), or undefined when none is reached yet. */
export function decide(conv: Conversation, messages: Message[], nowMs: number): Decision | undefined {
  // One pass: a prefix of the canonical replay is the replay of that prefix (acceptance depends
  // only on earlier messages), so the method is evaluated on the live state after each message.
  const d = new Decider(conv);
  const full = replay(conv, messages, (s, m) => d.step(s, m));
  if (d.decision) return d.decision;
  if (conv.deadlineMs > 0 && nowMs > conv.deadlineMs) return deadlineDecision(conv, full.accepted);
  return undefined;
}

/** Re-evaluates a closing record over exactly the messages it names. */
export function verifyClosing(conv: Conversation, closing: Closing, known: Map<string, Message>): { valid: boolean; reason?: string } {
  if (closing.conv !== conv.id) return { valid: false, reason: 'for another conversation' };
  const named: Message[] = [];
  for (const h of closing.messages) {
    const m = known.get(h);
    if (m === undefined) return { valid: false, reason: `names message ${h.slice(0, 12)} that this node does not have` };
    named.push(m);
  }
  const s = replay(conv, named);
  if (s.accepted.length !== named.length) return { valid: false, reason: 'names messages that break the pattern' };
  const result = evaluateSpec(conv.method, methodInput(s, closing.evaluatedAtMs), { messages: named.length, deadlineMs: conv.deadlineMs, nowMs: closing.evaluatedAtMs });
  if (!result.reached) return { valid: false, reason: 'the method is not reached over those messages' };
  if (!bytesEqual(encodeCanonical(outcomeValue(result.outcome)), encodeCanonical(closing.outcome))) return { valid: false, reason: 'the outcome differs from the re-evaluation' };
  return { valid: true };
}

/** Of several valid closing records, the one every agent picks. */
export function preferClosing(a: Closing, b: Closing): Closing {
  if (a.messages.length !== b.messages.length) return a.messages.length < b.messages.length ? a : b;
  if (a.evaluatedAtMs !== b.evaluatedAtMs) return a.evaluatedAtMs < b.evaluatedAtMs ? a : b;
  return a.hash < b.hash ? a : b;
}

export interface ConversationView {
  conv: Conversation;
  state: ReplayState;
  messages: Message[];
  current: MethodResult;
  closing: Closing | undefined;
}

/** What receive() did with a message: stored, already held, or its predecessor is missing. */
export type Received = { status: 'accepted' | 'duplicate'; message: Message } | { status: 'gap'; conv: string; chain: string; seq: number };

/** A conversation as loaded in memory: every stored message and the replay of them all. */
interface Loaded {
  conv: Conversation;
  byHash: Map<string, Message>;
  state: ReplayState;
  /** Follows `state`: the first reached prefix, found as messages are applied. */
  decider: Decider;
  /** Per chain (author node), the certificate its seq 1 message carried. */
  certs: Map<string, Uint8Array>;
  closing: Closing | undefined;
  /** The latest time of any message held: this node's next post is dated after it. */
  latestMs: number;
  /** Every conv/<id>/m/ key in the store with its message's hash: a slot is checked without a read. */
  slots: Map<string, string>;
}

/**
 * Per store, shared by every Conversations over it (the agent and a test's second user): the
 * loaded conversations and one queue per conversation, so that two writes to one conversation
 * never interleave (issue 18: parallel posts took one seq and overwrote each other).
 */
interface Shared {
  loaded: Map<string, Loaded>;
  queues: Map<string, Promise<unknown>>;
}
const SHARED = new WeakMap<KvStore, Shared>();

export class Conversations {
  private readonly shared: Shared;
  /** This node's chain (its signing key, hex), from the signer's certificate, verified once. */
  private chainHex: string | undefined;
  /** While writeTogether runs: the message writes it collects, written in one batch at its end. */
  private unwritten: BatchOp[] | undefined;

  /** isFriend: when given, every other participant must be a friend (the agent passes its roster). */
  constructor(private readonly deps: {
    store: KvStore; clock: Clock; rng: Rng; signer: Signer; isFriend?: (userKey: Uint8Array) => boolean;
    /** A conversation got its first closing record here (written or received): the decision. */
    onClosed?: (closing: Closing) => void;
  }) {
    let sh = SHARED.get(deps.store);
    if (!sh) SHARED.set(deps.store, (sh = { loaded: new Map(), queues: new Map() }));
    this.shared = sh;
  }
  async create(n: NewConversation): Promise<Conversation> {
    const me = this.deps.signer.userKey;
    const method = n.method ?? (n.pattern === 'discussion' ? DISCUSSION_METHOD : undefined);
    if (method) checkMethodSpec(method);
    const participants = dedupe([me, ...n.with]);
    const problems = this.createProblems(n, participants);
    if (!method) problems.push(`a ${n.pattern} needs a method (--method NAME or --cel EXPR)`);
    else if ((PATTERNS as readonly string[]).includes(n.pattern)) {
      const eligible = n.pattern === 'announcement' || n.pattern === 'invitation' ? participants.length - 1 : participants.length;
      problems.push(...fitProblems({ pattern: n.pattern, method, ballot: n.ballot ?? 'choice', options: n.options ?? [], eligible }));
    }
    if (problems.length > 0) throw new KithError('CONV_INVALID', `cannot create the conversation: ${problems.length} problem${problems.length === 1 ? '' : 's'}`, { details: problems });
    const options = n.options ?? [];
    const sides = n.sides ?? [];
    const body: Omit<Conversation, 'id'> = {
      topic: n.topic,
      author: me,
      participants,
      pattern: { name: n.pattern, options, ballot: n.ballot ?? 'choice', sides, rounds: n.pattern === 'debate' ? n.rounds! : 0 },
      method: method!,
      deadlineMs: n.deadlineMs ?? 0,
      createdAtMs: Math.floor(this.deps.clock.wallTime()),
    };
    const bytes = signConversation(body, this.deps.rng.bytes(16), this.deps.signer);
    const conv = openConversation(bytes);
    await this.deps.store.batch([
      { type: 'put', key: `conv/${conv.id}/head`, value: bytes },
      { type: 'put', key: `convidx/${conv.id}`, value: new Uint8Array(0) },
    ]);
    return conv;
  }

  /** Everything wrong with a new conversation's definition except its method. */
  private createProblems(n: NewConversation, participants: Uint8Array[]): string[] {
    const problems: string[] = [];
    if (!(PATTERNS as readonly string[]).includes(n.pattern)) problems.push(`pattern must be one of ${PATTERNS.join(', ')}`);
    if (n.topic.trim() === '' || n.topic.length > 500) problems.push('the topic must be 1 to 500 characters');
    if (participants.length < 2) problems.push('a conversation needs at least one other participant (--with USERKEY)');
    if (participants.length > LIMITS.participants) problems.push(`at most ${LIMITS.participants} participants`);
    const me = toHex(this.deps.signer.userKey);
    for (const p of participants) if (toHex(p) !== me && this.deps.isFriend && !this.deps.isFriend(p)) problems.push(`${toHex(p).slice(0, 12)} is not a friend: only friends (and your own user) can be participants`);
    const options = n.options ?? [];
    if (n.pattern === 'poll' && options.length < 2) problems.push('a poll needs at least two options (--option)');
    if (n.pattern !== 'poll' && options.length > 0) problems.push(`only a poll has options; a ${n.pattern} has none`);
    if (n.pattern !== 'poll' && n.ballot !== undefined && n.ballot !== 'choice') problems.push(`only a poll has a ballot shape; a ${n.pattern} has none`);
    if (options.length > LIMITS.options) problems.push(`at most ${LIMITS.options} options`);
    if (new Set(options).size !== options.length) problems.push('options must be distinct');
    for (const o of options) if (o.trim() === '' || o.length > LIMITS.optionChars || o === ABSTAIN) problems.push(`option ${JSON.stringify(o.slice(0, 40))} must be 1 to ${LIMITS.optionChars} characters and not "${ABSTAIN}"`);
    const sides = n.sides ?? [];
    if (n.pattern === 'debate') {
      if (sides.length !== 2 || sides[0]!.name === sides[1]!.name) problems.push('a debate has exactly two named sides (--side NAME=USERKEY,...)');
      for (const s of sides) for (const m of s.members) if (!participants.some((p) => toHex(p) === toHex(m))) problems.push(`side ${s.name} has a member who is not a participant`);
      if (!n.rounds || n.rounds < 1 || n.rounds > LIMITS.rounds) problems.push(`a debate has 1 to ${LIMITS.rounds} rounds (--rounds N)`);
    } else if (sides.length > 0 || n.rounds !== undefined) problems.push(`only a debate has sides and rounds`);
    const now = this.deps.clock.wallTime();
    if (n.deadlineMs !== undefined && n.deadlineMs <= now) problems.push('the deadline is in the past');
    if (n.deadlineMs !== undefined && n.deadlineMs > now + LIMITS.deadlineYears * 365 * 24 * 3600_000) problems.push(`the deadline is more than ${LIMITS.deadlineYears} years away`);
    return problems;
  }

  async list(): Promise<Conversation[]> {
    return (await this.listReport()).conversations;
  }

  /**
   * Every conversation in the store, and the ones that cannot be read (a damaged header or
   * message, or a store error), each with its reason: one damaged conversation never hides the
   * others (issue 18, weak spot 10).
   */
  async listReport(): Promise<{ conversations: Conversation[]; damaged: { id: string; reason: string }[] }> {
    const conversations: Conversation[] = [];
    const damaged: { id: string; reason: string }[] = [];
    for await (const [k] of this.deps.store.range({ gte: 'convidx/', lt: prefixEnd('convidx/') })) {
      const id = k.slice('convidx/'.length);
      try {
        conversations.push((await this.load(id)).conv);
      } catch (e) {
        damaged.push({ id, reason: isKithError(e) ? `${e.code}: ${e.message}` : String((e as Error).message) });
      }
    }
    return { conversations: conversations.sort((a, b) => a.createdAtMs - b.createdAtMs), damaged };
  }

  /** Finds a conversation by id or a unique prefix of at least 8 hex characters. */
  async resolve(idOrPrefix: string): Promise<Conversation> {
    const p = idOrPrefix.toLowerCase();
    const hit = this.shared.loaded.get(p);
    if (hit) return hit.conv;
    if (!/^[0-9a-f]{8,64}$/.test(p)) throw new KithError('CONV_NOT_FOUND', `${JSON.stringify(idOrPrefix)} is not a conversation id (8 to 64 hex characters)`);
    const hits: string[] = [];
    for await (const [k] of this.deps.store.range({ gte: `convidx/${p}`, lt: prefixEnd(`convidx/${p}`), limit: 2 })) hits.push(k.slice('convidx/'.length));
    if (hits.length !== 1) throw new KithError('CONV_NOT_FOUND', hits.length === 0 ? `no conversation ${idOrPrefix}` : `${idOrPrefix} matches several conversations; give more characters`);
    return openConversation((await this.deps.store.get(`conv/${hits[0]}/head`))!);
  }

  /** The signed header as stored. */
  async headerBytes(convId: string): Promise<Uint8Array | undefined> {
    return this.deps.store.get(`conv/${convId}/head`);
  }

  /** Every message this node holds for the conversation (accepted or not by the pattern). */
  async messages(convId: string): Promise<Message[]> {
    return [...(await this.load(convId)).byHash.values()];
  }

  /** One author node's messages after sequence number `afterSeq` (the sync cursor). */
  async messagesAfter(convId: string, chainHex: string, afterSeq: number): Promise<Message[]> {
    const out: Message[] = [];
    const base = `conv/${convId}/m/${chainHex}/`;
    const certs = (await this.load(convId)).certs;
    for await (const [, v] of this.deps.store.range({ gte: base + pad(afterSeq + 1), lt: prefixEnd(base) })) out.push(openMessage(v, (c) => certs.get(c)));
    return out;
  }

  /** Per author node, the seq of the last message of its unbroken chain (the sync summary). */
  async chainTips(convId: string): Promise<Map<string, { seq: number; hash: string }>> {
    const l = await this.load(convId);
    return new Map([...l.state.tips].map(([chain, m]) => [chain, { seq: m.seq, hash: m.hash }]));
  }

  /** The closing records held (one that no longer opens, such as a v1 record with a JSON outcome, is skipped: re-evaluation closes again). */
  async closings(convId: string): Promise<Closing[]> {
    const out: Closing[] = [];
    for await (const [, v] of this.deps.store.range({ gte: `conv/${convId}/close/`, lt: prefixEnd(`conv/${convId}/close/`) })) {
      try {
        out.push(openClosing(v));
      } catch (e) {
        if (!isKithError(e, 'MESSAGE_REJECTED')) throw e;
      }
    }
    return out;
  }

  /**
   * Posts a receipt (an empty message) when this node's user is a participant with nothing in
   * the conversation yet: proof that its node holds the conversation, which is what lets silence
   * count as consent (consensus/README.md, "Receipts"). The sync layer calls it on a new header.
   */
  async postReceipt(convId: string): Promise<Message | undefined> {
    const l = await this.load(convId);
    const me = toHex(this.deps.signer.userKey);
    if (l.closing || !l.conv.participants.some((p) => toHex(p) === me) || l.state.informed.has(me)) return undefined;
    if (l.conv.deadlineMs > 0 && this.deps.clock.wallTime() > l.conv.deadlineMs) return undefined;
    return (await this.post(convId, 'receipt', {})).message;
  }

  /** The valid closing record this node holds, resolved by the deterministic rule. */
  async closing(conv: Conversation): Promise<Closing | undefined> {
    return (await this.load(conv.id)).closing;
  }

  async view(idOrPrefix: string): Promise<ConversationView> {
    const conv = await this.resolve(idOrPrefix);
    const l = await this.load(conv.id);
    const now = this.deps.clock.wallTime();
    const current = evaluateSpec(conv.method, methodInput(l.state, now), { messages: l.state.accepted.length, deadlineMs: conv.deadlineMs, nowMs: now });
    return { conv, state: l.state, messages: l.state.accepted, current, closing: l.closing };
  }

  /** Posts a message as this node's user; checks the pattern first; closes when reached. */
  async post(idOrPrefix: string, kind: MessageKind, data: Record<string, CborValue>): Promise<{ message: Message; closing: Closing | undefined }> {
    const conv = await this.resolve(idOrPrefix);
    return this.exclusive(conv.id, async () => {
      const l = await this.load(conv.id);
      if (l.closing) throw new KithError('CONV_CLOSED', `conversation ${conv.id.slice(0, 12)} is closed`);
      const chain = (this.chainHex ??= toHex(verifyCertificate(this.deps.signer.certBytes).signKey));
      const prev = l.state.tips.get(chain);
      // Later than everything this node has seen: a reply always sorts after what it answers
      // (debate turns depend on it), even when the clocks of two participants disagree a little.
      const seenMs = l.byHash.size > 0 ? l.latestMs + 1 : 0;
      const atMs = Math.max(Math.floor(this.deps.clock.wallTime()), seenMs);
      const bytes = signMessage({ conv: conv.id, seq: (prev?.seq ?? 0) + 1, prev: prev?.hash ?? '', atMs, kind, data }, this.deps.signer);
      const message = openMessage(bytes, (c) => l.certs.get(c));
      // It sorts after every message held, so the pattern's verdict on the live state is final.
      const check = checkMessage(l.state, message);
      if (check.reason !== undefined) throw new KithError('MESSAGE_REJECTED', `message rejected: ${check.reason}`);
      await this.setAsideOrphan(l, message);
      await this.store(l, message);
      return { message, closing: await this.closeLoaded(l) };
    });
  }

  /**
   * Accepts a message from elsewhere (sync): verified, from a participant, the next of its
   * author node's chain. Stored whether or not the pattern accepts it now (acceptance is a
   * function of the whole set, and an earlier message may still arrive). A message whose
   * predecessor is missing is a `gap` (not stored: ask for the chain from the tip); the same
   * message again is a `duplicate`.
   */
  async receive(bytes: Uint8Array, checked?: { read: OpenedObject; signedBy: Uint8Array }): Promise<Received> {
    const read = checked?.read ?? readMessage(bytes);
    const peek = peekMessage(bytes, read);
    if (!peek) {
      openMessage(bytes); // says what is wrong
      throw new KithError('MESSAGE_REJECTED', 'malformed message');
    }
    if (!this.shared.loaded.has(peek.conv) && !(await this.deps.store.get(`conv/${peek.conv}/head`))) throw new KithError('CONV_NOT_FOUND', `message for unknown conversation ${peek.conv.slice(0, 12)}`);
    return this.exclusive(peek.conv, async () => {
      const l = await this.load(peek.conv);
      // A later message of a chain whose first message is not here yet: a gap, not a forgery.
      if (peek.seq > 1 && !l.certs.has(peek.chain)) return { status: 'gap', ...peek };
      const message = openMessage(bytes, (c) => l.certs.get(c), read, checked?.signedBy);
      if (l.byHash.has(message.hash)) return { status: 'duplicate', message };
      if (!participantsOf(l.conv).has(message.authorHex)) throw new KithError('MESSAGE_REJECTED', 'message rejected: the author is not a participant');
      const tip = l.state.tips.get(message.chain);
      const tipSeq = tip?.seq ?? 0;
      if (message.seq <= tipSeq) throw new KithError('MESSAGE_REJECTED', `message rejected: another message holds seq ${message.seq} of ${message.authorHex.slice(0, 8)}'s chain (a fork)`);
      if (message.seq > tipSeq + 1) return { status: 'gap', conv: message.conv, chain: message.chain, seq: message.seq };
      if (message.prev !== (tip?.hash ?? '')) throw new KithError('MESSAGE_REJECTED', `message rejected: breaks ${message.authorHex.slice(0, 8)}'s hash chain at seq ${message.seq}`);
      if (tip && message.atMs < tip.atMs) throw new KithError('MESSAGE_REJECTED', 'message rejected: it is dated before its predecessor in the chain');
      await this.store(l, message);
      return { status: 'accepted', message };
    });
  }

  /**
   * Runs fn with this instance's message writes collected and written in one store batch when it
   * ends (SealedConversations applies an inbox, up to a whole items message, this way: one write
   * instead of one per message). In memory each message is applied at once, as without it. A stop
   * before the batch is written loses nothing: sync holds the envelopes, and catchUp applies what
   * the store lacks at the next start (the feed records a message once, by hash).
   */
  async writeTogether<T>(fn: () => Promise<T>): Promise<T> {
    if (this.unwritten) return fn(); // inside another one: that one writes
    const ops: BatchOp[] = (this.unwritten = []);
    try {
      return await fn();
    } finally {
      this.unwritten = undefined;
      if (ops.length > 0) await this.deps.store.batch(ops);
    }
  }

  /** Stores a conversation header received from elsewhere. */
  async receiveConversation(bytes: Uint8Array): Promise<Conversation> {
    const conv = openConversation(bytes);
    await this.deps.store.batch([
      { type: 'put', key: `conv/${conv.id}/head`, value: bytes },
      { type: 'put', key: `convidx/${conv.id}`, value: new Uint8Array(0) },
    ]);
    return conv;
  }

  /** Stores a closing record received from elsewhere when it verifies; returns the one in force. */
  async receiveClosing(bytes: Uint8Array): Promise<Closing | undefined> {
    const closing = openClosing(bytes);
    return this.exclusive(closing.conv, async () => {
      const l = await this.load(closing.conv);
      const v = verifyClosing(l.conv, closing, l.byHash);
      if (!v.valid) throw new KithError('MESSAGE_REJECTED', `closing record rejected: ${v.reason}`);
      await this.deps.store.put(`conv/${l.conv.id}/close/${closing.hash}`, closing.bytes);
      const first = l.closing === undefined;
      l.closing = l.closing ? preferClosing(l.closing, closing) : closing;
      if (first) this.deps.onClosed?.(l.closing);
      return l.closing;
    });
  }

  /**
   * False when closeIfReached would certainly write nothing now: the conversation is loaded, holds
   * no closing record, no decision is reached and its deadline (if any) has not passed. Read
   * without waiting for the conversation's queue (a write still queued there closes by itself).
   */
  mayClose(convId: string): boolean {
    const l = this.shared.loaded.get(convId);
    if (!l) return true;
    if (l.closing) return false;
    return l.decider.decision !== undefined || (l.conv.deadlineMs > 0 && this.deps.clock.wallTime() > l.conv.deadlineMs);
  }

  /** Writes this node's closing record when the decision is reached and none valid exists yet. */
  async closeIfReached(conv: Conversation): Promise<Closing | undefined> {
    return this.exclusive(conv.id, async () => this.closeLoaded(await this.load(conv.id)));
  }

  private async closeLoaded(l: Loaded): Promise<Closing | undefined> {
    if (l.closing) return l.closing;
    const c = l.conv;
    const d = l.decider.decision ?? (c.deadlineMs > 0 && this.deps.clock.wallTime() > c.deadlineMs ? deadlineDecision(c, l.state.accepted) : undefined);
    if (!d) return undefined;
    const bytes = signClosing({ conv: l.conv.id, messages: d.messages, evaluatedAtMs: d.evaluatedAtMs, outcome: outcomeValue(d.result.outcome) }, this.deps.signer);
    const closing = openClosing(bytes);
    await this.deps.store.put(`conv/${l.conv.id}/close/${closing.hash}`, bytes);
    l.closing = closing;
    this.deps.onClosed?.(closing);
    return closing;
  }

  /** Writes a message under its chain slot (never over another message) and applies it. */
  private async store(l: Loaded, m: Message): Promise<void> {
    const key = `conv/${l.conv.id}/m/${m.chain}/${pad(m.seq)}`;
    const existing = l.slots.get(key);
    if (existing !== undefined && existing !== m.hash) throw new KithError('MESSAGE_REJECTED', `message rejected: seq ${m.seq} of this chain is already taken`);
    if (this.unwritten) this.unwritten.push({ type: 'put', key, value: m.bytes });
    else await this.deps.store.put(key, m.bytes);
    l.slots.set(key, m.hash);
    l.byHash.set(m.hash, m);
    l.latestMs = Math.max(l.latestMs, m.atMs);
    if (m.seq === 1) l.certs.set(m.chain, (m as Message & { certBytes: Uint8Array }).certBytes);
    // Incremental when the message sorts after everything applied (the usual case); otherwise the
    // set is replayed in memory (a late message can change what follows it).
    if (l.state.last === undefined || canonicalOrder(l.state.last, m) < 0) {
      if (applyMessage(l.state, m)) l.decider.step(l.state, m);
    } else this.replayAll(l);
  }

  /**
   * A store written before posts were serialized can hold a message in the slot the next post
   * needs, one the replay rejects (its chain was broken by an overwrite). It is moved to
   * conv/<id>/orphan/<hash>, kept but out of the chain, so the conversation is not wedged.
   */
  private async setAsideOrphan(l: Loaded, m: Message): Promise<void> {
    const key = `conv/${l.conv.id}/m/${m.chain}/${pad(m.seq)}`;
    const existing = l.slots.has(key) ? await this.deps.store.get(key) : undefined;
    if (!existing) return;
    const hash = hashHex(existing);
    if (l.state.tips.get(m.chain)?.hash === hash) return; // cannot happen: the tip is m's predecessor
    await this.deps.store.batch([{ type: 'put', key: `conv/${l.conv.id}/orphan/${hash}`, value: existing }, { type: 'del', key }]);
    l.slots.delete(key);
    l.byHash.delete(hash);
    this.replayAll(l);
  }

  private replayAll(l: Loaded): void {
    l.latestMs = 0;
    for (const m of l.byHash.values()) l.latestMs = Math.max(l.latestMs, m.atMs);
    l.decider = new Decider(l.conv);
    l.state = replay(l.conv, l.byHash.values(), (s, m) => (l.decider.step(s, m), false));
  }

  private async load(convId: string): Promise<Loaded> {
    const hit = this.shared.loaded.get(convId);
    if (hit) return hit;
    const head = await this.deps.store.get(`conv/${convId}/head`);
    if (!head) throw new KithError('CONV_NOT_FOUND', `no conversation ${convId.slice(0, 12)}`);
    const conv = openConversation(head);
    const byHash = new Map<string, Message>();
    const certs = new Map<string, Uint8Array>();
    // Key order is chain, then seq, so a chain's first message (with its certificate) usually comes
    // first; one that does not (v1 messages keyed by author next to v2 ones keyed by node) waits
    // for a second pass.
    const slots = new Map<string, string>();
    let later: [string, Uint8Array][] = [];
    for await (const kv of this.deps.store.range({ gte: `conv/${convId}/m/`, lt: prefixEnd(`conv/${convId}/m/`) })) later.push(kv);
    for (let pass = 0; later.length > 0 && pass < 3; pass++) {
      const again: [string, Uint8Array][] = [];
      for (const [k, v] of later) {
        const read = readMessage(v);
        const peek = peekMessage(v, read);
        if (pass < 2 && peek && !certs.has(peek.chain) && peek.seq > 1) {
          again.push([k, v]);
          continue;
        }
        const m = openMessage(v, (c) => certs.get(c), read);
        if (m.seq === 1 || !certs.has(m.chain)) certs.set(m.chain, m.certBytes);
        byHash.set(m.hash, m);
        slots.set(k, m.hash);
      }
      later = again;
    }
    let closing: Closing | undefined;
    for (const c of await this.closings(convId)) if (verifyClosing(conv, c, byHash).valid) closing = closing ? preferClosing(closing, c) : c;
    const loaded: Loaded = { conv, byHash, certs, state: replay(conv, []), decider: new Decider(conv), closing, latestMs: 0, slots };
    this.replayAll(loaded);
    // Another caller may have loaded it meanwhile: keep the first, so every writer shares one.
    const again = this.shared.loaded.get(convId);
    if (again) return again;
    this.shared.loaded.set(convId, loaded);
    return loaded;
  }

  /** Runs fn after every earlier write to this conversation (one queue per conversation). */
  private exclusive<T>(convId: string, fn: () => Promise<T>): Promise<T> {
    const before = this.shared.queues.get(convId) ?? Promise.resolve();
    const run = before.then(fn, fn);
    const settled = run.then(() => undefined, () => undefined);
    this.shared.queues.set(convId, settled);
    void settled.then(() => {
      if (this.shared.queues.get(convId) === settled) this.shared.queues.delete(convId);
    });
    return run;
  }
}

/** A conversation's participants as hex, made once per conversation (receive checks every message's author). */
const participantSets = new WeakMap<Conversation, Set<string>>();
function participantsOf(conv: Conversation): Set<string> {
  let set = participantSets.get(conv);
  if (!set) participantSets.set(conv, (set = new Set(conv.participants.map(toHex))));
  return set;
}

function dedupe(keys: Uint8Array[]): Uint8Array[] {
  const seen = new Map<string, Uint8Array>();
  for (const k of keys) seen.set(toHex(k), k);
  return [...seen.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, k]) => k);
}

/** Parses a user key argument (64 hex characters). */
export function parseUserKey(s: string): Uint8Array {
  const k = fromHex(s.trim(), 32);
  if (!k) throw new KithError('USAGE', `a user key is 64 hex characters, got ${JSON.stringify(s.slice(0, 80))}`);
  return k;
}

