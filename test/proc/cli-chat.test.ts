// `kith chat` and `kith conv watch --json` as real processes: alice and bob (named at init) pair
// on loopback; bob watches; alice chats him by name; bob's watch prints her message once, with
// her name, as one JSON object per line.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { kith, kithSpawn, startAgent, until } from '../helpers/proc.js';

function json(r: { status: number | null; stdout: string; stderr: string }) {
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

t.test('alice chats bob by name; bob\'s conv watch --json shows it once', async (t) => {
  const dir = t.testdir();
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(config, '[cluster]\nhost = "127.0.0.1"\n');
  const run = ['--config', config, '--profile', 'test'];
  const [a, b] = ['alice', 'bob'].map((n) => path.join(dir, n)) as [string, string];
  json(kith(['init', '--data-dir', a, '--phrase-file', `${a}.phrase`, '--name', 'Alice', '--json']));
  json(kith(['init', '--data-dir', b, '--phrase-file', `${b}.phrase`, '--name', 'Bob', '--json']));
  t.match(kith(['init', '--data-dir', path.join(dir, 'x'), '--name', 'bad\u202ename']).stderr, /error\[NAME_INVALID\]/, 'a bidi override in a name is refused');
  await startAgent(t, a, run);
  await startAgent(t, b, run);
  const offer = kithSpawn(t, ['pair', '--json', '--data-dir', a]);
  const first = await offer.firstLine(10_000);
  t.ok(first, `offer is up ${offer.stderr()}`);
  t.equal(kith(['pair', '--code', (JSON.parse(first!) as { qr: string }).qr, '--json', '--data-dir', b]).status, 0, 'paired');
  await offer.exited;
  t.equal(json(kith(['friend', 'list', '--json', '--data-dir', a]))[0].name, 'Bob', 'alice\'s friend list shows the name bob chose');

  // --all: from the start of bob's feed, so the test does not race the watch taking its cursor.
  const watch = kithSpawn(t, ['conv', 'watch', '--all', '--json', '--data-dir', b]);
  const sent = json(kith(['chat', 'bob', 'tea at five?', '--json', '--data-dir', a]));
  t.equal(sent.with.name, 'Bob');
  const mine = () => watch.lines.map((l) => JSON.parse(l) as { hash: string; authorName: string; kind: string; data: { text?: string } }).filter((e) => e.hash === sent.posted);
  t.ok(await until(() => mine().length > 0, 15_000), `bob's watch printed it ${watch.stderr()}`);
  await until(() => false, 1_500, 100); // a duplicate, if any, would show up now
  t.equal(mine().length, 1, 'once');
  t.match(mine()[0], { authorName: 'Alice', kind: 'text', data: { text: 'tea at five?' } });
  watch.kill('SIGINT');
  t.match(kith(['conv', 'show', sent.conv, '--data-dir', b]).stdout, /Alice \([0-9a-f]{8}\) #1 text/, 'conv show names her');
});
