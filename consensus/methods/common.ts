// Shared pieces of the built-in methods: results, parameters, tallies.
import { KithError } from '../../core/errors.js';
import { ABSTAIN, type Ballot, type MethodInput } from '../ballots.js';
import { breakTie } from '../tiebreak.js';

export interface Outcome {
  winners: string[];
  [key: string]: unknown;
}

export interface MethodResult {
  reached: boolean;
  outcome: Outcome;
  explanation: Record<string, unknown> & { summary: string };
}

export type ParamValue = string | number | boolean;
export type Params = Record<string, ParamValue>;

export interface ParamSpec {
  name: string;
  doc: string;
  kind: 'int' | 'choice' | 'number';
  default: ParamValue;
  min?: number;
  max?: number;
  choices?: readonly string[];
}

export interface MethodDef {
  name: string;
  summary: string;
  ballots: string;
  params: readonly ParamSpec[];
  /** Options used when the input gives none (fixed vocabularies). */
  fixedOptions?: readonly string[];
  evaluate(input: MethodInput, params: Params): MethodResult;
}

/** Checks params against their specs; fills defaults; METHOD_PARAM lists every problem. */
export function resolveParams(def: MethodDef, given: Params): Params {
  const problems: string[] = [];
  const out: Params = {};
  for (const k of Object.keys(given)) if (!def.params.some((p) => p.name === k)) problems.push(`${def.name} has no parameter "${k}" (it takes: ${def.params.map((p) => p.name).join(', ') || 'none'})`);
  for (const p of def.params) {
    const v = given[p.name] ?? p.default;
    if (p.kind === 'choice') {
      if (typeof v !== 'string' || !p.choices!.includes(v)) problems.push(`${p.name} must be one of ${p.choices!.join(', ')}, got ${JSON.stringify(v)}`);
    } else {
      const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
      if (typeof n !== 'number' || !Number.isFinite(n) || (p.kind === 'int' && !Number.isInteger(n)) || (p.min !== undefined && n < p.min) || (p.max !== undefined && n > p.max)) {
        problems.push(`${p.name} must be ${p.kind === 'int' ? 'a whole number' : 'a number'}${p.min !== undefined ? ` from ${p.min}` : ''}${p.max !== undefined ? ` to ${p.max}` : ''}, got ${JSON.stringify(v)}`);
      } else {
        out[p.name] = n;
        continue;
      }
    }
    out[p.name] = v;
  }
  if (problems.length > 0) throw new KithError('METHOD_PARAM', `bad parameters for ${def.name}`, { details: problems });
  return out;
}

/** The one option a ballot votes for (choice, or the top of a ranking); undefined for others. */
export function firstChoice(b: Ballot): string | undefined {
  if ('choice' in b) return b.choice;
  if ('ranking' in b) return b.ranking[0];
  if ('approve' in b && b.approve.length === 1) return b.approve[0];
  return undefined;
}

/** Options of the input, or the fixed vocabulary, or every name the ballots use (sorted). */
export function optionsOf(input: MethodInput, fixed?: readonly string[]): string[] {
  if (input.options.length > 0) return [...input.options];
  if (fixed !== undefined) return [...fixed];
  const names = new Set<string>();
  for (const { ballot } of input.ballots) {
    if ('choice' in ballot) names.add(ballot.choice);
    else if ('approve' in ballot) ballot.approve.forEach((x) => names.add(x));
    else if ('ranking' in ballot) ballot.ranking.forEach((x) => names.add(x));
    else Object.keys(ballot.scores).forEach((x) => names.add(x));
  }
  names.delete(ABSTAIN);
  return [...names].sort();
}

export interface ChoiceTally {
  /** Votes per option, every option present (0 when none). */
  votes: Record<string, number>;
  abstained: number;
  /** Ballots that vote for an option (abstentions excluded). */
  cast: number;
}

/** Tallies single choices; a ballot of another shape is a METHOD_INPUT error naming the method. */
export function tallyChoices(method: string, input: MethodInput, options: readonly string[]): ChoiceTally {
  const votes: Record<string, number> = {};
  for (const o of options) votes[o] = 0;
  let abstained = 0;
  for (const { ballot, count } of input.ballots) {
    const c = firstChoice(ballot);
    if (c === undefined) throw new KithError('METHOD_INPUT', `${method} counts single choices (or the first of a ranking), not ${Object.keys(ballot)[0]} ballots`);
    if (c === ABSTAIN) abstained += count;
    else if (votes[c] === undefined) throw new KithError('METHOD_INPUT', `${method}: ${JSON.stringify(c)} is not one of ${options.join(', ')}`);
    else votes[c] += count;
  }
  return { votes, abstained, cast: Object.values(votes).reduce((a, b) => a + b, 0) };
}

/** The options with the most votes, and one winner by the tie rule. */
export function leader(votes: Record<string, number>, seed: string): { top: string[]; winner: string | undefined; max: number } {
  const entries = Object.entries(votes);
  if (entries.length === 0) return { top: [], winner: undefined, max: 0 };
  const max = Math.max(...entries.map(([, v]) => v));
  const top = entries.filter(([, v]) => v === max).map(([k]) => k);
  return { top, winner: breakTie(seed, top), max };
}

export function result(reached: boolean, outcome: Outcome, summary: string, explanation: Record<string, unknown> = {}): MethodResult {
  return { reached, outcome, explanation: { summary, ...explanation } };
}
