// Two real agents on loopback pair through `kith pair` with the QR's content (loopback agents do
// not search the LAN; the namespace lab covers a typed code), show the same safety number, become
// each other's cluster members, and keep their friends across a restart; either side's `--verify`
// "no" leaves both as they were. A wrong code fails for both and uses the offer up; a blocked user
// is refused and cut off.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { kith, until, kithSpawn, startAgent, RUNTIME } from '../helpers/proc.js';

t.comment(`agent runtime: ${RUNTIME}`);

t.test('pair with the QR content, same safety number, members both ways; wrong code; block', async (t) => {
  const dir = t.testdir();
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(config, '[cluster]\nhost = "127.0.0.1"\n');
  const [a, b, c] = ['alice', 'bob', 'carol'].map((n) => path.join(dir, n)) as [string, string, string];
  for (const d of [a, b, c]) t.equal(kith(['init', '--data-dir', d, '--phrase-file', `${d}.phrase`]).status, 0);
  const agentA = await startAgent(t, a, ['--config', config, '--profile', 'test']);
  await startAgent(t, b, ['--config', config, '--profile', 'test']);
  await startAgent(t, c, ['--config', config, '--profile', 'test']);
  const userOf = (d: string) => JSON.parse(kith(['id', '--json', '--data-dir', d]).stdout).userKey as string;

  // ---- success
  const offer = kithSpawn(t, ['pair', '--json', '--data-dir', a]);
  const first = await offer.firstLine(10_000);
  t.ok(first, `the offer prints its code at once ${offer.stderr()}`);
  const o = JSON.parse(first!) as { code: string; qr: string; endpoint: string };
  t.match(o.code, /^\d{4}-[a-z]+-[a-z]+$/, `code ${o.code}`);
  t.match(o.qr, new RegExp(`^kith:pair\\?c=${o.code}&a=127\\.0\\.0\\.1:\\d+$`), 'the QR carries the code and the LAN endpoint');
  const join = kith(['pair', '--code', o.qr, '--json', '--data-dir', b]);
  t.equal(join.status, 0, join.stderr);
  t.equal(await offer.exited, 0, offer.stderr());
  const jr = JSON.parse(join.stdout.trim().split('\n').pop()!);
  const or = JSON.parse(offer.lines[offer.lines.length - 1]!);
  t.equal(jr.safetyNumber, or.safetyNumber, `both print the same safety number (${jr.safetyNumber})`);
  t.equal(jr.friendUserKey, userOf(a), 'bob paired with alice');
  t.equal(or.friendUserKey, userOf(b), 'alice paired with bob');
  const peers = (d: string) => JSON.parse(kith(['peers', '--json', '--data-dir', d]).stdout) as { userKey: string; state: string }[];
  const alive = await until(() => peers(a).some((p) => p.userKey === userOf(b) && p.state === 'alive') && peers(b).some((p) => p.userKey === userOf(a) && p.state === 'alive'), 15_000);
  t.ok(alive !== undefined, `each is the other's cluster member, alive (${alive} ms after pairing)`);
  const friendsA = JSON.parse(kith(['friend', 'list', '--json', '--data-dir', a]).stdout);
  t.same(friendsA.map((f: { userKey: string; blocked: boolean }) => [f.userKey, f.blocked]), [[userOf(b), false]], 'friend list');

  // ---- the friendship survives a restart
  await agentA.stop();
  await startAgent(t, a, ['--config', config, '--profile', 'test']);
  t.equal(JSON.parse(kith(['friend', 'list', '--json', '--data-dir', a]).stdout).length, 1, 'friends are remembered');
  t.ok(await until(() => peers(a).some((p) => p.userKey === userOf(b) && p.state === 'alive'), 15_000) !== undefined, 'and reconnect after a restart');

  // ---- re-pairing with a friend and answering "no" to the safety number keeps the friendship, on both sides
  const friendsB = JSON.parse(kith(['friend', 'list', '--json', '--data-dir', b]).stdout).map((f: { userKey: string; since: string }) => [f.userKey, f.since]);
  const offerR = kithSpawn(t, ['pair', '--json', '--data-dir', a]);
  const oR = JSON.parse((await offerR.firstLine(10_000))!) as { qr: string };
  const no = kith(['pair', '--code', oR.qr, '--verify', '--data-dir', b], { input: 'n\n' });
  t.equal(no.status, 1, 'the joiner answered no');
  t.match(no.stderr, /error\[PAIR_REFUSED\]: the safety numbers were not confirmed: ".+" is your friend as before this pairing/);
  t.not(await offerR.exited, 0, 'the offer is not paired: it waited for the joiner\'s answer');
  t.match(offerR.stderr(), /PAIR_NOT_CONFIRMED/, `and says why ${offerR.stderr()}`);
  const friendsBefore = (d: string) => JSON.parse(kith(['friend', 'list', '--json', '--data-dir', d]).stdout).map((f: { userKey: string; since: string }) => [f.userKey, f.since]);
  t.same(friendsBefore(b), friendsB, 'bob still lists alice, with the record from before');
  t.same(friendsBefore(a), friendsA.map((f: { userKey: string; since: string }) => [f.userKey, f.since]), 'alice still lists bob, with the record from before');

  // ---- the offerer's `--verify` answered "no": neither side commits the re-pairing either
  const offerV = kithSpawn(t, ['pair', '--json', '--verify', '--data-dir', a], 'n\n');
  const oV = JSON.parse((await offerV.firstLine(10_000))!) as { qr: string };
  const unconfirmed = kith(['pair', '--code', oV.qr, '--data-dir', b]);
  t.not(unconfirmed.status, 0, 'the joiner is not paired: it waited for the offerer\'s answer');
  t.match(unconfirmed.stderr, /PAIR_NOT_CONFIRMED/, `and says why ${unconfirmed.stderr}`);
  t.equal(await offerV.exited, 1, 'the offerer answered no');
  t.match(offerV.stderr(), /error\[PAIR_REFUSED\]: the safety numbers were not confirmed: ".+" is your friend as before this pairing, on both sides/);
  t.same(friendsBefore(b), friendsB, 'bob still lists alice, with the record from before');
  t.same(friendsBefore(a), friendsA.map((f: { userKey: string; since: string }) => [f.userKey, f.since]), 'alice still lists bob, with the record from before');

  // ---- a wrong code fails for both and uses the offer up
  const offer2 = kithSpawn(t, ['pair', '--json', '--data-dir', a]);
  const o2 = JSON.parse((await offer2.firstLine(10_000))!) as { code: string; qr: string };
  const [digits, w1, w2] = o2.code.split('-');
  const wrongQr = o2.qr.replace(o2.code, `${digits}-${w2}-${w1 === w2 ? 'zoo' : w1}`);
  const bad = kith(['pair', '--code', wrongQr, '--json', '--data-dir', c]);
  t.not(bad.status, 0, 'the guesser fails');
  t.match(bad.stderr, /PAIR_WRONG_CODE/, 'with PAIR_WRONG_CODE');
  t.not(await offer2.exited, 0, 'the offer fails too');
  t.match(offer2.stderr(), /PAIR_WRONG_CODE/);
  const late = kith(['pair', '--code', o2.qr, '--json', '--data-dir', b]);
  t.not(late.status, 0, 'the right code after a wrong guess is refused: one guess per offer');
  t.equal(JSON.parse(kith(['friend', 'list', '--json', '--data-dir', c]).stdout).length, 0, 'carol paired with nobody');

  // ---- bad codes are clear errors
  const typo = kith(['pair', '--code', '12-violin', '--data-dir', b]);
  t.match(typo.stderr, /PAIR_CODE_INVALID/, 'a malformed code is PAIR_CODE_INVALID');

  // ---- block: bob blocks carol, carol's later attempt is refused
  const blocked = kith(['friend', 'block', userOf(c), '--json', '--data-dir', b]);
  t.equal(blocked.status, 0, blocked.stderr);
  const offer3 = kithSpawn(t, ['pair', '--json', '--data-dir', b]);
  const o3 = JSON.parse((await offer3.firstLine(10_000))!) as { qr: string };
  const refused = kith(['pair', '--code', o3.qr, '--json', '--data-dir', c]);
  t.not(refused.status, 0);
  t.match(refused.stderr, /PAIR_REFUSED/, 'a blocked user cannot pair');
  await offer3.exited;

  // ---- a friend named as `friend list` shows them (16 digits), by 4 digits, or by name
  const conv = kith(['conv', 'new', '--topic', 'dinner', '--pattern', 'proposal', '--method', 'consent', '--with', userOf(b).slice(0, 16), '--json', '--data-dir', a]);
  t.equal(conv.status, 0, conv.stderr);
  t.ok((JSON.parse(conv.stdout) as { participants: string[] }).participants.includes(userOf(b)), 'conv new --with takes the prefix friend list shows');
  const unknown = kith(['conv', 'new', '--topic', 'x', '--pattern', 'proposal', '--method', 'consent', '--with', 'ffff0000', '--data-dir', a]);
  t.match(unknown.stderr, /error\[FRIEND_UNKNOWN\]: no known user has the key or name "ffff0000"/, 'an unknown prefix is FRIEND_UNKNOWN');

  // ---- remove
  const rm = kith(['friend', 'remove', userOf(b).slice(0, 4), '--data-dir', a]);
  t.equal(rm.status, 0, rm.stderr);
  t.notOk(peers(a).some((p) => p.userKey === userOf(b)), 'a removed friend\'s nodes stop being members at once');
});
