// Properties of the methods over random ballot tables (fast-check; a failure prints its seed).
import t from 'tap';
import fc from 'fast-check';
import { evaluateMethod } from '../../consensus/methods/index.js';
import { schulzeMatrices } from '../../consensus/methods/ranked.js';
import type { MethodInput, WeightedBallot } from '../../consensus/ballots.js';

const CANDS = ['A', 'B', 'C', 'D', 'E'];
const ranking = fc.shuffledSubarray(CANDS, { minLength: 1, maxLength: CANDS.length });
const table = fc.array(fc.record({ r: ranking, n: fc.integer({ min: 1, max: 5 }) }), { minLength: 1, maxLength: 25 });

function toInput(rows: { r: string[]; n: number }[], seed = 's'): MethodInput {
  return { options: CANDS, eligible: rows.reduce((a, b) => a + b.n, 0), deadlinePassed: false, tieSeed: seed, ballots: rows.map((x) => ({ ballot: { ranking: x.r }, count: x.n }) as WeightedBallot) };
}

t.test('IRV and Schulze do not depend on the order of the ballots', async (t) => {
  fc.assert(
    fc.property(table, fc.integer(), (rows, salt) => {
      const shuffled = [...rows].sort((a, b) => ((a.r.join() + salt) < (b.r.join() + salt) ? -1 : 1)).reverse();
      for (const m of ['irv', 'schulze']) {
        const x = evaluateMethod(m, toInput(rows));
        const y = evaluateMethod(m, toInput(shuffled));
        if (JSON.stringify(x) !== JSON.stringify(y)) return false;
      }
      return true;
    }),
    { numRuns: 300 },
  );
  t.pass();
});

t.test('a Condorcet winner always wins Schulze', async (t) => {
  fc.assert(
    fc.property(table, (rows) => {
      const input = toInput(rows);
      const { d, candidates } = schulzeMatrices(input);
      const cw = candidates.findIndex((_, i) => candidates.every((__, j) => i === j || d[i]![j]! > d[j]![i]!));
      if (cw < 0) return true;
      return evaluateMethod('schulze', input).outcome.winners[0] === candidates[cw];
    }),
    { numRuns: 500 },
  );
  t.pass();
});

t.test('when every voter puts the same option first, every majority method agrees', async (t) => {
  fc.assert(
    fc.property(fc.constantFrom(...CANDS), table, (top, rows) => {
      const same = rows.map((x) => ({ r: [top, ...x.r.filter((c) => c !== top)], n: x.n }));
      const input = toInput(same);
      const choice: MethodInput = { ...input, ballots: same.map((x) => ({ ballot: { choice: top }, count: x.n })) };
      const winners = [
        evaluateMethod('irv', input), evaluateMethod('schulze', input), evaluateMethod('majority', input),
        evaluateMethod('majority', input, { of: 'all' }), evaluateMethod('supermajority', input, { k: 9, n: 10 }),
        evaluateMethod('unanimity', choice), evaluateMethod('approval', choice),
      ].map((r) => (r.reached ? r.outcome.winners.join() : 'not reached'));
      return winners.every((w) => w === top);
    }),
    { numRuns: 300 },
  );
  t.pass();
});
