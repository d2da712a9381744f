// The conversation operations behind `kith conv …`, as plain JSON in and out: run locally on
// the store when no agent holds it, or inside the agent behind POST /api/conv/<op> (the CLI
// then calls the API). One implementation serves both.
import { encodeCanonical, type CborValue } from '../core/cbor.js';
import { apiClient } from './api-client.js';
import { KithError } from '../core/errors.js';
import { toHex } from '../core/hex.js';
import type { BallotShape } from '../consensus/ballots.js';
import { Conversations, parseUserKey, type ConversationView, type NewConversation } from '../consensus/conversations.js';
import { parseParamArgs, type MethodSpec } from '../consensus/method-spec.js';
import { outcomeJson } from '../consensus/outcome.js';
import { PATTERNS, type Conversation, type Message, type MessageKind, type PatternName } from '../consensus/records.js';
import { SealedConversations } from '../consensus/sealed-conversations.js';
import { ConvSync, type SyncDeps } from '../consensus/sync.js';
import { SECOND, type Clock, type Timer } from '../core/clock.js';
import type { Rng } from '../core/rng.js';
import type { KvStore } from '../core/store.js';
import type { Role } from '../identity/certificate.js';
import type { NodeIdentity } from '../identity/keystore.js';
import type { ClusterService } from '../cluster/cluster-service.js';
import type { ServicePort } from '../cluster/services.js';
import { Feed } from '../consensus/feed.js';
import { Holders, type HeldBy } from '../consensus/holders.js';
import { resolveUserRef, type KnownUser } from '../identity/user-ref.js';
import { startupCollector } from './startup-gc.js';
import type { Static } from '@sinclair/typebox';
import type { ConvListed, ConvShown, ConvSummary } from './api-shapes.js';
import type { Emit } from './event-sources.js';
import type { VerifyMany } from '../core/crypto.js';

export interface ConvNewArgs {
  topic: string;
  with: string[];
  pattern: string;
  method?: string;
  params?: string[];
  cel?: string;
  outcome?: string;
  deadline?: string;
  options?: string[];
  ballot?: string;
  sides?: string[];
  rounds?: number;
}

export interface ConvVoteArgs {
  choice?: string;
  approve?: string[];
  rank?: string[];
  scores?: string[];
  reason?: string;
}

export interface ConvOps {
  create(a: ConvNewArgs): Promise<Static<typeof ConvSummary>>;
  list(): Promise<Static<typeof ConvListed>[]>;
  show(id: string): Promise<Static<typeof ConvShown>>;
  post(id: string, text: string, side?: string): Promise<unknown>;
  vote(id: string, a: ConvVoteArgs): Promise<unknown>;
  /** The two-person discussion with `friend` (name or key prefix): reused while open, else made; then `text` posted. */
  chat(friend: string, text: string): Promise<unknown>;
  /** Feed entries after `after` (consensus/feed.ts), waiting up to `waitMs` for one. */
  feed(after: number, waitMs: number): Promise<unknown>;
}

/** What only a running agent has: its feed and the users it knows (for names). */
export interface AgentExtras {
  feed: Feed;
  /** Own user and friends, for the resolver and for names in views. */
  users(): KnownUser[];
  /** Which participants' nodes are known to hold a message (consensus/holders.ts). */
  holders?(conv: Conversation, m: Message): HeldBy[];
}

/** The longest long poll of `feed` (the CLI asks again; below HTTP idle timeouts of 10 s). */
export const FEED_WAIT_MAX_MS = 5 * SECOND;

const iso = (ms: number) => (ms > 0 ? new Date(ms).toISOString() : null);

function summary(c: Conversation) {
  return {
    id: c.id,
    topic: c.topic,
    author: toHex(c.author),
    participants: c.participants.map(toHex),
    pattern: { name: c.pattern.name, ...(c.pattern.options.length ? { options: c.pattern.options, ballot: c.pattern.ballot } : {}), ...(c.pattern.sides.length ? { sides: c.pattern.sides.map((s) => ({ name: s.name, members: s.members.map(toHex) })), rounds: c.pattern.rounds } : {}) },
    method: c.method,
    deadline: iso(c.deadlineMs),
    createdAt: iso(c.createdAtMs),
  };
}

function plain(v: CborValue): unknown {
  if (v instanceof Uint8Array) return toHex(v);
  if (Array.isArray(v)) return v.map(plain);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

export function viewJson(v: ConversationView) {
  return {
    ...summary(v.conv),
    state: v.closing ? ('closed' as const) : ('open' as const),
    messages: v.messages.map((m) => ({ hash: m.hash, author: m.authorHex, seq: m.seq, at: iso(m.atMs), kind: m.kind, data: plain(m.data) })),
    current: v.current,
    closing: v.closing ? { hash: v.closing.hash, closer: toHex(v.closing.closer), evaluatedAt: iso(v.closing.evaluatedAtMs), outcome: outcomeJson(v.closing.outcome), messages: v.closing.messages } : null,
  };
}

function parseDeadline(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const ms = Date.parse(s);
  if (!/^\d{4}-\d{2}-\d{2}/.test(s) || Number.isNaN(ms)) throw new KithError('USAGE', `--deadline takes an ISO 8601 date and time (2026-12-24T18:00:00Z), got ${JSON.stringify(s)}`);
  return ms;
}

function methodOf(a: ConvNewArgs): MethodSpec | undefined {
  if (a.method !== undefined && a.cel !== undefined) throw new KithError('USAGE', 'give one of --method NAME or --cel EXPR, not both');
  if (a.method === undefined && a.cel === undefined) {
    if (a.pattern === 'discussion') return undefined; // closes at its deadline, if any
    throw new KithError('USAGE', 'give one of --method NAME or --cel EXPR');
  }
  if (a.method !== undefined) return { kind: 'builtin', name: a.method, params: parseParamArgs(a.params ?? []) };
  return { kind: 'cel', reached: a.cel!, ...(a.outcome !== undefined ? { outcome: a.outcome } : {}) };
}

function sidesOf(specs: string[]) {
  return specs.map((s) => {
    const m = /^([^=]+)=(.+)$/.exec(s);
    if (!m) throw new KithError('USAGE', `--side takes NAME=USERKEY[,USERKEY...], got ${JSON.stringify(s)}`);
    return { name: m[1]!.trim(), members: m[2]!.split(',').map(parseUserKey) };
  });
}

/** What writes a conversation: Conversations alone (the CLI on a store), or SealedConversations in an agent (what it writes travels). */
export interface ConvWriter {
  create(n: NewConversation): Promise<Conversation>;
  post(id: string, kind: MessageKind, data: Record<string, CborValue>): Promise<{ message: { hash: string }; closing: unknown }>;
}

/** Display names by user key hex ('' for a user this node has no name for). */
function namer(extras: AgentExtras | undefined): (userHex: string) => string {
  const names = new Map((extras?.users() ?? []).map((u) => [u.userKey, u.name]));
  return (u) => names.get(u) ?? '';
}

const noAgent = (what: string) => new KithError('AGENT_NOT_RUNNING', `${what} needs the running agent (it knows your friends and holds the feed)`, { hint: 'start it with `kith run`' });

export function localConvOps(convs: Conversations, writer: ConvWriter = convs, extras?: AgentExtras): ConvOps {
  return {
    async create(a) {
      if (!(PATTERNS as readonly string[]).includes(a.pattern)) throw new KithError('USAGE', `--pattern must be one of ${PATTERNS.join(', ')}`);
      if (a.ballot !== undefined && !['choice', 'approve', 'ranking', 'scores'].includes(a.ballot)) throw new KithError('USAGE', '--ballot must be choice, approve, ranking or scores');
      const deadlineMs = parseDeadline(a.deadline);
      const method = methodOf(a);
      const conv = await writer.create({
        topic: a.topic,
        with: a.with.map(parseUserKey),
        pattern: a.pattern as PatternName,
        ...(method !== undefined ? { method } : {}),
        ...(deadlineMs !== undefined ? { deadlineMs } : {}),
        options: a.options ?? [],
        ...(a.ballot !== undefined ? { ballot: a.ballot as BallotShape } : {}),
        ...(a.sides?.length ? { sides: sidesOf(a.sides) } : {}),
        ...(a.rounds !== undefined ? { rounds: a.rounds } : {}),
      });
      return summary(conv);
    },
    async list() {
      const out = [];
      const report = await convs.listReport();
      for (const c of report.conversations) {
        const closing = await convs.closing(c);
        const name = namer(extras);
        out.push({ ...summary(c), names: c.participants.map((p) => name(toHex(p))), state: closing ? ('closed' as const) : ('open' as const), ...(closing ? { outcome: outcomeJson(closing.outcome) } : {}) });
      }
      // A conversation that cannot be read is listed as damaged, never hiding the others.
      for (const d of report.damaged) out.push({ id: d.id, state: 'damaged' as const, reason: d.reason });
      return out;
    },
    async show(id) {
      const conv = await convs.resolve(id);
      await convs.closeIfReached(conv); // a deadline may have passed since the last message
      const view = await convs.view(conv.id);
      const v = viewJson(view);
      const name = namer(extras);
      const held = (i: number) => (extras?.holders ? { heldBy: extras.holders(conv, view.messages[i]!).map((h) => ({ ...h, name: name(h.user) })) } : {});
      return { ...v, names: Object.fromEntries(v.participants.map((p) => [p, name(p)])), messages: v.messages.map((m, i) => ({ ...m, authorName: name(m.author), ...held(i) })) };
    },
    async post(id, text, side) {
      if (side === undefined) {
        const r = await writer.post(id, 'text', { text });
        return { posted: r.message.hash, closed: r.closing !== undefined };
      }
      const v = await convs.view(id);
      const round = Math.floor(v.state.arguments / 2) + 1;
      const r = await writer.post(v.conv.id, 'argument', { side, round, text });
      return { posted: r.message.hash, round, closed: r.closing !== undefined };
    },
    async vote(id, a) {
      const conv = await convs.resolve(id);
      const shapes = [a.choice, a.approve, a.rank, a.scores].filter((x) => x !== undefined).length;
      let kind: 'ballot' | 'position' | 'rsvp' | 'ack';
      let data: Record<string, CborValue>;
      switch (conv.pattern.name) {
        case 'announcement':
          kind = 'ack';
          data = {};
          break;
        case 'invitation':
          if (a.choice === undefined) throw new KithError('USAGE', 'an invitation takes an answer: kith conv vote ID yes|no|maybe');
          kind = 'rsvp';
          data = { answer: a.choice };
          break;
        case 'proposal':
          if (a.choice === undefined) throw new KithError('USAGE', 'a proposal takes a stance: kith conv vote ID agree|abstain|disagree|block [--reason TEXT]');
          kind = 'position';
          data = { stance: a.choice, reason: a.reason ?? '' };
          break;
        case 'discussion':
          throw new KithError('MESSAGE_REJECTED', 'a discussion has no votes; post messages with `kith conv post`');
        default:
          if (shapes !== 1) throw new KithError('USAGE', 'give one ballot: CHOICE, --approve A,B, --rank A,B,C or --score A=5 (repeatable)');
          kind = 'ballot';
          if (a.choice !== undefined) data = { choice: a.choice };
          else if (a.approve !== undefined) data = { approve: a.approve };
          else if (a.rank !== undefined) data = { ranking: a.rank };
          else {
            const scores: Record<string, CborValue> = {};
            for (const s of a.scores!) {
              const m = /^(.+)=(-?\d+)$/.exec(s);
              if (!m) throw new KithError('USAGE', `--score takes OPTION=WHOLE_NUMBER, got ${JSON.stringify(s)}`);
              scores[m[1]!] = Number(m[2]);
            }
            data = { scores };
          }
      }
      const r = await writer.post(conv.id, kind, data);
      const closing = await convs.closing(conv);
      return { posted: r.message.hash, closed: closing !== undefined, ...(closing ? { outcome: outcomeJson(closing.outcome) } : {}) };
    },
    async chat(friend, text) {
      if (!extras) throw noAgent('kith chat');
      const users = extras.users();
      const me = users[0]!.userKey;
      const them = resolveUserRef(friend, users.slice(1));
      if (text === '') throw new KithError('USAGE', 'kith chat FRIEND "text": the text is empty');
      const pair = [me, them.userKey].sort().join(',');
      let found: Conversation | undefined; // the newest open discussion of exactly these two
      for (const c of await convs.list()) {
        if (c.pattern.name !== 'discussion' || c.participants.map(toHex).sort().join(',') !== pair || (await convs.closing(c))) continue;
        if (!found || c.createdAtMs > found.createdAtMs) found = c;
      }
      let id = found?.id;
      const created = id === undefined;
      if (id === undefined) id = (await writer.create({ topic: `chat with ${them.name || them.userKey.slice(0, 8)}`, with: [parseUserKey(them.userKey)], pattern: 'discussion', options: [] })).id;
      const r = await writer.post(id, 'text', { text });
      return { conv: id, created, with: them, posted: r.message.hash };
    },
    async feed(after, waitMs) {
      if (!extras) throw noAgent('kith conv watch');
      const page = await extras.feed.wait(after, Math.min(Math.max(0, waitMs), FEED_WAIT_MAX_MS));
      const names = new Map(extras.users().map((u) => [u.userKey, u.name]));
      return { next: page.next, last: await extras.feed.last(), entries: page.entries.map((e) => ({ ...e, authorName: names.get(e.author) ?? '', at: iso(e.atMs), data: plain(e.data as CborValue) })) };
    },
  };
}

/** The same operations through a running agent's API. */
export function remoteConvOps(apiPort: number, token: string): ConvOps {
  const api = apiClient(apiPort, token);
  return {
    create: (a) => api.call('createConversation', { body: a }),
    list: async () => (await api.call('conversations')).conversations,
    show: (id) => api.call('conversation', { params: { id } }),
    post: (id, text, side) => api.call('postMessage', { params: { id }, body: { text, ...(side === undefined ? {} : { side }) } }),
    vote: (id, a) => api.call('vote', { params: { id }, body: a }),
    chat: (friend, text) => api.call('chat', { body: { friend, text } }),
    feed: (after, waitMs) => api.call('feed', { query: { after: String(after), waitMs: String(waitMs) } }),
  };
}

/** Dispatches an API request body to the local operations (inside the agent). */
export async function dispatchConvOp(ops: ConvOps, op: string, body: Record<string, unknown>): Promise<unknown> {
  const s = (k: string) => (typeof body[k] === 'string' ? (body[k] as string) : undefined);
  const listFields = ['with', 'params', 'options', 'sides', 'approve', 'rank', 'scores'];
  for (const k of listFields) {
    const v = body[k];
    if (v !== undefined && (!Array.isArray(v) || !v.every((x) => typeof x === 'string'))) throw new KithError('USAGE', `"${k}" must be a list of strings`);
  }
  for (const k of ['topic', 'pattern', 'method', 'cel', 'outcome', 'deadline', 'ballot', 'choice', 'reason', 'id', 'text', 'side']) {
    if (body[k] !== undefined && typeof body[k] !== 'string') throw new KithError('USAGE', `"${k}" must be a string`);
  }
  for (const k of ['rounds', 'after', 'waitMs']) {
    if (body[k] !== undefined && !(Number.isSafeInteger(body[k]) && (body[k] as number) >= 0)) throw new KithError('USAGE', `"${k}" must be a whole number`);
  }
  if (body['friend'] !== undefined && typeof body['friend'] !== 'string') throw new KithError('USAGE', '"friend" must be a string');
  switch (op) {
    case 'create':
      if (s('topic') === undefined || s('pattern') === undefined) throw new KithError('USAGE', '"topic" and "pattern" are required');
      return ops.create({ with: [], ...body } as unknown as ConvNewArgs);
    case 'list':
      return ops.list();
    case 'show':
      return ops.show(s('id') ?? '');
    case 'post':
      return ops.post(s('id') ?? '', s('text') ?? '', s('side'));
    case 'vote':
      return ops.vote(s('id') ?? '', body as ConvVoteArgs);
    case 'chat':
      return ops.chat(s('friend') ?? '', s('text') ?? '');
    case 'feed':
      return ops.feed((body['after'] as number | undefined) ?? 0, (body['waitMs'] as number | undefined) ?? 0);
    default:
      throw new KithError('USAGE', `no conversation operation "${op}"`);
  }
}

/**
 * Conversations that travel, for a running agent: ConvSync registered as the cluster's
 * `conversations` service, SealedConversations over it with the roster as the directory of
 * nodes (own nodes and friends' nodes; blocked friends are nobody), and a timer that closes
 * conversations whose deadline passed. Returns the operations for the API.
 */
export async function startConversationSync(deps: {
  store: KvStore; clock: Clock; rng: Rng; identity: NodeIdentity; cluster: ClusterService; isBlocked(user: Uint8Array): boolean; isSelfRevoked?(): boolean; log: { info(m: string): void; debug(m: string): void };
  /** Items stored while some of their group's nodes are away (the mailbox, agent/mailbox-service.ts). */
  away?: SyncDeps['away'];
  /** Own user first, then friends (not blocked), with their display names. */
  users?(): KnownUser[];
  /** A conversation arrived from another node (for the event log: conv.new). */
  onConversation?(id: string): void;
  /** The event log: conv.closed when a conversation's decision is recorded here. */
  emit?: Emit;
  /** Checks the signatures of a large `items` message (a catch-up) at once, on worker threads (AgentEnv.verifyPool); stopped by stop(). */
  verifyPool?: { verifyMany: VerifyMany; close(): Promise<void> } | undefined;
}): Promise<{ ops: ConvOps; convs: Conversations; sync: ConvSync; sealed: SealedConversations | undefined; feed: Feed; stop(): void }> {
  const { store, clock, rng, identity, cluster } = deps;
  const me = toHex(identity.cert.userKey);
  const signer = { userKey: identity.cert.userKey, signSecret: identity.keys.sign.secretKey, certBytes: identity.certBytes };
  const nodesOf = (user: Uint8Array): { dh: Uint8Array; roles: readonly Role[] }[] | undefined => {
    const u = toHex(user);
    if (u !== me && deps.isBlocked(user)) return undefined;
    const nodes = cluster.members.view().filter((v) => v.userKey === u && v.state !== 'revoked').map((v) => cluster.members.spec(v.id)?.cert).filter((c) => c !== undefined).map((c) => ({ dh: c.dhKey, roles: c.roles }));
    if (u === me) nodes.push({ dh: identity.keys.dh.publicKey, roles: identity.cert.roles });
    return nodes.length > 0 ? nodes : undefined;
  };
  let sealed: SealedConversations | undefined;
  let port: ServicePort | undefined;
  const alivePeers = () => cluster.alivePeerIds();
  const holders: Holders = new Holders({
    self: toHex(identity.keys.dh.publicKey), clock, peers: alivePeers,
    epoch: (g) => sync.currentEpoch(g), ownTips: (g) => sync.tips(g),
    send: (peer, m) => void port?.send(peer, encodeCanonical(m)).catch(() => undefined),
  });
  const sync: ConvSync = new ConvSync({
    store, clock, rng, self: toHex(identity.keys.dh.publicKey), ...(deps.verifyPool ? { verifyMany: deps.verifyPool.verifyMany } : {}),
    send: (peer, body) => port!.send(peer, body),
    peers: alivePeers,
    onItem: (group, item) => {
      holders.onStored(group);
      return sealed?.onItem(group, item);
    },
    ...(deps.away ? { away: deps.away } : {}),
    onHave: (group, peer, tips) => holders.onHave(group, peer, tips),
    onHeld: (peer, m) => holders.receive(peer, m),
    onPeerUp: (peer) => holders.peerUp(peer),
    onPeerDown: (peer) => holders.peerDown(peer),
    log: (line) => deps.log.debug(line),
  });
  port = cluster.node.services.register(ConvSync.serviceSpec(() => sync));
  await sync.start();
  // Members that came alive while the agent was still starting (a real network is fast) were
  // never announced to sync: compare holdings with them now, and keep the resync timers going.
  for (const p of cluster.peers()) if (p.state === 'alive') sync.peerUp(p.id);
  const feed = new Feed({ store, clock });
  const users = deps.users ?? (() => [{ userKey: me, name: '' }]);
  const convs = new Conversations({
    store, clock, rng, signer, isFriend: (k) => toHex(k) === me || nodesOf(k) !== undefined,
    onClosed: (c) => deps.emit?.('conv.closed', { conv: c.conv, hash: c.hash, evaluatedAt: new Date(c.evaluatedAtMs).toISOString() }),
  });
  if (identity.cert.roles.includes('access')) {
    sealed = new SealedConversations({
      convs, sync, signer, dh: identity.keys.dh, directory: { nodesOf }, clock, rng, log: (line) => deps.log.info(line),
      afterCatchUpOf: startupCollector(),
      onMessage: (conv, m) => {
        // The moment a message reaches this node's application (the messages lab times delivery by it).
        deps.log.debug(`conv ${conv.id.slice(0, 12)}: message ${m.hash.slice(0, 12)} (${m.kind}, seq ${m.seq} of ${m.chain.slice(0, 12)})`);
        void feed.add(m).catch((e: Error) => deps.log.info(`feed: message ${m.hash.slice(0, 12)} not recorded: ${e.message}`));
      },
      onConversation: (c) => deps.onConversation?.(c.id),
    });
    // What sync stored but was never applied (a stop in between, or items that came in before now).
    await sealed.catchUp();
  }
  let timer: Timer | undefined;
  const tick = () => {
    timer = clock.setTimer(5 * SECOND, () => {
      // A revoked node writes nothing more (a closing would start an epoch naming itself).
      if (!deps.isSelfRevoked?.()) void sealed?.closeDue().catch(() => undefined);
      tick();
    });
  };
  tick();
  return { ops: localConvOps(convs, sealed ?? convs, { feed, users, holders: (c, m) => holders.heldBy(m, c.participants.map(toHex), sync.currentEpoch(c.id)) }), convs, sync, sealed, feed, stop: () => { timer?.cancel(); holders.close(); sync.close(); void deps.verifyPool?.close(); } };
}
