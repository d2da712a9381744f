// An item sync stored but SealedConversations never applied (the process stopped between the
// two, or the item came in while the agent was still starting): applied at the next start by
// SealedConversations.catchUp(), once, and nothing already applied is delivered again.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { toHex } from '../../core/hex.js';
import { ConvSync } from '../../consensus/sync.js';
import { Conversations } from '../../consensus/conversations.js';
import { SealedConversations } from '../../consensus/sealed-conversations.js';
import { testUser, type TestUser } from '../helpers/users.js';

const alice = testUser('alice');
const bob = testUser('bob');
const id = (u: TestUser) => toHex(u.dh.publicKey);
const known = new Map([alice, bob].map((x) => [x.hex, x]));
const directory = { nodesOf: (k: Uint8Array) => (known.has(toHex(k)) ? [{ dh: known.get(toHex(k))!.dh.publicKey, roles: ['access' as const] }] : undefined) };

function node(u: TestUser, store: MemoryStore, clock: VirtualClock, opts: { open: boolean; outbox: [string, Uint8Array][]; delivered: string[]; afterCatchUpOf?: () => void }) {
  const rng = new SeededRng(`restart:${u.name}:${opts.open}`);
  let sealed: SealedConversations | undefined;
  const sync = new ConvSync({ store, clock, rng, self: id(u), send: async (p, b) => void opts.outbox.push([p, b]), peers: () => [id(u === alice ? bob : alice)], onItem: (g, i): void => (opts.open ? sealed?.onItem(g, i) : undefined) });
  const convs = new Conversations({ store, clock, rng, signer: u });
  sealed = new SealedConversations({ convs, sync, signer: u, dh: u.dh, clock, rng, directory, onMessage: (_c, m) => void opts.delivered.push(m.hash), ...(opts.afterCatchUpOf ? { afterCatchUpOf: opts.afterCatchUpOf } : {}) });
  return { sync, convs, sealed };
}

t.test('stored by sync, not applied before a stop: applied once at the next start', async (t) => {
  const clock = new VirtualClock({ wallStartMs: Date.UTC(2026, 5, 1) });
  const outbox: [string, Uint8Array][] = [];
  const delivered: string[] = [];
  const a = node(alice, new MemoryStore(), clock, { open: true, outbox, delivered: [] });
  await a.sync.start();
  const conv = await a.sealed.create({ topic: 'restart', with: [bob.userKey], pattern: 'discussion' });
  const m1 = await a.sealed.post(conv.id, 'text', { text: 'one' });
  await a.sealed.idle();
  const bobStore = new MemoryStore();
  // bob's first run: sync stores the header and m1, the process stops before they are opened.
  const b1 = node(bob, bobStore, clock, { open: false, outbox: [], delivered });
  await b1.sync.start();
  for (const [p, body] of outbox.splice(0)) if (p === id(bob)) await b1.sync.receive(id(alice), body);
  t.equal((await b1.sync.envelopes(conv.id)).length, 2, 'sync holds the header and the message');
  await t.rejects(b1.convs.messages(conv.id), 'the conversation itself never got them');
  b1.sync.close();
  // The next start: catch-up applies them.
  // The agent's hook (a garbage collection, agent/startup-gc.ts) runs once per conversation, after it is applied.
  const hooked: number[] = [];
  const b2 = node(bob, bobStore, clock, { open: true, outbox: [], delivered, afterCatchUpOf: () => void hooked.push(delivered.length) });
  await b2.sync.start();
  await b2.sealed.catchUp();
  t.same(hooked, [1], 'afterCatchUpOf: once, with the conversation applied');
  t.same((await b2.convs.messages(conv.id)).map((m) => m.hash), [m1.message.hash], 'bob holds alice\'s message');
  t.same(delivered, [m1.message.hash], 'delivered once');
  // A third start delivers nothing again.
  const b3 = node(bob, bobStore, clock, { open: true, outbox: [], delivered });
  await b3.sync.start();
  await b3.sealed.catchUp();
  t.same(delivered, [m1.message.hash], 'nothing delivered twice');
});
