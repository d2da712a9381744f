// Consensus methods at scale: IRV and Schulze over 10,000 ranked ballots of 10 candidates, and a
// CEL predicate over 1,000 messages. Medians of several runs, each next to a baseline measured in
// the same process: one pass that counts first preferences (plurality) over the same ballots,
// and the same predicate written in plain JS. DESIGN budget: each method under 50 ms here.
//   node dist/bench/consensus.js      (Node; npm install builds dist/)
//   node_modules/.bin/bun bench/consensus.ts
import { SeededRng } from '../core/rng.js';
import type { MethodInput, WeightedBallot } from '../consensus/ballots.js';
import { evaluateMethod } from '../consensus/methods/index.js';
import { compileCel, evaluateCel } from '../consensus/cel-method.js';

const RUNS = Number(process.env['KITH_BENCH_RUNS'] ?? 15);
const CANDIDATES = Array.from({ length: 10 }, (_, i) => `c${i}`);
const runtime = typeof (globalThis as { Bun?: unknown }).Bun !== 'undefined' ? `bun ${(process.versions as Record<string, string>)['bun']}` : `node ${process.versions.node}`;

function ballots(n: number, seed: string): WeightedBallot[] {
  const rng = new SeededRng(seed);
  const out: WeightedBallot[] = [];
  for (let i = 0; i < n; i++) {
    const order = [...CANDIDATES];
    for (let k = order.length - 1; k > 0; k--) {
      const j = rng.below(k + 1);
      [order[k], order[j]] = [order[j]!, order[k]!];
    }
    // Voters rank 3 to 10 candidates: realistic partial rankings, mostly distinct.
    out.push({ ballot: { ranking: order.slice(0, 3 + rng.below(8)) }, count: 1 });
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

function time(fn: () => unknown): number {
  const t0 = performance.now();
  fn();
  return performance.now() - t0;
}

function measure(fn: () => unknown): number {
  for (let i = 0; i < 3; i++) fn(); // warm-up
  return median(Array.from({ length: RUNS }, () => time(fn)));
}

const input: MethodInput = { options: CANDIDATES, eligible: 10_000, ballots: ballots(10_000, 'bench'), deadlinePassed: false, tieSeed: 'bench' };
const plurality = () => {
  const t: Record<string, number> = {};
  for (const b of input.ballots) {
    const first = 'ranking' in b.ballot ? b.ballot.ranking[0]! : '';
    t[first] = (t[first] ?? 0) + b.count;
  }
  return t;
};
const base = measure(plurality);
const rows: [string, number, number][] = [];
for (const m of ['irv', 'schulze']) rows.push([`${m}, 10,000 ballots × 10 candidates`, measure(() => evaluateMethod(m, input)), base]);

const thousand: MethodInput = { ...input, eligible: 1000, ballots: ballots(1000, 'cel') };
const compiled = compileCel('ballots.filter(b, size(b.ranking) > 0 && b.ranking[0] == "c3").size() * 4 > participants');
const celBase = measure(() => thousand.ballots.filter((b) => 'ranking' in b.ballot && b.ballot.ranking[0] === 'c3').length * 4 > thousand.eligible);
rows.push(['CEL predicate over 1,000 messages', measure(() => evaluateCel(compiled, thousand, { messages: 1000, deadlineMs: 0, nowMs: 0 })), celBase]);

console.log(`consensus methods on ${runtime}: medians of ${RUNS} runs (baselines in the same process: a plurality count of the same ballots; for CEL, the same predicate in JS)`);
console.log('| what | median | baseline | ratio | under 50 ms |');
console.log('|---|---|---|---|---|');
for (const [what, ms, b] of rows) console.log(`| ${what} | ${ms.toFixed(2)} ms | ${b.toFixed(3)} ms | ${(ms / b).toFixed(0)}× | ${ms < 50 ? 'yes' : 'NO'} |`);
