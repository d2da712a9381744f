// The handlers of the /api/v1 routes declared in agent/api-shapes.ts: each is a thin call into a
// service (cluster, roster, pairing, conversations, events, access). A service the agent does not
// run leaves its routes unregistered (404 API_NOT_FOUND).
import type { Hono } from 'hono';
import { serve } from './api-v1.js';
import type { StatusView } from './api-shapes.js';
import type { IdentityView } from './identity-view.js';
import type { PairingService } from './pairing-service.js';
import type { RosterService } from './roster-service.js';
import type { ClusterService } from './cluster-service.js';
import type { ConvNewArgs, ConvOps } from './conv-ops.js';
import type { EventLog } from './events.js';
import { KithError } from '../core/errors.js';
import { setCookie } from 'hono/cookie';
import { CLIENT_SESSION_TTL_MS, LOCAL_SESSION_TTL_MS, sessionCookieName, type Access } from './access.js';
import { authOf } from './http-guard.js';
import { apiError } from './api-v1.js';
import type { ArchiveService } from './archive-service.js';
import { checkDisplayName } from '../identity/user-ref.js';
import type { ArchiveJob, ArchiveVerified, ArchiveRecovered, ChatSentView, FeedPageView, MailboxStatusView } from './api-shapes.js';
import type { Static } from '@sinclair/typebox';

export interface V1Deps {
  status: () => Promise<StatusView>;
  identity: () => IdentityView;
  cluster?: Pick<ClusterService, 'peers' | 'card' | 'addPeer' | 'removePeer'>;
  pairing?: PairingService;
  roster?: RosterService;
  convOps?: ConvOps;
  events?: EventLog;
  /** Mailbox health (agent/mailbox-service.ts status()). */
  mailbox?: () => Promise<MailboxStatusView>;
  archive?: ArchiveService;
  /** The wall clock, for when a display name was set. */
  wallTime?: () => number;
  access?: Access;
  /** Where login links point: this machine's API, and the companion listener (when configured). */
  links?: {
    local(): string;
    companion(): string | undefined;
    /**
     * Settles once the companion listener is as the client list wants it (it opens with the
     * first client); rejects with why it could not open. A link is handed out only after it.
     */
    companionOpen?(): Promise<void>;
  };
}

/** How long a long poll waits for an event at most. */
export const MAX_POLL_WAIT_MS = 30_000;

export function mountV1(app: Hono, deps: V1Deps): void {
  serve(app, 'status', () => deps.status());
  serve(app, 'identity', () => deps.identity());
  serve(app, 'session', ({ c }) => authOf(c));
  const { cluster, roster, pairing, convOps, events } = deps;
  if (cluster) {
    serve(app, 'peers', () => ({ peers: cluster.peers() }));
    serve(app, 'card', async () => (await cluster.card()) as unknown as Record<string, unknown>);
    serve(app, 'addPeer', ({ body }) => cluster.addPeer(body.card, body.secret));
    serve(app, 'removePeer', async ({ params }) => (await cluster.removePeer(params.key), { removed: true }));
  }
  if (roster) {
    serve(app, 'friends', () => ({ friends: roster.friends() }));
    serve(app, 'removeFriend', ({ params }) => roster.removeFriend(params.key));
    serve(app, 'blockFriend', ({ params }) => roster.blockFriend(params.key));
    serve(app, 'undoPairing', ({ params }) => roster.undoPairing(params.key));
    serve(app, 'nodes', () => ({ nodes: roster.nodes() }));
    serve(app, 'name', () => ({ name: roster.ownName() }));
    serve(app, 'setName', ({ body }) => ({ name: roster.setName(checkDisplayName(body.name), deps.wallTime?.() ?? 0) }));
    serve(app, 'revokeNode', ({ body }) => roster.revoke(new Uint8Array(Buffer.from(body.revocation, 'base64'))));
  }
  if (pairing) {
    serve(app, 'pairOffer', ({ body }) => pairing.offer({ ...(body.ttlMinutes === undefined ? {} : { ttlMs: Math.round(body.ttlMinutes * 60_000) }), verify: body.verify === true }));
    serve(app, 'pairOfferState', ({ params }) => pairing.offerState(params.id));
    serve(app, 'pairOfferConfirm', ({ params, body }) => pairing.answerOffer(params.id, body.confirm));
    serve(app, 'pairOfferCancel', ({ params }) => (pairing.cancel(params.id), { cancelled: true }));
    serve(app, 'pairJoin', ({ body }) => pairing.join(body.target, { verify: body.verify === true }));
    serve(app, 'pairJoinConfirm', ({ params, body }) => pairing.answerJoin(params.id, body.confirm));
  }
  if (convOps) {
    serve(app, 'conversations', async () => ({ conversations: await convOps.list() }));
    serve(app, 'createConversation', ({ body }) => convOps.create({ with: [], ...body } as ConvNewArgs));
    serve(app, 'conversation', ({ params }) => convOps.show(params.id));
    serve(app, 'postMessage', async ({ params, body }) => (await convOps.post(params.id, body.text, body.side)) as { posted: string });
    serve(app, 'vote', async ({ params, body }) => (await convOps.vote(params.id, body)) as { posted: string });
    serve(app, 'chat', async ({ body }) => (await convOps.chat(body.friend, body.text)) as ChatSentView);
    serve(app, 'feed', async ({ query }) => (await convOps.feed(Number(query.after ?? 0), Number(query.waitMs ?? 0))) as FeedPageView);
  }
  if (deps.mailbox) {
    const mailbox = deps.mailbox;
    serve(app, 'mailbox', () => mailbox());
  }
  if (deps.archive) mountArchive(app, deps.archive);
  if (deps.access && deps.links) mountAccess(app, deps.access, deps.links);
  if (events) {
    serve(app, 'events', async ({ query, c }) => {
      const since = query.since === undefined ? events.lastId() : Number(query.since);
      const waitMs = Math.min(Number(query.waitMs ?? 25_000), MAX_POLL_WAIT_MS);
      const channel = query.channel ?? 'all';
      if (!Number.isSafeInteger(since)) throw new KithError('API_BAD_REQUEST', '?since must be an event id');
      return events.poll(since, { waitMs, channel, signal: c.req.raw.signal });
    });
  }
}

type Job = Static<typeof ArchiveJob>;
/** The archive's routes (agent/archive-service.ts does the work; jobs are followed by id). */
function mountArchive(app: Hono, archive: ArchiveService): void {
  serve(app, 'archiveObjects', async () => ({ objects: await archive.list() }));
  serve(app, 'archiveStatus', async () => ({ objects: await archive.status(), held: await archive.held() }));
  serve(app, 'archivePut', ({ body }) => archive.putPath(body.path) as Job);
  serve(app, 'archiveGet', async ({ body }) => (await archive.getToFile(body.id, body.out)) as Job);
  serve(app, 'archiveJob', ({ params }) => archive.job(params.id) as Job);
  serve(app, 'archiveVerify', async () => (await archive.verify()) as Static<typeof ArchiveVerified>);
  serve(app, 'archiveReseal', async ({ body }) => {
    if ((body.nodeIndex === undefined) !== (body.generation === undefined)) throw new KithError('USAGE', 'give nodeIndex and generation together, or neither');
    const node = body.nodeIndex !== undefined && body.generation !== undefined ? { nodeIndex: body.nodeIndex, generation: body.generation } : undefined;
    const decoded = Buffer.from(body.key, 'base64'); // may be a slice of Node's shared pool: zeroed too
    const key = new Uint8Array(decoded);
    decoded.fill(0);
    try {
      return await archive.reseal(key, node);
    } finally {
      key.fill(0);
    }
  });
  serve(app, 'archiveRecover', async () => (await archive.recover()) as Static<typeof ArchiveRecovered>);
}

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

/** Login links, the login itself, and companion clients. */
function mountAccess(app: Hono, access: Access, links: NonNullable<V1Deps['links']>): void {
  app.get('/ui/login', async (c) => {
    const t = c.req.query('t') ?? '';
    try {
      const { sessionId, session } = await access.redeem(t);
      const port = Number(/:(\d+)$/.exec(c.req.header('host') ?? '')?.[1] ?? 80);
      setCookie(c, sessionCookieName(port), sessionId, {
        httpOnly: true, sameSite: 'Strict', path: '/', maxAge: Math.floor((session.client ? CLIENT_SESSION_TTL_MS : LOCAL_SESSION_TTL_MS) / 1000),
      });
      return c.redirect('/ui/', 303);
    } catch (e) {
      if (e instanceof KithError) return apiError(c, 403, e.code, e.message, e.hint);
      throw e;
    }
  });
  serve(app, 'uiLogin', () => {
    const { token, expiresAtMs } = access.loginToken();
    return { link: `${links.local()}/ui/login?t=${token}`, expiresAt: new Date(expiresAtMs).toISOString() };
  });
  serve(app, 'clients', () => ({ clients: access.clientList().map((x) => ({ name: x.name, scope: x.scope, createdAt: iso(x.createdAtMs)!, lastSeenAt: iso(x.lastSeenAtMs) })) }));
  serve(app, 'addClient', async ({ body }) => {
    const base = links.companion();
    if (base === undefined) throw new KithError('CONFIG_INVALID', 'companion clients are off: api.companionHost is not set', { hint: 'set api.companionHost (e.g. the LAN address of this machine) in the config, restart the agent, then `kith client add` again' });
    const scope = body.scope ?? 'conversations';
    const { token, expiresAtMs } = await access.addClient(body.name, scope);
    // The first client opens the listener: its link is of use only once that listens.
    await links.companionOpen?.();
    return { name: body.name, scope, link: `${links.companion() ?? base}/ui/login?t=${token}`, expiresAt: new Date(expiresAtMs).toISOString() };
  });
  serve(app, 'removeClient', async ({ params }) => (await access.removeClient(params.name), { removed: true }));
}
