// Message patterns: small state machines saying who may post which kind of message when.
// A conversation's state is a pure function of its set of messages: they are replayed in the
// canonical order (time, author key, sequence number), and each one is accepted or rejected with
// a reason by the rules of the pattern. Arrival order never matters.
import type { CborValue } from '../core/cbor.js';
import { toHex } from '../core/hex.js';
import { parseBallot, type Ballot, type MethodInput, type WeightedBallot } from './ballots.js';
import { CONSENT_STANCES, RSVP_ANSWERS } from './methods/choice-methods.js';
import type { Conversation, Message, MessageKind } from './records.js';

export interface ReplayState {
  conv: Conversation;
  accepted: Message[];
  rejected: { message: Message; reason: string }[];
  /** The latest vote-like message per author (ballot, position, rsvp, ack). */
  votes: Map<string, { ballot: Ballot; message: Message }>;
  /** Counts changes to `votes` (a method's input changes only with votes, informed or time). */
  votesVersion: number;
  /** Debate: arguments accepted so far (turn = their count). */
  arguments: number;
  /** Participants (hex) who provably hold the conversation: its author, and every author of an accepted message. */
  informed: Set<string>;
  /** The last accepted message of each author node's chain. */
  tips: Map<string, Message>;
  /** The last message applied (accepted or not): a later one may be applied incrementally. */
  last: Message | undefined;
}

const cmpText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Canonical order: time, then author key (hex), then author node (hex), then sequence number, then hash. */
export function canonicalOrder(a: Message, b: Message): number {
  return a.atMs - b.atMs || cmpText(a.authorHex, b.authorHex) || cmpText(a.chain, b.chain) || a.seq - b.seq || cmpText(a.hash, b.hash);
}

const KINDS: Record<string, readonly MessageKind[]> = {
  discussion: ['text'],
  announcement: ['text', 'ack'],
  invitation: ['text', 'rsvp'],
  poll: ['text', 'ballot'],
  proposal: ['text', 'position'],
  debate: ['text', 'argument', 'ballot'],
};

/** Who may vote in this conversation (user keys, hex). */
export function eligibleVoters(conv: Conversation): string[] {
  const all = conv.participants.map(toHex);
  const author = toHex(conv.author);
  return conv.pattern.name === 'announcement' || conv.pattern.name === 'invitation' ? all.filter((p) => p !== author) : all;
}

function isVoteKind(kind: MessageKind): boolean {
  return kind === 'ballot' || kind === 'rsvp' || kind === 'position' || kind === 'ack';
}

/** Why a message breaks the pattern in this state, or undefined when it is fine. */
export function checkMessage(s: ReplayState, m: Message): { reason?: string; ballot?: Ballot } {
  const c = s.conv;
  const p = c.pattern;
  const author = m.authorHex;
  if (!c.participants.some((x) => toHex(x) === author)) return { reason: 'the author is not a participant' };
  if (m.kind === 'receipt') return Object.keys(m.data).length === 0 ? {} : { reason: 'a receipt has no data' };
  if (!KINDS[p.name]!.includes(m.kind)) return { reason: `a ${p.name} takes ${KINDS[p.name]!.join(', ')} messages, not ${m.kind}` };
  if (isVoteKind(m.kind) && c.deadlineMs > 0 && m.atMs > c.deadlineMs) return { reason: `${m.kind} after the deadline` };
  if (isVoteKind(m.kind) && !eligibleVoters(c).includes(author)) return { reason: `the author may not post ${m.kind} in this ${p.name}` };
  const d = m.data;
  const keys = Object.keys(d).sort().join();
  switch (m.kind) {
    case 'text':
      if (keys !== 'text' || typeof d['text'] !== 'string' || d['text'].length === 0) return { reason: 'a text message has one non-empty "text"' };
      if (p.name === 'announcement' && author !== toHex(c.author)) return { reason: 'only the author posts in an announcement; others acknowledge' };
      return {};
    case 'ack':
      if (keys !== '') return { reason: 'an acknowledgement has no data' };
      if (s.votes.has(author)) return { reason: 'already acknowledged' };
      return { ballot: { choice: 'ack' } };
    case 'rsvp':
      if (keys !== 'answer' || !(RSVP_ANSWERS as readonly CborValue[]).includes(d['answer']!)) return { reason: 'an RSVP answers yes, no or maybe' };
      return { ballot: { choice: d['answer'] as string } };
    case 'position': {
      const stance = d['stance'];
      if (!(CONSENT_STANCES as readonly CborValue[]).includes(stance!) || typeof d['reason'] !== 'string' || keys !== 'reason,stance') {
        return { reason: 'a position is agree, abstain, disagree or block, with a "reason" (may be empty)' };
      }
      if ((stance === 'block' || stance === 'disagree') && (d['reason'] as string).trim() === '') return { reason: `${stance} needs a reason` };
      return { ballot: { choice: stance as string } };
    }
    case 'argument': {
      const turn = s.arguments;
      if (turn >= p.rounds * 2) return { reason: `all ${p.rounds} rounds of arguments are done; participants now vote` };
      const side = p.sides[turn % 2]!;
      const round = Math.floor(turn / 2) + 1;
      if (d['side'] !== side.name || d['round'] !== round || typeof d['text'] !== 'string' || keys !== 'round,side,text') {
        return { reason: `the next turn is round ${round}, side "${side.name}"` };
      }
      if (!side.members.some((x) => toHex(x) === author)) return { reason: `the author is not on side "${side.name}"` };
      return {};
    }
    case 'ballot': {
      if (p.name === 'debate' && s.arguments < p.rounds * 2) return { reason: 'voting opens after the last argument' };
      const options = p.name === 'debate' ? p.sides.map((x) => x.name) : p.options;
      const shape = p.name === 'debate' ? 'choice' : p.ballot;
      if (Object.keys(d).length !== 1 || d[shape] === undefined) return { reason: `ballots in this ${p.name} are of shape "${shape}"` };
      const parsed = parseBallot(d, options);
      if (typeof parsed === 'string') return { reason: parsed };
      return { ballot: parsed.ballot };
    }
  }
}

/** A fresh state: nothing replayed yet. */
export function emptyState(conv: Conversation): ReplayState {
  return { conv, accepted: [], rejected: [], votes: new Map(), votesVersion: 0, arguments: 0, informed: new Set([toHex(conv.author)]), tips: new Map(), last: undefined };
}

/**
 * Applies one message to a state; messages must come in canonical order (`s.last` sorts before
 * `m`). The chain per author node must be unbroken (seq 1 with empty prev, then seq + 1 with the
 * previous hash); then the pattern decides. Returns whether it was accepted.
 */
export function applyMessage(s: ReplayState, m: Message): boolean {
  s.last = m;
  const prev = s.tips.get(m.chain);
  const chainOk = prev === undefined ? m.seq === 1 && m.prev === '' : m.seq === prev.seq + 1 && m.prev === prev.hash;
  if (!chainOk) {
    s.rejected.push({ message: m, reason: `breaks ${m.authorHex.slice(0, 8)}'s hash chain at seq ${m.seq}` });
    return false;
  }
  s.tips.set(m.chain, m);
  const r = checkMessage(s, m);
  if (r.reason !== undefined) {
    s.rejected.push({ message: m, reason: r.reason });
    return false;
  }
  s.accepted.push(m);
  s.informed.add(m.authorHex);
  if (m.kind === 'argument') s.arguments++;
  if (r.ballot !== undefined) {
    s.votes.set(m.authorHex, { ballot: r.ballot, message: m });
    s.votesVersion++;
  }
  return true;
}

/**
 * Replays messages in canonical order (applyMessage each). `afterAccept` sees the state after
 * each accepted message (a prefix of the replay); returning true stops the replay there.
 */
export function replay(conv: Conversation, messages: Iterable<Message>, afterAccept?: (s: ReplayState, m: Message) => boolean): ReplayState {
  const s = emptyState(conv);
  for (const m of [...messages].sort(canonicalOrder)) {
    if (applyMessage(s, m) && afterAccept?.(s, m)) break;
  }
  return s;
}

/** The method's input from a replayed state at an evaluation time. */
export function methodInput(s: ReplayState, nowMs: number): MethodInput {
  const c = s.conv;
  const options = c.pattern.name === 'debate' ? c.pattern.sides.map((x) => x.name) : c.pattern.name === 'poll' ? c.pattern.options : [];
  const ballots: WeightedBallot[] = [...s.votes.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, v]) => ({ ballot: v.ballot, count: 1 }));
  const eligible = eligibleVoters(c);
  const informed = eligible.filter((p) => s.informed.has(p)).length;
  return { options, eligible: eligible.length, ballots, deadlinePassed: c.deadlineMs > 0 && nowMs > c.deadlineMs, tieSeed: c.id, informed };
}
