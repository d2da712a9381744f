// The outbox: a blob for an away recipient goes to relays of two different households (the
// same ones from every sender), stays queued (across a restart) until it is placed twice or the
// recipient is reachable, and STORAGE_FULL / RATE_LIMITED answers are kept for the user while the
// blob goes on to other relays and is tried again later.
import t from 'tap';
import { VirtualClock, MINUTE } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { MailboxRelay, type MailboxLimits } from '../../cluster/mailbox.js';
import { MailboxClient } from '../../cluster/mailbox-client.js';
import { MailboxOutbox, type OutboxRelay } from '../../cluster/mailbox-outbox.js';

const A = 'a1'.repeat(32);
const B = 'b1'.repeat(32);
const G = '99'.repeat(32);
const members = new Map([[A, 'alice'], [B, 'bob']]);

function world(relayLimits: Record<string, Partial<MailboxLimits>> = {}) {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const households: Record<string, string> = { r1: 'alice', r2: 'alice', r3: 'carol', r4: 'dave' };
  const relays = new Map(Object.keys(households).map((id) => [id, new MailboxRelay({ store: new MemoryStore(), clock, rng: new SeededRng(id), userOf: (m) => members.get(m), notify: () => undefined, isOnline: () => false }, relayLimits[id] ?? {})]));
  const online = new Set(Object.keys(households));
  const alive = new Set<string>();
  const outbox = (store = new MemoryStore()) => new MailboxOutbox({
    store, clock,
    client: new MailboxClient({ store, request: async (id, body) => relays.get(id)!.handle(A, body) }),
    relays: (): OutboxRelay[] => [...online].map((id) => ({ id, household: households[id]! })),
    isAlive: (n) => alive.has(n),
  });
  return { clock, relays, online, alive, outbox, households };
}

const item = (i: number, size = 100) => ({ group: G, sender: A, seq: i, blob: new Uint8Array(size).fill(i) });

t.test('placed in two households, then done; the same relays from another sender', async (t) => {
  const w = world();
  for (const r of w.relays.values()) await r.start();
  const o = w.outbox();
  await o.start();
  await o.enqueue(item(1), [B]);
  await o.idle();
  t.same(o.queued(), [], 'placed twice: no longer queued');
  const holding = [...w.relays].filter(([, r]) => r.status().blobs === 1).map(([id]) => id);
  t.equal(holding.length, 2, `two relays hold it (${holding})`);
  t.not(w.households[holding[0]!], w.households[holding[1]!], 'in different households');
  const w2 = world();
  for (const r of w2.relays.values()) await r.start();
  const o2 = w2.outbox();
  await o2.start();
  await o2.enqueue(item(1), [B]);
  await o2.idle();
  t.same([...w2.relays].filter(([, r]) => r.status().blobs === 1).map(([id]) => id), holding, 'another sender picks the same relays');
  o.close();
  o2.close();
});

t.test('one household reachable: pushed there, kept queued (across a restart), the second placed when another comes', async (t) => {
  const w = world();
  for (const r of w.relays.values()) await r.start();
  w.online.delete('r3');
  w.online.delete('r4');
  const store = new MemoryStore();
  const o = w.outbox(store);
  await o.start();
  await o.enqueue(item(1), [B]);
  await o.idle();
  t.equal(o.queued().length, 1, 'still queued');
  t.same(o.queued()[0]!.recipients[B], ['alice'], 'held in alice\'s household once (not twice there)');
  o.close();
  const again = w.outbox(store);
  await again.start();
  t.equal(again.queued().length, 1, 'the queue survives a restart');
  w.online.add('r4');
  again.kick();
  await again.idle();
  t.same(again.queued(), [], 'dave\'s relay came: placed twice, done');
  t.equal(w.relays.get('r4')!.status().blobs, 1);
  again.close();
});

t.test('STORAGE_FULL and RATE_LIMITED reach the sender; the blob goes elsewhere and is tried again', async (t) => {
  const w = world({ r1: { totalBytes: 150 }, r2: { totalBytes: 150 }, r3: { pushesPerMinute: 1 }, r4: { pushesPerMinute: 1 } });
  for (const r of w.relays.values()) await r.start();
  const o = w.outbox();
  await o.start();
  for (let i = 1; i <= 3; i++) await o.enqueue(item(i), [B]);
  await o.idle();
  const codes = new Set([...o.problems.values()].map((p) => p.code));
  t.ok(codes.has('STORAGE_FULL'), `a full relay is reported (${[...codes]})`);
  t.ok(codes.has('RATE_LIMITED'), 'a rate-limited relay is reported');
  t.ok(o.queued().length > 0, 'what no relay took is still queued');
  t.ok((o.stats.refused['STORAGE_FULL'] ?? 0) > 0 && (o.stats.refused['RATE_LIMITED'] ?? 0) > 0, 'counted');
  for (let i = 0; i < 5 && o.queued().some((q) => q.recipients[B]!.length < 1); i++) {
    w.clock.advance(MINUTE);
    o.kick();
    await o.idle();
  }
  t.ok(o.queued().every((q) => q.recipients[B]!.length >= 1), 'as the rate allows, each blob is held somewhere');
  o.close();
});

t.test('a recipient that is reachable again needs no mailbox: the entry is done without a push', async (t) => {
  const w = world();
  for (const r of w.relays.values()) await r.start();
  w.online.clear();
  const o = w.outbox();
  await o.start();
  await o.enqueue(item(1), [B]);
  await o.idle();
  t.equal(o.queued().length, 1);
  w.alive.add(B);
  o.kick();
  await o.idle();
  t.same(o.queued(), [], 'done');
  t.equal([...w.relays.values()].reduce((n, r) => n + r.status().blobs, 0), 0, 'nothing pushed');
  o.close();
});
