// The built-in consensus methods, by name.
import { KithError } from '../../core/errors.js';
import type { MethodInput } from '../ballots.js';
import { approval, score } from './approval-score.js';
import { acknowledge, consent, majority, rsvp, supermajority, unanimity } from './choice-methods.js';
import { resolveParams, type MethodDef, type MethodResult, type Params } from './common.js';
import { irv, schulze } from './ranked.js';

export const METHODS: readonly MethodDef[] = [unanimity, majority, supermajority, consent, approval, score, irv, schulze, rsvp, acknowledge];
export const METHOD_NAMES = METHODS.map((m) => m.name);

export function methodByName(name: string): MethodDef {
  const m = METHODS.find((x) => x.name === name);
  if (!m) throw new KithError('METHOD_UNKNOWN', `no consensus method "${name}" (built-in: ${METHOD_NAMES.join(', ')})`);
  return m;
}

/** Evaluates a built-in method: a pure function of the input and the parameters. */
export function evaluateMethod(name: string, input: MethodInput, params: Params = {}): MethodResult {
  const def = methodByName(name);
  return def.evaluate(input, resolveParams(def, params));
}

export type { MethodDef, MethodResult, Params };
