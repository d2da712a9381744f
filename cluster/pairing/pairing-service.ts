// Pairing offers and joins (pairing/README.md): an offer listens on TCP for the PAKE (protocol.ts,
// frames.ts) and, where the LAN may be searched, answers discovery for its number; a join finds
// the offer (QR content or discovery) and runs the joiner's side. What a pairing produces (a
// friend, or an enrolled node of this same user) is handed to the roster. TCP, discovery, clock
// and randomness are inputs, so pairing runs the same between real agents and simulated ones.
import type { Clock, Timer } from '../../core/clock.js';
import { KithError, isKithError } from '../../core/errors.js';
import { toHex } from '../../core/hex.js';
import type { Log } from '../../core/log.js';
import type { Rng } from '../../core/rng.js';
import type { TcpConn, TcpNet, TcpServer } from '../../core/tcp.js';
import type { Endpoint } from '../../core/udp.js';
import type { NodeCard } from '../card.js';
import type { EnrollOutcome, PairOutcome } from '../roster-service.js';
import { newCode, parsePairTarget, qrContent, type PairCode } from './code.js';
import { framed, runJoin, sendFrame, STEP_TIMEOUT_MS } from './frames.js';
import { PairInitiator, PairOffer, PairResponder, VERDICT_TIMEOUT_MS, type PairResult, type PairSelf, type Step } from './protocol.js';

export interface OfferView {
  id: string;
  code: string;
  qr: string;
  endpoint: string;
  expiresAt: string;
  /** 'confirming': an offer made with `verify` has exchanged cards and waits for `answerOffer`. */
  state: 'waiting' | 'confirming' | 'paired' | 'failed' | 'expired' | 'cancelled';
  /** While 'confirming': what the pairing would be, with the safety number to compare. */
  confirming?: PairOutcome;
  result?: PairOutcome | EnrollOutcome;
  error?: { code: string; message: string };
}

/** What pairing needs of the roster: who we are, and where a pairing's result goes. */
export interface PairingRoster {
  pairSelf(): Promise<PairSelf>;
  befriend(r: PairResult): Promise<PairOutcome>;
  /** What befriend would answer, changing nothing (a verifying joiner shows it before committing). */
  previewPairing(r: PairResult): PairOutcome;
  enrolled(node: NodeCard): Promise<EnrollOutcome>;
}

/** The LAN search for offers by number (UDP multicast in the agent); absent on loopback and in simulations. */
export interface PairDiscovery {
  /** Starts answering searches: `portOf` gives the TCP port of an open offer, or undefined. */
  serve(portOf: (offer: number) => number | undefined): Promise<void>;
  /** Stops answering (no offer is open). */
  stopServing(): void;
  /** Finds an offer's endpoint on the LAN, or fails with PAIR_NOT_FOUND. */
  find(offer: number): Promise<Endpoint>;
}

export interface PairingDeps {
  clock: Clock;
  rng: Rng;
  tcp: TcpNet;
  roster: PairingRoster;
  log: Log;
  discovery?: PairDiscovery;
  /** Each step of an offer or a join, as it happens (the agent's event log); never the code. */
  onProgress?: (p: PairProgress) => void;
}

/** A pairing's step: offers are waiting, confirming, then paired, failed, expired or cancelled; joins joining, confirming, paired or failed. */
export interface PairProgress {
  side: 'offer' | 'join';
  id: string;
  state: OfferView['state'] | 'joining';
  /** The error code of a failed step. */
  error?: string;
  friendUserKey?: string;
  friendName?: string;
}

export interface PairingOptions {
  /** Address offers listen on. */
  host: string;
  /** The address a QR code names for an offer listening on `host` (a LAN address for 0.0.0.0), read per offer. */
  advertisedHost(): string;
  defaultTtlMs: number;
}

interface OpenOffer {
  id: string;
  offer: PairOffer;
  view: OfferView;
  server: TcpServer;
  expiry: Timer;
  /** Drops a finished offer once `kith pair` has had time to read its outcome. */
  forget?: Timer;
  /** Connections that have not sent their hello yet, with their address, oldest first. */
  pending: Map<TcpConn, string>;
  /** While 'confirming': sends this side's verdict (and on ok commits); its timer refuses by itself. */
  answer?: (ok: boolean) => Promise<void>;
  answerTimer?: Timer;
}

/** A joiner sends its hello as soon as it connects: 5 s is plenty, even on a slow Wi-Fi. */
export const HELLO_TIMEOUT_MS = 5_000;
/** Connections that have said nothing yet, per address and in all; beyond, the oldest is dropped. */
export const MAX_PENDING_PER_HOST = 4;
export const MAX_PENDING = 32;
/**
 * How long a verifying join waits for its person's answer before it refuses: less than the
 * offerer's VERDICT_TIMEOUT_MS, so a late "yes" is refused here rather than lost there.
 */
export const JOIN_VERDICT_MS = VERDICT_TIMEOUT_MS - STEP_TIMEOUT_MS;

/** A verifying join between the card exchange and its person's answer. */
interface HeldJoin {
  result: PairResult;
  verdict(ok: boolean): Promise<void>;
  timer: Timer;
}

/** An offer still waiting for a joiner or for its person's answer. */
function live(o: OpenOffer): boolean {
  return o.view.state === 'waiting' || o.view.state === 'confirming';
}

/** How long a finished offer's outcome stays readable. */
const KEEP_FINISHED_MS = 10 * 60_000;

export class PairingService {
  private readonly offers = new Map<string, OpenOffer>();
  private readonly failures = new Map<string, number>();
  private readonly held = new Map<string, HeldJoin>();
  private serving = false;
  private joins = 0;

  constructor(private readonly deps: PairingDeps, private readonly opts: PairingOptions) {}

  /** With `verify`, a friend pairing commits on neither side until `answerOffer(id, ok)`. */
  async offer(o: { ttlMs?: number; verify?: boolean } = {}): Promise<OfferView> {
    const { clock, rng } = this.deps;
    const ttl = o.ttlMs ?? this.opts.defaultTtlMs;
    const me = await this.deps.roster.pairSelf();
    const code: PairCode = newCode(rng);
    const id = toHex(rng.bytes(8));
    let open: OpenOffer | undefined;
    const server = await this.deps.tcp.listen(this.opts.host, 0, (conn) => (open ? this.serve(open, conn) : conn.destroy()));
    const endpoint = { host: this.opts.advertisedHost(), port: server.port };
    const offer = new PairOffer(code, clock.wallTime() + ttl, me, rng, this.failures, undefined, { verify: o.verify === true });
    open = {
      id, offer, server, pending: new Map(),
      view: { id, code: code.text, qr: qrContent(code, endpoint), endpoint: `${endpoint.host}:${endpoint.port}`, expiresAt: new Date(clock.wallTime() + ttl).toISOString(), state: 'waiting' },
      expiry: clock.setTimer(ttl, () => this.finish(open!, 'expired', { error: { code: 'PAIR_EXPIRED', message: 'nobody paired before the offer expired' } })),
    };
    this.offers.set(id, open);
    try {
      await this.serveDiscovery();
    } catch (e) {
      // Nobody will ever hear of this offer: close it rather than leave its port open.
      open.expiry.cancel();
      server.close();
      this.offers.delete(id);
      throw e;
    }
    this.deps.log.info(`pairing offer ${code.offer} open on ${open.view.endpoint} until ${open.view.expiresAt}`);
    this.progress('offer', open.view);
    return open.view;
  }

  offerState(id: string): OfferView {
    const o = this.offers.get(id);
    if (!o) throw new KithError('PAIR_EXPIRED', `no pairing offer ${id.slice(0, 16)}`);
    return o.view;
  }

  /** The offerer's person's answer to a verifying offer: "yes" commits on both sides, "no" on neither. */
  async answerOffer(id: string, ok: boolean): Promise<OfferView> {
    const o = this.offers.get(id);
    if (!o?.answer) throw new KithError('PAIR_EXPIRED', `no pairing offer ${id.slice(0, 16)} waits for an answer (it was answered, or timed out and was refused)`);
    await o.answer(ok);
    return o.view;
  }

  cancel(id: string): void {
    const o = this.offers.get(id);
    if (o) this.finish(o, 'cancelled');
  }

  /**
   * Joins an offer. With `verify`, nothing is committed on either side yet: the answer is what the
   * pairing would be plus a `pending` id, and `answerJoin(pending, ok)` tells the offerer and commits.
   */
  async join(target: string, o: { verify?: boolean } = {}): Promise<PairOutcome & { pending?: string }> {
    const { code, endpoint: given } = parsePairTarget(target);
    const tell = (p: Omit<PairProgress, 'side' | 'id'>, id = `join-${this.joins}`) => this.deps.onProgress?.({ side: 'join', id, ...p });
    this.joins++;
    tell({ state: 'joining' });
    try {
      const me = await this.deps.roster.pairSelf();
      const endpoint = given ?? (await this.find(code.offer));
      const verify = o.verify === true;
      const step = await runJoin(this.deps.clock, this.deps.tcp, endpoint, new PairInitiator(code, me, this.deps.rng, { verify }), verify);
      if (!step.result) throw new KithError('PAIR_FAILED', 'the offer answered as if this were a new node of its user');
      if (!verify) {
        const out = await this.deps.roster.befriend(step.result);
        tell({ state: 'paired', friendUserKey: out.friendUserKey, friendName: out.friendName });
        return out;
      }
      return this.holdJoin(step.result, step.verdict!, (id) => tell({ state: 'confirming' }, id));
    } catch (e) {
      tell({ state: 'failed', error: isKithError(e) ? e.code : 'PAIR_FAILED' });
      throw e;
    }
  }

  private holdJoin(result: HeldJoin['result'], verdict: HeldJoin['verdict'], told: (id: string) => void): PairOutcome & { pending: string } {
    const id = toHex(this.deps.rng.bytes(8));
    told(id);
    const timer = this.deps.clock.setTimer(JOIN_VERDICT_MS, () => void this.answerJoin(id, false).catch(() => undefined));
    this.held.set(id, { result, verdict, timer });
    return { ...this.deps.roster.previewPairing(result), pending: id };
  }

  /** The person's answer to a verifying join: "yes" commits on both sides, "no" on neither. */
  async answerJoin(id: string, ok: boolean): Promise<PairOutcome | { refused: true }> {
    const h = this.held.get(id);
    if (!h) throw new KithError('PAIR_EXPIRED', `no pairing ${id.slice(0, 16)} waits for an answer (it was answered, or timed out and was refused)`);
    this.held.delete(id);
    h.timer.cancel();
    const tell = (p: Omit<PairProgress, 'side' | 'id'>) => this.deps.onProgress?.({ side: 'join', id, ...p });
    try {
      // A verifying offerer answers after this "yes": its "no" (a throw here) commits nothing.
      await h.verdict(ok);
      if (!ok) {
        tell({ state: 'failed', error: 'PAIR_NOT_CONFIRMED' });
        return { refused: true };
      }
      const out = await this.deps.roster.befriend(h.result);
      tell({ state: 'paired', friendUserKey: out.friendUserKey, friendName: out.friendName });
      return out;
    } catch (e) {
      tell({ state: 'failed', error: isKithError(e) ? e.code : 'PAIR_FAILED' });
      throw e;
    }
  }

  async stop(): Promise<void> {
    for (const id of [...this.held.keys()]) await this.answerJoin(id, false);
    for (const o of this.offers.values()) {
      this.finish(o, 'cancelled');
      o.forget?.cancel();
    }
    this.offers.clear();
    this.stopDiscovery();
  }

  private find(offer: number): Promise<Endpoint> {
    if (!this.deps.discovery) {
      return Promise.reject(new KithError('PAIR_NOT_FOUND', 'this agent does not search the LAN (it is bound to loopback): give the QR content (kith:pair?c=…&a=host:port)'));
    }
    return this.deps.discovery.find(offer);
  }

  private async serveDiscovery(): Promise<void> {
    if (this.serving || !this.deps.discovery) return;
    this.serving = true;
    try {
      await this.deps.discovery.serve((n) => [...this.offers.values()].find((x) => x.offer.isOpen && x.offer.code.offer === n)?.server.port);
    } catch (e) {
      this.serving = false;
      throw e;
    }
  }

  private stopDiscovery(): void {
    if (!this.serving) return;
    this.serving = false;
    this.deps.discovery?.stopServing();
  }

  private finish(o: OpenOffer, state: OfferView['state'], extra: Partial<OfferView> = {}): void {
    if (!live(o)) return;
    const { confirming: _, ...view } = o.view;
    o.view = { ...view, state, ...extra };
    this.progress('offer', o.view);
    o.answer = undefined;
    o.answerTimer?.cancel();
    o.offer.expire();
    o.expiry.cancel();
    o.server.close();
    for (const conn of [...o.pending.keys()]) conn.destroy();
    if (![...this.offers.values()].some(live)) this.stopDiscovery();
    o.forget = this.deps.clock.setTimer(KEEP_FINISHED_MS, () => this.offers.delete(o.id));
  }

  /** Tells onProgress an offer's state (never its code). */
  private progress(side: 'offer', v: OfferView): void {
    const friend = v.result?.kind === 'friend' ? { friendUserKey: v.result.friendUserKey, friendName: v.result.friendName } : {};
    this.deps.onProgress?.({ side, id: v.id, state: v.state, ...(v.error ? { error: v.error.code } : {}), ...friend });
  }

  /** Pre-hello connections: bounded per address and in all, the oldest dropped first. */
  private admit(o: OpenOffer, conn: TcpConn, host: string): void {
    o.pending.set(conn, host);
    const fromHost = [...o.pending].filter(([, h]) => h === host);
    if (fromHost.length > MAX_PENDING_PER_HOST) fromHost[0]![0].destroy();
    if (o.pending.size > MAX_PENDING) o.pending.keys().next().value!.destroy();
  }

  /**
   * One connection to an offer. It is not a joiner until its first frame (the hello): one that
   * says nothing holds no slot of the offer, so it cannot keep the real friend out.
   */
  private serve(o: OpenOffer, conn: TcpConn): void {
    const { clock, log, roster } = this.deps;
    const host = conn.remote.host;
    this.admit(o, conn, host);
    let timer = clock.setTimer(HELLO_TIMEOUT_MS, () => conn.destroy());
    let r: PairResponder | undefined;
    let ended = false;
    let lastError: KithError | undefined;
    const end = (): void => {
      if (ended) return;
      ended = true;
      timer.cancel();
      o.pending.delete(conn);
      if (!r) return;
      o.offer.settle(r, host, clock.wallTime());
      if (!o.offer.isOpen && live(o) && r.outcome !== 'success') {
        const e = r.awaitingVerdict
          ? { code: 'PAIR_NOT_CONFIRMED', message: `the pairing with ${host} ended before the safety number was confirmed: nothing changed` }
          : r.outcome === 'wrong-code' || !lastError
            ? { code: 'PAIR_WRONG_CODE', message: `a joiner at ${host} did not prove the code: the offer is used up` }
            : { code: lastError.code, message: lastError.message };
        this.finish(o, 'failed', { error: e });
      }
    };
    conn.onClose(end);
    const first = (): PairResponder | undefined => {
      o.pending.delete(conn);
      const a = o.offer.accept(host, clock.wallTime());
      if (a instanceof PairResponder) return a;
      sendFrame(conn, a.refuse);
      conn.end();
      end();
      log.info(`pairing: refused a joiner at ${host}: ${a.error.code}`);
      return undefined;
    };
    framed(conn, (f) => {
      if (ended) return;
      if (!r && !(r = first())) return;
      timer.cancel();
      const step = r.receive(f);
      timer = clock.setTimer(r.awaitingVerdict ? VERDICT_TIMEOUT_MS : STEP_TIMEOUT_MS, () => conn.destroy());
      void handle(step);
    }, () => conn.destroy());
    /** Sends a step's message; commits a result; holds a pairing for this side's person. */
    const handle = async (step: Step): Promise<void> => {
      if (step.send) sendFrame(conn, step.send);
      if (step.result || step.enrolled) {
        const done = step.result ? roster.befriend(step.result) : roster.enrolled(step.enrolled!);
        end();
        conn.end();
        await done.then(
          (out) => this.finish(o, 'paired', { result: out }),
          (e) => this.finish(o, 'failed', { error: { code: isKithError(e) ? e.code : 'PAIR_FAILED', message: (e as Error).message } }),
        );
      } else if (step.error) {
        lastError = step.error;
        log.warn(`pairing: ${step.error.message}`);
        conn.end();
        end();
      } else if (step.confirming && live(o)) {
        o.view = { ...o.view, state: 'confirming', confirming: roster.previewPairing(step.confirming) };
        this.progress('offer', o.view);
        o.answerTimer = clock.setTimer(JOIN_VERDICT_MS, () => void o.answer?.(false));
        o.answer = (ok) => {
          o.answer = undefined;
          o.answerTimer?.cancel();
          return handle(r!.answer(ok));
        };
      }
    };
  }
}
