// Approval and score voting.
import { KithError } from '../../core/errors.js';
import { ABSTAIN, allVoted, type Ballot } from '../ballots.js';
import { breakTie } from '../tiebreak.js';
import { leader, optionsOf, result, type MethodDef } from './common.js';

function approvalsOf(b: Ballot): string[] {
  if ('approve' in b) return b.approve;
  if ('choice' in b) return b.choice === ABSTAIN ? [] : [b.choice];
  throw new KithError('METHOD_INPUT', `approval counts approve sets (or single choices), not ${Object.keys(b)[0]} ballots`);
}

export const approval: MethodDef = {
  name: 'approval',
  summary: 'the option approved by the most voters wins; decided once everyone has voted or at the deadline',
  ballots: 'approve (a set of options), or choice (one approval)',
  params: [],
  evaluate(input) {
    const options = optionsOf(input);
    const approvals: Record<string, number> = {};
    for (const o of options) approvals[o] = 0;
    for (const { ballot, count } of input.ballots) for (const a of approvalsOf(ballot)) approvals[a] = (approvals[a] ?? 0) + count;
    const { top, winner, max } = leader(approvals, input.tieSeed);
    const reached = (allVoted(input) || input.deadlinePassed) && input.ballots.length > 0;
    const outcome = { winners: reached && winner !== undefined ? [winner] : [], approvals, ...(top.length > 1 ? { tied: top } : {}) };
    const summary = input.ballots.length === 0 ? 'no ballots yet' : winner === undefined ? 'no options' : `${winner} has the most approvals (${max})${top.length > 1 ? `, tied with ${top.filter((x) => x !== winner).join(', ')} and chosen by the tie rule` : ''}`;
    return result(reached, outcome, summary, { approvals });
  },
};

/** Lower median: for an even count, the smaller of the two middle values (as Majority Judgment). */
function lowerMedian(sorted: number[]): number {
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

export const score: MethodDef = {
  name: 'score',
  summary: 'the option with the highest mean (or median) score wins; decided once everyone has voted or at the deadline',
  ballots: 'scores (option → number)',
  params: [
    { name: 'aggregate', kind: 'choice', choices: ['mean', 'median'], default: 'mean', doc: 'mean, or lower median (ties broken by mean, then the tie rule)' },
    { name: 'min', kind: 'number', default: 0, doc: 'lowest allowed score' },
    { name: 'max', kind: 'number', default: 10, doc: 'highest allowed score' },
    { name: 'missing', kind: 'choice', choices: ['min', 'ignore'], default: 'min', doc: 'an option a ballot does not score counts as the lowest score, or is left out of its average' },
  ],
  evaluate(input, params) {
    const options = optionsOf(input);
    const lo = params['min'] as number;
    const hi = params['max'] as number;
    const all: Record<string, number[]> = {};
    for (const o of options) all[o] = [];
    for (const { ballot, count } of input.ballots) {
      if (!('scores' in ballot)) throw new KithError('METHOD_INPUT', `score counts scores ballots, not ${Object.keys(ballot)[0]} ballots`);
      for (const o of options) {
        const s = ballot.scores[o];
        if (s !== undefined && (s < lo || s > hi)) throw new KithError('METHOD_INPUT', `score ${s} for ${o} is outside ${lo}..${hi}`);
        const v = s ?? (params['missing'] === 'min' ? lo : undefined);
        if (v !== undefined) for (let i = 0; i < count; i++) all[o]!.push(v);
      }
    }
    // The outcome holds integers only (sum and count per option, the median of integer
    // scores), so a closing record encodes exactly; the mean is sum / count.
    const mean: Record<string, number> = {};
    const median: Record<string, number> = {};
    const sum: Record<string, number> = {};
    const scored: Record<string, number> = {};
    for (const o of options) {
      const xs = all[o]!.sort((a, b) => a - b);
      sum[o] = xs.reduce((a, b) => a + b, 0);
      scored[o] = xs.length;
      mean[o] = xs.length === 0 ? 0 : sum[o]! / xs.length;
      median[o] = xs.length === 0 ? lo : lowerMedian(xs);
    }
    const primary = params['aggregate'] === 'median' ? median : mean;
    const { top } = leader(primary, input.tieSeed);
    let tied = top;
    if (tied.length > 1 && params['aggregate'] === 'median') {
      const byMean = leader(Object.fromEntries(tied.map((o) => [o, mean[o]!])), input.tieSeed);
      tied = byMean.top;
    }
    const winner = tied.length > 0 ? breakTie(input.tieSeed, tied) : undefined;
    const reached = (allVoted(input) || input.deadlinePassed) && input.ballots.length > 0;
    const outcome = { winners: reached && winner !== undefined ? [winner] : [], sum, scored, median, ...(tied.length > 1 ? { tied } : {}) };
    const summary = input.ballots.length === 0 ? 'no ballots yet' : winner === undefined ? 'no options' : `${winner} has the highest ${params['aggregate']} score (${primary[winner]})`;
    return result(reached, outcome, summary, { aggregate: params['aggregate'], mean });
  },
};
