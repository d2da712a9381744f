// Sync of sealed conversation items between nodes that meet (consensus/README.md, "Sync"). Every
// node of every participant runs it, relay or access: it stores epoch records and sealed
// envelopes per group (conversation id), tells a peer what it holds (per sending node the highest
// contiguous seq, plus the ids of unchained items and epochs), sends what the peer lacks, and
// forwards every new item to the other nodes of the group it can reach. It never opens anything.
// Participants who are not friends never meet: their items travel through the nodes of the
// friends they share, because every node forwards to every group node among its own members.
import { sha256 } from '@noble/hashes/sha2.js';
import type { Clock, Timer } from '../core/clock.js';
import { verifyCheck, type SignatureCheck, type VerifyMany } from '../core/crypto.js';
import { SECOND } from '../core/clock.js';
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { isKithError } from '../core/errors.js';
import { hexBytes, toHex } from '../core/hex.js';
import type { Rng } from '../core/rng.js';
import { prefixEnd, type BatchOp, type KvStore } from '../core/store.js';
import type { OpenedObject } from '../core/signed.js';
import { currentEpoch, epochNodes, openEpoch, startedByReader, type EpochRecord } from './epochs.js';
import { envelopeCheck, readEnvelope, verifyEnvelope, type Envelope } from './sealing.js';
import type { ServiceSpec } from '../cluster/services.js';

export const SYNC_LIMITS = {
  itemsPerMessage: 256, bytesPerMessage: 512 * 1024, groupsPerDigest: 512, messageBytes: 2 * 1024 * 1024,
  /** Out-of-order envelopes waiting per group: total bytes, entries per delivering peer, age. */
  pendingBytesPerGroup: 4 * 1024 * 1024, pendingPerPeer: 256, pendingMaxAgeMs: 10 * 60 * SECOND,
  /** Groups a peer made this node hold where this node is no reader (a relay's storage for others). */
  heldGroupsPerPeer: 64,
  /** Unacknowledged messages per peer: beyond it new ones are dropped (the peer catches up by digest). */
  sendsInFlightPerPeer: 64,
} as const;

export interface SyncOptions {
  /** Anti-entropy: each peer gets a digest at intervals drawn from [T/2, 3T/2]. */
  resyncMs: number;
  /**
   * Items a member may send per second, and in one burst (a token bucket per member). Beyond it
   * items are dropped (`rate-limited`, per item); an honest member sends them again after the next
   * digest. The burst covers a catch-up of 20,000 items at once.
   */
  itemsPerSecond: number;
  itemsBurst: number;
  /** An `items` message of at least this many envelopes has its signatures checked by SyncDeps.verifyMany, when given. */
  batchVerifyMin: number;
  /**
   * Checks per verifyMany call: small enough that the worker and this thread, sharing out the
   * chunks of one message, finish them at about the same time (the last chunk is the wait).
   */
  batchVerifySize: number;
}
export const DEFAULT_SYNC: SyncOptions = { resyncMs: 60 * SECOND, itemsPerSecond: 1000, itemsBurst: 20_000, batchVerifyMin: 64, batchVerifySize: 32 };

/**
 * An envelope an access node opened and found to hold its sender's signed record for the same
 * (group, sender, seq), the record's signature checked (SyncDeps.authenticate): handed back with
 * the item, so the record is neither opened nor verified twice.
 */
export interface OpenedEnvelope {
  record: Uint8Array;
  read: OpenedObject;
}

/** What SyncDeps.authenticate makes of an envelope it opens: the record, and the check of its signature that sync makes. */
export interface Authenticated {
  opened: OpenedEnvelope;
  check: SignatureCheck;
}

/** A stored envelope as handed to onItem(s). */
export interface StoredEnvelope {
  envelope: Envelope;
  opened?: OpenedEnvelope;
}

export interface SyncDeps {
  store: KvStore;
  clock: Clock;
  rng: Rng;
  /** This node's DH key (hex): its id among members and in epochs. */
  self: string;
  /** Sends one reliable message to a member (resolves when acknowledged): the conversations service's port (cluster/services.ts). */
  send(peer: string, body: Uint8Array): Promise<void>;
  /** Members that are reachable now. */
  peers(): string[];
  /** A new item was stored (in chain order per sender): access nodes open it here. */
  onItem?(group: string, item: { epoch: EpochRecord } | StoredEnvelope): void | Promise<void>;
  /** New envelopes of one group, stored by one write, in chain order (taken instead of onItem for envelopes when given). */
  onItems?(group: string, items: StoredEnvelope[]): void;
  /**
   * Access nodes: opens a message envelope (seq > 0) with the epoch's key and finds the sender's
   * record for that slot inside; returns it with the check of the record's signature under the
   * sender's key, which sync makes (inline, or in a batch). Undefined when this node cannot open
   * it or the record is not the sender's for that slot; then, as when the check fails, the
   * envelope signature decides, as on any node. consensus/README.md, "One signature per message".
   * Depends only on the envelope and the epochs held.
   */
  authenticate?(group: string, env: Envelope): Authenticated | undefined;
  /**
   * Checks many signatures at once (the agent: core/verify-pool.ts, on worker threads), with
   * the verdicts of checking each inline. Used for the envelopes of an `items` message of at
   * least batchVerifyMin; without it (the simulations) every signature is checked inline.
   * consensus/README.md, "Batch verification".
   */
  verifyMany?: VerifyMany;
  /**
   * A new item was stored and nodes its group's current epoch names are not reachable now (not
   * in peers()): the mailbox holds it for them (agent/mailbox-service.ts). `sender`/`seq`: the
   * envelope's, or for an epoch record its starter's signing key and number.
   */
  away?(group: string, item: { bytes: Uint8Array; sender: string; seq: number }, nodes: string[]): void;
  /** A peer's HAVE for a group: per sender chain the highest contiguous seq it holds (consensus/holders.ts). */
  onHave?(group: string, peer: string, tips: ReadonlyMap<string, number>): void;
  /** A peer's `held` message: what it knows other group nodes hold (consensus/holders.ts). */
  onHeld?(peer: string, message: Record<string, CborValue>): void;
  /** A member became reachable (it may have restarted and forgotten what it was told). */
  onPeerUp?(peer: string): void;
  /** A member went down (dead or revoked): what it was told is forgotten (consensus/holders.ts). */
  onPeerDown?(peer: string): void;
  log?(line: string): void;
}

interface Group {
  id: string;
  epochs: Map<string, EpochRecord>;
  current: EpochRecord | undefined;
  /** Per sender node (hex sign key): the highest contiguous seq held. */
  tips: Map<string, number>;
  /** Unchained items (seq 0: headers, closings) by id. */
  extras: Set<string>;
  /** Envelopes that came before their predecessor or their epoch, by id (insertion = age order). */
  pending: Map<string, Pending>;
  pendingBytes: number;
}

interface Pending {
  env: Envelope;
  opened: OpenedEnvelope | undefined;
  /** The member it came from ('' when made here): each one's share is bounded. */
  from: string;
  atMs: number;
}

const pad = (n: number) => String(n).padStart(10, '0');

/** A sync message's map, or undefined when it is not canonical CBOR of a map within the limits. */
function decodeSyncMessage(payload: Uint8Array): Record<string, CborValue> | undefined {
  try {
    const v = decodeCanonical(payload, { maxBytes: SYNC_LIMITS.messageBytes, maxDepth: 4, maxItems: 4 * SYNC_LIMITS.itemsPerMessage + 4 * SYNC_LIMITS.groupsPerDigest + 64 });
    if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) return undefined;
    return v as Record<string, CborValue>;
  } catch {
    return undefined;
  }
}

/** An `items` message's epochs and blobs, or undefined when they are not lists of byte strings within the limit. */
function itemsOf(m: Record<string, CborValue>): { ep: Uint8Array[]; b: Uint8Array[] } | undefined {
  const ep = m['ep'];
  const b = m['b'];
  if (!Array.isArray(ep) || !Array.isArray(b) || ep.length + b.length > SYNC_LIMITS.itemsPerMessage) return undefined;
  if (!ep.every((x) => x instanceof Uint8Array) || !b.every((x) => x instanceof Uint8Array)) return undefined;
  return { ep: ep as Uint8Array[], b: b as Uint8Array[] };
}

export class ConvSync {
  readonly stats = { itemsIn: 0, itemsOut: 0, duplicates: 0, dropped: {} as Record<string, number> };
  private readonly groups = new Map<string, Group>();
  private readonly timers = new Map<string, Timer>();
  private readonly o: SyncOptions;
  private loaded = false;
  private closed = false;
  /** Every change runs in one queue: two deliveries never interleave on a chain's tip. */
  private queue: Promise<unknown> = Promise.resolve();
  /** Per peer: messages handed to the transport and not yet acknowledged. */
  private readonly inFlight = new Map<string, number>();
  /** Per peer: groups it made this node hold where this node is no reader. */
  private readonly heldFor = new Map<string, Set<string>>();
  /** Per peer: the item rate's token bucket. */
  private readonly buckets = new Map<string, { tokens: number; atMs: number }>();
  /** Writes of the accept() running now and the envelopes they store: one batch per received message. */
  private writes: BatchOp[] = [];
  private authenticator: SyncDeps['authenticate'];
  private written: { group: string; item: StoredEnvelope }[] = [];
  /** Verdicts of the accept() running now, made by verifyMany, by check: any other check is made inline. */
  private verdicts: ReadonlyMap<SignatureCheck, boolean> = new Map();
  /**
   * Look-ahead (consensus/README.md, "Batch verification"): resolves once the `items` message
   * received last has taken its epochs in, so the next one's envelopes may be read and their
   * checks handed out while that one is stored. `releaseAhead`: the running receive's release.
   */
  private aheadGate: Promise<void> = Promise.resolve();
  private releaseAhead: (() => void) | undefined;
  /**
   * Store keys of envelopes taken on their record's signature (authenticate) whose envelope
   * signature is not checked yet; checked before one goes to a node that cannot open it (a
   * holder, the mailbox). `rewrapped`: the check failed (a reader re-sealed the sender's record).
   */
  private readonly unchecked = new Set<string>();
  private readonly rewrapped = new Set<string>();

  constructor(private readonly deps: SyncDeps, opts: Partial<SyncOptions> = {}) {
    this.o = { ...DEFAULT_SYNC, ...opts };
  }

  /**
   * Registers as the `conversations` service of a cluster node: messages in, membership changes
   * (alive: compare holdings; dead: stop the resync timer). Returns the port to send with.
   */
  static serviceSpec(sync: () => ConvSync): ServiceSpec {
    return {
      name: 'conversations',
      onMessage: (peer, body) => void sync().receive(peer, body),
      onState: (id, state) => (state === 'alive' ? sync().peerUp(id) : state === 'dead' || state === 'revoked' ? sync().peerDown(id) : undefined),
    };
  }

  /** The access node's SealedConversations sets deps.authenticate here (it is made after sync). */
  setAuthenticator(fn: NonNullable<SyncDeps['authenticate']>): void {
    this.authenticator = fn;
  }

  /** Loads what the store holds (call once before use). */
  async start(): Promise<void> {
    if (this.loaded) return;
    this.loaded = true;
    for await (const [k] of this.deps.store.range({ gte: 'syncidx/', lt: prefixEnd('syncidx/') })) await this.load(k.slice('syncidx/'.length));
  }

  /** Groups this node holds. */
  groupIds(): string[] {
    return [...this.groups.keys()];
  }

  currentEpoch(group: string): EpochRecord | undefined {
    return this.groups.get(group)?.current;
  }

  /** Per sender chain the highest contiguous seq held of a group. */
  tips(group: string): ReadonlyMap<string, number> {
    return this.groups.get(group)?.tips ?? new Map();
  }

  epochs(group: string): EpochRecord[] {
    return [...(this.groups.get(group)?.epochs.values() ?? [])];
  }

  /** One epoch record of a group by its hash, if held. */
  epoch(group: string, hash: string): EpochRecord | undefined {
    return this.groups.get(group)?.epochs.get(hash);
  }

  /** Every stored envelope of a group: unchained items first, then chains in seq order. */
  async envelopes(group: string): Promise<Envelope[]> {
    const out: Envelope[] = [];
    for (const sub of ['x', 'b']) for await (const [, v] of this.deps.store.range({ gte: `sync/${group}/${sub}/`, lt: prefixEnd(`sync/${group}/${sub}/`) })) out.push(readEnvelope(v));
    return out;
  }

  /** Adds an item made here (an epoch this node started, an envelope it sealed) and pushes it. */
  addLocal(item: { epoch: Uint8Array } | { envelope: Uint8Array }): Promise<void> {
    return this.serial(() => this.accept(undefined, 'epoch' in item ? [item.epoch] : [], 'envelope' in item ? [item.envelope] : []));
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }

  /** A member became reachable: compare holdings. */
  peerUp(peer: string): void {
    this.deps.onPeerUp?.(peer);
    void this.sendDigest(peer);
    this.schedule(peer);
  }

  peerDown(peer: string): void {
    this.deps.onPeerDown?.(peer);
    this.timers.get(peer)?.cancel();
    this.timers.delete(peer);
  }

  /** Asks a peer for everything of a group it holds that this node lacks (and offers the rest). */
  async syncWith(peer: string, group: string): Promise<void> {
    const g = this.groups.get(group);
    if (g) await this.sendMsg(peer, this.haveOf(g, true));
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) t.cancel();
    this.timers.clear();
  }

  /**
   * A blob pulled from a mailbox relay: an epoch record or an envelope, taken like one a group
   * node sent (both verify themselves: the epoch's signature, the envelope's sender signature),
   * except that the relay itself need not be a node of the group. Never throws on bad input.
   */
  receiveFromMailbox(relay: string, blob: Uint8Array): Promise<void> {
    return this.serial(async () => {
      const isEnvelope = (() => {
        try {
          return (readEnvelope(blob), true);
        } catch {
          return false;
        }
      })();
      await this.accept(relay, isEnvelope ? [] : [blob], isEnvelope ? [blob] : [], true);
    });
  }

  /** A sync message from a member (the body after the service byte). */
  receive(peer: string, payload: Uint8Array): Promise<void> {
    const m = decodeSyncMessage(payload);
    // The look-ahead: a large `items` message is prepared (read, opened, its checks handed out) as
    // soon as the one before it has taken its epochs in, not when that one is done.
    const gate = this.aheadGate;
    let release!: () => void;
    this.aheadGate = new Promise<void>((r) => (release = r));
    const ahead = m && this.mayPrepareAhead(m) ? gate.then(() => this.prepareAhead(peer, m)).catch(() => undefined) : undefined;
    return this.serial(async () => {
      this.releaseAhead = release;
      try {
        await this.handle(peer, m, ahead);
      } finally {
        this.releaseAhead = undefined;
        release();
      }
    });
  }

  /** True for an `items` message that would reach prepare(): well formed and large enough. */
  private mayPrepareAhead(m: Record<string, CborValue>): boolean {
    const items = m['t'] === 'items' && this.deps.verifyMany ? itemsOf(m) : undefined;
    return items !== undefined && items.b.length >= this.o.batchVerifyMin;
  }

  /**
   * prepare() for a message received while others were still being taken in: only if the
   * sender's rate still allows it once those took their items (looked at, not taken: onItems takes
   * it), so a flood is never verified ahead.
   */
  private async prepareAhead(peer: string, m: Record<string, CborValue>): Promise<PreparedBatch | undefined> {
    const { ep, b } = itemsOf(m)!;
    if (this.closed || this.rateTokens(peer) < ep.length + b.length) return undefined;
    return this.prepare(peer, b);
  }

  private async handle(peer: string, m: Record<string, CborValue> | undefined, ahead?: Promise<PreparedBatch | undefined>): Promise<void> {
    if (!m) return this.drop('malformed');
    try {
      if (m['t'] === 'dig') await this.onDigest(peer, m);
      else if (m['t'] === 'have') await this.onHave(peer, m);
      else if (m['t'] === 'items') await this.onItems(peer, m, ahead);
      else if (m['t'] === 'held') this.deps.onHeld?.(peer, m);
      else this.drop('unknown-type');
    } catch (e) {
      if (!isKithError(e)) throw e;
      this.drop(e.code);
      this.deps.log?.(`sync: dropped a message from ${peer.slice(0, 12)}: ${e.message}`);
    }
  }

  // --- the protocol ---

  private async onDigest(peer: string, m: Record<string, CborValue>): Promise<void> {
    const d = m['d'];
    if (!Array.isArray(d) || d.length > SYNC_LIMITS.groupsPerDigest) return this.drop('malformed');
    const theirs = new Map<string, string>();
    for (const e of d) {
      if (!Array.isArray(e) || !(e[0] instanceof Uint8Array) || e[0].length !== 32 || !(e[1] instanceof Uint8Array)) return this.drop('malformed');
      theirs.set(toHex(e[0]), toHex(e[1]));
    }
    for (const g of this.groups.values()) {
      if (!this.routesTo(g, peer)) continue;
      if (theirs.get(g.id) === this.digestOf(g)) this.deps.onHave?.(g.id, peer, g.tips); // the same digest: they hold what this node holds
      else await this.sendMsg(peer, this.haveOf(g, true));
    }
    // A group they hold and this node does not know: ask with an empty summary.
    for (const id of theirs.keys()) if (!this.groups.has(id)) await this.sendMsg(peer, { t: 'have', g: hexBytes(id), e: [], x: [], c: [], r: 1 });
  }

  private async onHave(peer: string, m: Record<string, CborValue>): Promise<void> {
    const gid = m['g'];
    if (!(gid instanceof Uint8Array) || gid.length !== 32 || !Array.isArray(m['e']) || !Array.isArray(m['x']) || !Array.isArray(m['c'])) return this.drop('malformed');
    const g = this.groups.get(toHex(gid));
    const theirEpochs = new Set((m['e'] as CborValue[]).filter((x): x is Uint8Array => x instanceof Uint8Array).map(toHex));
    const theirExtras = new Set((m['x'] as CborValue[]).filter((x): x is Uint8Array => x instanceof Uint8Array).map(toHex));
    const theirTips = new Map<string, number>();
    for (const c of m['c'] as CborValue[]) if (Array.isArray(c) && c[0] instanceof Uint8Array && typeof c[1] === 'number') theirTips.set(toHex(c[0]), c[1]);
    if (g && this.routesTo(g, peer)) this.deps.onHave?.(g.id, peer, theirTips);
    if (!g) return; // nothing to give (their items come by their own push or HAVE)
    if (!this.routesTo(g, peer)) return this.drop('not-a-holder');
    await this.sendMissing(peer, g, theirEpochs, theirExtras, theirTips);
    const theyHaveMore = [...theirTips].some(([s, q]) => q > (g.tips.get(s) ?? 0)) || [...theirEpochs].some((e) => !g.epochs.has(e)) || [...theirExtras].some((x) => !g.extras.has(x));
    if (m['r'] === 1 && theyHaveMore) await this.sendMsg(peer, this.haveOf(g, false));
  }

  private async onItems(peer: string, m: Record<string, CborValue>, ahead?: Promise<PreparedBatch | undefined>): Promise<void> {
    const items = itemsOf(m);
    if (!items) return this.drop('malformed');
    const { ep, b } = items;
    if (!this.withinRate(peer, ep.length + b.length)) return this.drop('rate-limited', ep.length + b.length);
    await this.accept(peer, ep, b, false, ahead);
  }

  /** Stores new items (from a peer, or local when peer is undefined) and forwards them. */
  private async accept(peer: string | undefined, epochs: Uint8Array[], blobs: Uint8Array[], viaMailbox = false, ahead?: Promise<PreparedBatch | undefined>): Promise<void> {
    const fresh = new Map<string, { epochs: Uint8Array[]; blobs: Envelope[] }>();
    const awayItems: { group: string; bytes: Uint8Array; sender: string; seq: number; env?: Envelope }[] = [];
    const add = (g: string, k: 'epochs' | 'blobs', bytes: Uint8Array, sender: string, seq: number, env?: Envelope) => {
      if (!fresh.has(g)) fresh.set(g, { epochs: [], blobs: [] });
      if (k === 'blobs') fresh.get(g)!.blobs.push(env!);
      else fresh.get(g)!.epochs.push(bytes);
      awayItems.push({ group: g, bytes, sender, seq, env });
    };
    for (const bytes of epochs) {
      const e = await this.acceptEpoch(peer, bytes, viaMailbox);
      if (!e) continue;
      add(e.conv, 'epochs', bytes, e.node, e.number);
      // Envelopes that came before this epoch wait for it (a retransmission can overtake).
      for (const done of this.drainPending(this.groups.get(e.conv)!)) add(done.group, 'blobs', done.bytes, done.sender, done.seq, done.env);
    }
    this.releaseAhead?.(); // the next message may be prepared now
    let batch = ahead ? await ahead : undefined;
    // Prepared ahead: what did not open then is opened again below (its epoch may have come in
    // since, in this message or another way), so that the record's signature decides as it would now.
    if (batch) for (const pre of batch.prepared) if (pre?.auth && !pre.auth.value) delete pre.auth;
    if (!batch && peer !== undefined && !viaMailbox && this.deps.verifyMany && blobs.length >= this.o.batchVerifyMin) batch = await this.prepare(peer, blobs);
    this.verdicts = batch?.verdicts ?? new Map();
    for (let i = 0; i < blobs.length; i++) {
      let env: Envelope;
      const pre = batch?.prepared[i];
      try {
        env = pre?.env ?? readEnvelope(blobs[i]!);
      } catch {
        this.drop('malformed-blob');
        continue;
      }
      for (const done of this.acceptEnvelope(peer, env, viaMailbox, pre)) add(done.group, 'blobs', done.bytes, done.sender, done.seq, done.env);
    }
    this.verdicts = new Map();
    await this.flush();
    const alive = this.deps.peers();
    for (const [g, items] of fresh) {
      const group = this.groups.get(g)!;
      for (const p of alive) {
        if (p === peer || !this.routesTo(group, p)) continue;
        const blobs = group.current!.readers.has(p) ? items.blobs : items.blobs.filter((e) => this.signedForHolders(e));
        void this.sendItems(p, g, items.epochs, blobs.map((e) => e.bytes));
      }
    }
    if (this.deps.away) this.tellAway(awayItems.filter((it) => !it.env || this.signedForHolders(it.env)), new Set(alive));
  }

  /** Writes what accept() stored, in one batch, then hands the envelopes on (per group, in order). */
  private async flush(): Promise<void> {
    const ops = this.writes;
    const items = this.written;
    this.writes = [];
    this.written = [];
    if (ops.length > 0) await this.deps.store.batch(ops);
    const byGroup = new Map<string, StoredEnvelope[]>();
    for (const { group, item } of items) (byGroup.get(group) ?? byGroup.set(group, []).get(group)!).push(item);
    for (const [group, list] of byGroup) {
      if (this.deps.onItems) this.deps.onItems(group, list);
      else for (const item of list) await this.deps.onItem?.(group, item);
    }
  }

  /**
   * True when the envelope may go to a node that cannot open it: its envelope signature holds
   * (checked now for one taken on its record's signature alone, once).
   */
  private signedForHolders(env: Envelope): boolean {
    const k = this.keyOf(env);
    if (this.rewrapped.has(k)) return false;
    if (!this.unchecked.has(k)) return true;
    this.unchecked.delete(k);
    if (verifyEnvelope(env)) return true;
    this.rewrapped.add(k);
    this.drop('rewrapped-envelope');
    return false;
  }

  private keyOf(env: { group: string; sender: string; seq: number; id: string }): string {
    return env.seq === 0 ? `sync/${env.group}/x/${env.id}` : `sync/${env.group}/b/${env.sender}/${pad(env.seq)}`;
  }

  /** Hands items to the mailbox for the group nodes that are not reachable now. */
  private tellAway(items: { group: string; bytes: Uint8Array; sender: string; seq: number }[], alive: Set<string>): void {
    for (const it of items) {
      const current = this.groups.get(it.group)?.current;
      if (!current) continue;
      const away = [...epochNodes(current)].filter((n) => n !== this.deps.self && !alive.has(n));
      if (away.length > 0) this.deps.away!(it.group, { bytes: it.bytes, sender: it.sender, seq: it.seq }, away);
    }
  }

  private async acceptEpoch(peer: string | undefined, bytes: Uint8Array, viaMailbox = false): Promise<EpochRecord | undefined> {
    let e: EpochRecord;
    try {
      e = openEpoch(bytes);
    } catch {
      this.drop('bad-epoch');
      return undefined;
    }
    const known = this.groups.get(e.conv);
    if (known?.epochs.has(e.hash)) {
      this.stats.duplicates++;
      return undefined;
    }
    // Held only by the nodes it names, and taken only from a node of the group.
    const nodes = epochNodes(e);
    if (!nodes.has(this.deps.self)) return this.dropped('not-for-us');
    if (peer !== undefined && !viaMailbox && !nodes.has(peer) && !(known && this.routesTo(known, peer))) return this.dropped('not-a-holder');
    if (!known && peer !== undefined && !e.readers.has(this.deps.self)) {
      const held = this.heldFor.get(peer) ?? new Set<string>();
      if (held.size >= SYNC_LIMITS.heldGroupsPerPeer) return this.dropped('held-groups-full');
      this.heldFor.set(peer, held.add(e.conv));
    }
    const prev = known?.epochs.get(e.prev);
    if (e.number > 0 && prev && !startedByReader(e, prev)) return this.dropped('epoch-not-participant');
    const g = known ?? (await this.newGroup(e.conv));
    await this.deps.store.batch([{ type: 'put', key: `sync/${g.id}/e/${e.hash}`, value: bytes }, { type: 'put', key: `syncidx/${g.id}`, value: new Uint8Array(0) }]);
    g.epochs.set(e.hash, e);
    g.current = currentEpoch(g.epochs.values());
    this.stats.itemsIn++;
    await this.deps.onItem?.(g.id, { epoch: e });
    return e;
  }

  /**
   * The signatures of a large `items` message, checked together (SyncDeps.verifyMany) while the
   * envelopes are read and opened here; acceptEnvelope() then takes them one by one as it would
   * without, using these verdicts. Envelopes that would not reach the signature check now
   * (malformed, unknown group, not from a holder, duplicates) are not opened or checked; should
   * one reach it after all, it is checked inline there, as is any check a batch gave no verdict for.
   */
  private async prepare(peer: string, blobs: Uint8Array[]): Promise<PreparedBatch> {
    const verdicts = new Map<SignatureCheck, boolean>();
    const out: (Prepared | undefined)[] = [];
    const batches: Promise<void>[] = [];
    let checks: SignatureCheck[] = [];
    let sent = 0;
    const send = () => {
      const batch = checks;
      checks = [];
      sent += batch.length;
      batches.push(this.deps.verifyMany!(batch).then((v) => {
        if (Array.isArray(v) && v.length === batch.length) batch.forEach((c, i) => verdicts.set(c, v[i] === true));
      }, () => undefined));
    };
    for (const bytes of blobs) {
      let env: Envelope;
      try {
        env = readEnvelope(bytes);
      } catch {
        out.push(undefined);
        continue;
      }
      const g = this.groups.get(env.group);
      if (!g || !this.routesTo(g, peer) || g.extras.has(env.id) || g.pending.has(env.id) || (env.seq > 0 && env.seq <= (g.tips.get(env.sender) ?? 0))) {
        out.push({ env });
        continue;
      }
      const auth = env.seq > 0 ? (this.deps.authenticate ?? this.authenticator)?.(g.id, env) : undefined;
      // The record's signature when it opened (the envelope's is checked only if that fails), else the envelope's.
      const envCheck = auth ? undefined : envelopeCheck(env);
      out.push(envCheck ? { env, auth: { value: auth }, envCheck } : { env, auth: { value: auth } });
      const check = auth ? auth.check : envCheck;
      if (check) checks.push(check);
      if (checks.length >= this.o.batchVerifySize) send();
    }
    if (checks.length > 0 && (sent > 0 || checks.length >= this.o.batchVerifyMin)) send();
    await Promise.all(batches);
    return { prepared: out, verdicts };
  }

  /** A signature check: its verdict from the batch, when one was made, else made now. */
  private verified(check: SignatureCheck | undefined): boolean {
    if (!check) return false;
    return this.verdicts.get(check) ?? verifyCheck(check);
  }

  /** Stores an envelope when it is next in its chain (then any pending successors); returns what was stored. */
  private acceptEnvelope(peer: string | undefined, env: Envelope, viaMailbox = false, pre?: Prepared): Stored[] {
    const g = this.groups.get(env.group);
    if (!g) return (this.drop('unknown-group'), []);
    if (peer !== undefined && !viaMailbox && !this.routesTo(g, peer)) return (this.drop('not-a-holder'), []);
    if (g.extras.has(env.id) || g.pending.has(env.id)) return (this.stats.duplicates++, []);
    if (env.seq > 0 && env.seq <= (g.tips.get(env.sender) ?? 0)) return (this.stats.duplicates++, []);
    // Only the sender's own envelope takes its (sender, seq): one made up by a relay or forwarder
    // would otherwise hold the place of the real one (the first per seq is kept).
    // On an access node, a message it can open is taken on the sender's record signature inside
    // (the same key, the same slot): the envelope signature is checked later, and only if the
    // envelope goes to a node that cannot open it (consensus/README.md, "One signature per message").
    const auth = peer !== undefined && env.seq > 0 ? (pre?.auth ? pre.auth.value : (this.deps.authenticate ?? this.authenticator)?.(g.id, env)) : undefined;
    const opened = auth && this.verified(auth.check) ? auth.opened : undefined;
    if (!opened && !this.verified(pre?.envCheck ?? envelopeCheck(env))) return (this.drop('bad-envelope-sig'), []);
    if (!g.epochs.has(env.epoch) || (env.seq > 0 && env.seq > (g.tips.get(env.sender) ?? 0) + 1)) {
      this.addPending(g, env, peer ?? '', opened);
      if (peer !== undefined && !viaMailbox) void this.sendMsg(peer, this.haveOf(g, false)); // they send the gap
      return [];
    }
    return [this.store(g, env, opened), ...this.drainPending(g)];
  }

  /** Stores the pending envelopes that fit now (their predecessor or their epoch is here). */
  private drainPending(g: Group): Stored[] {
    const stored: Stored[] = [];
    for (let progress = true; progress; ) {
      progress = false;
      for (const { env: p, opened } of g.pending.values()) {
        if (!g.epochs.has(p.epoch) || (p.seq > 0 && p.seq !== (g.tips.get(p.sender) ?? 0) + 1)) continue;
        this.removePending(g, p.id);
        stored.push(this.store(g, p, opened));
        progress = true;
      }
    }
    return stored;
  }

  /**
   * Parks an out-of-order envelope. Bounds: entries older than pendingMaxAgeMs expire; each
   * member holds at most pendingPerPeer entries (its oldest goes first); over the group's byte cap
   * the member holding the most bytes loses its oldest. A flooding member evicts only its own.
   */
  private addPending(g: Group, env: Envelope, from: string, opened: OpenedEnvelope | undefined): void {
    const now = this.deps.clock.now();
    for (const [id, p] of g.pending) {
      if (now - p.atMs <= SYNC_LIMITS.pendingMaxAgeMs) break;
      this.removePending(g, id);
      this.drop('pending-expired');
    }
    g.pending.set(env.id, { env, opened, from, atMs: now });
    g.pendingBytes += env.bytes.length;
    const mine = [...g.pending].filter(([, p]) => p.from === from);
    for (let i = 0; i < mine.length - SYNC_LIMITS.pendingPerPeer; i++) (this.removePending(g, mine[i]![0]), this.drop('pending-evicted'));
    while (g.pendingBytes > SYNC_LIMITS.pendingBytesPerGroup) {
      const victim = oldestOfLargest(g.pending);
      if (!victim) break;
      this.removePending(g, victim);
      this.drop('pending-evicted');
    }
  }

  private removePending(g: Group, id: string): void {
    const p = g.pending.get(id);
    if (!p) return;
    g.pending.delete(id);
    g.pendingBytes -= p.env.bytes.length;
  }

  /** Takes an envelope into its slot: written by the flush() that ends this accept(), handed on after it. */
  private store(g: Group, env: Envelope, opened: OpenedEnvelope | undefined): Stored {
    const key = this.keyOf(env);
    this.writes.push({ type: 'put', key, value: env.bytes });
    this.written.push({ group: g.id, item: opened ? { envelope: env, opened } : { envelope: env } });
    if (opened) this.unchecked.add(key);
    if (env.seq === 0) g.extras.add(env.id);
    else g.tips.set(env.sender, env.seq);
    this.stats.itemsIn++;
    return { group: g.id, bytes: env.bytes, sender: env.sender, seq: env.seq, env };
  }

  private async sendMissing(peer: string, g: Group, epochs: Set<string>, extras: Set<string>, tips: Map<string, number>): Promise<void> {
    const ep = [...g.epochs.values()].filter((e) => !epochs.has(e.hash)).sort((a, b) => a.number - b.number).map((e) => e.bytes);
    const blobs: Uint8Array[] = [];
    for await (const [k, v] of this.deps.store.range({ gte: `sync/${g.id}/x/`, lt: prefixEnd(`sync/${g.id}/x/`) })) if (!extras.has(k.slice(k.lastIndexOf('/') + 1))) blobs.push(v);
    const holder = !g.current?.readers.has(peer);
    for (const [sender, tip] of g.tips) {
      const after = tips.get(sender) ?? 0;
      if (after >= tip) continue;
      const base = `sync/${g.id}/b/${sender}/`;
      for await (const [k, v] of this.deps.store.range({ gte: base + pad(after + 1), lt: prefixEnd(base) })) {
        if (holder && (this.unchecked.has(k) || this.rewrapped.has(k)) && !this.signedForHolders(readEnvelope(v))) continue;
        blobs.push(v);
      }
    }
    await this.sendItems(peer, g.id, ep, blobs);
  }

  /** Sends items in messages of bounded size (epochs first: blobs need them). */
  private async sendItems(peer: string, group: string, epochs: Uint8Array[], blobs: Uint8Array[]): Promise<void> {
    const all = [...epochs.map((b) => ['ep', b] as const), ...blobs.map((b) => ['b', b] as const)];
    while (all.length > 0) {
      const batch: { ep: Uint8Array[]; b: Uint8Array[] } = { ep: [], b: [] };
      let bytes = 0;
      while (all.length > 0 && batch.ep.length + batch.b.length < SYNC_LIMITS.itemsPerMessage && (bytes === 0 || bytes + all[0]![1].length <= SYNC_LIMITS.bytesPerMessage)) {
        const [k, b] = all.shift()!;
        batch[k].push(b);
        bytes += b.length;
      }
      this.stats.itemsOut += batch.ep.length + batch.b.length;
      await this.sendMsg(peer, { t: 'items', g: hexBytes(group), ep: batch.ep, b: batch.b });
    }
  }

  private async sendDigest(peer: string): Promise<void> {
    const d = [...this.groups.values()].filter((g) => this.routesTo(g, peer)).slice(0, SYNC_LIMITS.groupsPerDigest).map((g) => [hexBytes(g.id), hexBytes(this.digestOf(g))]);
    if (d.length > 0) await this.sendMsg(peer, { t: 'dig', d });
  }

  private schedule(peer: string): void {
    if (this.closed) return;
    this.timers.get(peer)?.cancel();
    const ms = this.o.resyncMs / 2 + this.deps.rng.below(this.o.resyncMs + 1);
    this.timers.set(peer, this.deps.clock.setTimer(ms, () => {
      if (!this.deps.peers().includes(peer)) return void this.timers.delete(peer);
      void this.sendDigest(peer);
      this.schedule(peer);
    }));
  }

  /**
   * Hands a message to the transport without waiting for the ack: the queue serialises state
   * changes only, so a slow or offline peer never delays sync with the others. A peer with too
   * many unacknowledged messages gets no more until some are acked (it catches up by digest).
   */
  private async sendMsg(peer: string, m: Record<string, CborValue>): Promise<void> {
    const open = this.inFlight.get(peer) ?? 0;
    if (open >= SYNC_LIMITS.sendsInFlightPerPeer) return this.drop('send-backlog');
    this.inFlight.set(peer, open + 1);
    const settle = () => {
      const n = (this.inFlight.get(peer) ?? 1) - 1;
      if (n > 0) this.inFlight.set(peer, n);
      else this.inFlight.delete(peer);
    };
    let sent: Promise<void>;
    try {
      sent = this.deps.send(peer, encodeCanonical(m));
    } catch (e) {
      sent = Promise.reject(e);
    }
    // An unreachable peer catches up by digest when it is back.
    void sent.then(settle, (e: unknown) => {
      settle();
      this.deps.log?.(`sync: send to ${peer.slice(0, 12)} failed: ${(e as Error).message}`);
    });
  }

  // --- state ---

  private haveOf(g: Group, reply: boolean): Record<string, CborValue> {
    return { t: 'have', g: hexBytes(g.id), e: [...g.epochs.keys()].sort().map(hexBytes), x: [...g.extras].sort().map(hexBytes), c: [...g.tips].sort(([a], [b]) => (a < b ? -1 : 1)).map(([s, q]) => [hexBytes(s), q]), r: reply ? 1 : 0 };
  }

  /** 16 bytes of SHA-256 over what the group holds: equal digests, nothing to exchange. */
  private digestOf(g: Group): string {
    const m = this.haveOf(g, false);
    return toHex(sha256(encodeCanonical([m['e']!, m['x']!, m['c']!])).subarray(0, 16));
  }

  /** A peer gets a group's items when its current epoch names it (reader or holder). */
  private routesTo(g: Group, peer: string): boolean {
    return g.current !== undefined && epochNodes(g.current).has(peer);
  }

  private async newGroup(id: string): Promise<Group> {
    const g: Group = { id, epochs: new Map(), current: undefined, tips: new Map(), extras: new Set(), pending: new Map(), pendingBytes: 0 };
    this.groups.set(id, g);
    return g;
  }

  private async load(id: string): Promise<void> {
    const g = await this.newGroup(id);
    for await (const [, v] of this.deps.store.range({ gte: `sync/${id}/e/`, lt: prefixEnd(`sync/${id}/e/`) })) {
      const e = openEpoch(v);
      g.epochs.set(e.hash, e);
    }
    g.current = currentEpoch(g.epochs.values());
    for await (const [k] of this.deps.store.range({ gte: `sync/${id}/x/`, lt: prefixEnd(`sync/${id}/x/`) })) g.extras.add(k.slice(k.lastIndexOf('/') + 1));
    for await (const [k] of this.deps.store.range({ gte: `sync/${id}/b/`, lt: prefixEnd(`sync/${id}/b/`) })) {
      const [sender, seq] = k.slice(`sync/${id}/b/`.length).split('/') as [string, string];
      g.tips.set(sender, Math.max(g.tips.get(sender) ?? 0, Number(seq)));
    }
  }

  private drop(reason: string, n = 1): void {
    this.stats.dropped[reason] = (this.stats.dropped[reason] ?? 0) + n;
  }

  /** The member's tokens now (looked at, not taken). */
  private rateTokens(peer: string): number {
    const b = this.buckets.get(peer);
    if (!b) return this.o.itemsBurst;
    return Math.min(this.o.itemsBurst, b.tokens + ((this.deps.clock.now() - b.atMs) * this.o.itemsPerSecond) / SECOND);
  }

  /** Takes n items from the peer's token bucket; false when it has fewer left. */
  private withinRate(peer: string, n: number): boolean {
    const now = this.deps.clock.now();
    const b = this.buckets.get(peer) ?? { tokens: this.o.itemsBurst, atMs: now };
    b.tokens = this.rateTokens(peer);
    b.atMs = now;
    this.buckets.set(peer, b);
    if (b.tokens < n) return false;
    b.tokens -= n;
    return true;
  }

  private dropped(reason: string): undefined {
    this.drop(reason);
    return undefined;
  }
}

/** An envelope of a large `items` message, read (and opened, when its signature is to be checked) before the batch's checks (ConvSync.prepare). */
/** What prepare() made of one `items` message: per blob, and the verdicts of the checks it handed out. */
interface PreparedBatch {
  prepared: (Prepared | undefined)[];
  verdicts: ReadonlyMap<SignatureCheck, boolean>;
}

interface Prepared {
  env: Envelope;
  /** SyncDeps.authenticate's answer, when it was asked. */
  auth?: { value: Authenticated | undefined };
  /** The envelope signature's check, when it went into the batch. */
  envCheck?: SignatureCheck;
}

/** The oldest pending entry of the member that holds the most pending bytes. */
type Stored = { group: string; bytes: Uint8Array; sender: string; seq: number; env: Envelope };

function oldestOfLargest(pending: Map<string, Pending>): string | undefined {
  const bytes = new Map<string, number>();
  for (const p of pending.values()) bytes.set(p.from, (bytes.get(p.from) ?? 0) + p.env.bytes.length);
  let top: string | undefined;
  for (const [from, n] of bytes) if (top === undefined || n > bytes.get(top)!) top = from;
  for (const [id, p] of pending) if (p.from === top) return id;
  return undefined;
}
