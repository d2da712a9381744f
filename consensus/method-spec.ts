// A conversation's method: a built-in by name with parameters, or a CEL method. One entry point
// evaluates either, as a pure function of the input, the parameters and the evaluation time.
import { KithError } from '../core/errors.js';
import type { MethodInput } from './ballots.js';
import { compileCel, evaluateCel } from './cel-method.js';
import { evaluateMethod, methodByName, type MethodResult, type Params } from './methods/index.js';
import { resolveParams } from './methods/common.js';

export type MethodSpec =
  | { kind: 'builtin'; name: string; params: Params }
  | { kind: 'cel'; reached: string; outcome?: string };

export interface EvalContext {
  messages: number;
  deadlineMs: number;
  nowMs: number;
}

/** Checks a spec once, at creation: unknown names, bad params and bad CEL fail here. */
export function checkMethodSpec(spec: MethodSpec): void {
  if (spec.kind === 'builtin') resolveParams(methodByName(spec.name), spec.params);
  else compileCel(spec.reached, spec.outcome);
}

/** Compiled CEL methods by source: a conversation's method is evaluated after many messages. */
const compiled = new Map<string, ReturnType<typeof compileCel>>();

function compiledCel(reached: string, outcome: string | undefined): ReturnType<typeof compileCel> {
  const key = JSON.stringify([reached, outcome ?? null]);
  let c = compiled.get(key);
  if (!c) {
    c = compileCel(reached, outcome);
    if (compiled.size >= 256) compiled.delete(compiled.keys().next().value!);
    compiled.set(key, c);
  }
  return c;
}

export function evaluateSpec(spec: MethodSpec, input: MethodInput, ctx: EvalContext): MethodResult {
  if (spec.kind === 'builtin') return evaluateMethod(spec.name, input, spec.params);
  return evaluateCel(compiledCel(spec.reached, spec.outcome), input, ctx);
}

/** "k=v" strings into params: numbers where numeric, true/false, else text. */
export function parseParamArgs(args: readonly string[]): Params {
  const out: Params = {};
  for (const a of args) {
    const m = /^([A-Za-z][A-Za-z0-9_]*)=(.*)$/.exec(a);
    if (!m) throw new KithError('USAGE', `--param takes name=value, got ${JSON.stringify(a)}`);
    const v = m[2]!;
    out[m[1]!] = /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v === 'true' ? true : v === 'false' ? false : v;
  }
  return out;
}
