// A user's own machines, end to end with real agents on loopback (QR content, no LAN search),
// for what only real processes show: the CLI (`kith node add` with a phrase file, `kith node
// revoke` signing with the phrase, `kith node list`, `kith friend list`), key file modes, real
// TCP and UDP, LevelDB across a restart. Alice's node 0 enrolls node 1; alice pairs with frank and
// node 1 learns the friendship; node 1 enrolls node 2; node 2 is revoked from node 0 and stays
// out after a restart. The protocol's other cases (a node down during a revocation, catching up
// after a restart) run as a seeded whole-agent simulation in test/sim/roster-agents.test.ts.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { kith, kithSpawn, startAgent, until, RUNTIME, type AgentProc } from '../helpers/proc.js';

t.comment(`agent runtime: ${RUNTIME}`);

async function api(a: AgentProc, route: string, retry = true): Promise<Record<string, unknown>> {
  try {
    const res = await fetch(`http://127.0.0.1:${a.apiPort}${route}`, { headers: { authorization: `Bearer ${a.token}` }, signal: AbortSignal.timeout(3000) });
    return (await res.json()) as Record<string, unknown>;
  } catch (e) {
    // A keep-alive connection the server closed just as it was reused: once more, on a new one.
    if (retry && /other side closed|ECONNRESET/.test(String((e as Error).cause))) return api(a, route, false);
    // Say which agent did not answer, and what it last logged (an exit, a crash).
    throw new Error(`${route} on agent PID ${a.pid} (exit ${a.child.exitCode ?? a.child.signalCode ?? 'none'}): ${(e as Error).message} (${String((e as Error).cause)})\n${a.output().split('\n').slice(-25).join('\n')}`);
  }
}
interface Peer { id: string; userKey: string; nodeIndex: number; state: string }
const peers = async (a: AgentProc): Promise<Peer[]> => (await api(a, '/api/peers'))['peers'] as Peer[];
const stateOf = async (a: AgentProc, user: string, node: number): Promise<string | undefined> => (await peers(a)).find((p) => p.userKey === user && p.nodeIndex === node)?.state;

t.test('node add, friendship spreading, revocation with three nodes', async (t) => {
  const dir = t.testdir();
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(config, '[cluster]\nhost = "127.0.0.1"\n');
  const run = ['--config', config, '--profile', 'test'];
  const [a0, a1, a2, f] = ['alice0', 'alice1', 'alice2', 'frank'].map((n) => path.join(dir, n)) as [string, string, string, string];
  const phrase = path.join(dir, 'alice.phrase');
  t.equal(kith(['init', '--data-dir', a0, '--phrase-file', phrase, '--label', 'alice-desk']).status, 0);
  t.equal(kith(['init', '--data-dir', f, '--phrase-file', path.join(dir, 'frank.phrase')]).status, 0);
  const userOf = (d: string) => JSON.parse(kith(['id', '--json', '--data-dir', d]).stdout).userKey as string;
  const alice = userOf(a0);
  const frank = userOf(f);
  const A0 = await startAgent(t, a0, run);
  const F = await startAgent(t, f, run);

  /** `kith pair` on `offerDir`; `join` gets the QR content; returns the offer's last line. */
  const offerAndJoin = async (offerDir: string, join: (qr: string) => { status: number | null; stdout: string; stderr: string }) => {
    const offer = kithSpawn(t, ['pair', '--json', '--data-dir', offerDir]);
    const first = await offer.firstLine(10_000);
    t.ok(first, `offer is up ${offer.stderr()}`);
    const j = join((JSON.parse(first!) as { qr: string }).qr);
    t.equal(j.status, 0, `join succeeded ${j.stderr}`);
    t.equal(await offer.exited, 0, offer.stderr());
    return { joined: JSON.parse(j.stdout.trim().split('\n').pop()!), offered: JSON.parse(offer.lines[offer.lines.length - 1]!) };
  };

  // ---- node add: a new machine of alice's, from the phrase file and node 0's offer
  const add1 = await offerAndJoin(a0, (qr) => kith(['node', 'add', '--code', qr, '--phrase-file', phrase, '--label', 'alice-laptop', '--json', '--data-dir', a1, '--config', config]));
  t.equal(add1.joined.nodeIndex, 1, 'the first added machine is node 1');
  t.equal(add1.joined.userKey, alice, 'of alice');
  t.same(add1.offered, { kind: 'node', nodeIndex: 1, label: 'alice-laptop', nodeSignKey: add1.offered.nodeSignKey }, 'the offering node reports the enrolled node');
  t.equal(fs.statSync(path.join(a1, 'node.key')).mode & 0o777, 0o600, 'its key file is 0600');
  const A1 = await startAgent(t, a1, run);
  t.ok(await until(async () => (await stateOf(A0, alice, 1)) === 'alive' && (await stateOf(A1, alice, 0)) === 'alive', 15_000) !== undefined, 'node 0 and node 1 reach each other');

  // ---- a friendship made on node 0 reaches node 1 in a record signed by node 0
  const pair = await offerAndJoin(a0, (qr) => kith(['pair', '--code', qr, '--json', '--data-dir', f]));
  t.equal(pair.joined.safetyNumber, pair.offered.safetyNumber, 'same safety number');
  t.equal(pair.joined.nodes, 2, 'frank got both of alice\'s nodes in her friend card');
  const spread = await until(async () => (await stateOf(A1, frank, 0)) === 'alive' && (await stateOf(F, alice, 1)) === 'alive', 15_000);
  t.ok(spread !== undefined, `node 1 learned of frank and they are connected (${spread} ms after pairing)`);
  const friends1 = JSON.parse(kith(['friend', 'list', '--json', '--data-dir', a1]).stdout) as { userKey: string }[];
  t.same(friends1.map((x) => x.userKey), [frank], 'node 1 lists frank as a friend');

  // ---- node 2 enrolls through node 1: friends come in the welcome; frank learns of node 2
  const add2 = await offerAndJoin(a1, (qr) => kith(['node', 'add', '--code', qr, '--phrase-file', phrase, '--label', 'alice-nas', '--json', '--data-dir', a2, '--config', config]));
  t.equal(add2.joined.nodeIndex, 2, 'the next free index is 2');
  t.equal(add2.joined.friends, 1, 'the welcome carries the friend');
  t.equal(add2.joined.ownNodes, 2, 'and both other nodes');
  const A2 = await startAgent(t, a2, run);
  const met = await until(async () => (await stateOf(A2, alice, 0)) === 'alive' && (await stateOf(A2, alice, 1)) === 'alive'
    && (await stateOf(A2, frank, 0)) === 'alive' && (await stateOf(F, alice, 2)) === 'alive' && (await stateOf(A0, alice, 2)) === 'alive', 20_000);
  t.ok(met !== undefined, `node 2 is connected to nodes 0 and 1 and to frank (${met} ms after start)`);
  const list = JSON.parse(kith(['node', 'list', '--json', '--data-dir', a0]).stdout) as { nodeIndex: number; state: string; label: string }[];
  t.same(list.map((n) => [n.nodeIndex, n.state, n.label]), [[0, 'this node', 'alice-desk'], [1, 'alive', 'alice-laptop'], [2, 'alive', 'alice-nas']], 'kith node list');

  // ---- revocation: wrong phrase refused; then node 2 is cut off everywhere
  const wrong = kith(['node', 'revoke', '2', '--phrase-file', path.join(dir, 'frank.phrase'), '--data-dir', a0]);
  t.match(wrong.stderr, /REVOCATION_INVALID/, 'another user\'s phrase cannot revoke');
  const self = kith(['node', 'revoke', '0', '--phrase-file', phrase, '--data-dir', a0]);
  t.match(self.stderr, /NODE_UNKNOWN/, 'a node does not revoke itself');
  const t0 = Date.now();
  const rv = kith(['node', 'revoke', '2', '--phrase-file', phrase, '--reason', 'sold', '--json', '--data-dir', a0]);
  t.equal(rv.status, 0, rv.stderr);
  const commandMs = Date.now() - t0;
  const out = JSON.parse(rv.stdout);
  t.equal(out.toldRevokedNode, true, 'the revoked node acknowledged being told');
  t.same(out.reseal, { opened: 0, oneDevice: false }, 'its key handed over with its index and generation: nothing node 0 archived was sealed to it');
  const gone = await until(async () => (await stateOf(A1, alice, 2)) === 'revoked' && (await stateOf(F, alice, 2)) === 'revoked' && (await stateOf(A0, alice, 2)) === 'revoked', 10_000);
  t.ok(gone !== undefined, `every member shows node 2 revoked (${Date.now() - t0} ms after the command started)`);
  t.comment(`revocation: all members cut node 2 off ${Date.now() - t0} ms after \`kith node revoke\` started; the command itself (process start, the phrase's PBKDF2, node 2's acknowledgement) took ${commandMs} ms`);
  const told = await until(async () => ((await api(A2, '/api/status'))['cluster'] as { roster: { selfRevoked: boolean } }).roster.selfRevoked, 5000);
  t.ok(told !== undefined, 'node 2 knows it was revoked');
  t.match(A2.output(), /was revoked/, 'and says so in its log');
  // It forgets its members a moment later (after its acknowledgement went out: LEAVE_GRACE_MS).
  t.ok(await until(async () => (await peers(A2)).length === 0, 5000) !== undefined, 'node 2 has left: no members');
  const frankAfter = (await peers(F)).filter((p) => p.userKey === alice).map((p) => [p.nodeIndex, p.state]).sort();
  t.same(frankAfter, [[0, 'alive'], [1, 'alive'], [2, 'revoked']], 'frank still has alice\'s other nodes');
  const list2 = JSON.parse(kith(['node', 'list', '--json', '--data-dir', a1]).stdout) as { nodeIndex: number; state: string }[];
  t.same(list2.find((n) => n.nodeIndex === 2)?.state, 'revoked', 'node 1 lists node 2 as revoked');

  // ---- it stays out: a restarted node 1 refuses it, and node 2 restarted stays silent
  await A1.stop();
  await A2.stop();
  const A1b = await startAgent(t, a1, run);
  const A2b = await startAgent(t, a2, run);
  t.ok(await until(() => /was revoked/.test(A2b.output()), 5000) !== undefined, 'restarted, the revoked node says again that it was revoked');
  t.same(await peers(A2b), [], 'restarted, the revoked node has no members: it contacts nobody');
  t.notOk((await peers(A1b)).some((p) => p.userKey === alice && p.nodeIndex === 2 && p.state !== 'revoked'), 'after a restart node 1 does not take node 2 back');
  t.equal(JSON.parse(kith(['node', 'list', '--json', '--data-dir', a1]).stdout).find((n: { nodeIndex: number }) => n.nodeIndex === 2)?.state, 'revoked', 'the revocation is remembered');

  // ---- clear errors, and nothing changes
  const taken = kith(['node', 'add', '--code', '1234-violin-harbor', '--phrase-file', phrase, '--data-dir', a0]);
  t.match(taken.stderr, /IDENTITY_EXISTS/, 'node add on a data dir with an identity: IDENTITY_EXISTS');
  const loose = path.join(dir, 'loose.phrase');
  fs.copyFileSync(phrase, loose);
  fs.chmodSync(loose, 0o644);
  t.match(kith(['node', 'add', '--code', '1234-violin-harbor', '--phrase-file', loose, '--data-dir', path.join(dir, 'x')]).stderr, /PHRASE_FILE/, 'a phrase file others can read: PHRASE_FILE');
  t.match(kith(['node', 'add', '--code', '12-violin', '--phrase-file', phrase, '--data-dir', path.join(dir, 'x')]).stderr, /PAIR_CODE_INVALID/, 'a malformed code: PAIR_CODE_INVALID');
  t.match(kith(['node', 'add', '--code', '1234-violin-harbor', '--data-dir', path.join(dir, 'x')], { input: 'not a phrase at all' }).stderr, /PHRASE_/, 'a bad phrase on stdin: a PHRASE_ error');
  t.notOk(fs.existsSync(path.join(dir, 'x', 'node.key')), 'and no identity was written');
  t.match(kith(['node', 'revoke', 'two', '--phrase-file', phrase, '--data-dir', a0]).stderr, /USAGE/, 'a node index that is not a number: USAGE');
  t.match(kith(['node', 'revoke', '9', '--phrase-file', phrase, '--data-dir', a0]).stderr, /NODE_UNKNOWN/, 'an index nobody has: NODE_UNKNOWN');
});
