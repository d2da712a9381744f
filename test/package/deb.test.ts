// The Debian package end to end, under a real systemd: build the binary and the .deb, lintian,
// install it into a debootstrap'd Debian booted with systemd-nspawn; the service reaches
// active (running) with READY and its status sent by the agent itself; a kith-group user reads
// `kith status` without sudo; a SIGSTOPped agent is restarted by the watchdog; an upgrade keeps
// the identity, a friend (a second agent in the container, paired by code over loopback), a
// conversation with it and its message, and an edited conffile; remove keeps the state, a reinstall
// under a policy-rc.d that forbids starting does not start it; purge leaves nothing behind.
// Runs in .ci/run's package step (KITH_PACKAGE_TEST=1, root); skipped elsewhere with the reason.
import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/vectors.js';
import { cannotRun, Container, pristineRoot } from './container.js';

const skip = cannotRun();
const OUT = path.join(REPO_ROOT, 'packaging', 'out');
const TMP = path.join(REPO_ROOT, 'tmp');
const version = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
const V1 = `${version}-1`;
const V2 = `${version}-2`;
const deb = (v: string) => path.join(OUT, `kith_${v}_amd64.deb`);

async function timed<T>(t: Test, what: string, fn: () => T | Promise<T>): Promise<T> {
  const t0 = Date.now();
  const r = await fn();
  t.comment(`${what}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  return r;
}

function run(cmd: string, args: string[], timeoutMs = 600_000): string {
  const r = spawnSync(cmd, args, { cwd: REPO_ROOT, encoding: 'utf8', timeout: timeoutMs });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr + r.stdout).slice(-3000)}`);
  return r.stdout;
}

/**
 * A second agent inside the container, as a friend of the service: `kith init` in /root/friend,
 * `kith run` on loopback ports 5494/5495 as the transient unit kith-friend, its `kith pair` offer
 * (in the background: it waits for the join), joined by the service with the offer's QR content.
 */
async function startFriend(c: Container): Promise<{ userKey: string }> {
  c.sh('printf \'schema = 1\\n[cluster]\\nhost = "127.0.0.1"\\n[nat]\\nportMapping = "off"\\n\' >/root/friend.toml');
  const init = c.sh('kith init --data-dir /root/friend --phrase-file /root/friend.phrase --name friend');
  if (init.status !== 0) throw new Error(`friend init: ${init.stderr}`);
  c.sh('systemd-run --unit kith-friend -p Type=exec kith run --data-dir /root/friend --config /root/friend.toml --port 5494 --api-port 5495');
  await c.waitFor('kith status --data-dir /root/friend', /running, PID/, 20_000);
  c.sh('sh -c "kith pair --json --no-qr --data-dir /root/friend >/root/friend.offer 2>&1 </dev/null &"');
  const offer = await c.waitFor('head -n 1 /root/friend.offer', /"qr"/, 20_000);
  const qr = (JSON.parse(offer) as { qr: string }).qr;
  const join = c.sh(`kith pair --code '${qr}' --json </dev/null`);
  if (join.status !== 0) throw new Error(`the service's join: ${join.stderr}${join.stdout}`);
  return { userKey: (JSON.parse(join.stdout.trim().split('\n').pop()!) as { friendUserKey: string }).friendUserKey };
}

// Skipped as a whole file, so the main test run counts nothing for it (the package step does).
if (skip !== undefined) t.plan(0, skip);
else t.test('the .deb installs, runs, upgrades, removes and purges under systemd', async (t) => {
  fs.mkdirSync(TMP, { recursive: true });
  const c = new Container(path.join(TMP, 'kith-deb-root'), path.join(TMP, 'kith-deb-root.log'));
  t.teardown(async () => {
    await c.stop();
    c.remove();
  });

  await t.test('build: binary, the release .deb (xz -6) and a newer one for the upgrade', async (t) => {
    // KITH_PACKAGE_REUSE=1 (local iteration only) takes the .debs already in packaging/out.
    if (process.env['KITH_PACKAGE_REUSE'] === '1' && fs.existsSync(deb(V1)) && fs.existsSync(deb(V2))) {
      t.comment('reusing the .debs in packaging/out (KITH_PACKAGE_REUSE=1)');
      return;
    }
    t.comment((await timed(t, 'bun build --compile (x64)', () => run(path.join(REPO_ROOT, 'node_modules', '.bin', 'bun'), ['packaging/build.ts', '--only', 'x64']))).trim());
    t.comment((await timed(t, `dpkg-deb ${V1}`, () => run('packaging/build-deb.sh', ['amd64', '--version', V1]))).trim());
    // The upgrade only needs a higher version; xz level 0 saves CI minutes.
    t.comment((await timed(t, `dpkg-deb ${V2} (xz -0)`, () => run('packaging/build-deb.sh', ['amd64', '--version', V2, '--level', '0']))).trim());
    t.ok(fs.existsSync(deb(V1)) && fs.existsSync(deb(V2)));
  });

  await t.test('lintian: no errors or warnings (the overrides file gives each exception its reason)', async (t) => {
    const r = await timed(t, 'lintian', () => spawnSync('lintian', ['--tag-display-limit', '0', deb(V1)], { encoding: 'utf8', timeout: 300_000 }));
    const hints = r.stdout.split('\n').filter((l) => /^[EW]: /.test(l));
    t.same(hints, [], 'no E: or W: hints');
    t.equal(r.status, 0);
  });

  await t.test('installed into a booted Debian: active (running), READY and STATUS from the agent', async (t) => {
    const { dir, madeMs } = pristineRoot();
    t.comment(madeMs > 0 ? `debootstrap --variant=minbase (fresh, cached in ${dir}): ${(madeMs / 1000).toFixed(1)} s` : `debootstrap root reused from ${dir}`);
    await timed(t, 'boot', () => c.boot(dir));
    c.copyIn(deb(V1), `/root/kith_${V1}.deb`);
    c.copyIn(deb(V2), `/root/kith_${V2}.deb`);
    const inst = c.sh(`dpkg -i /root/kith_${V1}.deb </dev/null`);
    t.equal(inst.status, 0, inst.stderr);
    const state = await c.waitFor('systemctl show kith -p ActiveState -p SubState -p StatusText -p UnitFileState', /SubState=running/, 20_000);
    t.match(state, /ActiveState=active/);
    t.match(state, /SubState=running/);
    // Type=notify is only "running" after READY=1; STATUS= is the agent's own text.
    t.match(state, /StatusText=serving cluster UDP 0\.0\.0\.0:5484, API http:\/\/127\.0\.0\.1:5485/);
    t.match(state, /UnitFileState=enabled/);
    t.equal(c.sh('id -nG kith').stdout.trim(), 'kith', 'system user kith with its group');
    t.match(c.sh('stat -c "%a %U %G" /var/lib/kith /var/lib/kith/node.key /var/lib/kith/api.token /var/lib/kith/agent.json').stdout,
      /^750 kith kith\n600 kith kith\n600 kith kith\n644 kith kith\n$/);
    t.match(c.sh('systemctl status kith --no-pager').stdout, /Active: active \(running\)/);
    // The binary embeds libsodium's native addon and, under the unit's sandbox, loads it (Bun extracts it to the private /tmp).
    t.match(await c.waitFor('journalctl -u kith --no-pager -o cat', /ready: /, 10_000), /ready: .*ChaCha20-Poly1305 libsodium \(native\)/);
    // The service's resident memory just after start (a figure for the notes, not a test).
    t.comment(`service ${c.sh('grep VmRSS /proc/$(systemctl show kith -p MainPID --value)/status').stdout.trim()} just after start`);
  });

  await t.test('kith status as a member of the kith group, without sudo', async (t) => {
    c.sh('useradd -m -G kith alice && useradd -m bob');
    const alice = c.sh('runuser -u alice -- kith status');
    t.equal(alice.status, 0, alice.stderr);
    t.match(alice.stdout, /agent\s+running, PID \d+/);
    t.match(alice.stdout, /data dir\s+\/var\/lib\/kith/);
    t.notMatch(alice.stdout + alice.stderr, /error\[/);
    t.not(c.sh('runuser -u alice -- cat /var/lib/kith/api.token').status, 0, 'the token stays private to kith');
    const bob = c.sh('runuser -u bob -- kith status --data-dir /var/lib/kith');
    t.match(bob.stdout, /agent\s+not running/, 'a user outside the group sees nothing of it');
    // The web UI's files ship in the package and the installed agent serves them (bash's /dev/tcp: minbase has no curl).
    const ui = c.sh("bash -c \"exec 3<>/dev/tcp/127.0.0.1/5485 && printf 'GET /ui/ HTTP/1.0\\r\\nHost: 127.0.0.1:5485\\r\\n\\r\\n' >&3 && timeout 5 head -c 4096 <&3\"");
    t.match(ui.stdout, /^HTTP\/1\.[01] 200/, 'GET /ui/ answers 200 from /usr/share/kith/web');
    t.match(ui.stdout, /content-security-policy: default-src 'self'/i);
  });

  await t.test('a stopped (SIGSTOP) agent is restarted by the watchdog; pings come from the main PID', async (t) => {
    // A short watchdog for the test, and NotifyAccess=main: the Bun binary sends through bun:ffi
    // from its own PID, so READY and the pings must arrive even when only the main PID may send.
    c.sh('mkdir -p /etc/systemd/system/kith.service.d && printf "[Service]\\nWatchdogSec=3\\nRestartSec=1\\nNotifyAccess=main\\n" >/etc/systemd/system/kith.service.d/test.conf && systemctl daemon-reload && systemctl restart kith');
    const before = await c.waitFor('systemctl show kith -p SubState -p MainPID -p NRestarts', /SubState=running/, 20_000);
    const pid = Number(/MainPID=(\d+)/.exec(before)![1]);
    const restarts = Number(/NRestarts=(\d+)/.exec(before)![1]);
    // 8 s: more than two intervals of 1.5 s (WATCHDOG_USEC/2) pass without a restart.
    await new Promise((r) => setTimeout(r, 8_000));
    t.match(c.sh('systemctl show kith -p MainPID -p NRestarts').stdout, new RegExp(`MainPID=${pid}\\nNRestarts=${restarts}`), 'pinged in time');
    c.sh(`kill -STOP ${pid}`);
    const after = await c.waitFor('systemctl show kith -p SubState -p MainPID -p NRestarts', new RegExp(`NRestarts=${restarts + 1}`), 20_000);
    t.match(after, new RegExp(`NRestarts=${restarts + 1}`));
    t.match(await c.waitFor('systemctl show kith -p SubState', /running/, 20_000), /SubState=running/);
    t.not(Number(/MainPID=(\d+)/.exec(c.sh('systemctl show kith -p MainPID').stdout)![1]), pid);
    t.match(c.sh('journalctl -u kith --no-pager').stdout, /Watchdog timeout/);
    c.sh('rm -r /etc/systemd/system/kith.service.d && systemctl daemon-reload && systemctl restart kith');
    await c.waitFor('systemctl show kith -p SubState', /running/, 20_000);
  });

  await t.test(`upgrade ${V1} → ${V2}: identity, a friend, a conversation and its message, an edited conffile kept, no prompt`, async (t) => {
    // A friend: a second agent in the container (own data dir, loopback ports, a transient unit),
    // paired by code over loopback: its offer, the service's join (cluster/pairing/README.md).
    const friend = await timed(t, 'a friend agent paired by code', () => startFriend(c));
    t.ok(friend.userKey, `the service paired with the friend ${friend.userKey.slice(0, 12)}`);
    const made = c.sh(`kith conv new --topic 'Saturday?' --with ${friend.userKey} --pattern poll --option lake --option pub --method majority --json`);
    t.equal(made.status, 0, made.stderr);
    const conv = (JSON.parse(made.stdout) as { id: string }).id;
    const posted = c.sh(`kith conv post ${conv} 'bring snacks' --json`);
    t.equal(posted.status, 0, posted.stderr);
    const snapshot = () => ({
      id: c.sh('kith id --json').stdout,
      friends: (JSON.parse(c.sh('kith friend list --json').stdout || '[]') as { userKey: string }[]).map((f) => f.userKey),
      convs: (JSON.parse(c.sh('kith conv list --json').stdout || '[]') as { id: string; topic: string }[]).map((x) => [x.id, x.topic]),
      messages: c.sh(`kith conv show ${conv} --json`).stdout.match(/bring snacks/g)?.length ?? 0,
      keys: c.sh('sha256sum /var/lib/kith/node.key /var/lib/kith/api.token').stdout,
    });
    const before = snapshot();
    t.same(before.friends, [friend.userKey], 'the friend before the upgrade');
    t.same(before.convs, [[conv, 'Saturday?']], 'the conversation before the upgrade');
    t.equal(before.messages, 1, 'and its message');
    c.sh("sed -i 's/^#logLevel = \"info\"/logLevel = \"debug\"/' /etc/kith/config.toml");
    const conf = c.sh('cat /etc/kith/config.toml').stdout;
    t.match(conf, /^logLevel = "debug"$/m, 'the admin edited the conffile');
    const up = c.sh(`dpkg -i /root/kith_${V2}.deb </dev/null`);
    t.equal(up.status, 0, up.stderr);
    t.equal(c.sh("dpkg-query -W -f '${Version}' kith").stdout, V2);
    t.match(await c.waitFor('systemctl show kith -p SubState', /running/, 20_000), /running/);
    t.same(snapshot(), before, 'the same identity, token, friend, conversation and message');
    t.equal(c.sh('cat /etc/kith/config.toml').stdout, conf, 'the edited conffile is untouched');
    c.sh('systemctl stop kith-friend; rm -rf /root/friend /root/friend.*');
  });

  await t.test('remove keeps the state; a reinstall under policy-rc.d 101 is not started', async (t) => {
    const key = c.sh('sha256sum /var/lib/kith/node.key').stdout;
    t.equal(c.sh('dpkg -r kith </dev/null').status, 0);
    t.match(c.sh('systemctl show kith -p ActiveState').stdout, /inactive|failed/);
    t.not(c.sh('test -e /usr/bin/kith').status, 0, 'the binary is gone');
    t.equal(c.sh('sha256sum /var/lib/kith/node.key').stdout, key, 'the identity stays until purge');
    c.sh("printf '#!/bin/sh\\nexit 101\\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d");
    t.equal(c.sh(`dpkg -i /root/kith_${V2}.deb </dev/null`).status, 0);
    await new Promise((r) => setTimeout(r, 2_000));
    t.match(c.sh('systemctl show kith -p ActiveState').stdout, /ActiveState=inactive/, 'policy-rc.d forbade the start');
    c.sh('rm /usr/sbin/policy-rc.d');
  });

  await t.test('purge leaves nothing behind', async (t) => {
    t.equal(c.sh('dpkg -P kith </dev/null').status, 0);
    c.sh('userdel -r alice; userdel -r bob; rm -f /root/kith_*.deb');
    const left = c.sh("find / -xdev \\( -path /proc -o -path /sys -o -path /run -o -path /var/log/journal \\) -prune -o -name '*kith*' -print").stdout.trim();
    t.equal(left, '', 'no file named kith anywhere');
    t.not(c.sh('getent passwd kith').status, 0, 'no user kith');
    t.not(c.sh('getent group kith').status, 0, 'no group kith');
    t.match(c.sh("dpkg-query -W -f '${db:Status-Status}' kith 2>&1").stdout, /not-installed|no packages found/);
  });
});
