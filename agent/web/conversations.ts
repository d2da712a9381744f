// Conversations: the list with unread counts, one conversation (messages, post, the ballot for
// its pattern, the live state with the method's explanation, the decision), and a form to start one.
import { useEffect, useState } from 'preact/hooks';
import { call, types, watch, CallError } from './client.js';
import { html, short } from './html.js';
import { BallotFor } from './ballots.js';
import { Explanation } from './charts.js';
import type { Static } from '@sinclair/typebox';
import type { ConvVote } from '../api-shapes.js';

interface Summary { id: string; topic: string; state: string; pattern: { name: string }; method?: { name?: string } }
interface Message { hash: string; author: string; at: string | null; kind: string; data: Record<string, unknown> }
interface View extends Summary {
  pattern: { name: string; options?: string[]; ballot?: string };
  messages: Message[];
  current: { reached: boolean; outcome: { winners?: string[] } & Record<string, unknown>; explanation: Record<string, unknown> & { summary: string } } | null;
  closing: { outcome: { winners?: string[] } & Record<string, unknown> } | null;
}

const SEEN = 'kith.seen.';
const seen = (id: string) => Number(localStorage.getItem(SEEN + id) ?? 0);

export function ConversationList() {
  const [list, setList] = useState<(Summary & { unread: number })[] | undefined>(undefined);
  useEffect(() => watch(async () => {
    const convs = ((await call('conversations')).conversations as Summary[]).filter((c) => c.state !== 'damaged');
    const withUnread = await Promise.all(convs.slice(0, 50).map(async (c) => ({ ...c, unread: Math.max(0, ((await call('conversation', { params: { id: c.id } })) as View).messages.length - seen(c.id)) })));
    setList(withUnread);
  }, types('conv.')), []);
  return html`<section aria-labelledby="convs-h">
    <h2 id="convs-h">Conversations</h2>
    <p><a class="button" href="#/conversations/new">Start a conversation</a></p>
    ${list === undefined ? html`<p>Loading…</p>` : list.length === 0 ? html`<p>No conversations yet.</p>` : html`<ul class="conv-list">
      ${list.map((c) => html`<li><a href=${`#/conversations/${c.id}`} data-topic=${c.topic}>
        <span class="topic">${c.topic}</span> <span class="meta">${c.pattern.name} · ${c.state}</span>
        ${c.unread > 0 ? html` <span class="unread" aria-label=${`${c.unread} unread`}>${c.unread}</span>` : null}
      </a></li>`)}
    </ul>`}
  </section>`;
}

function positionsOf(messages: Message[]): Map<string, { stance: string; reason: string }> {
  const out = new Map<string, { stance: string; reason: string }>();
  for (const m of messages) if (m.kind === 'position') out.set(m.author, { stance: String(m.data['stance']), reason: String(m.data['reason'] ?? '') });
  return out;
}

export function ConversationView({ id }: { id: string }) {
  const [v, setV] = useState<View | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [text, setText] = useState('');
  const [note, setNote] = useState('');
  const load = async () => {
    const view = (await call('conversation', { params: { id } })) as View;
    localStorage.setItem(SEEN + id, String(view.messages.length));
    setV(view);
  };
  useEffect(() => watch(load, (e) => e.type.startsWith('conv.') && e.data['conv'] === id), [id]);
  const act = (fn: () => Promise<unknown>, done: string) => async () => {
    try {
      await fn();
      setError(undefined);
      setNote(done);
      await load();
    } catch (e) {
      setError(e instanceof CallError ? `${e.error.code}: ${e.message}` : String(e));
    }
  };
  if (v === undefined) return html`<p>Loading…</p>`;
  const outcome = v.closing?.outcome ?? (v.current?.reached ? v.current.outcome : undefined);
  const texts = v.messages.filter((m) => m.kind === 'text' || m.kind === 'argument');
  const votes = v.messages.filter((m) => ['ballot', 'position', 'rsvp', 'ack'].includes(m.kind));
  return html`<article aria-labelledby="conv-h">
    <p><a href="#/conversations">← All conversations</a></p>
    <h2 id="conv-h">${v.topic}</h2>
    <p class="meta">${v.pattern.name}${v.method?.name ? ` · ${v.method.name}` : ''} · ${v.state} · ${votes.length} vote${votes.length === 1 ? '' : 's'}</p>
    ${error ? html`<p role="alert" class="error">${error}</p>` : null}
    <p class="sr" role="status">${note}</p>
    ${v.closing || v.current?.reached ? html`<section class="decision" aria-label="decision"><h3>Decision</h3>
      <p class="winner">${(outcome?.winners ?? []).join(', ') || v.current?.explanation.summary}</p></section>` : null}
    ${v.current ? html`<section class="live" aria-labelledby="state-h"><h3 id="state-h">State</h3>
      <p class="summary">${v.current.explanation.summary}</p>
      <${Explanation} method=${v.method?.name ?? ''} explanation=${v.current.explanation} positions=${positionsOf(v.messages)} />
    </section>` : null}
    ${v.state === 'open' ? html`<section aria-labelledby="vote-h"><h3 id="vote-h">Your vote</h3>
      <${BallotFor} pattern=${v.pattern} onVote=${(body: Static<typeof ConvVote>) => act(() => call('vote', { params: { id }, body }), 'vote cast')()} /></section>` : null}
    <section aria-labelledby="msgs-h"><h3 id="msgs-h">Messages</h3>
      <ul class="messages">${texts.map((m) => html`<li><span class="who">${short(m.author)}</span> ${String(m.data['text'] ?? '')}</li>`)}</ul>
      <form onSubmit=${(e: Event) => { e.preventDefault(); if (text.trim()) void act(() => call('postMessage', { params: { id }, body: { text } }), 'posted')().then(() => setText('')); }}>
        <label for="post-text">Message</label>
        <input id="post-text" value=${text} onInput=${(e: Event) => setText((e.target as HTMLInputElement).value)} />
        <button type="submit">Post</button>
      </form>
    </section>
  </article>`;
}

const METHODS: Record<string, string[]> = { poll: ['irv', 'schulze', 'majority', 'approval', 'score', 'supermajority', 'unanimity'], proposal: ['consent'], invitation: ['rsvp'], announcement: ['acknowledge'], discussion: [] };
const BALLOT_OF: Record<string, string> = { irv: 'ranking', schulze: 'ranking', approval: 'approve', score: 'scores' };

export function NewConversation() {
  const [friends, setFriends] = useState<{ userKey: string; name: string }[]>([]);
  const [f, setF] = useState({ topic: '', pattern: 'poll', method: 'irv', options: '', with: [] as string[] });
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => void call('friends').then((r) => setFriends(r.friends.filter((x) => !x.blocked))).catch(() => {}), []);
  const submit = async (e: Event) => {
    e.preventDefault();
    const options = f.options.split(',').map((s) => s.trim()).filter(Boolean);
    const ballot = BALLOT_OF[f.method] ?? (options.length ? 'choice' : undefined);
    try {
      const c = (await call('createConversation', { body: { topic: f.topic, pattern: f.pattern, with: f.with, ...(f.method ? { method: f.method } : {}), ...(options.length ? { options } : {}), ...(f.pattern === 'poll' && ballot ? { ballot } : {}) } })) as { id: string };
      location.hash = `#/conversations/${c.id}`;
    } catch (err) {
      setError(err instanceof CallError ? `${err.error.code}: ${err.message}` : String(err));
    }
  };
  const set = (k: string) => (e: Event) => {
    const value = (e.target as HTMLInputElement).value;
    setF({ ...f, [k]: value, ...(k === 'pattern' ? { method: METHODS[value]?.[0] ?? '' } : {}) });
  };
  return html`<section aria-labelledby="new-h"><h2 id="new-h">Start a conversation</h2>
    ${error ? html`<p role="alert" class="error">${error}</p>` : null}
    <form class="stack" onSubmit=${submit}>
      <label for="topic">Topic</label><input id="topic" required value=${f.topic} onInput=${set('topic')} />
      <label for="pattern">Kind</label><select id="pattern" value=${f.pattern} onChange=${set('pattern')}>${Object.keys(METHODS).map((p) => html`<option value=${p}>${p}</option>`)}</select>
      ${METHODS[f.pattern]!.length ? html`<label for="method">How it is decided</label><select id="method" value=${f.method} onChange=${set('method')}>${METHODS[f.pattern]!.map((m) => html`<option value=${m}>${m}</option>`)}</select>` : null}
      ${f.pattern === 'poll' ? html`<label for="options">Options, separated by commas</label><input id="options" value=${f.options} onInput=${set('options')} />` : null}
      <fieldset><legend>With</legend>
        ${friends.length === 0 ? html`<p>No friends yet: pair first.</p>` : friends.map((x) => html`<label><input type="checkbox" checked=${f.with.includes(x.userKey)} onChange=${() => setF({ ...f, with: f.with.includes(x.userKey) ? f.with.filter((k) => k !== x.userKey) : [...f.with, x.userKey] })} /> ${x.name || short(x.userKey)}</label>`)}
      </fieldset>
      <button type="submit">Start</button>
    </form>
  </section>`;
}
