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

export interface V1Deps {
  status: () => Promise<StatusView>;
  identity: () => IdentityView;
  cluster?: Pick<ClusterService, 'peers' | 'card' | 'addPeer' | 'removePeer'>;
  pairing?: PairingService;
  roster?: RosterService;
  convOps?: ConvOps;
  events?: EventLog;
}

/** How long a long poll waits for an event at most. */
export const MAX_POLL_WAIT_MS = 30_000;

export function mountV1(app: Hono, deps: V1Deps): void {
  serve(app, 'status', () => deps.status());
  serve(app, 'identity', () => deps.identity());
  serve(app, 'session', () => ({ kind: 'token' as const, client: null, scope: 'full', csrf: null }));
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
    serve(app, 'conversations', async () => ({ conversations: (await convOps.list()) as unknown[] }));
    serve(app, 'createConversation', ({ body }) => convOps.create({ with: [], ...body } as ConvNewArgs));
    serve(app, 'conversation', ({ params }) => convOps.show(params.id));
    serve(app, 'postMessage', async ({ params, body }) => (await convOps.post(params.id, body.text, body.side)) as { posted: string });
    serve(app, 'vote', async ({ params, body }) => (await convOps.vote(params.id, body)) as { posted: string });
  }
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
