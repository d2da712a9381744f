// The local API's routes and the shapes of what goes in and out, declared once (TypeBox: each
// shape is a JSON Schema and a TypeScript type). The server validates with them (agent/api.ts),
// the CLI's client is typed from them (agent/api-client.ts), the web UI imports them, and
// docs/api/openapi.json is generated from them (scripts/openapi.ts; a test fails when it is stale).
import { Type, type Static, type TLiteral, type TSchema, type TUnion } from '@sinclair/typebox';
import { ENDPOINT_KINDS } from '../cluster/address-record.js';

const Hex = (what: string) => Type.String({ pattern: '^[0-9a-f]+$', description: what });
const Iso = Type.String({ description: 'an ISO 8601 time' });
/** One of a few strings, typed as their union. */
const OneOf = <const T extends readonly string[]>(xs: T) => Type.Union(xs.map((x) => Type.Literal(x))) as unknown as TUnion<TLiteral<T[number]>[]>;
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
/** Parts whose inner fields grow with the agent: declared as objects, not closed. */
const Open = (description: string) => Type.Record(Type.String(), Type.Unknown(), { description });

export const ApiError = Type.Object({
  error: Type.Object({
    code: Type.String({ description: 'a stable code listed in core/errors.ts' }),
    message: Type.String(),
    hint: Type.Optional(Type.String()),
    details: Type.Optional(Type.Array(Type.String())),
  }),
});

export const Identity = Type.Object({
  userKey: Hex('the user key (Ed25519, hex)'),
  nodeIndex: Type.Integer(),
  generation: Type.Integer(),
  nodeSignKey: Hex('this node\'s signing key'),
  nodeDhKey: Hex('this node\'s X25519 key'),
  roles: Type.Array(Type.String()),
  label: Type.String(),
});

/** The cluster part of the status: the fields cluster.status() adds are optional (it is not typed yet). */
export const ClusterStatus = Type.Object({
  host: Type.String(),
  port: Type.Integer(),
  members: Type.Optional(Type.Integer()),
  alive: Type.Optional(Type.Integer()),
  incarnation: Type.Optional(Type.Integer()),
  endpoints: Type.Optional(Type.Array(Type.Unknown())),
  publicEndpoint: Type.Optional(Nullable(Type.String())),
  nat: Type.Optional(Open('NAT type and observations')),
  stun: Type.Optional(Open('STUN servers and results')),
  mapping: Type.Optional(Open('the router port mapping for rendezvous windows')),
  nextWindow: Type.Optional(Nullable(Open('the next rendezvous window: start, inMs'))),
  clock: Type.Optional(Open('the cluster clock estimate: offsetMs, errorMs, members, warning')),
  transport: Open('transport counters'),
  membership: Type.Optional(Open('membership counters')),
  services: Type.Optional(Open('service counters')),
  roster: Open('roster counters'),
});

export const Status = Type.Object({
  running: Type.Boolean(),
  pid: Type.Integer(),
  runtime: Type.String(),
  version: Type.String(),
  profile: Type.String(),
  uptimeMs: Type.Number(),
  dataDir: Type.String(),
  storeBytes: Type.Number(),
  cluster: ClusterStatus,
  api: Type.Object({ host: Type.String(), port: Type.Integer() }),
  identity: Identity,
});

const Endpoint = Type.Object({ host: Type.String(), port: Type.Integer(), kind: OneOf(ENDPOINT_KINDS) });
export const MemberState = Type.Union([Type.Literal('alive'), Type.Literal('suspect'), Type.Literal('dead'), Type.Literal('revoked')]);
export const Member = Type.Object({
  id: Type.String(),
  nodeSignKey: Hex('the member\'s node signing key'),
  userKey: Hex('the member\'s user key'),
  nodeIndex: Type.Integer(),
  label: Type.String(),
  state: MemberState,
  incarnation: Type.Integer(),
  endpoint: Nullable(Type.String()),
  rttMs: Nullable(Type.Number()),
  lastSeenMs: Nullable(Type.Number()),
  clockOffsetMs: Nullable(Type.Number()),
  clockErrorMs: Nullable(Type.Number()),
  recordSeq: Nullable(Type.Number()),
  endpoints: Type.Array(Endpoint),
});

export const Card = Open('this node\'s card: base64 and what it names');

export const Friend = Type.Object({
  userKey: Hex('the friend\'s user key'),
  name: Type.String(),
  nodes: Type.Integer(),
  since: Iso,
  blocked: Type.Boolean(),
});

export const NodeEntry = Type.Object({
  nodeIndex: Type.Integer(),
  generation: Type.Integer(),
  label: Type.String(),
  nodeSignKey: Hex('the node\'s signing key'),
  state: OneOf(['this node', 'alive', 'suspect', 'dead', 'revoked']),
  endpoint: Nullable(Type.String()),
  revokedAt: Nullable(Iso),
});

export const PairOutcome = Type.Object({
  kind: Type.Literal('friend'),
  friendUserKey: Hex('the new friend\'s user key'),
  friendName: Type.String(),
  safetyNumber: Type.String(),
  nodes: Type.Integer(),
  alreadyFriends: Type.Optional(Type.Boolean()),
});
export const EnrollOutcome = Type.Object({ kind: Type.Literal('node'), nodeIndex: Type.Integer(), label: Type.String(), nodeSignKey: Type.String() });
export const Offer = Type.Object({
  id: Type.String(),
  code: Type.String({ description: 'the pairing code to read out, e.g. 4096-violin-harbor' }),
  qr: Type.String({ description: 'what the QR code carries' }),
  endpoint: Type.String(),
  expiresAt: Iso,
  state: OneOf(['waiting', 'confirming', 'paired', 'failed', 'expired', 'cancelled']),
  confirming: Type.Optional(PairOutcome),
  result: Type.Optional(Type.Union([PairOutcome, EnrollOutcome])),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String() })),
});
export const JoinOutcome = Type.Intersect([PairOutcome, Type.Object({ pending: Type.Optional(Type.String({ description: 'with verify: the id to confirm at POST /api/v1/pair/join/{id}' })) })]);
export const RevokeOutcome = Type.Object({ nodeIndex: Type.Integer(), generation: Type.Integer(), toldRevokedNode: Type.Boolean(), members: Type.Integer() });

const Strings = Type.Array(Type.String());
export const ConvCreate = Type.Object({
  topic: Type.String({ minLength: 1 }),
  pattern: Type.String({ description: 'discussion, poll, consent, debate, rsvp, …' }),
  with: Type.Optional(Strings),
  method: Type.Optional(Type.String()),
  params: Type.Optional(Strings),
  cel: Type.Optional(Type.String()),
  outcome: Type.Optional(Type.String()),
  deadline: Type.Optional(Type.String()),
  options: Type.Optional(Strings),
  ballot: Type.Optional(Type.String()),
  sides: Type.Optional(Strings),
  rounds: Type.Optional(Type.Integer()),
}, { additionalProperties: false });
export const ConvPost = Type.Object({ text: Type.String(), side: Type.Optional(Type.String()) }, { additionalProperties: false });
export const ConvVote = Type.Object({
  choice: Type.Optional(Type.String()),
  approve: Type.Optional(Strings),
  rank: Type.Optional(Strings),
  scores: Type.Optional(Type.Array(Type.String({ description: 'OPTION=WHOLE_NUMBER' }))),
  reason: Type.Optional(Type.String()),
}, { additionalProperties: false });
export const ConvSummary = Type.Object({
  id: Type.String(),
  topic: Type.String(),
  author: Type.String(),
  participants: Strings,
  pattern: Type.Object({
    name: Type.String({ description: 'poll, proposal, invitation, announcement, discussion or debate' }),
    options: Type.Optional(Strings),
    ballot: Type.Optional(Type.String({ description: 'choice, approve, ranking or scores' })),
    sides: Type.Optional(Type.Array(Type.Object({ name: Type.String(), members: Strings }))),
    rounds: Type.Optional(Type.Integer()),
  }, { description: 'the pattern; options and ballot for a poll, sides and rounds for a debate' }),
  method: Type.Unknown({ description: 'the decision method: {kind: builtin, name, params} or {kind: cel, reached, outcome?}; absent for a discussion' }),
  deadline: Nullable(Iso),
  createdAt: Nullable(Iso),
}, { additionalProperties: true });
const Outcome = Type.Unknown({ description: 'the method\'s outcome, as its closing record carries it (winners, rounds, matrix, positions …), CBOR made JSON: integers, strings, lists, maps' });
export const ConvListed = Type.Union([
  Type.Intersect([ConvSummary, Type.Object({
    names: Type.Array(Type.String(), { description: 'display names, in the order of participants ("" when unknown)' }),
    state: Type.Union([Type.Literal('open'), Type.Literal('closed')]),
    outcome: Type.Optional(Outcome),
  })]),
  Type.Object({ id: Type.String(), state: Type.Literal('damaged'), reason: Type.String({ description: 'why it cannot be read (the others are still listed)' }) }),
]);
export const ConvShown = Type.Intersect([ConvSummary, Type.Object({
  state: Type.Union([Type.Literal('open'), Type.Literal('closed')]),
  names: Type.Record(Type.String(), Type.String(), { description: 'participant user key → display name' }),
  messages: Type.Array(Type.Object({
    hash: Type.String(), author: Type.String(), authorName: Type.String(), seq: Type.Integer(), at: Nullable(Iso), kind: Type.String(),
    data: Type.Unknown({ description: 'the message body by kind: text {text}, ballot {choice|approve|ranking|scores}, position {stance, reason}, rsvp {answer}, argument {side, round, text}, ack {}' }),
    heldBy: Type.Optional(Type.Array(Type.Object({ user: Type.String(), name: Type.String(), nodes: Type.Integer(), of: Type.Integer() }), { description: 'per participant: how many of their nodes are known to hold it, of how many' })),
  })),
  current: Type.Unknown({ description: 'the method evaluated on the messages so far (its explanation: rounds, pairwise matrix, tallies …)' }),
  closing: Nullable(Type.Object({ hash: Type.String(), closer: Type.String(), evaluatedAt: Nullable(Iso), outcome: Outcome, messages: Type.Array(Type.String(), { description: 'hashes of the messages it was evaluated over' }) })),
})]);
export const ConvPosted = Type.Object({ posted: Type.String(), closed: Type.Optional(Type.Boolean()), outcome: Type.Optional(Type.Unknown()) }, { additionalProperties: true });

export const DisplayName = Type.Object({ name: Type.String({ description: 'the user\'s display name, spread in this node\'s friend card ("" when unset)' }) });
export const ChatBody = Type.Object({ friend: Type.String({ minLength: 1, description: 'a friend\'s name or user key prefix' }), text: Type.String({ minLength: 1 }) }, { additionalProperties: false });
export const ChatSent = Type.Object({
  conv: Type.String({ description: 'the two-person discussion it went to' }),
  created: Type.Boolean({ description: 'the discussion was started by this message' }),
  with: Type.Object({ userKey: Hex('the friend\'s user key'), name: Type.String() }),
  posted: Type.String({ description: 'the message hash' }),
});
export const FeedEntry = Type.Object({
  n: Type.Integer({ description: 'the feed position; ask for entries after it' }),
  conv: Type.String(),
  hash: Type.String(),
  author: Hex('the author\'s user key'),
  authorName: Type.String(),
  chain: Type.String(),
  seq: Type.Integer(),
  kind: Type.String({ description: 'text, argument, ballot, position, closing, …' }),
  data: Open('the message body (its fields depend on kind)'),
  at: Nullable(Iso),
  atMs: Type.Number(),
  addedAtMs: Type.Number(),
});
export const FeedPage = Type.Object({ next: Type.Integer(), last: Type.Integer(), entries: Type.Array(FeedEntry) });

const Usage = { bytes: Type.Number(), blobs: Type.Integer() };
/** GET /api/v1/mailbox: what this node's relay holds for whom against its quotas, what it queued for away nodes, problems, pulls. */
export const MailboxStatus = Type.Object({
  household: Hex('this node\'s household (user key)'),
  relay: Nullable(Type.Object({
    incarnation: Type.String(),
    blobs: Type.Integer(),
    bytes: Type.Number(),
    limits: Type.Object({ totalBytes: Type.Number(), perGroupBytes: Type.Number(), perFriendBytes: Type.Number(), ttlMs: Type.Number(), pushesPerMinute: Type.Number() }),
    stats: Type.Object({ pushed: Type.Integer(), duplicates: Type.Integer({ description: 'pushes with the bytes of a blob already held' }), byHash: Type.Optional(Type.Integer({ description: 'pushes by hash (no bytes)' })), unknown: Type.Optional(Type.Integer({ description: 'pushes by hash of a blob not held' })), deleted: Type.Integer(), expired: Type.Integer(), refused: Type.Record(Type.String(), Type.Integer()) }),
    groups: Type.Array(Type.Object({ group: Type.String(), ...Usage, quotaBytes: Type.Number() })),
    friends: Type.Array(Type.Object({ user: Hex('who pushed'), name: Type.String(), ...Usage, quotaBytes: Type.Number() })),
    recipients: Type.Array(Type.Object({ node: Type.String(), name: Type.String(), ...Usage })),
  }, { description: 'null when this node has no relay role' })),
  queued: Type.Array(Type.Object({ hash: Type.String(), group: Type.String(), bytes: Type.Number(), queuedAtMs: Type.Optional(Type.Number()), recipients: Type.Array(Type.Object({ node: Type.String(), name: Type.String(), households: Strings })) })),
  problems: Type.Array(Type.Object({ relay: Type.String(), name: Type.String(), code: Type.String(), message: Type.String(), at: Iso })),
  pulls: Type.Array(Type.Object({
    relay: Type.String(), name: Type.String(), household: Type.Optional(Nullable(Type.String())), cursor: Type.Number(),
    lastPull: Nullable(Type.Object({ at: Iso, blobs: Type.Integer(), totalBlobs: Type.Integer(), complete: Type.Boolean(), reset: Type.Boolean(), error: Type.Optional(Type.String()) })),
  })),
});

export const ArchiveObject = Type.Object({ id: Hex('the object id'), name: Type.String(), kind: Type.String({ description: 'file, history, friends, …' }), size: Type.Number(), createdMs: Type.Number() });
export const ArchiveObjectStatus = Type.Object({
  ...ArchiveObject.properties,
  version: Type.Integer(), k: Type.Integer({ description: 'data shards per chunk' }), m: Type.Integer({ description: 'parity shards per chunk' }),
  healthyShards: Type.Integer({ description: 'per chunk, the fewest shards whose holders are not failed' }),
  shards: Type.Integer(),
  households: Type.Integer({ description: 'households holding a shard' }),
  lastAuditMs: Nullable(Type.Number()),
  repairs: Type.Integer(),
  holders: Type.Array(Type.Object({ id: Type.String(), household: Hex('the holder\'s user'), state: Type.String({ description: 'ok, suspect, failed' }) })),
});
export const ArchiveHeld = Type.Object({ user: Hex('the owner whose shards this node keeps'), name: Type.String(), usedBytes: Type.Number(), quotaBytes: Type.Number({ description: 'what this node gives that owner' }) });
export const ArchiveStatus = Type.Object({ objects: Type.Array(ArchiveObjectStatus), held: Type.Array(ArchiveHeld, { description: 'what this node keeps for whom, against its quota' }) });
const ArchivePutResult = Type.Object({ objects: Type.Array(Type.Object({ name: Type.String(), id: Type.String(), size: Type.Number(), k: Type.Integer(), m: Type.Integer(), holders: Type.Integer(), households: Type.Integer(), warnings: Type.Array(Type.Object({ code: Type.String(), message: Type.String() })) })) });
const ArchiveGetResult = Type.Object({ out: Type.String(), bytes: Type.Number() });
export const ArchiveJob = Type.Object({
  id: Type.String(), op: OneOf(['put', 'get']), state: OneOf(['running', 'done', 'failed']), bytes: Type.Number(), totalBytes: Type.Number(),
  result: Type.Optional(Type.Union([ArchivePutResult, ArchiveGetResult])),
  error: Type.Optional(Type.Object({ code: Type.String(), message: Type.String(), hint: Type.Optional(Type.String()) })),
});
export const ArchiveVerified = Type.Object({
  audit: Type.Object({ pass: Type.Integer(), fail: Type.Integer(), noAnswer: Type.Integer() }),
  repair: Type.Object({ repaired: Type.Integer(), stuck: Type.Integer(), deferred: Type.Integer(), bytesRead: Type.Number(), bytesWritten: Type.Number() }),
  index: Open('the index publication, or {error: code}'),
});
/** Node index and key generation as identity/keys.ts bounds them (m/5484'/2'/n'/g'). */
const KeyIndex = (description: string) => Type.Integer({ minimum: 0, maximum: 0x7fffffff, description });
export const ArchiveResealBody = Type.Object({
  key: Type.String({ pattern: '^[A-Za-z0-9+/]{43}=$', description: 'base64 of the revoked node\'s 32-byte X25519 secret key' }),
  nodeIndex: Type.Optional(KeyIndex('the node index the key was derived for (with generation): a revoked access device the archive did not record yet is recorded then')),
  generation: Type.Optional(KeyIndex('the key generation the key was derived for (with nodeIndex)')),
}, { additionalProperties: false });
export const ArchiveResealed = Type.Object({
  opened: Type.Integer({ description: 'objects the key opens (sealed to the revoked device): re-sealed by a round now under way (archive.progress, archive.reseal events)' }),
  oneDevice: Type.Boolean({ description: 'this node is the last access device: they are re-sealed to it and each holder (ARCHIVE_ONE_ACCESS_DEVICE)' }),
});
export const ArchiveRecovered = Type.Object({ objects: Type.Integer(), roots: Type.Integer(), friendsRestored: Type.Integer(), friends: Type.Array(Type.Object({ userKey: Type.String(), name: Type.String() })) });

/** One event of the log (agent/events.ts). */
export const Event = Type.Object({
  id: Type.Integer({ description: 'monotonic, from 1; resume with ?since=id' }),
  channel: Type.Union([Type.Literal('high'), Type.Literal('low')]),
  type: Type.String({ description: 'e.g. member.state, friend.added, pair.progress, conv.message' }),
  at: Iso,
  data: Type.Record(Type.String(), Type.Unknown()),
});
export const EventBatch = Type.Object({
  events: Type.Array(Event),
  /** The id to ask for next (?since=next). */
  next: Type.Integer(),
  /** Events between `since` and the oldest kept one were dropped: the client missed them and should reload. */
  gap: Type.Optional(Type.Object({ channel: Type.Union([Type.Literal('high'), Type.Literal('low')]), from: Type.Integer(), to: Type.Integer() })),
});

export const Session = Type.Object({
  kind: Type.Union([Type.Literal('token'), Type.Literal('cookie')]),
  client: Nullable(Type.String({ description: 'the companion client\'s name, or null for this machine' })),
  scope: Type.String({ description: '"full" or "conversations"' }),
  csrf: Nullable(Type.String({ description: 'cookie sessions: send it back as the X-Kith-CSRF header on every POST/DELETE' })),
});
export const ClientEntry = Type.Object({ name: Type.String(), scope: Type.String(), createdAt: Iso, lastSeenAt: Nullable(Iso) });
export const ClientAdded = Type.Object({ name: Type.String(), scope: Type.String(), link: Type.String({ description: 'open on the phone (single use, short expiry)' }), expiresAt: Iso });
export const LoginLink = Type.Object({ link: Type.String(), expiresAt: Iso });

const KeyParam = Type.Object({ key: Type.String({ minLength: 1 }) });
const IdParam = Type.Object({ id: Type.String({ minLength: 1 }) });
const NameParam = Type.Object({ name: Type.String({ minLength: 1 }) });
const Confirm = Type.Object({ confirm: Type.Boolean() });

export type Method = 'GET' | 'POST' | 'DELETE';
export interface RouteSpec {
  method: Method;
  path: string;
  summary: string;
  params?: TSchema;
  query?: TSchema;
  body?: TSchema;
  response: TSchema;
  /** Companion clients with the "conversations" scope may call it. */
  companion?: boolean;
}
const r = <S extends RouteSpec>(s: S): S => s;

/** Every /api/v1 route. Names are the client's method names. */
export const ROUTES = {
  status: r({ method: 'GET', path: '/api/v1/status', summary: 'the agent, its cluster and its API', response: Status }),
  identity: r({ method: 'GET', path: '/api/v1/id', summary: 'this node\'s identity', response: Identity, companion: true }),
  session: r({ method: 'GET', path: '/api/v1/session', summary: 'who is asking (token or cookie session) and the CSRF value', response: Session, companion: true }),
  peers: r({ method: 'GET', path: '/api/v1/peers', summary: 'cluster members', response: Type.Object({ peers: Type.Array(Member) }) }),
  card: r({ method: 'GET', path: '/api/v1/card', summary: 'this node\'s card', response: Card }),
  addPeer: r({ method: 'POST', path: '/api/v1/peers', summary: 'add a member from its card and the shared secret', body: Type.Object({ card: Type.String({ minLength: 1 }), secret: Type.String({ pattern: '^[0-9a-fA-F]{64}$' }) }), response: Type.Object({ nodeSignKey: Type.String(), label: Type.String(), userKey: Type.String() }, { additionalProperties: true }) }),
  removePeer: r({ method: 'DELETE', path: '/api/v1/peers/:key', summary: 'forget a member', params: KeyParam, response: Type.Object({ removed: Type.Boolean() }) }),
  friends: r({ method: 'GET', path: '/api/v1/friends', summary: 'friends', response: Type.Object({ friends: Type.Array(Friend) }), companion: true }),
  removeFriend: r({ method: 'DELETE', path: '/api/v1/friends/:key', summary: 'remove a friend', params: KeyParam, response: Friend }),
  blockFriend: r({ method: 'POST', path: '/api/v1/friends/:key/block', summary: 'block a friend', params: KeyParam, response: Friend }),
  undoPairing: r({ method: 'POST', path: '/api/v1/friends/:key/undo-pairing', summary: 'undo the last pairing with a friend', params: KeyParam, response: Friend }),
  nodes: r({ method: 'GET', path: '/api/v1/nodes', summary: 'this user\'s own nodes', response: Type.Object({ nodes: Type.Array(NodeEntry) }) }),
  revokeNode: r({ method: 'POST', path: '/api/v1/nodes/revoke', summary: 'apply a signed node revocation (made with the recovery phrase, never sent here)', body: Type.Object({ revocation: Type.String({ pattern: '^[A-Za-z0-9+/=]{1,8192}$', description: 'base64 of a signed kith/node-revocation' }) }), response: RevokeOutcome }),
  pairOffer: r({ method: 'POST', path: '/api/v1/pair/offer', summary: 'open a pairing offer', body: Type.Object({ ttlMinutes: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 60 })), verify: Type.Optional(Type.Boolean()) }, { additionalProperties: false }), response: Offer }),
  pairOfferState: r({ method: 'GET', path: '/api/v1/pair/offer/:id', summary: 'an offer\'s state', params: IdParam, response: Offer }),
  pairOfferConfirm: r({ method: 'POST', path: '/api/v1/pair/offer/:id/confirm', summary: 'confirm (or refuse) a verifying offer', params: IdParam, body: Confirm, response: Offer }),
  pairOfferCancel: r({ method: 'DELETE', path: '/api/v1/pair/offer/:id', summary: 'cancel an offer', params: IdParam, response: Type.Object({ cancelled: Type.Boolean() }) }),
  pairJoin: r({ method: 'POST', path: '/api/v1/pair/join', summary: 'join an offer by its code or QR content', body: Type.Object({ target: Type.String({ minLength: 1 }), verify: Type.Optional(Type.Boolean()) }, { additionalProperties: false }), response: JoinOutcome }),
  pairJoinConfirm: r({ method: 'POST', path: '/api/v1/pair/join/:id', summary: 'confirm (or refuse) a verifying join', params: IdParam, body: Confirm, response: Type.Union([PairOutcome, Type.Object({ refused: Type.Literal(true) })]) }),
  conversations: r({ method: 'GET', path: '/api/v1/conversations', summary: 'conversations this user takes part in', response: Type.Object({ conversations: Type.Array(ConvListed) }), companion: true }),
  createConversation: r({ method: 'POST', path: '/api/v1/conversations', summary: 'start a conversation', body: ConvCreate, response: ConvSummary, companion: true }),
  conversation: r({ method: 'GET', path: '/api/v1/conversations/:id', summary: 'one conversation with its messages and state', params: IdParam, response: ConvShown, companion: true }),
  postMessage: r({ method: 'POST', path: '/api/v1/conversations/:id/messages', summary: 'post a message', params: IdParam, body: ConvPost, response: ConvPosted, companion: true }),
  vote: r({ method: 'POST', path: '/api/v1/conversations/:id/votes', summary: 'vote (ballot, approval, ranking, scores or consent stance)', params: IdParam, body: ConvVote, response: ConvPosted, companion: true }),
  events: r({ method: 'GET', path: '/api/v1/events/poll', summary: 'long poll of the event log (the WebSocket at /api/v1/events serves the same)', query: Type.Object({ since: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })), waitMs: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$' })), channel: Type.Optional(Type.Union([Type.Literal('high'), Type.Literal('low'), Type.Literal('all')])) }), response: EventBatch, companion: true }),
  name: r({ method: 'GET', path: '/api/v1/name', summary: 'the user\'s display name', response: DisplayName, companion: true }),
  setName: r({ method: 'POST', path: '/api/v1/name', summary: 'set the user\'s display name (spread in this node\'s friend card)', body: Type.Object({ name: Type.String() }, { additionalProperties: false }), response: DisplayName }),
  chat: r({ method: 'POST', path: '/api/v1/chat', summary: 'post to the two-person discussion with a friend (started when none is open)', body: ChatBody, response: ChatSent, companion: true }),
  feed: r({ method: 'GET', path: '/api/v1/feed', summary: 'conversation messages in arrival order, after a feed position (waits up to waitMs for one)', query: Type.Object({ after: Type.Optional(Type.String({ pattern: '^[0-9]{1,15}$' })), waitMs: Type.Optional(Type.String({ pattern: '^[0-9]{1,6}$' })) }), response: FeedPage, companion: true }),
  mailbox: r({ method: 'GET', path: '/api/v1/mailbox', summary: 'mailbox health: what this relay holds for whom against its quotas, what waits for away nodes, problems, pulls', response: MailboxStatus }),
  archiveObjects: r({ method: 'GET', path: '/api/v1/archive/objects', summary: 'the objects in this user\'s archive', response: Type.Object({ objects: Type.Array(ArchiveObject) }) }),
  archiveStatus: r({ method: 'GET', path: '/api/v1/archive/status', summary: 'archive health: per object its shards, copies per household, last audit, repairs; and what this node holds for whom', response: ArchiveStatus }),
  archivePut: r({ method: 'POST', path: '/api/v1/archive/put', summary: 'archive a file or directory on the agent\'s machine: a job to follow', body: Type.Object({ path: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false }), response: ArchiveJob }),
  archiveGet: r({ method: 'POST', path: '/api/v1/archive/get', summary: 'read an object back into a file on the agent\'s machine: a job to follow', body: Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{1,128}$' }), out: Type.String({ minLength: 1, maxLength: 4096 }) }, { additionalProperties: false }), response: ArchiveJob }),
  archiveJob: r({ method: 'GET', path: '/api/v1/archive/jobs/:id', summary: 'an archive job\'s progress', params: IdParam, response: ArchiveJob }),
  archiveVerify: r({ method: 'POST', path: '/api/v1/archive/verify', summary: 'audit every holder of every object now and repair what needs it', response: ArchiveVerified }),
  archiveReseal: r({ method: 'POST', path: '/api/v1/archive/reseal', summary: 'after revoking an own access device: its DH secret key, derived from the phrase by `kith node revoke`, starts re-sealing the history sealed to it', body: ArchiveResealBody, response: ArchiveResealed }),
  archiveRecover: r({ method: 'POST', path: '/api/v1/archive/recover', summary: 'after `kith init --recover`: the index from a friend\'s node, every object record back', response: ArchiveRecovered }),
  uiLogin: r({ method: 'POST', path: '/api/v1/ui/login-link', summary: 'a one-time login link for the web UI (token only)', response: LoginLink }),
  clients: r({ method: 'GET', path: '/api/v1/clients', summary: 'companion clients', response: Type.Object({ clients: Type.Array(ClientEntry) }) }),
  addClient: r({ method: 'POST', path: '/api/v1/clients', summary: 'add a companion client: answers its one-time link', body: Type.Object({ name: Type.String({ pattern: '^[A-Za-z0-9._-]{1,40}$' }), scope: Type.Optional(Type.Union([Type.Literal('full'), Type.Literal('conversations')])) }, { additionalProperties: false }), response: ClientAdded }),
  removeClient: r({ method: 'DELETE', path: '/api/v1/clients/:name', summary: 'revoke a companion client and its sessions', params: NameParam, response: Type.Object({ removed: Type.Boolean() }) }),
} as const;

export type RouteName = keyof typeof ROUTES;
type Field<R, K extends string> = R extends Record<K, infer S extends TSchema> ? Static<S> : undefined;
export type Params<N extends RouteName> = Field<(typeof ROUTES)[N], 'params'>;
export type Query<N extends RouteName> = Field<(typeof ROUTES)[N], 'query'>;
export type Body<N extends RouteName> = Field<(typeof ROUTES)[N], 'body'>;
export type Reply<N extends RouteName> = Static<(typeof ROUTES)[N]['response']>;
export type StatusView = Static<typeof Status>;
export type EventView = Static<typeof Event>;
export type EventBatchView = Static<typeof EventBatch>;
export type MailboxStatusView = Static<typeof MailboxStatus>;
export type ArchiveHeldView = Static<typeof ArchiveHeld>;
export type FeedPageView = Static<typeof FeedPage>;
export type ChatSentView = Static<typeof ChatSent>;

/** A route's path with its :params filled in (percent-encoded). */
export function fillPath(path: string, params: Record<string, string> | undefined): string {
  return path.replace(/:([A-Za-z]+)/g, (_, k: string) => {
    const v = params?.[k];
    if (v === undefined) throw new TypeError(`missing path parameter ${k}`);
    return encodeURIComponent(v);
  });
}

const MATCHERS = (Object.entries(ROUTES) as [RouteName, RouteSpec][]).map(([name, spec]) => ({
  name, spec, re: new RegExp(`^${spec.path.replace(/:([A-Za-z]+)/g, '[^/]+')}$`),
}));

/** The declared route a request names, if any. */
export function routeOf(method: string, path: string): (RouteSpec & { name: RouteName }) | undefined {
  const m = MATCHERS.find((x) => x.spec.method === method && x.re.test(path));
  return m ? { ...m.spec, name: m.name } : undefined;
}
