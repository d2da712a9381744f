// The mailbox in a running agent: wiring only (the protocol is cluster/mailbox*.ts, the items
// are consensus/sync.ts's). A node with the relay role serves the mailbox service (0x42) with the
// limits of its config; every node is a client: it pulls from each relay member when that relay
// becomes reachable or sends a NOTIFY, hands what it pulls to sync like received items, and
// queues for relays the items sync stores while some of their group's nodes are away.
import type { Clock } from '../core/clock.js';
import { HOUR } from '../core/clock.js';
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { toHex } from '../core/hex.js';
import type { Rng } from '../core/rng.js';
import type { KvStore } from '../core/store.js';
import type { NodeIdentity } from '../identity/keystore.js';
import { MailboxRelay, type MailboxLimits } from '../cluster/mailbox.js';
import { MailboxClient, type CatchUp } from '../cluster/mailbox-client.js';
import { MailboxOutbox, type OutboxRelay } from '../cluster/mailbox-outbox.js';
import { decodeAnswer, type PulledBlob } from '../cluster/mailbox-wire.js';
import type { ServicePort } from '../cluster/services.js';
import type { MemberView } from '../cluster/membership-types.js';
import type { ConvSync } from '../consensus/sync.js';
import { readEnvelope } from '../consensus/sealing.js';
import type { ClusterService } from './cluster-service.js';
import type { Config } from './config.js';
import type { MailboxStatusView } from './api-shapes.js';
import type { Emit } from './event-sources.js';

const MIB = 1024 * 1024;
/** How long one mailbox request may take (a pull page of 1 MiB over a slow uplink, retries). */
export const MAILBOX_REQUEST_MS = 20_000;

/** The relay limits a config names (the rest are cluster/mailbox.ts's defaults). */
export function mailboxLimits(c: Config['mailbox']): Partial<MailboxLimits> {
  return { ttlMs: c.ttlDays * 24 * HOUR, perGroupBytes: c.groupQuotaMiB * MIB, perFriendBytes: c.friendQuotaMiB * MIB, totalBytes: c.totalQuotaMiB * MIB, pushesPerMinute: c.pushesPerMinute };
}

export interface MailboxService {
  relay: MailboxRelay | undefined;
  client: MailboxClient;
  outbox: MailboxOutbox;
  /** For ConvSync's `away`: items stored here while some of their group's nodes are away. */
  away(group: string, item: { bytes: Uint8Array; sender: string; seq: number }, nodes: string[]): void;
  /** Pulls from a relay now (also run on its becoming reachable and on its NOTIFY). */
  pull(relay: string): Promise<CatchUp | undefined>;
  /** The declared shape of GET /api/v1/mailbox (agent/api-shapes.ts). */
  status(): Promise<MailboxStatusView>;
  stop(): void;
}

interface PullRecord {
  atMs: number;
  blobs: number;
  /** Blobs pulled from this relay since the agent started. */
  totalBlobs: number;
  complete: boolean;
  reset: boolean;
  error?: string;
}

export async function startMailbox(deps: {
  store: KvStore; clock: Clock; rng: Rng; identity: NodeIdentity; cluster: ClusterService; sync: ConvSync; config: Config['mailbox'];
  log: { info(m: string): void; warn(m: string): void; debug(m: string): void };
  /** A user's display name (own or a friend's), for status. */
  nameOf?(user: string): string | undefined;
  /** The event log: mailbox.stored|refused|delivered (as a relay), mailbox.pulled|queued (as a client). */
  emit?: Emit;
}): Promise<MailboxService> {
  const { store, clock, rng, identity, cluster, sync, log } = deps;
  const me = toHex(identity.keys.dh.publicKey);
  const household = deps.config.household || toHex(identity.cert.userKey);
  // Members by id, rebuilt once per clock millisecond and on a miss (a push may name 256 recipients).
  let byId: { atMs: number; map: Map<string, MemberView> } | undefined;
  const rebuild = () => (byId = { atMs: clock.now(), map: new Map(cluster.members.view().map((v) => [v.id, v])) });
  const member = (id: string): MemberView | undefined => {
    if (byId?.atMs !== clock.now()) rebuild();
    return byId!.map.get(id) ?? rebuild().map.get(id);
  };
  const alive = (id: string) => member(id)?.state === 'alive';
  const isRelay = (id: string) => cluster.members.spec(id)?.cert.roles.includes('relay') === true;
  const households = new Map<string, string>();
  const pulls = new Map<string, PullRecord>();
  let port: ServicePort | undefined;

  const relay = identity.cert.roles.includes('relay')
    ? new MailboxRelay({
      store, clock, rng, household, log: (line) => log.info(line),
      userOf: (m) => {
        const v = member(m);
        return v && v.state !== 'revoked' ? v.userKey : undefined;
      },
      notify: (m, body) => void port?.send(m, body).catch(() => undefined),
      isOnline: alive,
    }, mailboxLimits(deps.config))
    : undefined;
  await relay?.start();
  const client = new MailboxClient({ store, request: (r, body) => port!.request(r, body, MAILBOX_REQUEST_MS) });
  const relays = (): OutboxRelay[] => cluster.members.view().filter((v) => v.state === 'alive' && isRelay(v.id)).map((v) => ({ id: v.id, household: households.get(v.id) || v.userKey }));
  const outbox = new MailboxOutbox({
    store, clock, client, relays, isAlive: alive, self: toHex(identity.keys.sign.publicKey),
    log: (level, line) => (level === 'warn' ? log.warn(line) : log.debug(line)),
  });
  await outbox.start();

  const pull = async (r: string): Promise<CatchUp | undefined> => {
    // Envelopes of a group whose epoch is not here yet wait for the end of the catch-up.
    const later: PulledBlob[] = [];
    const take = async (b: PulledBlob) => {
      if (sync.currentEpoch(b.group) === undefined && isEnvelope(b.blob)) later.push(b);
      else await sync.receiveFromMailbox(r, b.blob).catch((e: unknown) => log.debug(`mailbox: a blob from ${r.slice(0, 12)}: ${(e as Error).message}`));
    };
    try {
      const c = await client.pullFrom(r, take);
      for (const b of later) await sync.receiveFromMailbox(r, b.blob).catch(() => undefined);
      if (c.household) households.set(r, c.household);
      pulls.set(r, { atMs: clock.wallTime(), blobs: c.blobs, totalBlobs: (pulls.get(r)?.totalBlobs ?? 0) + c.blobs, complete: c.complete, reset: c.reset });
      if (c.blobs > 0 || c.reset || !c.complete) deps.emit?.('mailbox.pulled', { relay: r, blobs: c.blobs, complete: c.complete, reset: c.reset });
      if (c.blobs > 0 || c.reset || !c.complete) log.info(`mailbox: pulled ${c.blobs} blob${c.blobs === 1 ? '' : 's'} from ${r.slice(0, 12)}${c.reset ? ' (it lost its store: pulled from the start)' : ''}${c.complete ? '' : ' (with a gap: sync fills it from the group\'s nodes)'}`);
      return c;
    } catch (e) {
      pulls.set(r, { ...(pulls.get(r) ?? { blobs: 0, totalBlobs: 0, complete: false, reset: false }), atMs: clock.wallTime(), error: (e as Error).message });
      log.debug(`mailbox: pull from ${r.slice(0, 12)} failed: ${(e as Error).message}`);
      return undefined;
    }
  };

  port = cluster.node.services.register({
    name: 'mailbox',
    onMessage: (peer, body, respond) => {
      if (respond) {
        const answer = relay ? relay.handle(peer, body) : Promise.resolve(encodeCanonical({ t: 'err', code: 'MAILBOX_REFUSED', why: 'this node is no relay' }));
        void answer.catch(() => encodeCanonical({ t: 'err', code: 'MAILBOX_BAD_REQUEST', why: 'could not be handled' })).then((a) => {
          const e = deps.emit && relayEvent(peer, a);
          if (e) deps.emit!(e[0], e[1]);
          return respond(a);
        }).catch(() => undefined);
      } else if (isNotify(body) && isRelay(peer)) void pull(peer).then(() => outbox.kick());
    },
    onState: (id, state) => {
      if (state === 'alive' && isRelay(id)) void pull(id).then(() => outbox.kick());
    },
  });
  for (const r of relays()) void pull(r.id);

  const named = (user: string) => deps.nameOf?.(user) ?? `${user.slice(0, 12)}…`;
  const nodeName = (id: string) => {
    const v = member(id);
    return v ? `${v.label || id.slice(0, 12)} (${named(v.userKey)})` : id === me ? 'this node' : `${id.slice(0, 12)}…`;
  };
  return {
    relay, client, outbox, pull,
    away(group, item, nodes) {
      const to = nodes.filter((n) => n !== me && cluster.members.has(n) && !alive(n));
      if (to.length > 0) deps.emit?.('mailbox.queued', { group, to, bytes: item.bytes.length });
      if (to.length > 0) void outbox.enqueue({ group, sender: item.sender, seq: item.seq, blob: item.bytes }, to).catch((e: unknown) => log.warn(`mailbox: could not queue a blob: ${(e as Error).message}`));
    },
    async status() {
      const s = relay?.status();
      return {
        household,
        relay: s ? {
          incarnation: s.incarnation, blobs: s.blobs, bytes: s.bytes, limits: s.limits, stats: s.stats,
          groups: Object.entries(s.groups).map(([group, u]) => ({ group, ...u, quotaBytes: s.limits.perGroupBytes })),
          friends: Object.entries(s.friends).map(([user, u]) => ({ user, name: named(user), ...u, quotaBytes: s.limits.perFriendBytes })),
          recipients: Object.entries(s.recipients).map(([node, u]) => ({ node, name: nodeName(node), ...u })),
        } : null,
        queued: outbox.queued().map((q) => ({ ...q, recipients: Object.entries(q.recipients).map(([node, hh]) => ({ node, name: nodeName(node), households: hh })) })),
        problems: [...outbox.problems].map(([r, p]) => ({ relay: r, name: nodeName(r), ...p, at: new Date(p.atMs).toISOString() })),
        pulls: await Promise.all([...new Set([...pulls.keys(), ...relays().map((r) => r.id)])].map(async (r) => {
          const p = pulls.get(r);
          const c = await client.savedCursor(r);
          return { relay: r, name: nodeName(r), household: households.get(r) ?? null, cursor: c.after, incarnation: c.inc, lastPull: p ? { ...p, at: new Date(p.atMs).toISOString() } : null };
        })),
      };
    },
    stop: () => outbox.close(),
  };
}

/**
 * The event a relay's answer to a member makes (pure: tested): a blob stored for recipients, a
 * request refused (with its code), or blobs delivered (acknowledged and deleted). Pulls make none.
 */
export function relayEvent(peer: string, answer: Uint8Array): [string, Record<string, unknown>] | undefined {
  // Stored, refused and acked answers are small (a push names at most 256 recipients); pull pages are not read.
  const a = answer.length > 64 * 1024 ? undefined : decodeAnswer(answer, 1);
  if (a?.t === 'pushed') return ['mailbox.stored', { from: peer, cursor: a.cursor, hash: a.hash, waitingFor: a.to.length }];
  if (a?.t === 'err') return ['mailbox.refused', { from: peer, code: a.code }];
  if (a?.t === 'acked' && a.deleted > 0) return ['mailbox.delivered', { to: peer, deleted: a.deleted }];
  return undefined;
}

function isEnvelope(b: Uint8Array): boolean {
  try {
    return (readEnvelope(b), true);
  } catch {
    return false;
  }
}

function isNotify(body: Uint8Array): boolean {
  try {
    return (decodeCanonical(body, { maxBytes: 256, maxDepth: 2, maxItems: 8 }) as Record<string, CborValue>)?.['t'] === 'notify';
  } catch {
    return false;
  }
}
