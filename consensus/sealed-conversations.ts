// Conversations end to end, on an access node: what this node creates or posts is sealed under
// the conversation's current epoch and handed to sync; what sync brings is opened and given to
// Conversations. Epochs follow the participants' access nodes: when this node's view of them
// differs from the current epoch, it starts the next one before sealing anything.
import { SECOND, type Clock, type Timer } from '../core/clock.js';

/** Quiet time before a receipt is posted for a conversation that just arrived. */
export const RECEIPT_QUIET_MS = 2 * SECOND;
import type { CborValue } from '../core/cbor.js';
import { KithError, isKithError } from '../core/errors.js';
import { hexBytes, idHex, toHex } from '../core/hex.js';
import type { Rng } from '../core/rng.js';
import { decodeCanonical } from '../core/cbor.js';
import { peekSignedType, signatureCheckOf, type OpenedObject } from '../core/signed.js';
import type { Role } from '../identity/certificate.js';
import { verifyCertificate } from '../identity/certificate.js';
import type { Conversations, NewConversation } from './conversations.js';
import { currentEpoch, epochMatches, epochZeroProblems, startEpoch, unwrapKey, type EpochRecord } from './epochs.js';
import { CLOSING_TYPE, CONV_TYPE, MESSAGE_TYPE, openConversation, readMessage, type Closing, type Conversation, type Message, type MessageKind, type Signer } from './records.js';
import { openRecord, sealRecord, type Envelope } from './sealing.js';
import type { Authenticated, ConvSync, OpenedEnvelope, StoredEnvelope } from './sync.js';

export interface NodeDirectory {
  /** A user's nodes as this node knows them (its own user, friends); undefined for anyone else. */
  nodesOf(user: Uint8Array): { dh: Uint8Array; roles: readonly Role[] }[] | undefined;
}

export interface SealedDeps {
  convs: Conversations;
  sync: ConvSync;
  signer: Signer;
  dh: { secretKey: Uint8Array; publicKey: Uint8Array };
  directory: NodeDirectory;
  clock: Clock;
  rng: Rng;
  /** Each accepted message, exactly once per node (the application's feed). */
  onMessage?(conv: Conversation, message: Message): void;
  /** A conversation header that arrived from another node (its first message may come later). */
  onConversation?(conv: Conversation): void;
  log?(line: string): void;
  /**
   * Called after each conversation of catchUp() has been applied: the start-up catch-up decodes
   * and verifies every conversation in one burst, and the agent collects garbage here on runtimes
   * that keep a heap grown by a burst (agent/startup-gc.ts).
   */
  afterCatchUpOf?(): void;
}

export class SealedConversations {
  readonly stats = { opened: 0, unreadable: 0, rejected: 0 };
  private readonly keys = new Map<string, Uint8Array>();
  private readonly chain: string;
  /** Envelopes that opened but could not be applied yet (header or closed-over messages missing). */
  private readonly waiting: { group: string; env: Envelope; record: Uint8Array }[] = [];
  /** Envelopes sync handed over that are not opened yet: opened together, in one queued task. */
  private inbox: { group: string; item: StoredEnvelope }[] = [];
  /** Per epoch 0 (hash): what is wrong with it against the header held (empty: nothing). */
  private readonly epochZeroChecked = new Map<string, string[]>();
  private queue: Promise<unknown> = Promise.resolve();
  private readonly receipts = new Map<string, Timer>();

  constructor(private readonly deps: SealedDeps) {
    this.chain = toHex(verifyCertificate(deps.signer.certBytes).signKey);
    deps.sync.setAuthenticator((group, env) => this.authenticate(group, env));
  }

  /** Creates a conversation: header, epoch 0 for every participant's access nodes, sealed. */
  create(n: NewConversation): Promise<Conversation> {
    return this.serial(async () => {
      const conv = await this.deps.convs.create(n);
      const epoch = await this.ensureEpoch(conv);
      await this.seal(conv.id, epoch, 0, (await this.headBytes(conv.id))!);
      return conv;
    });
  }

  post(convId: string, kind: MessageKind, data: Record<string, CborValue>): Promise<{ message: Message; closing: Closing | undefined }> {
    return this.serial(async () => {
      const conv = await this.deps.convs.resolve(convId);
      const unsealed = this.deps.sync.currentEpoch(conv.id) === undefined; // made before conversations travelled
      const epoch = await this.ensureEpoch(conv);
      if (unsealed) await this.sealHistory(conv, epoch);
      const r = await this.deps.convs.post(conv.id, kind, data);
      await this.seal(conv.id, epoch, r.message.seq, r.message.bytes);
      this.deps.onMessage?.(conv, r.message);
      if (r.closing) await this.seal(conv.id, epoch, 0, r.closing.bytes);
      return r;
    });
  }

  /** For ConvSync's onItem: never awaited inside sync's queue (this queue posts back into it). */
  onItem(group: string, item: { epoch: EpochRecord } | StoredEnvelope): void {
    if (this.receipts.has(group)) this.receiptLater(group); // still catching up: later
    if (!('envelope' in item)) return;
    this.inbox.push({ group, item });
    if (this.inbox.length === 1) void this.serial(() => this.openInbox());
  }

  /** The messages of one inbox are written to the store together (Conversations.writeTogether). */
  private async openInbox(): Promise<void> {
    await this.deps.convs.writeTogether(async () => {
      for (const { group, item } of this.inbox.splice(0)) await this.open(group, item.envelope, item.opened);
    });
  }

  /**
   * For sync (SyncDeps.authenticate): a message envelope this node can open, holding its
   * sender's v2 record for the same conversation, node and seq, with the check of the record's
   * signature under the envelope's sender key (sync makes it). That key is the chain's
   * (openMessage checks the certificate).
   */
  private authenticate(group: string, env: Envelope): Authenticated | undefined {
    if (env.sender === this.chain) return undefined;
    const epoch = this.deps.sync.epoch(group, env.epoch);
    const key = epoch && this.keyOf(epoch);
    if (!key) return undefined;
    let record: Uint8Array;
    try {
      record = openRecord(env, key);
    } catch {
      return undefined;
    }
    const read = readMessage(record);
    const b = read?.body as Record<string, CborValue> | undefined;
    if (!read || !b || typeof b !== 'object' || b['v'] !== 2 || b['seq'] !== env.seq || !sameHex(b['node'], env.sender) || !sameHex(b['conv'], group)) return undefined;
    // The key: the record's `node`, the same bytes as env.sender (checked just above).
    return { opened: { record, read }, check: signatureCheckOf(read, b['node'] as Uint8Array) };
  }

  /**
   * The receipt for a newly received conversation goes out once its items stopped arriving for
   * RECEIPT_QUIET_MS: posted at once, it would sort after everything still coming in the catch-up,
   * and every one of those would then arrive "before" it (a replay each time).
   */
  private receiptLater(group: string): void {
    this.receipts.get(group)?.cancel();
    this.receipts.set(group, this.deps.clock.setTimer(RECEIPT_QUIET_MS, () => {
      this.receipts.delete(group);
      void this.serial(async () => {
        const receipt = await this.deps.convs.postReceipt(group);
        if (!receipt) return;
        const conv = await this.deps.convs.resolve(group);
        await this.seal(group, await this.ensureEpoch(conv), receipt.seq, receipt.bytes);
        this.deps.onMessage?.(conv, receipt);
      }).catch((e: Error) => this.deps.log?.(`conv ${group.slice(0, 12)}: no receipt: ${e.message}`));
    }));
  }

  /**
   * Applies what sync holds and Conversations lacks (call once at start): an item stored by sync
   * whose opening was cut short (the process stopped between the two, or it arrived before this
   * layer existed) would otherwise never be applied, since sync never offers it again. Unchained
   * items (headers, closings) are offered again; of each chain, the messages after the tip.
   */
  async catchUp(): Promise<void> {
    for (const group of this.deps.sync.groupIds()) {
      const tips = new Map<string, number>();
      for (const m of await this.deps.convs.messages(group).catch(() => [])) tips.set(m.chain, Math.max(tips.get(m.chain) ?? 0, m.seq));
      for (const env of await this.deps.sync.envelopes(group)) if (env.seq === 0 || env.seq > (tips.get(env.sender) ?? 0)) this.onItem(group, { envelope: env });
      if (this.deps.afterCatchUpOf) {
        await this.idle();
        this.deps.afterCatchUpOf();
      }
    }
    await this.idle();
  }

  /** Closes every conversation whose deadline has passed (the caller runs it on a timer). */
  closeDue(): Promise<void> {
    return this.serial(async () => {
      const now = this.deps.clock.wallTime();
      for (const conv of await this.deps.convs.list()) if (conv.deadlineMs > 0 && now > conv.deadlineMs) await this.closeAndSeal(conv);
    });
  }

  /** Waits until everything queued so far is done (tests and shutdown). */
  idle(): Promise<void> {
    return this.serial(async () => undefined);
  }

  // --- epochs ---

  /** The epoch to seal under: the current one if it names exactly the nodes it should, else a new one. */
  private async ensureEpoch(conv: Conversation): Promise<EpochRecord> {
    const current = this.deps.sync.currentEpoch(conv.id);
    const want = this.wantedNodes(conv, current);
    if (current && epochMatches(current, want.readers, want.holders)) return current;
    const { bytes } = startEpoch({ conv: conv.id, number: current ? current.number + 1 : 0, prev: current?.hash ?? '', readers: want.readers, holders: want.holders, startedAtMs: Math.floor(this.deps.clock.wallTime()) }, this.deps.signer, this.deps.rng);
    await this.deps.sync.addLocal({ epoch: bytes });
    const now = currentEpoch(this.deps.sync.epochs(conv.id))!;
    this.deps.log?.(`conv ${conv.id.slice(0, 12)}: epoch ${now.number} (${now.readers.size} readers, ${now.holders.size} holders)`);
    return now;
  }

  /**
   * Readers: every access node of every participant this node knows (itself included); for a
   * participant it does not know (a friend of a friend), the nodes the current epoch lists for
   * that user. Holders: their relay nodes, the same way.
   */
  private wantedNodes(conv: Conversation, current: EpochRecord | undefined): { readers: { dh: Uint8Array; user: Uint8Array }[]; holders: { dh: Uint8Array; user: Uint8Array }[] } {
    const readers: { dh: Uint8Array; user: Uint8Array }[] = [];
    const holders: { dh: Uint8Array; user: Uint8Array }[] = [];
    for (const user of conv.participants) {
      const known = this.deps.directory.nodesOf(user);
      if (known) {
        for (const n of known) (n.roles.includes('access') ? readers : holders).push({ dh: n.dh, user });
      } else if (current) {
        const u = toHex(user);
        for (const [dh, r] of current.readers) if (r.user === u) readers.push({ dh: hexBytes(dh), user });
        for (const [dh, hu] of current.holders) if (hu === u) holders.push({ dh: hexBytes(dh), user });
      }
    }
    if (!readers.some((r) => toHex(r.dh) === toHex(this.deps.dh.publicKey))) readers.push({ dh: this.deps.dh.publicKey, user: this.deps.signer.userKey });
    return { readers, holders };
  }

  private keyOf(e: EpochRecord): Uint8Array | undefined {
    let k = this.keys.get(e.hash);
    if (!k) {
      k = unwrapKey(e, this.deps.dh);
      if (k) this.keys.set(e.hash, k);
    }
    return k;
  }

  // --- sealing and opening ---

  private async seal(group: string, epoch: EpochRecord, seq: number, record: Uint8Array): Promise<void> {
    const key = this.keyOf(epoch);
    if (!key) throw new KithError('SEAL_INVALID', `this node holds no key of epoch ${epoch.number}`);
    await this.deps.sync.addLocal({ envelope: sealRecord({ group, epoch: epoch.hash, seq }, key, record, this.deps.rng, this.deps.signer.signSecret) });
  }

  /** `opened`: what authenticate() made of it (the record, its signature checked). */
  private async open(group: string, env: Envelope, opened?: OpenedEnvelope): Promise<void> {
    if (env.sender === this.chain) return; // this node sealed it
    const epoch = this.deps.sync.epoch(group, env.epoch);
    const key = epoch && this.keyOf(epoch);
    if (!key) return void this.stats.unreadable++; // an epoch without this node (before it joined, or after it left)
    let record: Uint8Array;
    try {
      record = opened?.record ?? openRecord(env, key);
    } catch {
      return void this.stats.unreadable++;
    }
    this.stats.opened++;
    if (epoch.number === 0 && (await this.badEpochZero(group, epoch))) return;
    if (await this.apply(group, env, record, opened?.read)) await this.retryWaiting();
  }

  /** Gives an opened record to Conversations; true when something changed. `checked`: the record read, its signature verified under env.sender. */
  private async apply(group: string, env: Envelope, record: Uint8Array, checked?: OpenedObject): Promise<boolean> {
    try {
      const type = checked ? checked.type : recordType(record); // `checked` was read as a message: its type is the one in the bytes
      if (type === CONV_TYPE) {
        const head = openConversation(record);
        const sealedUnder = this.deps.sync.epoch(group, env.epoch);
        const wrong = sealedUnder ? epochZeroProblems(sealedUnder, head) : [];
        if (wrong.length > 0) throw new KithError('MESSAGE_REJECTED', `the header's epoch: ${wrong.join('; ')}`);
        const conv = await this.deps.convs.receiveConversation(record);
        if (conv.id !== group) throw new KithError('MESSAGE_REJECTED', 'a header sealed for another conversation');
        this.receiptLater(conv.id);
        this.deps.onConversation?.(conv);
        return true;
      }
      if (type === MESSAGE_TYPE) {
        const r = await this.deps.convs.receive(record, checked && { read: checked, signedBy: hexBytes(env.sender) });
        const inside = r.status === 'gap' ? r : r.message;
        if (inside.conv !== group || inside.chain !== env.sender || inside.seq !== env.seq) throw new KithError('MESSAGE_REJECTED', 'the envelope and the message inside disagree');
        if (r.status === 'gap') return this.wait(group, env, record);
        if (r.status !== 'accepted') return false;
        const conv = await this.deps.convs.resolve(group);
        this.deps.onMessage?.(conv, r.message);
        await this.closeAndSeal(conv);
        return true;
      }
      if (type === CLOSING_TYPE) {
        await this.deps.convs.receiveClosing(record);
        return true;
      }
      return false;
    } catch (e) {
      if (isKithError(e, 'CONV_NOT_FOUND') || (isKithError(e, 'MESSAGE_REJECTED') && /does not have/.test(e.message))) return this.wait(group, env, record);
      if (!isKithError(e)) throw e;
      this.stats.rejected++;
      this.deps.log?.(`conv ${group.slice(0, 12)}: dropped a record: ${e.message}`);
      return false;
    }
  }

  /** An epoch 0 that disagrees with the header already held (another participant's, not the author's): its items are dropped. */
  private async badEpochZero(group: string, epoch: EpochRecord): Promise<boolean> {
    let wrong = this.epochZeroChecked.get(epoch.hash);
    if (wrong === undefined) {
      const head = await this.headBytes(group).catch(() => undefined);
      if (!head) return false; // the header itself is checked when it opens
      // Once per epoch: the header (its signature checked again each time) and the epoch never change.
      wrong = epochZeroProblems(epoch, openConversation(head));
      this.epochZeroChecked.set(epoch.hash, wrong);
    }
    if (wrong.length === 0) return false;
    this.stats.rejected++;
    this.deps.log?.(`conv ${group.slice(0, 12)}: dropped a record: ${wrong.join('; ')}`);
    return true;
  }

  private wait(group: string, env: Envelope, record: Uint8Array): false {
    if (!this.waiting.some((w) => w.env.id === env.id) && this.waiting.length < 10_000) this.waiting.push({ group, env, record });
    return false;
  }

  private async retryWaiting(): Promise<void> {
    for (let progress = true; progress && this.waiting.length > 0; ) {
      progress = false;
      for (const w of this.waiting.splice(0)) if (await this.apply(w.group, w.env, w.record)) progress = true;
    }
  }

  /** Seals a conversation this node held before it had epochs: its header and its own messages. */
  private async sealHistory(conv: Conversation, epoch: EpochRecord): Promise<void> {
    await this.seal(conv.id, epoch, 0, (await this.headBytes(conv.id))!);
    const mine = (await this.deps.convs.messages(conv.id)).filter((m) => m.chain === this.chain).sort((a, b) => a.seq - b.seq);
    for (const m of mine) await this.seal(conv.id, epoch, m.seq, m.bytes);
  }

  /** Writes and seals this node's closing record when the decision is reached and none is held. */
  private async closeAndSeal(conv: Conversation): Promise<void> {
    if (!this.deps.convs.mayClose(conv.id)) return; // nothing to close (every message of a catch-up asks)
    if (await this.deps.convs.closing(conv)) return;
    const closing = await this.deps.convs.closeIfReached(conv);
    if (closing) await this.seal(conv.id, await this.ensureEpoch(conv), 0, closing.bytes);
  }

  private async headBytes(convId: string): Promise<Uint8Array | undefined> {
    return this.deps.convs.headerBytes(convId);
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.then(() => undefined, () => undefined);
    return run;
  }
}

const sameHex = (v: unknown, h: string) => v instanceof Uint8Array && v.length === h.length / 2 && idHex(v) === h;

/** The type field of a signed record (the record is opened and checked by its own reader next). */
function recordType(bytes: Uint8Array): string {
  const seen = peekSignedType(bytes, [MESSAGE_TYPE, CONV_TYPE, CLOSING_TYPE]);
  if (seen !== undefined) return seen; // without decoding every record twice (a catch-up opens 10,000)
  let v: unknown;
  try {
    v = decodeCanonical(bytes);
  } catch (e) {
    throw new KithError('MESSAGE_REJECTED', 'not a conversation record', { cause: e });
  }
  const type = (v as { type?: unknown } | null)?.type;
  if (type !== CONV_TYPE && type !== MESSAGE_TYPE && type !== CLOSING_TYPE) throw new KithError('MESSAGE_REJECTED', 'not a conversation record');
  return type;
}
