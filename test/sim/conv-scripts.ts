// Conversation scripts for the conversation simulation: for each conversation a creator, its
// participants (the creator's user and some of its friends) and the steps its participants take
// through their agents' APIs (texts with unique markers, then the votes the pattern asks for).
// Every pattern and every method that fits it comes up in turn.
import type { SeededRng } from '../../core/rng.js';
import { isFriend, type WorldUser } from './conv-world.js';

/** The prefix of every marker: what no relay-only node may ever hold in clear. */
export const MARKER = 'KMARK';

export interface Step {
  user: WorldUser;
  op: 'create' | 'post' | 'vote';
  body: Record<string, unknown>;
}

export interface ConvScript {
  index: number;
  kind: string;
  author: WorldUser;
  participants: WorldUser[];
  steps: Step[];
  /** Filled in once created. */
  id?: string;
}

interface Shape {
  kind: string;
  create: (p: WorldUser[], deadline: string) => Record<string, unknown>;
  /** The vote of participant i (undefined: none); debates also argue first. */
  vote: (i: number) => Record<string, unknown> | undefined;
  texts: 'all' | 'author';
}

const OPTIONS = ['lake', 'pub', 'museum'];

const SHAPES: Shape[] = [
  { kind: 'discussion', texts: 'all', create: (_p, d) => ({ pattern: 'discussion', deadline: d }), vote: () => undefined },
  { kind: 'announcement/acknowledge', texts: 'author', create: () => ({ pattern: 'announcement', method: 'acknowledge' }), vote: (i) => (i === 0 ? undefined : {}) },
  { kind: 'invitation/rsvp', texts: 'all', create: (_p, d) => ({ pattern: 'invitation', method: 'rsvp', params: ['min=1'], deadline: d }), vote: (i) => (i === 0 ? undefined : { choice: i % 2 ? 'yes' : 'maybe' }) },
  { kind: 'poll/unanimity', texts: 'all', create: () => ({ pattern: 'poll', method: 'unanimity', options: OPTIONS }), vote: () => ({ choice: 'lake' }) },
  { kind: 'poll/majority', texts: 'all', create: () => ({ pattern: 'poll', method: 'majority', options: OPTIONS }), vote: (i) => ({ choice: OPTIONS[i % 2]! }) },
  { kind: 'poll/supermajority', texts: 'all', create: (p) => ({ pattern: 'poll', method: 'supermajority', params: ['k=2', 'n=3', `quorum=${p.length}`], options: OPTIONS }), vote: () => ({ choice: 'pub' }) },
  { kind: 'poll/approval', texts: 'all', create: () => ({ pattern: 'poll', method: 'approval', ballot: 'approve', options: OPTIONS }), vote: (i) => ({ approve: i % 2 ? ['lake', 'pub'] : ['pub'] }) },
  { kind: 'poll/score', texts: 'all', create: () => ({ pattern: 'poll', method: 'score', ballot: 'scores', params: ['min=0', 'max=10'], options: OPTIONS }), vote: (i) => ({ scores: [`lake=${(i * 3) % 11}`, `pub=${7 - i}`, 'museum=5'] }) },
  { kind: 'poll/irv', texts: 'all', create: () => ({ pattern: 'poll', method: 'irv', ballot: 'ranking', options: OPTIONS }), vote: (i) => ({ rank: i % 2 ? ['pub', 'lake'] : ['museum', 'pub', 'lake'] }) },
  { kind: 'poll/schulze', texts: 'all', create: () => ({ pattern: 'poll', method: 'schulze', ballot: 'ranking', options: OPTIONS }), vote: (i) => ({ rank: i % 2 ? ['lake', 'pub', 'museum'] : ['pub', 'museum', 'lake'] }) },
  { kind: 'proposal/consent', texts: 'all', create: (_p, d) => ({ pattern: 'proposal', method: 'consent', deadline: d }), vote: (i) => ({ choice: i === 2 ? 'abstain' : 'agree' }) },
  { kind: 'debate/majority', texts: 'all', create: (p) => ({ pattern: 'debate', method: 'majority', sides: [`pro=${p[0]!.key}`, `con=${p[1]!.key}`], rounds: 1 }), vote: (i) => ({ choice: i % 2 ? 'con' : 'pro' }) },
  { kind: 'poll/cel', texts: 'all', create: () => ({ pattern: 'poll', cel: 'allVoted', outcome: 'tallies', options: OPTIONS }), vote: () => ({ choice: 'museum' }) },
];

export const SHAPE_KINDS = SHAPES.map((s) => s.kind);

/**
 * The scripts: conversation i has shape i mod |shapes|, a random author, 1–3 of its friends.
 * `deadlineAt` gives the ISO deadline of the ones that need one; `skipVote` is the chance a
 * participant never votes (so some stay open, or close at their deadline only).
 */
export function makeScripts(o: { count: number; users: WorldUser[]; friends: Set<string>; rng: SeededRng; deadlineAt: () => string; skipVote: number }): ConvScript[] {
  const scripts: ConvScript[] = [];
  for (let index = 0; index < o.count; index++) {
    const shape = SHAPES[index % SHAPES.length]!;
    const author = o.users[o.rng.below(o.users.length)]!;
    const friendsOf = o.users.filter((u) => u !== author && isFriend(o.friends, u.name, author.name));
    const k = 1 + o.rng.below(Math.min(3, friendsOf.length));
    const others: WorldUser[] = [];
    while (others.length < k) {
      const u = friendsOf[o.rng.below(friendsOf.length)]!;
      if (!others.includes(u)) others.push(u);
    }
    const participants = [author, ...others];
    const marker = (what: string) => `${MARKER}-${index}-${what}-${o.rng.below(1e9)}`;
    const steps: Step[] = [{ user: author, op: 'create', body: { topic: `topic ${marker('topic')}`, with: others.map((u) => u.key), ...shape.create(participants, o.deadlineAt()) } }];
    if (shape.kind.startsWith('debate')) {
      steps.push({ user: participants[0]!, op: 'post', body: { side: 'pro', text: `pro ${marker('arg')}` } });
      steps.push({ user: participants[1]!, op: 'post', body: { side: 'con', text: `con ${marker('arg')}` } });
    } else {
      for (const u of shape.texts === 'author' ? [author] : participants) steps.push({ user: u, op: 'post', body: { text: `says ${marker('text')}` } });
    }
    for (const [i, u] of participants.entries()) {
      const v = shape.vote(i);
      if (v && o.rng.float() >= o.skipVote) steps.push({ user: u, op: 'vote', body: v });
    }
    scripts.push({ index, kind: shape.kind, author, participants, steps });
  }
  return scripts;
}
