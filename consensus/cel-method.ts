// User-written consensus methods in CEL (@marcbachmann/cel-js). A method is a boolean expression
// for "reached" and an optional expression for the outcome, over the context documented in
// consensus/README.md. CEL has no loops, no I/O and always terminates; on top of that kith
// limits expression size, AST size and depth, and the nesting of list macros (so that a method
// cannot ask for ballots × ballots × ballots), and every failure is a KithError, never a crash.
import { Environment } from '@marcbachmann/cel-js';
import { KithError } from '../core/errors.js';
import { ABSTAIN, votersOf, allVoted, type MethodInput } from './ballots.js';
import type { MethodResult, Outcome } from './methods/common.js';

export const CEL_LIMITS = {
  /** Characters in one expression. */
  maxChars: 2000,
  /** AST nodes after parsing. */
  maxAstNodes: 400,
  /** Nesting depth of the AST. */
  maxDepth: 40,
  /** List macros (all, exists, exists_one, filter, map) inside one another. */
  maxMacroNesting: 2,
  /** Distinct ballots given to a method with nested macros (grouped, so counts add up). */
  maxBallotsWhenNested: 2000,
} as const;

const MACROS = new Set(['all', 'exists', 'exists_one', 'filter', 'map']);

/** The variables a CEL method sees, with their CEL types. */
export const CEL_CONTEXT: Record<string, { type: string; doc: string }> = {
  participants: { type: 'int', doc: 'participants eligible to vote' },
  cast: { type: 'int', doc: 'ballots cast (voters), abstentions included' },
  abstained: { type: 'int', doc: 'ballots that abstain' },
  options: { type: 'list<string>', doc: 'the options, in the order given' },
  ballots: { type: 'list<map<string, dyn>>', doc: 'one entry per distinct ballot: {choice: string, approve: list<string>, ranking: list<string>, scores: map<string, double>, count: int}; absent shapes are "" / [] / {}' },
  tallies: { type: 'map<string, int>', doc: 'per option: votes from single choices and first preferences (0 for none)' },
  approvals: { type: 'map<string, int>', doc: 'per option: approvals (approve sets and single choices)' },
  messages: { type: 'int', doc: 'messages in the conversation (in `method test`: ballot entries)' },
  allVoted: { type: 'bool', doc: 'every participant has a ballot in' },
  informed: { type: 'int', doc: 'eligible participants whose nodes provably hold the conversation (posted anything, a receipt at least)' },
  deadlinePassed: { type: 'bool', doc: 'the deadline has passed at evaluation time' },
  deadline: { type: 'int', doc: 'deadline in ms since the epoch, 0 when there is none' },
  now: { type: 'int', doc: 'evaluation time in ms since the epoch' },
};

function environment(): Environment {
  const env = new Environment({
    // Outcome maps mix types ({"winners": [..], "note": ".."}): allow mixed literals.
    homogeneousAggregateLiterals: false,
    limits: { maxAstNodes: CEL_LIMITS.maxAstNodes, maxDepth: CEL_LIMITS.maxDepth, maxListElements: 1000, maxMapEntries: 1000, maxCallArguments: 16 },
  });
  for (const [name, v] of Object.entries(CEL_CONTEXT)) env.registerVariable(name, v.type);
  return env;
}

interface AstNode {
  op: string;
  args: unknown;
}

function macroNesting(node: unknown): number {
  if (Array.isArray(node)) return Math.max(0, ...node.map(macroNesting));
  if (node === null || typeof node !== 'object' || !('op' in node)) return 0;
  const n = node as AstNode;
  const inner = macroNesting(n.args);
  const args = n.args as unknown[];
  const isMacro = n.op === 'rcall' && Array.isArray(args) && MACROS.has(args[0] as string);
  return inner + (isMacro ? 1 : 0);
}

/**
 * A cel-js error on one line with its position in words: "at line 1, column 13: Unexpected token:
 * EOF". Its caret picture needs the lines under one another, so flattened it would point nowhere.
 */
export function describeCelError(e: unknown, expr: string): string {
  const err = e as { message?: unknown; node?: { pos?: unknown } };
  const first = String(err.message ?? e).split('\n')[0]!;
  const pos = err.node?.pos;
  if (typeof pos !== 'number' || pos < 0 || pos > expr.length) return first;
  const before = expr.slice(0, pos).split('\n');
  return `at line ${before.length}, column ${before.at(-1)!.length + 1}: ${first}`;
}

export interface CompiledCel {
  reached: string;
  outcome: string | undefined;
  nesting: number;
  run(ctx: Record<string, unknown>): { reached: boolean; outcome: unknown };
}

/** Parses and type-checks a CEL method; CEL_INVALID (with position) or CEL_LIMIT otherwise. */
export function compileCel(reached: string, outcome?: string): CompiledCel {
  const env = environment();
  const prepare = (what: string, expr: string, wantBool: boolean) => {
    if (expr.length > CEL_LIMITS.maxChars) throw new KithError('CEL_LIMIT', `the ${what} expression has ${expr.length} characters; at most ${CEL_LIMITS.maxChars}`);
    let parsed: ReturnType<Environment['parse']>;
    try {
      parsed = env.parse(expr);
    } catch (e) {
      const msg = describeCelError(e, expr);
      throw new KithError(/limit|exceed|maximum/i.test(msg) ? 'CEL_LIMIT' : 'CEL_INVALID', `the ${what} expression does not parse: ${msg}`);
    }
    const check = env.check(expr);
    if (!check.valid) throw new KithError('CEL_INVALID', `the ${what} expression does not type-check: ${describeCelError(check.error, expr)}`);
    if (wantBool && check.type !== 'bool' && check.type !== 'dyn') throw new KithError('CEL_INVALID', `the ${what} expression must be a bool, but it is ${check.type}`);
    const nesting = macroNesting((parsed as unknown as { ast: unknown }).ast);
    if (nesting > CEL_LIMITS.maxMacroNesting) throw new KithError('CEL_LIMIT', `the ${what} expression nests ${nesting} list macros; at most ${CEL_LIMITS.maxMacroNesting}`);
    return { parsed, nesting };
  };
  const r = prepare('reached', reached, true);
  const o = outcome !== undefined && outcome.trim() !== '' ? prepare('outcome', outcome, false) : undefined;
  return {
    reached,
    outcome,
    nesting: Math.max(r.nesting, o?.nesting ?? 0),
    run(ctx) {
      const evalOne = (what: string, p: typeof r.parsed) => {
        try {
          return p(ctx);
        } catch (e) {
          throw new KithError('CEL_EVAL', `the ${what} expression failed: ${describeCelError(e, what === 'reached' ? reached : outcome!)}`);
        }
      };
      const rv = evalOne('reached', r.parsed);
      if (typeof rv !== 'boolean') throw new KithError('CEL_EVAL', `the reached expression gave ${typeof rv}, not a bool`);
      return { reached: rv, outcome: o === undefined ? undefined : evalOne('outcome', o.parsed) };
    },
  };
}

/** Builds the documented context from a method input. CEL integers are bigints. */
export function celContext(input: MethodInput, extra: { messages: number; deadlineMs: number; nowMs: number }): Record<string, unknown> {
  const big = (n: number) => BigInt(Math.trunc(n));
  const tallies: Record<string, bigint> = {};
  const approvals: Record<string, bigint> = {};
  for (const o of input.options) {
    tallies[o] = 0n;
    approvals[o] = 0n;
  }
  let abstained = 0;
  const groups = new Map<string, { b: Record<string, unknown>; count: number }>();
  for (const { ballot, count } of input.ballots) {
    const choice = 'choice' in ballot ? ballot.choice : '';
    const first = 'choice' in ballot ? ballot.choice : 'ranking' in ballot ? ballot.ranking[0] : undefined;
    if (choice === ABSTAIN) abstained += count;
    else if (first !== undefined) tallies[first] = (tallies[first] ?? 0n) + big(count);
    const appr = 'approve' in ballot ? ballot.approve : choice !== '' && choice !== ABSTAIN ? [choice] : [];
    for (const a of appr) approvals[a] = (approvals[a] ?? 0n) + big(count);
    const b = {
      choice,
      approve: 'approve' in ballot ? [...ballot.approve] : [],
      ranking: 'ranking' in ballot ? [...ballot.ranking] : [],
      scores: 'scores' in ballot ? Object.fromEntries(Object.entries(ballot.scores).map(([k, v]) => [k, Number(v)])) : {},
    };
    const key = JSON.stringify(b);
    const g = groups.get(key);
    if (g) g.count += count;
    else groups.set(key, { b, count });
  }
  return {
    participants: big(input.eligible),
    cast: big(votersOf(input)),
    abstained: big(abstained),
    options: [...input.options],
    ballots: [...groups.values()].map((g) => ({ ...g.b, count: big(g.count) })),
    tallies,
    approvals,
    messages: big(extra.messages),
    allVoted: allVoted(input),
    informed: big(input.informed ?? input.eligible),
    deadlinePassed: input.deadlinePassed,
    deadline: big(extra.deadlineMs),
    now: big(extra.nowMs),
  };
}

/** Plain JSON from a CEL value (bigints become numbers, Maps objects). */
function toPlain(v: unknown): unknown {
  if (typeof v === 'bigint') return Number(v);
  if (Array.isArray(v)) return v.map(toPlain);
  if (v instanceof Map) return Object.fromEntries([...v.entries()].map(([k, x]) => [String(k), toPlain(x)]));
  if (v instanceof Uint8Array) return Buffer.from(v).toString('hex');
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toPlain(x)]));
  return v;
}

/** The outcome expression's value as an Outcome: a string or list gives the winners. */
function asOutcome(v: unknown): Outcome {
  const plain = toPlain(v);
  if (plain === undefined) return { winners: [] };
  if (typeof plain === 'string') return { winners: [plain] };
  if (Array.isArray(plain)) return { winners: plain.map(String) };
  if (plain !== null && typeof plain === 'object') {
    const o = plain as Record<string, unknown>;
    return { ...o, winners: Array.isArray(o['winners']) ? (o['winners'] as unknown[]).map(String) : [] };
  }
  return { winners: [], value: plain };
}

export function evaluateCel(compiled: CompiledCel, input: MethodInput, extra: { messages: number; deadlineMs: number; nowMs: number }): MethodResult {
  if (compiled.nesting >= 2 && input.ballots.length > CEL_LIMITS.maxBallotsWhenNested) {
    throw new KithError('CEL_LIMIT', `a CEL method with nested list macros is limited to ${CEL_LIMITS.maxBallotsWhenNested} distinct ballots; this input has ${input.ballots.length}`);
  }
  const { reached, outcome } = compiled.run(celContext(input, extra));
  const out = asOutcome(outcome);
  return { reached, outcome: out, explanation: { summary: `CEL: reached = ${reached}`, reached: compiled.reached, ...(compiled.outcome ? { outcome: compiled.outcome } : {}) } };
}
