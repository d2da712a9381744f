// Three real agents on loopback form a cluster from cards (the manual bootstrap), see each other
// alive, report peers and status, survive bad input on the API, and notice a kill -9.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { kith, until, startAgent, RUNTIME, type AgentProc } from '../helpers/proc.js';

t.comment(`agent runtime: ${RUNTIME}`);


t.test('three agents from cards: alive everywhere, peers and status, kill -9 → dead, restart → alive', async (t) => {
  const dir = t.testdir();
  const config = path.join(dir, 'config.toml');
  // Loopback only: cards then name 127.0.0.1, and no port mapping is tried.
  fs.writeFileSync(config, '[cluster]\nhost = "127.0.0.1"\n');
  const dirs = [0, 1, 2].map((i) => path.join(dir, `n${i}`));
  for (const d of dirs) {
    const r = kith(['init', '--data-dir', d, '--phrase-file', `${d}.phrase`]);
    t.equal(r.status, 0, r.stderr);
  }
  const secret = path.join(dir, 'secret');
  t.equal(kith(['secret', 'new', '--out', secret]).status, 0);
  t.equal(fs.statSync(secret).mode & 0o777, 0o600, 'secret file is 0600');

  const agents: AgentProc[] = [];
  for (const d of dirs) agents.push(await startAgent(t, d, ['--config', config, '--profile', 'test']));
  const peers = (i: number) => JSON.parse(kith(['peers', '--json', '--data-dir', dirs[i]!]).stdout) as { state: string; nodeSignKey: string; endpoint: string; rttMs: number | null; lastSeenMs: number | null; clockOffsetMs: number | null; userKey: string }[];
  t.same(peers(0), [], 'no members at first');

  // Cards out, cards in (every pair, both ends).
  for (let i = 0; i < 3; i++) {
    const r = kith(['card', '--json', '--data-dir', dirs[i]!, '--out', path.join(dir, `card${i}.json`)]);
    t.equal(r.status, 0, r.stderr);
  }
  const card0 = JSON.parse(fs.readFileSync(path.join(dir, 'card0.json'), 'utf8'));
  t.ok(card0.endpoints.some((e: { host: string }) => e.host === '127.0.0.1'), 'the card names the loopback endpoint');
  for (let i = 0; i < 3; i++) {
    for (let j = 0; j < 3; j++) {
      if (i === j) continue;
      const r = kith(['peer', 'add', path.join(dir, `card${j}.json`), '--secret-file', secret, '--json', '--data-dir', dirs[i]!]);
      t.equal(r.status, 0, r.stderr);
    }
  }
  const formed = await until(() => [0, 1, 2].every((i) => { const p = peers(i); return p.length === 2 && p.every((x) => x.state === 'alive'); }), 15_000);
  t.ok(formed !== undefined, `every member alive everywhere (${formed} ms)`);
  const p0 = peers(0);
  for (const key of ['nodeSignKey', 'userKey', 'state', 'endpoint', 'rttMs', 'lastSeenMs', 'clockOffsetMs']) t.ok(key in p0[0]!, `peers --json has ${key}`);
  t.ok(p0.every((p) => typeof p.rttMs === 'number' && p.rttMs < 1000), 'round trips measured');
  // The commands above ran synchronously: let the agent's log lines in before reading them.
  const named = await until(() => p0.every((p) => agents[0]!.output().includes(`added member ${p.nodeSignKey.slice(0, 16)} `) && agents[0]!.output().includes(`member ${p.nodeSignKey.slice(0, 16)} dead → alive`)), 5000);
  t.ok(named !== undefined, `the log names members by the signing key \`kith peers\` shows:\n${agents[0]!.output()}`);

  const st = JSON.parse(kith(['status', '--json', '--data-dir', dirs[0]!]).stdout);
  t.equal(st.cluster.members, 2);
  t.ok(st.cluster.nextWindow && st.cluster.nextWindow.port >= 45000 && st.cluster.nextWindow.port <= 45099, 'status names the next window (test profile port range)');
  t.equal(st.cluster.mapping.state, 'off', 'no port mapping on loopback');
  t.ok('nat' in st.cluster && 'clock' in st.cluster, 'NAT type and clock in status');
  const doctor = kith(['doctor', '--data-dir', dirs[0]!]);
  t.match(doctor.stdout, /All 2 members answer/, 'doctor: all answer');

  // Bad input: a forged card and a bad secret get stable codes; nothing changes.
  const forged = { ...card0, card: Buffer.from(Buffer.from(card0.card, 'base64').map((b, i) => (i === 40 ? b ^ 1 : b))).toString('base64') };
  fs.writeFileSync(path.join(dir, 'forged.json'), JSON.stringify(forged));
  const bad = kith(['peer', 'add', path.join(dir, 'forged.json'), '--secret-file', secret, '--json', '--data-dir', dirs[1]!]);
  t.not(bad.status, 0);
  t.match(bad.stdout + bad.stderr, /CARD_INVALID/);
  fs.writeFileSync(path.join(dir, 'badsecret'), 'nothex\n');
  const bad2 = kith(['peer', 'add', path.join(dir, 'card0.json'), '--secret-file', path.join(dir, 'badsecret'), '--data-dir', dirs[1]!]);
  t.match(bad2.stderr, /SECRET_INVALID/);
  t.equal(peers(1).length, 2, 'still two members');

  // kill -9 of node 2: dead at 0 and 1 within 3 probe intervals (test profile: T = 1 s).
  const killedAt = Date.now();
  await agents[2]!.stop('SIGKILL');
  const dead = await until(() => [0, 1].every((i) => peers(i).find((p) => p.nodeSignKey === card2Key())?.state === 'dead'), 10_000);
  function card2Key(): string {
    return JSON.parse(fs.readFileSync(path.join(dir, 'card2.json'), 'utf8')).nodeSignKey;
  }
  t.ok(dead !== undefined, `declared dead everywhere ${Date.now() - killedAt} ms after kill -9 (polled every 100 ms + CLI start-up)`);
  agents[2] = await startAgent(t, dirs[2]!, ['--config', config, '--profile', 'test']);
  const back = await until(() => [0, 1].every((i) => peers(i).every((p) => p.state === 'alive')), 15_000);
  t.ok(back !== undefined, `restarted, it rejoins (${back} ms)`);
  for (const a of agents) await a.stop();
});
