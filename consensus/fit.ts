// Which methods fit which patterns, and which parameters make sense for a conversation: checked
// once, when a conversation is created, so that nobody starts a poll that can never be decided
// (poll + consent, proposal + irv, supermajority k=5 n=3 were all accepted once).
import type { BallotShape } from './ballots.js';
import type { MethodSpec } from './method-spec.js';
import { methodByName, type Params } from './methods/index.js';
import { resolveParams } from './methods/common.js';
import type { PatternName } from './records.js';

/** Per pattern: the built-in methods that can decide it (CEL methods fit every pattern). */
export const FITTING_METHODS: Record<PatternName, readonly string[]> = {
  discussion: [],
  announcement: ['acknowledge'],
  invitation: ['rsvp'],
  poll: ['unanimity', 'majority', 'supermajority', 'approval', 'score', 'irv', 'schulze'],
  proposal: ['consent'],
  debate: ['unanimity', 'majority', 'supermajority'],
};

/** Per built-in poll method: the ballot shapes it counts. */
export const METHOD_SHAPES: Record<string, readonly BallotShape[]> = {
  unanimity: ['choice', 'ranking'],
  majority: ['choice', 'ranking'],
  supermajority: ['choice', 'ranking'],
  approval: ['approve', 'choice'],
  score: ['scores'],
  irv: ['ranking', 'choice'],
  schulze: ['ranking', 'choice'],
};

export const LIMITS = { participants: 64, options: 50, optionChars: 200, rounds: 50, deadlineYears: 10 } as const;

export interface FitInput {
  pattern: PatternName;
  method: MethodSpec;
  ballot: BallotShape;
  options: readonly string[];
  /** Participants who may vote (announcement and invitation: everyone but the author). */
  eligible: number;
}

/** The problems of a pattern / method / parameter combination (empty when it makes sense). */
export function fitProblems(f: FitInput): string[] {
  const m = f.method;
  if (m.kind === 'cel') return [];
  const fitting = FITTING_METHODS[f.pattern];
  if (!fitting.includes(m.name)) {
    return [fitting.length === 0
      ? `a ${f.pattern} has no votes, so no built-in method decides it: leave out --method (it closes at the deadline, if any) or give a --cel method`
      : `a ${f.pattern} is decided by ${fitting.join(', ')}, not ${m.name}`];
  }
  const problems: string[] = [];
  const shapes = METHOD_SHAPES[m.name];
  if (f.pattern === 'poll' && shapes && !shapes.includes(f.ballot)) problems.push(`${m.name} counts ${shapes.join(' or ')} ballots, not ${f.ballot} (--ballot ${shapes[0]})`);
  problems.push(...paramProblems(m.name, resolveParams(methodByName(m.name), m.params), f));
  return problems;
}

/** Parameters that are each in range but make no sense together or for these participants. */
function paramProblems(name: string, p: Params, f: FitInput): string[] {
  const out: string[] = [];
  const n = (k: string) => p[k] as number;
  switch (name) {
    case 'supermajority':
      if (n('k') > n('n')) out.push(`supermajority k/n must be at most 1, got ${n('k')}/${n('n')}`);
      if (n('k') * 2 <= n('n')) out.push(`supermajority k/n must be more than half (that is majority), got ${n('k')}/${n('n')}`);
      if (n('quorum') >= 1 && (!Number.isInteger(n('quorum')) || n('quorum') > f.eligible)) out.push(`quorum must be a whole number up to the ${f.eligible} voters, or a fraction below 1`);
      break;
    case 'score':
      if (!Number.isInteger(n('min')) || !Number.isInteger(n('max'))) out.push('score min and max are whole numbers');
      else if (n('min') >= n('max')) out.push(`score min must be below max, got ${n('min')}..${n('max')}`);
      break;
    case 'consent':
      if (n('minAgree') > f.eligible) out.push(`minAgree ${n('minAgree')} is more than the ${f.eligible} participants`);
      break;
    case 'rsvp':
      if (n('min') > f.eligible) out.push(`min ${n('min')} is more than the ${f.eligible} invitees`);
      break;
  }
  return out;
}
