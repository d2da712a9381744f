// The /api/v1 routes the page calls, by their names in agent/api-shapes.ts, with method and path.
// A copy of those two fields only (importing ROUTES would bundle TypeBox and the cluster's record
// code into the page); test/unit/web-routes.test.ts fails when one differs from the declaration.
// The shapes themselves come from api-shapes.ts as types (client.ts), so they are never copied.
import type { RouteName } from '../api-shapes.js';

export const WEB_ROUTES = {
  session: ['GET', '/api/v1/session'],
  status: ['GET', '/api/v1/status'],
  peers: ['GET', '/api/v1/peers'],
  friends: ['GET', '/api/v1/friends'],
  removeFriend: ['DELETE', '/api/v1/friends/:key'],
  blockFriend: ['POST', '/api/v1/friends/:key/block'],
  nodes: ['GET', '/api/v1/nodes'],
  revokeNode: ['POST', '/api/v1/nodes/revoke'],
  pairOffer: ['POST', '/api/v1/pair/offer'],
  pairOfferState: ['GET', '/api/v1/pair/offer/:id'],
  pairJoin: ['POST', '/api/v1/pair/join'],
  conversations: ['GET', '/api/v1/conversations'],
  createConversation: ['POST', '/api/v1/conversations'],
  conversation: ['GET', '/api/v1/conversations/:id'],
  postMessage: ['POST', '/api/v1/conversations/:id/messages'],
  vote: ['POST', '/api/v1/conversations/:id/votes'],
  events: ['GET', '/api/v1/events/poll'],
  mailbox: ['GET', '/api/v1/mailbox'],
  archiveStatus: ['GET', '/api/v1/archive/status'],
  archiveVerify: ['POST', '/api/v1/archive/verify'],
  archiveReseal: ['POST', '/api/v1/archive/reseal'],
  identity: ['GET', '/api/v1/id'],
} as const satisfies { [N in RouteName]?: readonly ['GET' | 'POST' | 'DELETE', string] };

export type WebRoute = keyof typeof WEB_ROUTES;

/** The WebSocket of the event log (agent/events-socket.ts): the same batches as the `events` long poll. */
export const EVENTS_SOCKET = '/api/v1/events';
