// Who may use the local API besides a program holding the bearer token: a person's browser on
// this machine (a one-time login link from `kith ui` becomes an HttpOnly, SameSite=Strict session
// cookie) and companion clients (a phone added with `kith client add`: its own login link, a
// long-lived session bound to the client's name and scope, revoked with `kith client remove`).
//
// Secrets (link tokens, session ids, CSRF values) are 32 random bytes in hex; only their SHA-256
// is kept (in memory for links and local sessions; in the store for clients' sessions, so a phone
// stays signed in across restarts). Nothing here is ever logged.
import { createHash, timingSafeEqual } from 'node:crypto';
import { MINUTE, HOUR, type Clock } from '../core/clock.js';
import { KithError } from '../core/errors.js';
import { toHex } from '../core/hex.js';
import type { Rng } from '../core/rng.js';
import type { KvStore } from '../core/store.js';
import { prefixEnd } from '../core/store.js';

export const LOGIN_LINK_TTL_MS = 5 * MINUTE;
export const LOCAL_SESSION_TTL_MS = 12 * HOUR;
export const CLIENT_SESSION_TTL_MS = 90 * 24 * HOUR;
/** The header a cookie session sends its CSRF value in, on every POST and DELETE. */
export const CSRF_HEADER = 'x-kith-csrf';
/** Cookies are not kept apart by port: the name carries it, so two agents on one machine do not mix. */
export const sessionCookieName = (port: number): string => `kith_session_${port}`;

export type Scope = 'full' | 'conversations';

export interface Session {
  client: string | null;
  scope: Scope;
  csrf: string;
  expiresAtMs: number;
}

export interface ClientRecord {
  name: string;
  scope: Scope;
  createdAtMs: number;
  lastSeenAtMs: number | null;
  /** SHA-256 of the client's session id, once its link was opened. */
  sessionHash: string | null;
  csrf: string | null;
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const CLIENT_PREFIX = 'api/clients/';
const enc = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class Access {
  private readonly links = new Map<string, { expiresAtMs: number; client: string | null; scope: Scope }>();
  private readonly sessions = new Map<string, Session>();
  private readonly clients = new Map<string, ClientRecord>();
  private readonly changed = new Set<(count: number) => void>();

  constructor(private readonly deps: { clock: Clock; rng: Rng; store?: KvStore }) {}

  /** Reads the companion clients kept in the store. */
  async load(): Promise<void> {
    if (!this.deps.store) return;
    for await (const [, v] of this.deps.store.range({ gte: CLIENT_PREFIX, lt: prefixEnd(CLIENT_PREFIX) })) {
      try {
        const c = JSON.parse(new TextDecoder().decode(v)) as ClientRecord;
        if (typeof c.name === 'string') this.clients.set(c.name, c);
      } catch {
        // A damaged record is skipped: that phone signs in again.
      }
    }
  }

  private secret(): string {
    return toHex(this.deps.rng.bytes(32));
  }

  /** A one-time login token (the `t` of /ui/login?t=…). */
  loginToken(client: string | null = null, scope: Scope = 'full'): { token: string; expiresAtMs: number } {
    const token = this.secret();
    const expiresAtMs = this.deps.clock.wallTime() + LOGIN_LINK_TTL_MS;
    this.links.set(sha(token), { expiresAtMs, client, scope });
    return { token, expiresAtMs };
  }

  /** Uses up a login token: the new session's id and CSRF value, or API_LOGIN_LINK_USED. */
  async redeem(token: string): Promise<{ sessionId: string; session: Session }> {
    const now = this.deps.clock.wallTime();
    for (const [h, l] of this.links) if (l.expiresAtMs <= now) this.links.delete(h);
    const link = this.links.get(sha(token));
    if (link === undefined) throw new KithError('API_LOGIN_LINK_USED', 'this login link was used already or has expired');
    this.links.delete(sha(token));
    const sessionId = this.secret();
    const session: Session = { client: link.client, scope: link.scope, csrf: this.secret(), expiresAtMs: now + (link.client ? CLIENT_SESSION_TTL_MS : LOCAL_SESSION_TTL_MS) };
    const c = link.client === null ? undefined : this.clients.get(link.client);
    if (link.client !== null && c === undefined) throw new KithError('CLIENT_UNKNOWN', `the client "${link.client}" was removed`);
    if (c) await this.saveClient({ ...c, sessionHash: sha(sessionId), csrf: session.csrf, lastSeenAtMs: now });
    else this.sessions.set(sha(sessionId), session);
    return { sessionId, session };
  }

  /** The session of a cookie value, or undefined (unknown, expired, or its client removed). */
  session(sessionId: string): Session | undefined {
    const h = sha(sessionId);
    const now = this.deps.clock.wallTime();
    const local = this.sessions.get(h);
    if (local) {
      if (local.expiresAtMs > now) return local;
      this.sessions.delete(h);
      return undefined;
    }
    for (const c of this.clients.values()) {
      if (c.sessionHash !== null && sameSecret(c.sessionHash, h) && c.csrf !== null) {
        const lastSeen = c.lastSeenAtMs ?? c.createdAtMs;
        if (now - lastSeen > CLIENT_SESSION_TTL_MS) return undefined;
        c.lastSeenAtMs = now; // kept in memory; written with the next change
        return { client: c.name, scope: c.scope, csrf: c.csrf, expiresAtMs: now + CLIENT_SESSION_TTL_MS };
      }
    }
    return undefined;
  }

  signOut(sessionId: string): void {
    this.sessions.delete(sha(sessionId));
  }

  clientList(): ClientRecord[] {
    return [...this.clients.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  clientCount(): number {
    return this.clients.size;
  }

  /** Calls fn with the number of clients whenever one is added or removed. */
  onClientsChanged(fn: (count: number) => void): () => void {
    this.changed.add(fn);
    return () => this.changed.delete(fn);
  }

  /** Adds (or re-links) a companion client: a login token for its browser. */
  async addClient(name: string, scope: Scope): Promise<{ token: string; expiresAtMs: number }> {
    const old = this.clients.get(name);
    await this.saveClient({ name, scope, createdAtMs: old?.createdAtMs ?? this.deps.clock.wallTime(), lastSeenAtMs: null, sessionHash: null, csrf: null });
    if (!old) for (const fn of this.changed) fn(this.clients.size);
    return this.loginToken(name, scope);
  }

  async removeClient(name: string): Promise<void> {
    if (!this.clients.has(name)) throw new KithError('CLIENT_UNKNOWN', `no companion client "${name}"`);
    this.clients.delete(name);
    for (const [h, l] of this.links) if (l.client === name) this.links.delete(h);
    await this.deps.store?.del(CLIENT_PREFIX + name);
    for (const fn of this.changed) fn(this.clients.size);
  }

  private async saveClient(c: ClientRecord): Promise<void> {
    this.clients.set(c.name, c);
    await this.deps.store?.put(CLIENT_PREFIX + c.name, enc(c));
  }
}
