// The web UI's shell: a header with the pages, a hash router (#/conversations, #/conversations/ID,
// #/conversations/new, #/friends, #/nodes, #/cluster, #/mailbox, #/archive), the live-connection
// indicator, and the sign-in page when the page has no session (open the link `kith ui` prints).
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { currentTransport, onSignedOut, onTransport, scope, signIn } from './client.js';
import { html } from './html.js';
import { ConversationList, ConversationView, NewConversation } from './conversations.js';
import { ClusterMap, Friends, Nodes } from './people.js';
import { Archive, Mailbox } from './health.js';
import type { Transport } from './stream.js';

const PAGES: [string, string][] = [['#/conversations', 'Conversations'], ['#/friends', 'Friends'], ['#/nodes', 'Nodes'], ['#/cluster', 'Cluster'], ['#/mailbox', 'Mailbox'], ['#/archive', 'Archive']];

function route(hash: string) {
  const [, page, id] = hash.split('/');
  if (page === 'conversations' && id === 'new') return html`<${NewConversation} />`;
  if (page === 'conversations' && id) return html`<${ConversationView} id=${decodeURIComponent(id)} key=${id} />`;
  if (page === 'friends') return html`<${Friends} />`;
  if (page === 'nodes') return html`<${Nodes} />`;
  if (page === 'cluster') return html`<${ClusterMap} />`;
  if (page === 'mailbox') return html`<${Mailbox} />`;
  if (page === 'archive') return html`<${Archive} />`;
  return html`<${ConversationList} />`;
}

const LIVE: Record<Transport, string> = { connecting: 'connecting…', socket: 'live', 'long-poll': 'live (long poll)', fallback: 'offline: refreshing every 2 s', stopped: 'stopped' };

function Live() {
  const [t, setT] = useState<Transport>(currentTransport());
  useEffect(() => onTransport(setT), []);
  return html`<p class=${`live-status t-${t}`} data-testid="live-status" data-transport=${t}><span class="dot" aria-hidden="true"></span> ${LIVE[t]}</p>`;
}

const SignInPage = () => html`<section aria-labelledby="signin-h"><h2 id="signin-h" tabindex="-1">Sign in</h2>
  <p>This page has no session. On the machine that runs the agent, run <code>kith ui</code> and open the link it prints (it works once, for 5 minutes).</p></section>`;

function App() {
  const [hash, setHash] = useState(location.hash || '#/conversations');
  const [session, setSession] = useState<'checking' | 'in' | 'out' | 'unreachable'>('checking');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/conversations');
    window.addEventListener('hashchange', on);
    signIn().then((ok) => setSession(ok ? 'in' : 'out'), () => setSession('unreachable'));
    const off = onSignedOut(() => setSession('out'));
    return () => { window.removeEventListener('hashchange', on); off(); };
  }, []);
  useEffect(() => { (document.querySelector('main h2') as HTMLElement | null)?.focus?.(); }, [hash, session]);
  // A companion client with the "conversations" scope reaches only those routes: no other page.
  const pages = session === 'in' && scope() === 'conversations' ? PAGES.slice(0, 1) : PAGES;
  const current = pages.find(([h]) => hash.startsWith(h))?.[0] ?? '#/conversations';
  const body = session === 'in' ? route(pages.some(([h]) => hash.startsWith(h)) ? hash : '#/conversations') : session === 'out' ? html`<${SignInPage} />`
    : session === 'unreachable' ? html`<section><h2>The agent does not answer</h2><p>Is <code>kith run</code> still running?</p></section>` : html`<p>Loading…</p>`;
  return html`<header><h1>kith</h1><nav aria-label="pages"><ul>
      ${pages.map(([h, label]) => html`<li><a href=${h} aria-current=${h === current ? 'page' : undefined}>${label}</a></li>`)}
    </ul></nav>${session === 'in' ? html`<${Live} />` : null}</header>
    <main>${body}</main>`;
}

if (!location.hash) history.replaceState(null, '', `${location.pathname}#/conversations`);
render(html`<${App} />`, document.getElementById('app')!);
document.body.dataset['ready'] = 'true';
