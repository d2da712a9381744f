// A method's explanation drawn as pictures: IRV rounds as bars per round, the Schulze pairwise
// matrix, consent positions. Plain SVG-free markup (div widths via the style object, which a
// strict CSP allows since it is set through the CSSOM, not as an attribute string).
import { html } from './html.js';

interface IrvRound { tallies: Record<string, number>; exhausted: number; eliminated?: string; elected?: string }

export function IrvRounds({ rounds }: { rounds: IrvRound[] }) {
  const top = Math.max(1, ...rounds.flatMap((r) => Object.values(r.tallies)));
  return html`<ol class="rounds" aria-label="instant-runoff rounds">
    ${rounds.map((r, i) => html`<li class="round">
      <h4>Round ${i + 1}${r.elected ? html` — <strong>${r.elected} elected</strong>` : r.eliminated ? ` — ${r.eliminated} out` : ''}</h4>
      <ul class="bars">
        ${Object.entries(r.tallies).sort((a, b) => b[1] - a[1]).map(([name, n]) => html`<li class=${name === r.elected ? 'bar won' : name === r.eliminated ? 'bar out' : 'bar'}>
          <span class="label">${name}</span>
          <span class="track"><span class="fill" style=${{ width: `${(100 * n) / top}%` }}></span></span>
          <span class="n">${n}</span>
        </li>`)}
      </ul>
    </li>`)}
  </ol>`;
}

export function PairwiseMatrix({ candidates, d }: { candidates: string[]; d: number[][] }) {
  return html`<table class="matrix">
    <caption>Pairwise preferences: row over column</caption>
    <thead><tr><th scope="col"><span class="sr">prefers</span></th>${candidates.map((c) => html`<th scope="col">${c}</th>`)}</tr></thead>
    <tbody>${candidates.map((r, i) => html`<tr><th scope="row">${r}</th>${candidates.map((_, j) => {
      const v = d[i]?.[j] ?? 0;
      const w = d[j]?.[i] ?? 0;
      return i === j ? html`<td class="self">–</td>` : html`<td class=${v > w ? 'beats' : v < w ? 'loses' : ''}>${v}</td>`;
    })}</tr>`)}</tbody>
  </table>`;
}

const STANCES = ['agree', 'abstain', 'disagree', 'block'];

export function ConsentPositions({ positions }: { positions: Map<string, { stance: string; reason: string }> }) {
  return html`<ul class="stances" aria-label="positions">
    ${STANCES.map((s) => {
      const who = [...positions.entries()].filter(([, p]) => p.stance === s);
      return html`<li class=${`stance ${s}`}><strong>${s}</strong> <span class="n">${who.length}</span>
        <ul>${who.map(([k, p]) => html`<li>${k.slice(0, 8)}${p.reason ? `: ${p.reason}` : ''}</li>`)}</ul></li>`;
    })}
  </ul>`;
}

/** The explanation of `current` for its method, or nothing when there is no picture for it. */
export function Explanation({ method, explanation, positions }: { method: string; explanation: Record<string, unknown>; positions: Map<string, { stance: string; reason: string }> }) {
  if (Array.isArray(explanation['rounds'])) return html`<${IrvRounds} rounds=${explanation['rounds'] as IrvRound[]} />`;
  if (Array.isArray(explanation['pairwise'])) return html`<${PairwiseMatrix} candidates=${explanation['candidates'] as string[]} d=${explanation['pairwise'] as number[][]} />`;
  if (method === 'consent' || positions.size > 0) return html`<${ConsentPositions} positions=${positions} />`;
  return null;
}
