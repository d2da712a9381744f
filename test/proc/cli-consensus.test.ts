// `kith method` and `kith conv` as real processes: on the store directly, and through a running
// agent's API.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { kith, kithSpawn, startAgent, until } from '../helpers/proc.js';
import { sleep } from '../helpers/wait.js';

function json(r: { status: number | null; stdout: string; stderr: string }) {
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

t.test('method list and method test (Wikipedia Schulze example: E wins)', async (t) => {
  const list = json(kith(['method', 'list', '--json']));
  t.same(list.methods.map((m: { name: string }) => m.name), ['unanimity', 'majority', 'supermajority', 'consent', 'approval', 'score', 'irv', 'schulze', 'rsvp', 'acknowledge']);
  const dir = t.testdir({
    'sch.json': JSON.stringify({
      options: ['A', 'B', 'C', 'D', 'E'],
      ballots: [['ACBED', 5], ['ADECB', 5], ['BEDAC', 8], ['CABED', 3], ['CAEBD', 7], ['CBADE', 2], ['DCEBA', 7], ['EBADC', 8]].map(([r, n]) => ({ ranking: (r as string).split(''), count: n })),
    }),
    'bad.json': '{"ballots": [{"choice": 1}], "colour": 2}',
  });
  const r = json(kith(['method', 'test', '--method', 'schulze', '--input', path.join(dir, 'sch.json'), '--json']));
  t.equal(r.reached, true);
  t.same(r.outcome.winners, ['E']);
  t.ok(r.explanation.strongestPaths, 'the path matrix is explained');
  const irv = json(kith(['method', 'test', '--method', 'irv', '--input', path.join(dir, 'sch.json'), '--json']));
  t.ok(Array.isArray(irv.explanation.rounds));
  const cel = json(kith(['method', 'test', '--cel', 'tallies["E"] >= 8', '--outcome', '"E"', '--input', path.join(dir, 'sch.json'), '--json']));
  t.same([cel.reached, cel.outcome.winners], [true, ['E']]);
  const bad = kith(['method', 'test', '--method', 'irv', '--input', path.join(dir, 'bad.json')]);
  t.equal(bad.status, 1);
  t.match(bad.stderr, /error\[METHOD_INPUT\]: 2 problems/);
  t.match(kith(['method', 'test', '--method', 'borda', '--input', path.join(dir, 'sch.json')]).stderr, /error\[METHOD_UNKNOWN\]/);
  t.match(kith(['method', 'test', '--cel', 'cast >', '--input', path.join(dir, 'sch.json')]).stderr, /error\[CEL_INVALID\]/);
  t.match(kith(['method', 'test', '--method', 'majority', '--param', 'of=some', '--input', path.join(dir, 'sch.json')]).stderr, /error\[METHOD_PARAM\]/);
  const human = kith(['method', 'test', '--method', 'schulze', '--input', path.join(dir, 'sch.json')]);
  t.match(human.stdout, /winners:\s+E/);
});

t.test('a poll from new to closed, on the store and then through the agent', async (t) => {
  const dir = t.testdir();
  const dirs = ['alice', 'bob'].map((n) => path.join(dir, n));
  for (const d of dirs) json(kith(['init', '--data-dir', d, '--phrase-file', `${d}.phrase`, '--json']));
  const bob = json(kith(['id', '--json', '--data-dir', dirs[1]!])).userKey;
  const a = ['--data-dir', dirs[0]!];
  const created = json(kith(['conv', 'new', ...a, '--json', '--topic', 'Where do we go on Saturday?', '--with', bob, '--pattern', 'poll', '--option', 'lake', '--option', 'pub', '--ballot', 'ranking', '--method', 'irv']));
  t.match(created.id, /^[0-9a-f]{64}$/);
  const v = json(kith(['conv', 'vote', created.id.slice(0, 10), '--rank', 'pub,lake', ...a, '--json']));
  t.equal(v.closed, false);
  t.match(kith(['conv', 'vote', created.id, 'pub', ...a]).stderr, /error\[MESSAGE_REJECTED\]: .*shape "ranking"/);
  t.equal(fs.existsSync(path.join(dirs[0]!, 'agent.json')), false);

  const agent = await startAgent(t, dirs[0]!);
  const shown = json(kith(['conv', 'show', created.id, ...a, '--json']));
  t.equal(shown.messages.length, 1, 'the agent serves what the CLI stored');
  t.equal(shown.state, 'open');
  json(kith(['conv', 'post', created.id, 'bring snacks', ...a, '--json']));
  t.equal(json(kith(['conv', 'list', ...a, '--json']))[0].state, 'open');
  t.match(kith(['conv', 'show', 'ffffffffff', ...a]).stderr, /error\[CONV_NOT_FOUND\]/);
  const missing = kith(['conv', 'new', ...a, '--topic', 'x', '--pattern', 'poll', '--method', 'irv', '--option', 'a']);
  t.match(missing.stderr, /error\[CONV_INVALID\]: cannot create the conversation: 2 problems/);
  await agent.stop();
});

t.test('a proposal: alice agrees, bob\'s node never received it, so at the deadline it is closed but not adopted', async (t) => {
  const dir = t.testdir();
  const d = path.join(dir, 'alice');
  json(kith(['init', '--data-dir', d, '--phrase-file', `${d}.phrase`, '--json']));
  const bob = 'ab'.repeat(32);
  const deadline = Date.now() + 8000;
  const c = json(kith(['conv', 'new', '--data-dir', d, '--json', '--topic', 'paint the fence', '--with', bob, '--pattern', 'proposal', '--method', 'consent', '--deadline', new Date(deadline).toISOString()]));
  t.match(kith(['conv', 'vote', c.id, 'block', '--data-dir', d]).stderr, /block needs a reason/);
  json(kith(['conv', 'vote', c.id, 'agree', '--reason', 'fine', '--data-dir', d, '--json']));
  const before = json(kith(['conv', 'show', c.id, '--data-dir', d, '--json']));
  // On a slow machine the deadline may already be near; the state is only known to be open before it.
  if (Date.now() < deadline - 500) t.equal(before.state, 'open', 'bob has not answered; deadline ahead');
  await sleep(Math.max(0, deadline - Date.now()) + 500); // the deadline is wall time written into the proposal
  const after = json(kith(['conv', 'show', c.id, '--data-dir', d, '--json']));
  t.equal(after.state, 'closed', 'closed at the deadline with no block');
  t.same(after.closing.outcome.winners, [], 'silence of a node that never had it is not consent');
  t.equal(after.closing.outcome.unaware, 1);
});

t.test('a score poll voted from the CLI (--score once failed with "prev is not iterable"); no ballots, no winner', async (t) => {
  const dir = t.testdir();
  const d = path.join(dir, 'alice');
  json(kith(['init', '--data-dir', d, '--phrase-file', `${d}.phrase`, '--json']));
  const c = json(kith(['conv', 'new', '--data-dir', d, '--json', '--topic', 'film night', '--with', 'ab'.repeat(32), '--pattern', 'poll', '--option', 'alien', '--option', 'heat', '--ballot', 'scores', '--method', 'score']));
  t.match(kith(['conv', 'show', c.id, '--data-dir', d]).stdout, /so far\s+no ballots yet/);
  const v = json(kith(['conv', 'vote', c.id, '--score', 'alien=7', '--score', 'heat=3', '--data-dir', d, '--json']));
  t.match(v.posted, /^[0-9a-f]{64}$/);
  const shown = json(kith(['conv', 'show', c.id, '--data-dir', d, '--json']));
  t.same(shown.messages[0].data, { scores: { alien: 7, heat: 3 } });
  t.match(kith(['conv', 'new', '--data-dir', d, '--topic', 'x', '--with', 'ab'.repeat(32), '--pattern', 'poll', '--option', 'a', '--option', 'b', '--method', 'consent']).stderr, /error\[CONV_INVALID\]/);
});

t.test('two paired agents on loopback: a poll created and voted on alice\'s reaches bob\'s and closes the same on both', async (t) => {
  const dir = t.testdir();
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(config, '[cluster]\nhost = "127.0.0.1"\n');
  const run = ['--config', config, '--profile', 'test'];
  const [a, b] = ['alice', 'bob'].map((n) => path.join(dir, n)) as [string, string];
  for (const d of [a, b]) json(kith(['init', '--data-dir', d, '--phrase-file', `${d}.phrase`, '--json']));
  const bobKey = json(kith(['id', '--json', '--data-dir', b])).userKey as string;
  const A = await startAgent(t, a, run);
  const B = await startAgent(t, b, run);
  const offer = kithSpawn(t, ['pair', '--json', '--data-dir', a]);
  const first = await offer.firstLine(10_000);
  t.ok(first, `offer is up ${offer.stderr()}`);
  const joined = kith(['pair', '--code', (JSON.parse(first!) as { qr: string }).qr, '--json', '--data-dir', b]);
  t.equal(joined.status, 0, `paired ${joined.stderr}`);
  t.equal(await offer.exited, 0);
  const marker = `MARKER-${process.pid}`;
  const c = json(kith(['conv', 'new', '--data-dir', a, '--json', '--topic', `lunch ${marker}`, '--with', bobKey, '--pattern', 'poll', '--option', 'thai', '--option', 'pizza', '--method', 'majority']));
  json(kith(['conv', 'vote', c.id, 'thai', '--data-dir', a, '--json']));
  const arrived = await until(() => {
    const r = kith(['conv', 'list', '--data-dir', b, '--json']);
    return r.status === 0 && (JSON.parse(r.stdout) as { id: string }[]).some((x) => x.id === c.id);
  }, 15_000);
  t.ok(arrived, 'bob\'s agent has the conversation');
  json(kith(['conv', 'vote', c.id, 'thai', '--data-dir', b, '--json']));
  const closedBoth = await until(() => [a, b].every((d) => {
    const r = kith(['conv', 'show', c.id, '--data-dir', d, '--json']);
    return r.status === 0 && JSON.parse(r.stdout).state === 'closed';
  }), 15_000);
  t.ok(closedBoth, 'closed on both agents');
  const shown = [a, b].map((d) => json(kith(['conv', 'show', c.id, '--data-dir', d, '--json'])));
  t.same(shown[1].closing.outcome.winners, ['thai']);
  t.same(shown[1].closing.messages, shown[0].closing.messages, 'the same closing on both');
  await A.stop();
  await B.stop();
});
