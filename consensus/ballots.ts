// Ballots and the input every consensus method takes. A method sees only this: the options, how
// many people may vote, one ballot per voter (with a weight, so that `kith method test` can say
// "count": n), whether the deadline has passed, and the seed of the tie rule.
import { KithError } from '../core/errors.js';

export type Ballot =
  | { choice: string }
  | { approve: string[] }
  | { ranking: string[] }
  | { scores: Record<string, number> };

export type BallotShape = 'choice' | 'approve' | 'ranking' | 'scores';
export const BALLOT_SHAPES: readonly BallotShape[] = ['choice', 'approve', 'ranking', 'scores'];

export interface WeightedBallot {
  ballot: Ballot;
  /** How many identical ballots this stands for (1 in conversations). */
  count: number;
}

export interface MethodInput {
  /** The options (candidates); for fixed-vocabulary methods (consent, rsvp, acknowledge) may be empty. */
  options: string[];
  /** How many participants may vote. */
  eligible: number;
  ballots: WeightedBallot[];
  deadlinePassed: boolean;
  /** Seed of the tie rule: the conversation id (hex), or "" in `kith method test`. */
  tieSeed: string;
  /**
   * Eligible voters whose nodes provably hold the conversation (they posted something in it,
   * a receipt at least, or created it); undefined = all. Consent counts silence as consent only
   * from these.
   */
  informed?: number;
}

/** The special choice that abstains: counted as a ballot cast, never as a vote for an option. */
export const ABSTAIN = 'abstain';

export function shapeOf(b: Ballot): BallotShape {
  if ('choice' in b) return 'choice';
  if ('approve' in b) return 'approve';
  if ('ranking' in b) return 'ranking';
  return 'scores';
}

/** Total weight of the ballots (the number of voters they stand for). */
export function votersOf(input: MethodInput): number {
  return input.ballots.reduce((n, b) => n + b.count, 0);
}

/** True when every eligible participant has a ballot in. */
export function allVoted(input: MethodInput): boolean {
  return votersOf(input) >= input.eligible;
}

const MAX_NAME = 200;

/**
 * Parses the JSON input of `kith method test` (and the API): options, participants, ballots with
 * optional counts, deadlinePassed. Every problem is reported at once (METHOD_INPUT).
 */
export function parseMethodInput(raw: unknown, tieSeed = ''): MethodInput {
  const problems: string[] = [];
  const obj = (raw ?? {}) as Record<string, unknown>;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new KithError('METHOD_INPUT', 'method input must be a JSON object with "options" and "ballots"');
  }
  for (const k of Object.keys(obj)) {
    if (!['options', 'participants', 'ballots', 'deadlinePassed'].includes(k)) problems.push(`unknown field "${k}"`);
  }
  const options: string[] = [];
  if (obj['options'] !== undefined) {
    if (!Array.isArray(obj['options']) || !obj['options'].every((o) => typeof o === 'string' && o.length > 0 && o.length <= MAX_NAME)) {
      problems.push('"options" must be a list of non-empty strings');
    } else {
      options.push(...(obj['options'] as string[]));
      if (new Set(options).size !== options.length) problems.push('"options" has duplicates');
    }
  }
  const ballots: WeightedBallot[] = [];
  if (!Array.isArray(obj['ballots'])) problems.push('"ballots" must be a list');
  else {
    (obj['ballots'] as unknown[]).forEach((b, i) => {
      const r = parseBallot(b, options);
      if (typeof r === 'string') problems.push(`ballot ${i + 1}: ${r}`);
      else ballots.push(r);
    });
  }
  const voters = ballots.reduce((n, b) => n + b.count, 0);
  let eligible = voters;
  if (obj['participants'] !== undefined) {
    const p = obj['participants'];
    if (typeof p !== 'number' || !Number.isSafeInteger(p) || p < 0) problems.push('"participants" must be a whole number');
    else if (p < voters) problems.push(`"participants" is ${p} but the ballots stand for ${voters} voters`);
    else eligible = p;
  }
  if (obj['deadlinePassed'] !== undefined && typeof obj['deadlinePassed'] !== 'boolean') problems.push('"deadlinePassed" must be true or false');
  if (problems.length > 0) {
    throw new KithError('METHOD_INPUT', `${problems.length} problem${problems.length === 1 ? '' : 's'} in the method input`, { details: problems.slice(0, 50) });
  }
  return { options, eligible, ballots, deadlinePassed: obj['deadlinePassed'] === true, tieSeed };
}

/** One ballot (a JSON value) checked against the options; an error message instead of a throw. */
export function parseBallot(raw: unknown, options: readonly string[]): WeightedBallot | string {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return 'a ballot must be an object';
  const b = raw as Record<string, unknown>;
  const shapes = BALLOT_SHAPES.filter((s) => b[s] !== undefined);
  const extra = Object.keys(b).filter((k) => !(BALLOT_SHAPES as readonly string[]).includes(k) && k !== 'count');
  if (extra.length > 0) return `unknown field "${extra[0]}"`;
  if (shapes.length !== 1) return 'a ballot has exactly one of "choice", "approve", "ranking", "scores"';
  let count = 1;
  if (b['count'] !== undefined) {
    if (typeof b['count'] !== 'number' || !Number.isSafeInteger(b['count']) || b['count'] < 1) return '"count" must be a whole number of at least 1';
    count = b['count'];
  }
  const known = (name: unknown): boolean => typeof name === 'string' && name.length > 0 && name.length <= MAX_NAME && (options.length === 0 || options.includes(name) || name === ABSTAIN);
  const shape = shapes[0]!;
  const v = b[shape];
  switch (shape) {
    case 'choice':
      if (!known(v)) return `choice ${JSON.stringify(v)} is not one of the options`;
      return { ballot: { choice: v as string }, count };
    case 'approve':
    case 'ranking': {
      if (!Array.isArray(v)) return `"${shape}" must be a list of options`;
      const bad = v.find((x) => !known(x) || x === ABSTAIN);
      if (bad !== undefined) return `${JSON.stringify(bad)} is not one of the options`;
      if (new Set(v).size !== v.length) return `"${shape}" names an option twice`;
      if (shape === 'ranking' && v.length === 0) return 'a ranking names at least one option';
      return { ballot: shape === 'approve' ? { approve: [...v] as string[] } : { ranking: [...v] as string[] }, count };
    }
    case 'scores': {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return '"scores" must map options to numbers';
      const scores: Record<string, number> = {};
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (!known(k) || k === ABSTAIN) return `${JSON.stringify(k)} is not one of the options`;
        // Whole numbers only: sums and medians stay integers, so outcomes encode exactly.
        if (typeof s !== 'number' || !Number.isSafeInteger(s)) return `score for ${JSON.stringify(k)} must be a whole number`;
        Object.defineProperty(scores, k, { value: s, enumerable: true, writable: true, configurable: true });
      }
      return { ballot: { scores }, count };
    }
  }
}
