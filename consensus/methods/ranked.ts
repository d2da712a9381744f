// Ranked methods: instant-runoff (IRV) and Schulze. Identical rankings are grouped first, so a
// count of 10,000 ballots costs only as much as its distinct rankings.
import { KithError } from '../../core/errors.js';
import { ABSTAIN, allVoted, type Ballot, type MethodInput } from '../ballots.js';
import { tieOrder } from '../tiebreak.js';
import { optionsOf, result, type MethodDef } from './common.js';

function rankingOf(b: Ballot, method: string): string[] {
  if ('ranking' in b) return b.ranking;
  if ('choice' in b) return b.choice === ABSTAIN ? [] : [b.choice];
  throw new KithError('METHOD_INPUT', `${method} counts rankings (or single choices), not ${Object.keys(b)[0]} ballots`);
}

interface Group {
  ranking: number[];
  count: number;
}

function group(input: MethodInput, candidates: string[], method: string): Group[] {
  const index = new Map(candidates.map((c, i) => [c, i]));
  const groups = new Map<string, Group>();
  for (const { ballot, count } of input.ballots) {
    const r = rankingOf(ballot, method).map((c) => {
      const i = index.get(c);
      if (i === undefined) throw new KithError('METHOD_INPUT', `${method}: ${JSON.stringify(c)} is not one of the options`);
      return i;
    });
    const key = r.join(',');
    const g = groups.get(key);
    if (g) g.count += count;
    else groups.set(key, { ranking: r, count });
  }
  return [...groups.values()];
}

export interface IrvRound {
  tallies: Record<string, number>;
  exhausted: number;
  eliminated?: string;
  elected?: string;
  tieBreak?: string;
}

/**
 * Instant-runoff. Each round counts every ballot for its highest-ranked continuing candidate; a
 * candidate with more than half of the continuing (non-exhausted) ballots wins; otherwise the
 * candidate with the fewest votes is eliminated. Ties for elimination: the tied candidate with
 * fewer votes in the most recent earlier round where they differ; if they never differ, the one
 * last in tie-rule order is eliminated (the first wins the tie, as everywhere). A 50/50 final round is settled by eliminating one that way.
 */
export function instantRunoff(input: MethodInput): { winner: string | undefined; rounds: IrvRound[] } {
  const candidates = optionsOf(input);
  const groups = group(input, candidates, 'irv');
  const continuing = new Set(candidates.map((_, i) => i));
  const history: number[][] = [];
  const rounds: IrvRound[] = [];
  while (continuing.size > 0) {
    const tally = new Array<number>(candidates.length).fill(0);
    let exhausted = 0;
    for (const g of groups) {
      const top = g.ranking.find((c) => continuing.has(c));
      if (top === undefined) exhausted += g.count;
      else tally[top]! += g.count;
    }
    history.push(tally);
    const live = [...continuing];
    const total = live.reduce((n, c) => n + tally[c]!, 0);
    const round: IrvRound = { tallies: Object.fromEntries(live.map((c) => [candidates[c]!, tally[c]!])), exhausted };
    rounds.push(round);
    // No ballot counts for anyone (none cast, or all exhausted or abstaining): nobody is elected
    // by eliminating in tie order (that once printed "so far thai wins after 3 rounds").
    if (total === 0) return { winner: undefined, rounds };
    const best = live.reduce((a, c) => (tally[c]! > tally[a]! ? c : a), live[0]!);
    if (live.length === 1 || (tally[best]! * 2 > total && live.filter((c) => tally[c] === tally[best]).length === 1)) {
      round.elected = candidates[best];
      return { winner: candidates[best], rounds };
    }
    const min = Math.min(...live.map((c) => tally[c]!));
    let tied = live.filter((c) => tally[c] === min);
    for (let r = history.length - 2; r >= 0 && tied.length > 1; r--) {
      const lowest = Math.min(...tied.map((c) => history[r]![c]!));
      tied = tied.filter((c) => history[r]![c] === lowest);
    }
    let out = tied[0]!;
    if (tied.length > 1) {
      // The tie rule's first candidate wins the tie, so the last in its order is eliminated.
      out = candidates.indexOf(tieOrder(input.tieSeed, tied.map((c) => candidates[c]!)).at(-1)!);
      round.tieBreak = `${tied.map((c) => candidates[c]).join(', ')} tied; ${candidates[out]} eliminated by the tie rule`;
    }
    round.eliminated = candidates[out];
    continuing.delete(out);
  }
  return { winner: undefined, rounds };
}

export const irv: MethodDef = {
  name: 'irv',
  summary: 'instant-runoff ranked choice: eliminate the last-placed candidate until one has more than half of the continuing ballots',
  ballots: 'ranking (a choice counts as a one-name ranking)',
  params: [],
  evaluate(input) {
    const { winner, rounds } = instantRunoff(input);
    // Certain before everyone votes: more than half of everyone eligible ranks one candidate first.
    const first = rounds[0]?.tallies ?? {};
    const certain = Object.values(first).some((v) => v * 2 > input.eligible);
    const reached = winner !== undefined && input.ballots.length > 0 && (certain || allVoted(input) || input.deadlinePassed);
    return result(reached, { winners: reached ? [winner!] : [], rounds: rounds.length }, winner === undefined ? (input.ballots.length === 0 ? 'no ballots yet' : 'no ballot ranks a candidate') : `${winner} wins after ${rounds.length} round${rounds.length === 1 ? '' : 's'}`, { rounds });
  },
};

/**
 * Schulze (Markus Schulze, "A new monotonic, clone-independent, reversal symmetric, and
 * Condorcet-consistent single-winner election method", 2011). d[X][Y]: voters ranking X above Y
 * (unranked candidates are tied below every ranked one). A link X→Y has strength d[X][Y] when
 * d[X][Y] > d[Y][X] (winning votes); p is the strongest-path matrix (Floyd–Warshall). Winners: X
 * with p[X][Y] >= p[Y][X] for every Y; several are separated by the tie rule.
 */
export function schulzeMatrices(input: MethodInput): { candidates: string[]; d: number[][]; p: number[][]; winners: string[] } {
  const candidates = optionsOf(input);
  const n = candidates.length;
  const groups = group(input, candidates, 'schulze');
  const d = Array.from({ length: n }, () => new Array<number>(n).fill(0));
  for (const g of groups) {
    const rank = new Array<number>(n).fill(g.ranking.length); // unranked: below every ranked one
    g.ranking.forEach((c, i) => (rank[c] = i));
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) if (rank[i]! < rank[j]!) d[i]![j]! += g.count;
  }
  const p = Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i !== j && d[i]![j]! > d[j]![i]! ? d[i]![j]! : 0)));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      if (i === j) continue;
      for (let k = 0; k < n; k++) {
        if (i === k || j === k) continue;
        const via = Math.min(p[j]![i]!, p[i]![k]!);
        if (via > p[j]![k]!) p[j]![k] = via;
      }
    }
  }
  const winners = candidates.filter((_, i) => candidates.every((__, j) => i === j || p[i]![j]! >= p[j]![i]!));
  return { candidates, d, p, winners };
}

export const schulze: MethodDef = {
  name: 'schulze',
  summary: 'Schulze (Condorcet): the candidate whose strongest paths beat or equal every other\'s',
  ballots: 'ranking (a choice counts as a one-name ranking)',
  params: [],
  evaluate(input) {
    const { candidates, d, p, winners } = schulzeMatrices(input);
    const winner = winners.length > 0 ? tieOrder(input.tieSeed, winners)[0] : undefined;
    const reached = winner !== undefined && input.ballots.length > 0 && (allVoted(input) || input.deadlinePassed);
    const outcome = { winners: reached ? [winner!] : [], ...(winners.length > 1 ? { tied: winners } : {}) };
    const summary = input.ballots.length === 0 ? 'no ballots yet' : winner === undefined ? 'no candidates' : `${winner} ${reached ? 'wins' : 'leads'}${winners.length > 1 ? ` (Schulze winners ${winners.join(', ')}; tie rule)` : ''}`;
    return result(reached, outcome, summary, {
      candidates,
      pairwise: d,
      strongestPaths: p,
      schulzeWinners: winners,
    });
  },
};
