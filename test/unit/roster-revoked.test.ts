// The roster on the node that is revoked, with a fake cluster on the virtual clock: it leaves the
// cluster, but only after a grace period in which its acknowledgement of the revocation goes out
// (forgetting at once dropped the pending ack, and `kith node revoke` said the revoked node "did
// not answer" while that node logged it was revoked). Logs name members by their signing key,
// as `kith peers` does.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { toHex } from '../../core/hex.js';
import { verifyCertificate } from '../../identity/certificate.js';
import { certifyNode, revokeNode } from '../../identity/create.js';
import { generatePhrase } from '../../identity/phrase.js';
import type { MemberSpec, MemberView } from '../../cluster/membership.js';
import { encodeRosterMessage } from '../../cluster/roster.js';
import { LEAVE_GRACE_MS, RosterService, type RosterMembers } from '../../cluster/roster-service.js';
import { revocationKey } from '../../cluster/roster-store.js';
import type { ServiceSpec } from '../../cluster/services.js';

const clock = new VirtualClock();
const phrase = generatePhrase(new SeededRng('phrase:roster-revoked'));
const node = (index: number) => {
  const n = certifyNode(clock, { phrase, nodeIndex: index, generation: 0, roles: ['access'], label: `node-${index}` });
  return { cert: verifyCertificate(n.certBytes), certBytes: n.certBytes, signSecret: n.keys.sign.secretKey, ownSecret: n.ownSecret };
};

t.test('a revoked node forgets its members only after the grace period; logs name them by signing key', async (t) => {
  const self = node(2);
  const other = node(0);
  const peerId = toHex(other.cert.dhKey);
  const forgotten: string[] = [];
  const lines: string[] = [];
  const view: MemberView = {
    id: peerId, nodeSignKey: toHex(other.cert.signKey), userKey: toHex(other.cert.userKey), nodeIndex: 0, label: 'node-0', state: 'dead', incarnation: 1,
    endpoint: null, rttMs: null, lastSeenMs: 0, clockOffsetMs: null, clockErrorMs: null, recordSeq: null, endpoints: [],
  };
  const members = {
    view: () => (forgotten.includes(peerId) ? [] : [view]),
    spec: (id: string) => (id === peerId ? ({ cert: other.cert } as MemberSpec) : undefined),
    has: (id: string) => id === peerId,
    forget: async (id: string) => void forgotten.push(id),
    ownEndpoints: () => [],
  } as Partial<RosterMembers> as RosterMembers;
  let handler: ServiceSpec['onMessage'];
  const log = { debug: (m: string) => lines.push(m), info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
  const roster = await RosterService.start({
    clock, store: new MemoryStore(), log, members,
    register: (spec) => ((handler = spec.onMessage), { byte: 0x52, send: async () => {}, request: async () => new Uint8Array(), stream: async () => 0 }),
  }, { cert: self.cert, certBytes: self.certBytes, signSecret: self.signSecret, ownSecret: self.ownSecret, name: 'alice' });

  handler!(peerId, encodeRosterMessage([new Uint8Array([0xa1, 0x00])]), async () => {});
  for (let i = 0; i < 10; i++) await Promise.resolve();
  const dropped = lines.find((l) => /roster record from .* dropped/.test(l));
  t.ok(dropped?.includes(toHex(other.cert.signKey).slice(0, 16)), `the member is named by its signing key: ${dropped}`);
  t.notOk(dropped?.includes(peerId.slice(0, 12)), 'not by its DH key');

  handler!(peerId, encodeRosterMessage([revokeNode(clock, { phrase, nodeIndex: 2, generation: 0, reason: 'sold' })]), async () => {});
  for (let i = 0; i < 10; i++) await Promise.resolve();
  t.ok(roster.selfRevoked, 'it knows it was revoked');
  t.ok(lines.some((l) => /this node \(node 2 of its user\) was revoked/.test(l)), 'and says so');
  t.same(forgotten, [], 'its sessions stay for the grace period, so the acknowledgement goes out');
  clock.advance(LEAVE_GRACE_MS);
  for (let i = 0; i < 10; i++) await Promise.resolve();
  t.same(forgotten, [peerId], 'then it forgets every member');
});

t.test('a member named by a revocation held in the store is cut off at start (a crash between keeping the revocation and cutting the member)', async (t) => {
  const self = node(1);
  const other = node(0);
  const peerId = toHex(other.cert.dhKey);
  const store = new MemoryStore();
  await store.put(revocationKey(other.cert), revokeNode(clock, { phrase, nodeIndex: 0, generation: 0, reason: 'lost' }));
  const cut: string[] = [];
  const lines: string[] = [];
  const view = (state: MemberView['state']): MemberView => ({
    id: peerId, nodeSignKey: toHex(other.cert.signKey), userKey: toHex(other.cert.userKey), nodeIndex: 0, label: 'node-0', state, incarnation: 1,
    endpoint: null, rttMs: null, lastSeenMs: 0, clockOffsetMs: null, clockErrorMs: null, recordSeq: null, endpoints: [],
  });
  const members = {
    view: () => [view(cut.includes(peerId) ? 'revoked' : 'dead')],
    spec: (id: string) => (id === peerId ? ({ cert: other.cert } as MemberSpec) : undefined),
    has: (id: string) => id === peerId,
    revoke: async (id: string) => void cut.push(id),
    ownEndpoints: () => [],
  } as Partial<RosterMembers> as RosterMembers;
  const log = { debug: (m: string) => lines.push(m), info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m) };
  const deps = {
    clock, store, log, members,
    register: () => ({ byte: 0x52, send: async () => {}, request: async () => new Uint8Array(), stream: async () => 0 }),
  };
  const me = { cert: self.cert, certBytes: self.certBytes, signSecret: self.signSecret, ownSecret: self.ownSecret, name: 'alice' };
  const roster = await RosterService.start(deps, me);
  t.same(cut, [peerId], 'the member left dead by the crash is revoked');
  t.ok(roster.holdsRevocation(other.cert.userKey, 0, 0), 'the revocation is held');
  t.ok(lines.some((l) => l.includes('cut off at start') && l.includes(toHex(other.cert.signKey).slice(0, 16))), 'the log says so, naming it by its signing key');
  await RosterService.start(deps, me);
  t.same(cut, [peerId], 'a second start does nothing more');
});
