// Pairing on a real LAN segment: two network namespaces joined by a veth pair (10.88.0.1 and
// .2, multicast routed on it), a real agent in each. The joiner types only the code: the offer is
// found by UDP multicast, the PAKE runs, both print the same safety number and become members.
// Skips, with the reason, without root or namespaces; kills its processes by PID and deletes its
// namespaces even on failure. Addresses exist only inside these namespaces.
import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/vectors.js';
import { RUNTIME } from '../helpers/proc.js';
import { until } from '../helpers/wait.js';
import { ip, netnsUnavailable, removeNamespaces } from '../helpers/netns.js';

const BIN = path.join(REPO_ROOT, 'bin', 'kith.mjs');
const RT = RUNTIME === 'bun' ? path.join(REPO_ROOT, 'node_modules', '.bin', 'bun') : process.execPath;
const NS = ['kp-a', 'kp-b'];

const whyNot = (): string | undefined => netnsUnavailable('kp-probe');

const down = (): void => removeNamespaces(NS);

function up(): void {
  down();
  const run = ip;
  for (const ns of NS) run(['netns', 'add', ns]);
  run(['link', 'add', 'kpa', 'type', 'veth', 'peer', 'name', 'kpb']);
  ['a', 'b'].forEach((n, i) => {
    run(['link', 'set', `kp${n}`, 'netns', `kp-${n}`]);
    run(['-n', `kp-${n}`, 'addr', 'add', `10.88.0.${i + 1}/24`, 'dev', `kp${n}`]);
    run(['-n', `kp-${n}`, 'link', 'set', `kp${n}`, 'up']);
    run(['-n', `kp-${n}`, 'link', 'set', 'lo', 'up']);
    run(['-n', `kp-${n}`, 'route', 'add', '224.0.0.0/4', 'dev', `kp${n}`]);
  });
}

async function lab(t: Test): Promise<void> {
  const children: ChildProcess[] = [];
  t.teardown(() => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    down();
  });
  up();
  const root = t.testdir();
  const config = path.join(root, 'config.toml');
  fs.writeFileSync(config, '[cluster]\nhost = "0.0.0.0"\nport = 5484\n[api]\nport = 5485\n[nat]\nportMapping = "off"\n');
  const dir = (n: string) => path.join(root, n);
  const cli = (ns: string, args: string[]) => spawnSync('ip', ['netns', 'exec', ns, RT, BIN, ...args], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, KITH_DATA_DIR: '' } });
  const bg = (ns: string, args: string[]) => {
    const c = spawn('ip', ['netns', 'exec', ns, RT, BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KITH_DATA_DIR: '' } });
    children.push(c);
    let out = '';
    let err = '';
    c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    return { out: () => out, err: () => err, exited: new Promise<number | null>((r) => c.once('exit', (code) => r(code))) };
  };
  for (const n of ['a', 'b']) t.equal(cli(`kp-${n}`, ['init', '--data-dir', dir(n), '--phrase-file', `${dir(n)}.phrase`]).status, 0);
  const agents = ['a', 'b'].map((n) => bg(`kp-${n}`, ['run', '--data-dir', dir(n), '--config', config, '--profile', 'test']));
  t.ok((await until(() => agents.every((a) => /ready:/.test(a.err() + a.out())), 10_000)) !== undefined, 'both agents ready');

  const offer = bg('kp-a', ['pair', '--json', '--data-dir', dir('a')]);
  await until(() => offer.out().includes('\n'), 5000, 50);
  const first = JSON.parse(offer.out().split('\n')[0]!) as { code: string };
  const t0 = Date.now();
  const join = cli('kp-b', ['pair', '--code', first.code, '--json', '--data-dir', dir('b')]);
  const took = Date.now() - t0;
  t.equal(join.status, 0, `the typed code found the offer by multicast and paired (${took} ms): ${join.stderr}`);
  t.equal(await offer.exited, 0, offer.err());
  const jr = JSON.parse(join.stdout.trim().split('\n').pop()!);
  const or = JSON.parse(offer.out().trim().split('\n').pop()!);
  t.equal(jr.safetyNumber, or.safetyNumber, `the same safety number on both (${jr.safetyNumber})`);
  t.comment(`figure: a typed code paired in ${took} ms (discovery, PAKE, cards)`);
  const alive = await until(() => {
    const p = JSON.parse(cli('kp-b', ['peers', '--json', '--data-dir', dir('b')]).stdout || '[]') as { state: string; endpoint: string }[];
    return p.some((x) => x.state === 'alive' && x.endpoint === '10.88.0.1:5484');
  }, 15_000, 250);
  t.ok(alive !== undefined, `the new friend is a cluster member, alive at its LAN address (${alive} ms)`);
}

// A lab that cannot run here is a SKIP with its reason, never a pass.
const skip = whyNot();
t.test('pairing on a LAN segment with a typed code', { timeout: 120_000, ...(skip ? { skip: `pairing lab: ${skip}` } : {}) }, lab);
