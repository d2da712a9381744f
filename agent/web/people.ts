// Friends (pair by showing a code and its QR, or typing one; the safety number; remove; block),
// own nodes, and the cluster as a map of households, nodes, states, RTT and addresses. Each view
// fetches again on the events that change it (client.ts watch).
import type { Reply } from '../api-shapes.js';
import { useEffect, useState } from 'preact/hooks';
import { encode } from 'uqr';
import { CallError, call, errText, types, watch } from './client.js';
import { RESEAL_SKIPS, resealText } from '../reseal-text.js';
import { html, short } from './html.js';


export function Qr({ text }: { text: string }) {
  const { data, size } = encode(text, { border: 2 });
  const cells: string[] = [];
  data.forEach((row, y) => row.forEach((on, x) => { if (on) cells.push(`M${x} ${y}h1v1h-1z`); }));
  return html`<svg class="qr" viewBox=${`0 0 ${size} ${size}`} role="img" aria-label="QR code of the pairing code"><rect width=${size} height=${size} fill="#fff" /><path d=${cells.join('')} fill="#000" /></svg>`;
}

type Friend = Reply<'friends'>['friends'][number];
type Offer = Reply<'pairOffer'>;
interface PairResult { kind: string; friendName?: string; friendUserKey?: string; safetyNumber?: string; label?: string }

function PairPanel({ onPaired }: { onPaired: () => void }) {
  const [offer, setOffer] = useState<Offer | undefined>(undefined);
  const [code, setCode] = useState('');
  const [result, setResult] = useState<PairResult | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  useEffect(() => {
    if (offer === undefined || offer.state !== 'waiting') return;
    // Pairing ends with a friend added (friend.added) or a pairing event; the offer says how.
    return watch(async () => {
      const s = await call('pairOfferState', { params: { id: offer.id } });
      if (s.state !== 'waiting') { setOffer({ ...offer, ...s }); if (s.result) { setResult(s.result); onPaired(); } }
    }, types('friend.', 'pair.'));
  }, [offer?.id, offer?.state]);
  const start = async () => {
    try { setOffer(await call('pairOffer', { body: {} })); setError(undefined); } catch (e) { setError(errText(e)); }
  };
  const join = async (e: Event) => {
    e.preventDefault();
    try { setResult(await call('pairJoin', { body: { target: code.trim() } })); setError(undefined); onPaired(); } catch (err) { setError(errText(err)); }
  };
  return html`<section aria-labelledby="pair-h"><h3 id="pair-h">Pair</h3>
    ${error ? html`<p role="alert" class="error">${error}</p>` : null}
    ${result ? html`<p role="status" class="ok">Paired with ${result.friendName ?? result.label ?? 'a node'}${result.safetyNumber ? html`. Safety number: <code class="safety">${result.safetyNumber}</code> — compare it with your friend's screen.` : ''}</p>` : null}
    <div class="two">
      <div><h4>Show a code</h4>
        ${offer ? html`<p>Code: <code class="pair-code">${offer.code}</code> (${offer.state})</p><${Qr} text=${offer.qr} /><details><summary>The QR as text (to paste on another machine)</summary><code class="pair-qr">${offer.qr}</code></details>` : html`<button type="button" onClick=${start}>Show a pairing code</button>`}
      </div>
      <form onSubmit=${join}><h4>Type a friend's code</h4>
        <label for="pair-code">Code or QR text</label>
        <input id="pair-code" autocomplete="off" value=${code} onInput=${(e: Event) => setCode((e.target as HTMLInputElement).value)} />
        <button type="submit">Pair</button>
      </form>
    </div>
  </section>`;
}

/** A button that asks once more before it acts (no window.confirm, so it works by keyboard and in tests). */
function Twice({ label, confirm, onDo }: { label: string; confirm: string; onDo: () => void }) {
  const [armed, setArmed] = useState(false);
  return armed ? html`<button type="button" class="danger" onClick=${onDo}>${confirm}</button> <button type="button" onClick=${() => setArmed(false)}>Cancel</button>` : html`<button type="button" onClick=${() => setArmed(true)}>${label}</button>`;
}

export function Friends() {
  const [friends, setFriends] = useState<Friend[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const load = async () => setFriends((await call('friends')).friends);
  useEffect(() => watch(load, types('friend.')), []);
  const act = (fn: () => Promise<unknown>) => async () => { try { await fn(); setError(undefined); await load(); } catch (e) { setError(errText(e)); } };
  return html`<section aria-labelledby="friends-h"><h2 id="friends-h">Friends</h2>
    <${PairPanel} onPaired=${() => void load()} />
    ${error ? html`<p role="alert" class="error">${error}</p>` : null}
    <h3>Your friends</h3>
    ${friends === undefined ? html`<p>Loading…</p>` : friends.length === 0 ? html`<p>No friends yet.</p>` : html`<ul class="cards">${friends.map((f) => html`<li>
      <strong>${f.name || short(f.userKey)}</strong> <span class="meta">${f.nodes} node${f.nodes === 1 ? '' : 's'}${f.blocked ? ' · blocked' : ''}</span>
      <div class="key"><code>${f.userKey}</code></div>
      <div class="actions"><${Twice} label="Remove" confirm=${`Really remove ${f.name}?`} onDo=${act(() => call('removeFriend', { params: { key: f.userKey } }))} />
      ${f.blocked ? null : html`<${Twice} label="Block" confirm=${`Really block ${f.name}?`} onDo=${act(() => call('blockFriend', { params: { key: f.userKey } }))} />`}</div>
    </li>`)}</ul>`}
  </section>`;
}

type OwnNode = Reply<'nodes'>['nodes'][number];

/**
 * The revoked node's key to the archive, as `kith node revoke` hands it over: what the archive
 * re-seals, or why it took nothing. The revocation is done by then: a refusal is reported, not thrown.
 */
async function handOver(key: string, node: { nodeIndex: number; generation: number }): Promise<string> {
  try {
    return resealText(await call('archiveReseal', { body: { key, ...node } }));
  } catch (e) {
    const skipped = e instanceof CallError ? RESEAL_SKIPS.find((c) => c === e.error.code) : undefined;
    return skipped ? resealText({ skipped, message: (e as Error).message }) : `Archive: the key was not handed over (${errText(e)}).`;
  }
}

/**
 * Revokes a node: the phrase is used in this page only (revoke.js signs and derives the revoked
 * node's key for the archive), never sent to the agent.
 */
function RevokeForm({ nodes }: { nodes: OwnNode[] }) {
  const [f, setF] = useState({ index: '', generation: '', phrase: '', reason: 'lost' });
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | undefined>(undefined);
  const set = (k: string) => (e: Event) => {
    const value = (e.target as HTMLInputElement).value;
    const known = k === 'index' ? nodes.find((n) => String(n.nodeIndex) === value) : undefined;
    setF({ ...f, [k]: value, ...(known ? { generation: String(known.generation) } : {}) });
  };
  const submit = async (e: Event) => {
    e.preventDefault();
    try {
      const lazy = new URL('revoke.js', import.meta.url).href; // not a literal: loaded on demand, never bundled in
      const { revokedNodeKey, signRevocation } = (await import(lazy)) as typeof import('./revoke.js');
      const node = { nodeIndex: Number(f.index), generation: Number(f.generation || 0) };
      const revocation = signRevocation(f.phrase, node.nodeIndex, node.generation, f.reason);
      const key = revokedNodeKey(f.phrase, node.nodeIndex, node.generation);
      setF({ ...f, phrase: '' });
      const r = await call('revokeNode', { body: { revocation } });
      const told = `node ${r.nodeIndex} is revoked; ${r.members} member(s) told.`;
      setMsg({ ok: true, text: `${told} ${await handOver(key, node)}` });
    } catch (err) {
      setF({ ...f, phrase: '' });
      setMsg({ ok: false, text: errText(err) });
    }
  };
  return html`<h3>Revoke a node</h3>
    <p>Your recovery phrase signs the revocation in this page. The agent gets the signed revocation and the revoked node's own key (so the archive re-seals what was sealed to it), never the phrase.</p>
    ${msg ? html`<p role=${msg.ok ? 'status' : 'alert'} class=${msg.ok ? 'ok revoke-result' : 'error revoke-result'}>${msg.text}</p>` : null}
    <form class="stack" onSubmit=${submit}>
      <label for="rv-index">Node number</label><input id="rv-index" inputmode="numeric" pattern="[0-9]+" required value=${f.index} onInput=${set('index')} />
      <label for="rv-gen">Key generation</label><input id="rv-gen" inputmode="numeric" pattern="[0-9]*" value=${f.generation} onInput=${set('generation')} />
      <label for="rv-reason">Reason</label><input id="rv-reason" value=${f.reason} onInput=${set('reason')} />
      <label for="rv-phrase">Recovery phrase</label><textarea id="rv-phrase" required autocomplete="off" spellcheck=${false} rows="3" value=${f.phrase} onInput=${set('phrase')}></textarea>
      <button type="submit">Sign and revoke</button>
    </form>`;
}

export function Nodes() {
  const [nodes, setNodes] = useState<OwnNode[] | undefined>(undefined);
  useEffect(() => watch(async () => setNodes((await call('nodes')).nodes), types('member.', 'node.')), []);
  return html`<section aria-labelledby="nodes-h"><h2 id="nodes-h">Your nodes</h2>
    ${nodes === undefined ? html`<p>Loading…</p>` : html`<table class="grid"><caption>Machines of this user</caption>
      <thead><tr><th scope="col">#</th><th scope="col">Label</th><th scope="col">State</th><th scope="col">Address</th><th scope="col">Key</th></tr></thead>
      <tbody>${nodes.map((n) => html`<tr><td>${n.nodeIndex}.${n.generation}</td><td>${n.label}</td><td class=${`state ${n.state.replace(/\s/g, '-')}`}>${n.state}</td><td>${n.endpoint ?? '—'}</td><td><code>${short(n.nodeSignKey)}</code></td></tr>`)}</tbody></table>`}
    <${RevokeForm} nodes=${nodes ?? []} />
    <h3>Add a node</h3>
    <p>On the new machine, run <code>kith node add</code>; then show a pairing code in the Friends page here and type it there.</p>
  </section>`;
}

type Peer = Reply<'peers'>['peers'][number];

export function ClusterMap() {
  const [peers, setPeers] = useState<Peer[] | undefined>(undefined);
  const [status, setStatus] = useState<Reply<'status'> | undefined>(undefined);
  const [names, setNames] = useState<Map<string, string>>(new Map());
  useEffect(() => watch(async () => {
    setPeers((await call('peers')).peers);
    setStatus(await call('status'));
    setNames(new Map((await call('friends')).friends.map((f) => [f.userKey, f.name])));
  }, types('member.', 'friend.')), []);
  const households = new Map<string, Peer[]>();
  for (const p of peers ?? []) households.set(p.userKey, [...(households.get(p.userKey) ?? []), p]);
  const c = status?.cluster;
  const me = status?.identity.userKey;
  const win = c?.nextWindow as { start?: string; inMs?: number } | null | undefined;
  const when = win ? `${win.start ?? ''}${typeof win.inMs === 'number' ? ` (in ${Math.round(win.inMs / 60_000)} min)` : ''}` : 'none planned';
  const who = (user: string) => (user === me ? 'yours' : names.get(user) || short(user));
  return html`<section aria-labelledby="map-h"><h2 id="map-h">Cluster</h2>
    <p class="meta" data-testid="cluster-self">This node: ${c ? `${c.host}:${c.port}` : '?'}${c?.publicEndpoint ? ` · public ${c.publicEndpoint}` : ''} · ${c?.alive ?? '?'} of ${c?.members ?? '?'} members alive · next rendezvous window: ${when}</p>
    ${peers === undefined ? html`<p>Loading…</p>` : peers.length === 0 ? html`<p>No other members yet.</p>` : html`<ul class="households">${[...households.entries()].map(([user, ps]) => html`<li class="household">
      <h3>Household ${who(user)} <span class="meta">${short(user)}</span></h3>
      <ul class="nodes">${ps.map((p) => html`<li class=${`node state-${p.state}`}><span class="dot" aria-hidden="true"></span>
        <strong>${p.label || short(p.nodeSignKey)}</strong> <span>${p.state}</span>
        <span class="meta">${p.endpoint ?? 'no address'} · ${p.rttMs == null ? 'RTT ?' : `${Math.round(p.rttMs)} ms`}</span></li>`)}</ul>
    </li>`)}</ul>`}
  </section>`;
}
