// `kith run` as a real process on loopback: ready, /health, the bearer token, status, clean
// shutdown, systemd notifications, and the failures that must not lose anything.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import dgram from 'node:dgram';
import net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { kith, startAgent, RUNTIME } from '../helpers/proc.js';
import { sleep, until } from '../helpers/wait.js';

t.comment(`agent runtime: ${RUNTIME}`);

function initDir(t: { testdir(): string }): string {
  const dir = t.testdir();
  const d = path.join(dir, 'data');
  const r = kith(['init', '--data-dir', d, '--phrase-file', path.join(dir, 'phrase.txt')]);
  if (r.status !== 0) throw new Error(r.stderr);
  return d;
}

t.test('the agent serves /health without a token and /api/ only with it', async (t) => {
  const d = initDir(t);
  const a = await startAgent(t, d);
  const base = `http://127.0.0.1:${a.apiPort}`;
  t.same(await (await fetch(`${base}/health`)).json(), { status: 'ok' });
  t.equal((await fetch(`${base}/api/status`)).status, 401);
  t.equal((await fetch(`${base}/api/status`, { headers: { authorization: 'Bearer ' + '0'.repeat(64) } })).status, 401);
  const ok = await fetch(`${base}/api/status`, { headers: { authorization: `Bearer ${a.token}` } });
  t.equal(ok.status, 200);
  const st = (await ok.json()) as { running: boolean; cluster: { port: number } };
  t.equal(st.running, true);
  t.equal(st.cluster.port, a.clusterPort);
  t.equal(fs.statSync(path.join(d, 'api.token')).mode & 0o777, 0o600);

  const status = JSON.parse(kith(['status', '--json', '--data-dir', d]).stdout);
  t.equal(status.running, true);
  t.equal(status.pid, a.pid);
  t.equal(status.apiPort, a.apiPort);
  t.ok(status.storeBytes > 0);

  // The cluster port answers nothing yet.
  const sock = dgram.createSocket('udp4');
  let replies = 0;
  sock.on('message', () => replies++);
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  for (let i = 0; i < 50; i++) sock.send(Buffer.from(`probe ${i}`), a.clusterPort, '127.0.0.1');
  await sleep(300); // a silence window: nothing to wait for but time
  sock.close();
  t.equal(replies, 0, 'no reply to unauthenticated datagrams');

  const { code, ms } = await a.stop('SIGTERM');
  t.equal(code, 0);
  t.ok(ms < 5000, `stopped in ${ms} ms`);
  t.notOk(fs.existsSync(path.join(d, 'agent.json')), 'runtime record removed');
  t.equal(JSON.parse(kith(['status', '--json', '--data-dir', d]).stdout).running, false);
  t.notMatch(a.output(), a.token, 'the token is never logged');
  t.match(a.output(), /^<6>kith .* ready/m, 'journald priority prefixes');
});

t.test('SIGINT stops it cleanly too, and the store can be reopened', async (t) => {
  const d = initDir(t);
  const a = await startAgent(t, d);
  t.equal((await a.stop('SIGINT')).code, 0);
  const b = await startAgent(t, d);
  t.equal((await b.stop()).code, 0);
});

t.test('a second agent on the same data dir fails with AGENT_ALREADY_RUNNING; the first keeps serving', async (t) => {
  const d = initDir(t);
  const a = await startAgent(t, d);
  const r = kith(['run', '--data-dir', d, '--port', '0', '--api-port', '0']);
  t.equal(r.status, 1);
  t.match(r.stderr, /error\[AGENT_ALREADY_RUNNING\]/);
  t.equal((await fetch(`http://127.0.0.1:${a.apiPort}/health`)).status, 200);
  t.equal(JSON.parse(fs.readFileSync(path.join(d, 'agent.json'), 'utf8')).pid, a.pid, 'its record is untouched');
  await a.stop();
});

t.test('ports in use: PORT_IN_USE for UDP and for the API, and nothing stays locked', async (t) => {
  const d = initDir(t);
  const udp = dgram.createSocket('udp4');
  await new Promise<void>((r) => udp.bind(0, '0.0.0.0', () => r()));
  const busyUdp = udp.address().port;
  const r1 = kith(['run', '--data-dir', d, '--port', String(busyUdp), '--api-port', '0']);
  t.equal(r1.status, 1);
  t.match(r1.stderr, new RegExp(`error\\[PORT_IN_USE\\]: cannot bind UDP 0\\.0\\.0\\.0:${busyUdp}`));
  udp.close();
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const busyTcp = (srv.address() as net.AddressInfo).port;
  const r2 = kith(['run', '--data-dir', d, '--port', '0', '--api-port', String(busyTcp)]);
  t.equal(r2.status, 1);
  t.match(r2.stderr, new RegExp(`error\\[PORT_IN_USE\\]: cannot bind TCP 127\\.0\\.0\\.1:${busyTcp}`));
  srv.close();
  const a = await startAgent(t, d);
  t.pass('starts once the ports are free: no lock was left behind');
  await a.stop();
});

t.test('a bad config lists every problem and starts nothing', async (t) => {
  const d = initDir(t);
  const cfg = path.join(path.dirname(d), 'bad.toml');
  fs.writeFileSync(cfg, '[cluster]\nport = 99999\n[agent]\nprofile = "turbo"\nfoo = 1\n');
  const r = kith(['run', '--data-dir', d, '--config', cfg]);
  t.equal(r.status, 1);
  t.match(r.stderr, /error\[CONFIG_INVALID\]: 3 problems in .*bad\.toml/);
  t.match(r.stderr, /\[CONFIG_RANGE\] cluster\.port/);
  t.match(r.stderr, /\[CONFIG_CHOICE\] agent\.profile/);
  t.match(r.stderr, /\[CONFIG_UNKNOWN_KEY\] agent\.foo/);
  t.notOk(fs.existsSync(path.join(d, 'store')), 'no store created');
  t.equal(kith(['config', 'check', '--config', cfg]).status, 1);
});

t.test('a corrupt key file fails with KEY_FILE_CORRUPT and is left as it was', async (t) => {
  const d = initDir(t);
  const keyFile = path.join(d, 'node.key');
  const bytes = fs.readFileSync(keyFile);
  bytes[bytes.length - 5]! ^= 0xff;
  fs.writeFileSync(keyFile, bytes);
  const r = kith(['run', '--data-dir', d, '--port', '0', '--api-port', '0']);
  t.equal(r.status, 1);
  t.match(r.stderr, /error\[KEY_FILE_CORRUPT\]: key file .*node\.key is corrupt/);
  t.same(fs.readFileSync(keyFile), bytes);
  fs.chmodSync(keyFile, 0o640);
  t.match(kith(['id', '--data-dir', d]).stderr, /error\[KEY_FILE_PERMISSIONS\]/);
});

t.test('run --init-if-missing (npm start) creates an identity with its phrase in a 0600 file', async (t) => {
  const d = path.join(t.testdir(), 'fresh');
  const a = await startAgent(t, d, ['--init-if-missing']);
  const pf = path.join(d, 'seed-phrase.txt');
  t.equal(fs.statSync(pf).mode & 0o777, 0o600);
  t.notMatch(a.output(), fs.readFileSync(pf, 'utf8').trim(), 'the phrase is not logged');
  t.match(a.output(), /seed phrase is in .*seed-phrase\.txt/);
  await a.stop();
});

const hasPython = spawnSync('python3', ['--version']).status === 0;
t.test('systemd: READY=1, watchdog pings and STOPPING=1 reach NOTIFY_SOCKET', { skip: hasPython ? false : 'python3 is needed to listen on a unix datagram socket' }, async (t) => {
  const d = initDir(t);
  // unix socket paths are limited to 108 bytes: use a short directory of our own.
  const shortDir = fs.mkdtempSync('/tmp/kn-');
  t.teardown(() => fs.rmSync(shortDir, { recursive: true, force: true }));
  const sockPath = path.join(shortDir, 'notify.sock');
  const logPath = path.join(path.dirname(d), 'notify.log');
  // Node has no unix datagram sockets, so a small python listener plays systemd.
  const listener = spawn('python3', ['-c', `
import socket, sys, time
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(0.5)
end = time.time() + 30
with open(sys.argv[2], 'a', buffering=1) as f:
    print('LISTENING', flush=True)
    while time.time() < end:
        try:
            f.write(s.recv(4096).decode().replace('\\n', ' ') + '\\n')
        except socket.timeout:
            pass
`, sockPath, logPath], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => listener.kill('SIGKILL'));
  await new Promise<void>((resolve) => listener.stdout!.once('data', () => resolve()));
  const a = await startAgent(t, d, ['--profile', 'test'], { NOTIFY_SOCKET: sockPath, WATCHDOG_USEC: '1000000' });
  const lines = () => (fs.existsSync(logPath) ? fs.readFileSync(logPath, 'utf8') : '');
  await until(() => (lines().match(/WATCHDOG=1/g) ?? []).length >= 2, 10_000);
  t.match(lines(), /READY=1/);
  t.ok((lines().match(/WATCHDOG=1/g) ?? []).length >= 2, 'watchdog pinged at least twice');
  await a.stop();
  await until(() => /STOPPING=1/.test(lines()), 5000);
  t.match(lines(), /STOPPING=1/);
});
