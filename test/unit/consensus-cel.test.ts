// User-written CEL methods: they evaluate over the documented context, errors point at the
// position, limits hold, and a failing method is a KithError, never a crash.
import t from 'tap';
import { compileCel, evaluateCel, CEL_LIMITS } from '../../consensus/cel-method.js';
import { parseMethodInput } from '../../consensus/ballots.js';
import { isKithError } from '../../core/errors.js';

const input = parseMethodInput({
  options: ['pizza', 'sushi', 'tacos'],
  participants: 5,
  ballots: [{ choice: 'pizza', count: 3 }, { choice: 'sushi' }],
});
const ctx = { messages: 4, deadlineMs: 0, nowMs: 1_800_000_000_000 };
const run = (reached: string, outcome?: string) => evaluateCel(compileCel(reached, outcome), input, ctx);

t.test('a CEL majority of all participants, with an outcome', async (t) => {
  const r = run('options.exists(o, tallies[o] * 2 > participants)', 'options.filter(o, tallies[o] * 2 > participants)');
  t.equal(r.reached, true);
  t.same(r.outcome.winners, ['pizza']);
  t.equal(run('cast == participants').reached, false);
  t.equal(run('ballots.filter(b, b.choice == "sushi").size() == 1 && messages == 4 && !deadlinePassed && now > 0').reached, true);
  t.same(run('true', '{"winners": ["tacos"], "note": "chef decides"}').outcome, { winners: ['tacos'], note: 'chef decides' });
});

function code(fn: () => unknown): string {
  try {
    fn();
    return 'none';
  } catch (e) {
    return isKithError(e) ? `${e.code}: ${e.message}` : `crash: ${(e as Error).message}`;
  }
}

t.test('parse and type errors point at the position', async (t) => {
  const p = code(() => compileCel('tallies["pizza"] >'));
  t.match(p, /^CEL_INVALID: the reached expression does not parse: at line 1, column 19: Unexpected token: EOF$/);
  const ty = code(() => compileCel('cast + "x" > 1'));
  t.match(ty, /^CEL_INVALID: .*type-check: at line 1, column 1: no such overload/);
  t.match(code(() => compileCel('cast')), /^CEL_INVALID: the reached expression must be a bool, but it is int/);
  t.match(code(() => compileCel('nosuchvar > 1')), /^CEL_INVALID/);
});

t.test('a parse error on a later line names that line and its column, on one line', async (t) => {
  const p = code(() => compileCel('cast >= 2 &&\n  allVoted &&\n  )'));
  t.equal(p, 'CEL_INVALID: the reached expression does not parse: at line 3, column 3: Unexpected token: RPAREN');
});

t.test('limits: length, size, macro nesting', async (t) => {
  t.match(code(() => compileCel('true || '.repeat(300) + 'true')), /^CEL_LIMIT/);
  t.match(code(() => compileCel('ballots.all(a, ballots.all(b, ballots.all(c, a.count > 0)))')), /^CEL_LIMIT: .*nests 3 list macros/);
  t.equal(code(() => compileCel('ballots.all(a, ballots.exists(b, a.count >= b.count))')), 'none', 'two levels are fine');
  const big = parseMethodInput({ ballots: Array.from({ length: CEL_LIMITS.maxBallotsWhenNested + 1 }, (_, i) => ({ choice: `o${i}` })) });
  t.match(code(() => evaluateCel(compileCel('ballots.all(a, ballots.exists(b, a.count >= b.count))'), big, ctx)), /^CEL_LIMIT/);
});

t.test('a method that fails at run time is reported, not thrown through', async (t) => {
  t.match(code(() => run('tallies["ramen"] > 0')), /^CEL_EVAL: .*No such key/);
  t.match(code(() => run('cast / (participants - 5) > 1')), /^CEL_EVAL: .*division by zero/);
});
