// Mailbox and archive health. Mailbox (GET /api/v1/mailbox): what this node's relay holds for
// whom against its quotas, what this node queued for away nodes, problems, the last pull per
// relay. Archive (GET /api/v1/archive/status): per object its shards, copies per household, last
// audit and repairs; what this node keeps for whom against the quota it gives them; "audit now"
// (POST /api/v1/archive/verify). Both fetch again on the events that change them.
import { useEffect, useState } from 'preact/hooks';
import type { Reply } from '../api-shapes.js';
import { call, errText, types, watch } from './client.js';
import { html, short } from './html.js';

export const size = (n: number): string => (n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : n >= 1024 ** 2 ? `${(n / 1024 ** 2).toFixed(1)} MiB` : n >= 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${n} B`);
const when = (ms: number | null) => (ms === null ? 'never' : new Date(ms).toLocaleString());
const at = (iso: string) => html`<time datetime=${iso}>${new Date(iso).toLocaleString()}</time>`;

/** A used-of-quota bar with its numbers as text (the bar is decoration). */
function Quota({ used, of, label }: { used: number; of: number; label: string }) {
  const unlimited = of >= Number.MAX_SAFE_INTEGER;
  const pct = unlimited || of <= 0 ? 0 : Math.min(100, (100 * used) / of);
  return html`<span class="quota"><span class="track" aria-hidden="true"><span class=${pct > 90 ? 'fill full' : 'fill'} style=${{ width: `${pct}%` }}></span></span>
    <span class="n">${size(used)}${unlimited ? ' (no limit: your own)' : ` of ${size(of)}`}<span class="sr"> ${label}</span></span></span>`;
}

/** Loads with `load` on the events `match` allows; gives the value, the error and a refresh. */
function useLive<T>(load: () => Promise<T>, match: ReturnType<typeof types>): { v: T | undefined; error: string | undefined; again: () => void } {
  const [v, setV] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const run = async () => {
    try { setV(await load()); setError(undefined); } catch (e) { setError(errText(e)); }
  };
  useEffect(() => watch(run, match), []);
  return { v, error, again: () => void run() };
}

type MailboxView = Reply<'mailbox'>;

function Relay({ r }: { r: NonNullable<MailboxView['relay']> }) {
  const refused = Object.entries(r.stats.refused);
  return html`<section aria-labelledby="relay-h" data-testid="mailbox-relay"><h3 id="relay-h">Relay on this node</h3>
    <p>${r.blobs} blob(s) held, <${Quota} used=${r.bytes} of=${r.limits.totalBytes} label="of the relay's total" />; each kept at most ${Math.round(r.limits.ttlMs / 86_400_000)} days.</p>
    <table class="grid" data-testid="mailbox-recipients"><caption>Held for whom (nodes that were away)</caption>
      <thead><tr><th scope="col">Node</th><th scope="col">Blobs</th><th scope="col">Bytes</th></tr></thead>
      <tbody>${r.recipients.length === 0 ? html`<tr><td colspan="3">Nobody is waiting for anything.</td></tr>` : r.recipients.map((x) => html`<tr><td>${x.name}</td><td>${x.blobs}</td><td>${size(x.bytes)}</td></tr>`)}</tbody></table>
    <table class="grid" data-testid="mailbox-friends"><caption>Pushed by each friend, against the quota this relay gives them</caption>
      <thead><tr><th scope="col">Friend</th><th scope="col">Blobs</th><th scope="col">Used of quota</th></tr></thead>
      <tbody>${r.friends.length === 0 ? html`<tr><td colspan="3">No friend has pushed anything.</td></tr>` : r.friends.map((f) => html`<tr><td>${f.name}</td><td>${f.blobs}</td><td><${Quota} used=${f.bytes} of=${f.quotaBytes} label=${`of ${f.name}'s quota`} /></td></tr>`)}</tbody></table>
    <p class="meta">Taken ${r.stats.pushed}, duplicates ${r.stats.duplicates}, delivered and deleted ${r.stats.deleted}, expired ${r.stats.expired}${refused.length ? `; refused: ${refused.map(([c, n]) => `${c} ${n}`).join(', ')}` : ''}.</p>
  </section>`;
}

export function Mailbox() {
  const { v: s, error } = useLive(() => call('mailbox'), types('mailbox.', 'conv.', 'member.state'));
  return html`<section aria-labelledby="mbox-h"><h2 id="mbox-h">Mailbox</h2>
    <p>Your friends' nodes keep messages for nodes that are away, and hand them over when they come back.</p>
    ${error ? html`<p role="alert" class="error">${error}</p>` : s === undefined ? html`<p>Loading…</p>` : html`
      ${s.relay ? html`<${Relay} r=${s.relay} />` : html`<p data-testid="mailbox-relay">This node has no relay role: it holds nothing for others.</p>`}
      <section aria-labelledby="queued-h" data-testid="mailbox-queued"><h3 id="queued-h">Queued here for away nodes</h3>
        ${s.queued.length === 0 ? html`<p>Nothing waits to be handed to a relay.</p>` : html`<ul class="cards">${s.queued.slice(0, 50).map((q) => html`<li>
          <code>${short(q.hash)}</code> · ${size(q.bytes)} · for ${q.recipients.map((x) => `${x.name} (placed in ${x.households.length} household${x.households.length === 1 ? '' : 's'})`).join(', ') || 'nobody yet'}</li>`)}</ul>`}
      </section>
      <section aria-labelledby="problems-h"><h3 id="problems-h">Problems</h3>
        ${s.problems.length === 0 ? html`<p>None.</p>` : html`<ul>${s.problems.map((p) => html`<li class="error"><strong>${p.code}</strong> from ${p.name} at ${at(p.at)}: ${p.message}</li>`)}</ul>`}
      </section>
      <section aria-labelledby="pulls-h" data-testid="mailbox-pulls"><h3 id="pulls-h">Relays this node pulls from</h3>
        ${s.pulls.length === 0 ? html`<p>No relay reachable yet.</p>` : html`<table class="grid"><caption>Last pull per relay</caption>
          <thead><tr><th scope="col">Relay</th><th scope="col">Last pull</th><th scope="col">Blobs</th></tr></thead>
          <tbody>${s.pulls.map((p) => html`<tr><td>${p.name}</td><td>${p.lastPull ? (p.lastPull.error ? `failed: ${p.lastPull.error}` : at(p.lastPull.at)) : 'not yet'}</td><td>${p.lastPull ? `${p.lastPull.blobs} (${p.lastPull.totalBlobs} since start)${p.lastPull.complete ? '' : ', with a gap'}` : '—'}</td></tr>`)}</tbody></table>`}
      </section>`}
  </section>`;
}

type ArchiveView = Reply<'archiveStatus'>;
type ObjectView = ArchiveView['objects'][number];

/** Shards' holders per household, named: "yours 2, bob 1". */
export function copiesPerHousehold(o: ObjectView, nameOf: (user: string) => string): [string, number][] {
  const n = new Map<string, number>();
  for (const h of o.holders) n.set(h.household, (n.get(h.household) ?? 0) + 1);
  return [...n.entries()].map(([u, c]) => [nameOf(u), c]);
}

function Objects({ objects, nameOf }: { objects: ObjectView[]; nameOf: (u: string) => string }) {
  if (objects.length === 0) return html`<p data-testid="archive-objects">The archive is empty. Add files with <code>kith archive put PATH</code>.</p>`;
  return html`<table class="grid" data-testid="archive-objects"><caption>Objects, their copies and audits</caption>
    <thead><tr><th scope="col">Object</th><th scope="col">Size</th><th scope="col">Healthy shards</th><th scope="col">Holders per household</th><th scope="col">Last audit</th><th scope="col">Repairs</th></tr></thead>
    <tbody>${objects.map((o) => {
      const bad = o.holders.filter((h) => h.state !== 'ok');
      return html`<tr class=${o.healthyShards < o.k ? 'at-risk' : ''}><td><strong>${o.name || short(o.id)}</strong> <span class="meta">${o.kind}</span></td><td>${size(o.size)}</td>
        <td>${o.healthyShards} of ${o.shards} <span class="meta">(needs ${o.k})</span></td>
        <td>${copiesPerHousehold(o, nameOf).map(([who, n]) => `${who} ${n}`).join(', ')}${bad.length ? html`<br /><span class="error">${bad.map((h) => `${short(h.id)} ${h.state}`).join(', ')}</span>` : null}</td>
        <td>${when(o.lastAuditMs)}</td><td>${o.repairs}</td></tr>`;
    })}</tbody></table>`;
}

export function Archive() {
  const { v, error, again } = useLive(async () => {
    const [s, f, id] = await Promise.all([call('archiveStatus'), call('friends'), call('identity')]);
    return { s, names: new Map(f.friends.map((x) => [x.userKey, x.name])), me: id.userKey };
  }, types('archive.', 'member.state', 'friend.'));
  const [audit, setAudit] = useState<string | undefined>(undefined);
  const nameOf = (u: string) => (u === v?.me ? 'yours' : v?.names.get(u) || short(u));
  const verify = async () => {
    setAudit('auditing…');
    try {
      const r = await call('archiveVerify');
      setAudit(`audits: ${r.audit.pass} passed, ${r.audit.fail} failed, ${r.audit.noAnswer} unanswered; ${r.repair.repaired} chunk(s) repaired, ${r.repair.stuck} stuck`);
      again();
    } catch (e) { setAudit(errText(e)); }
  };
  return html`<section aria-labelledby="archive-h"><h2 id="archive-h">Archive</h2>
    <p>Your files, sealed and spread over your friends' nodes; and what this node keeps for them.</p>
    ${error ? html`<p role="alert" class="error">${error}</p>` : v === undefined ? html`<p>Loading…</p>` : html`
      <section aria-labelledby="objects-h"><h3 id="objects-h">Your objects</h3><${Objects} objects=${v.s.objects} nameOf=${nameOf} />
        <p class="actions"><button type="button" onClick=${verify}>Audit and repair now</button></p>
        <p role="status" class="meta" data-testid="archive-audit">${audit ?? ''}</p></section>
      <section aria-labelledby="held-h"><h3 id="held-h">Kept here for others</h3>
        <table class="grid" data-testid="archive-held"><caption>Shards this node holds, per owner, against the quota it gives them</caption>
          <thead><tr><th scope="col">For</th><th scope="col">Used of quota</th></tr></thead>
          <tbody>${v.s.held.map((h) => html`<tr><td>${nameOf(h.user)}</td><td><${Quota} used=${h.usedBytes} of=${h.quotaBytes} label=${`of the quota for ${nameOf(h.user)}`} /></td></tr>`)}</tbody></table>
      </section>`}
  </section>`;
}
