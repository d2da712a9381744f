// The ballot for each pattern: drag to rank (IRV, Schulze) with buttons and Alt+Arrow keys as the
// keyboard way, scores, approvals, consent stances, RSVP. Each calls onVote with the body of
// POST /api/v1/conversations/:id/votes (agent/api-shapes.ts ConvVote).
import { useRef, useState } from 'preact/hooks';
import { html } from './html.js';

import type { Static } from '@sinclair/typebox';
import type { ConvVote } from '../api-shapes.js';

type Vote = (body: Static<typeof ConvVote>) => void;

/** The index an item dragged to `y` lands at, from the item boxes' vertical middles. */
export function dropIndex(middles: number[], y: number): number {
  const i = middles.findIndex((m) => y < m);
  return i < 0 ? middles.length - 1 : i;
}

export const moved = <T>(list: T[], from: number, to: number): T[] => {
  const out = list.slice();
  const [x] = out.splice(from, 1);
  out.splice(to, 0, x as T);
  return out;
};

export function RankBallot({ options, onVote }: { options: string[]; onVote: Vote }) {
  const [order, setOrder] = useState(options);
  const [dragging, setDragging] = useState<number | undefined>(undefined);
  const listRef = useRef<HTMLOListElement>(null);
  const onPointerDown = (i: number) => (e: PointerEvent) => {
    if ((e.target as HTMLElement).closest('button')) return;
    e.preventDefault();
    setDragging(i);
    let at = i;
    const move = (ev: PointerEvent) => {
      const items = [...(listRef.current?.children ?? [])] as HTMLElement[];
      const middles = items.map((el) => { const r = el.getBoundingClientRect(); return r.top + r.height / 2; });
      const to = dropIndex(middles, ev.clientY);
      if (to !== at) {
        setOrder((o) => moved(o, at, to));
        at = to;
        setDragging(to);
      }
    };
    const up = () => {
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      setDragging(undefined);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
  };
  const shift = (i: number, by: number) => {
    const to = i + by;
    if (to < 0 || to >= order.length) return;
    setOrder(moved(order, i, to));
    requestAnimationFrame(() => (listRef.current?.children[to]?.querySelector('.handle') as HTMLElement | null)?.focus());
  };
  const onKey = (i: number) => (e: KeyboardEvent) => {
    if (e.altKey && e.key === 'ArrowUp') { e.preventDefault(); shift(i, -1); }
    if (e.altKey && e.key === 'ArrowDown') { e.preventDefault(); shift(i, 1); }
  };
  return html`<form class="ballot rank" onSubmit=${(e: Event) => { e.preventDefault(); onVote({ rank: order }); }}>
    <p id="rank-help">Drag to order, first choice on top. By keyboard: focus an option and press Alt+↑ or Alt+↓, or use its buttons.</p>
    <ol ref=${listRef} aria-label="your ranking">
      ${order.map((o, i) => html`<li key=${o} class=${dragging === i ? 'rank-item dragging' : 'rank-item'} data-option=${o} onPointerDown=${onPointerDown(i)}>
        <span class="handle" tabindex="0" role="button" aria-describedby="rank-help" onKeyDown=${onKey(i)}><span aria-hidden="true">⠿ </span>${i + 1}. ${o}</span>
        <button type="button" aria-label=${`move ${o} up`} disabled=${i === 0} onClick=${() => shift(i, -1)}>↑</button>
        <button type="button" aria-label=${`move ${o} down`} disabled=${i === order.length - 1} onClick=${() => shift(i, 1)}>↓</button>
      </li>`)}
    </ol>
    <button type="submit">Cast ranking</button>
  </form>`;
}

export function ScoreBallot({ options, onVote, min = 0, max = 10 }: { options: string[]; onVote: Vote; min?: number; max?: number }) {
  const [scores, setScores] = useState<Record<string, number>>(Object.fromEntries(options.map((o) => [o, min])));
  return html`<form class="ballot scores" onSubmit=${(e: Event) => { e.preventDefault(); onVote({ scores: Object.entries(scores).map(([k, v]) => `${k}=${v}`) }); }}>
    ${options.map((o) => html`<label>${o} <input type="number" min=${min} max=${max} value=${scores[o]} onInput=${(e: Event) => setScores({ ...scores, [o]: Number((e.target as HTMLInputElement).value) })} /></label>`)}
    <button type="submit">Cast scores</button>
  </form>`;
}

export function ApproveBallot({ options, onVote }: { options: string[]; onVote: Vote }) {
  const [picked, setPicked] = useState<string[]>([]);
  const toggle = (o: string) => setPicked(picked.includes(o) ? picked.filter((x) => x !== o) : [...picked, o]);
  return html`<form class="ballot approve" onSubmit=${(e: Event) => { e.preventDefault(); onVote({ approve: picked }); }}>
    <fieldset><legend>Approve any number</legend>
      ${options.map((o) => html`<label><input type="checkbox" checked=${picked.includes(o)} onChange=${() => toggle(o)} /> ${o}</label>`)}
    </fieldset>
    <button type="submit">Cast approvals</button>
  </form>`;
}

export function ChoiceBallot({ legend, choices, onVote, reason }: { legend: string; choices: string[]; onVote: Vote; reason?: boolean }) {
  const [text, setText] = useState('');
  return html`<form class="ballot choice" onSubmit=${(e: Event) => e.preventDefault()}>
    <fieldset><legend>${legend}</legend>
      ${reason ? html`<label>Reason (optional) <input value=${text} onInput=${(e: Event) => setText((e.target as HTMLInputElement).value)} /></label>` : null}
      <div class="choices">${choices.map((c) => html`<button type="button" onClick=${() => onVote({ choice: c, ...(reason && text ? { reason: text } : {}) })}>${c}</button>`)}</div>
    </fieldset>
  </form>`;
}

/** The ballot a conversation takes, from its pattern and ballot shape. */
export function BallotFor({ pattern, onVote }: { pattern: { name: string; options?: string[]; ballot?: string }; onVote: Vote }) {
  const options = pattern.options ?? [];
  switch (pattern.name) {
    case 'invitation': return html`<${ChoiceBallot} legend="Will you come?" choices=${['yes', 'maybe', 'no']} onVote=${onVote} />`;
    case 'proposal': return html`<${ChoiceBallot} legend="Your stance" choices=${['agree', 'abstain', 'disagree', 'block']} onVote=${onVote} reason=${true} />`;
    case 'announcement': return html`<${ChoiceBallot} legend="Acknowledge" choices=${['seen']} onVote=${() => onVote({})} />`;
    case 'poll':
      if (pattern.ballot === 'ranking') return html`<${RankBallot} options=${options} onVote=${onVote} />`;
      if (pattern.ballot === 'scores') return html`<${ScoreBallot} options=${options} onVote=${onVote} />`;
      if (pattern.ballot === 'approve') return html`<${ApproveBallot} options=${options} onVote=${onVote} />`;
      return html`<${ChoiceBallot} legend="Your choice" choices=${options} onVote=${onVote} />`;
    default: return null;
  }
}
