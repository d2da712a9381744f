// `kith pair` ended from outside (a closed terminal or dropped SSH session sends SIGHUP, kill and
// systemd send SIGTERM, Ctrl-C SIGINT) takes its offer with it: the agent's offer is cancelled and
// its code pairs nobody afterwards.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { kith, kithSpawn, startAgent, RUNTIME } from '../helpers/proc.js';

t.comment(`agent runtime: ${RUNTIME}`);

t.test('an offer is cancelled when `kith pair` gets SIGTERM, SIGHUP or SIGINT', async (t) => {
  const dir = t.testdir();
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(config, '[cluster]\nhost = "127.0.0.1"\n');
  const a = path.join(dir, 'alice');
  t.equal(kith(['init', '--data-dir', a, '--phrase-file', `${a}.phrase`]).status, 0);
  const agent = await startAgent(t, a, ['--config', config, '--profile', 'test']);
  const offerState = async (id: string) => {
    const res = await fetch(`http://127.0.0.1:${agent.apiPort}/api/pair/offer/${id}`, { headers: { authorization: `Bearer ${agent.token}` }, signal: AbortSignal.timeout(5000) });
    return ((await res.json()) as { result?: { state?: string } }).result?.state;
  };
  for (const [signal, status] of [['SIGTERM', 143], ['SIGHUP', 129], ['SIGINT', 130]] as const) {
    const offer = kithSpawn(t, ['pair', '--json', '--data-dir', a]);
    const first = await offer.firstLine(10_000);
    t.ok(first, `the offer prints its code ${offer.stderr()}`);
    const { id } = JSON.parse(first!) as { id: string };
    t.equal(await offerState(id), 'waiting', 'waiting while the command runs');
    offer.kill(signal);
    t.equal(await offer.exited, status, `${signal}: exit status ${status}`);
    t.equal(await offerState(id), 'cancelled', `${signal}: the agent's offer is cancelled`);
  }
});
