// The web UI's shell: a header with the pages, a hash router (#/conversations, #/conversations/ID,
// #/conversations/new, #/friends, #/nodes, #/cluster, #/mailbox), and the sign-in hint when no token is held.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { adoptToken, hasToken } from './client.js';
import { html } from './html.js';
import { ConversationList, ConversationView, NewConversation } from './conversations.js';
import { ClusterMap, Friends, Mailbox, Nodes } from './people.js';

const PAGES: [string, string][] = [['#/conversations', 'Conversations'], ['#/friends', 'Friends'], ['#/nodes', 'Nodes'], ['#/cluster', 'Cluster'], ['#/mailbox', 'Mailbox']];

function route(hash: string) {
  const [, page, id] = hash.split('/');
  if (page === 'conversations' && id === 'new') return html`<${NewConversation} />`;
  if (page === 'conversations' && id) return html`<${ConversationView} id=${decodeURIComponent(id)} key=${id} />`;
  if (page === 'friends') return html`<${Friends} />`;
  if (page === 'nodes') return html`<${Nodes} />`;
  if (page === 'cluster') return html`<${ClusterMap} />`;
  if (page === 'mailbox') return html`<${Mailbox} />`;
  return html`<${ConversationList} />`;
}

function App() {
  const [hash, setHash] = useState(location.hash || '#/conversations');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/conversations');
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  useEffect(() => { (document.querySelector('main h2') as HTMLElement | null)?.focus?.(); }, [hash]);
  const current = PAGES.find(([h]) => hash.startsWith(h))?.[0] ?? '#/conversations';
  return html`<header><h1>kith</h1><nav aria-label="pages"><ul>
      ${PAGES.map(([h, label]) => html`<li><a href=${h} aria-current=${h === current ? 'page' : undefined}>${label}</a></li>`)}
    </ul></nav></header>
    <main>${hasToken() ? route(hash) : html`<section><h2>Sign in</h2><p>Open the link <code>kith ui</code> prints on the machine that runs the agent.</p></section>`}</main>`;
}

adoptToken();
render(html`<${App} />`, document.getElementById('app')!);
document.body.dataset['ready'] = 'true';
