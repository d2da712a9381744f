// The namespace lab (test/netns/lab.sh): three homes behind NAT routers running miniupnpd, a
// STUN server on a fake internet, a visiting laptop that pairs on one home's LAN and is carried
// to another, and real `kith run` processes (test profile). Each scenario
// prints its measured figure. Skips, with the reason, where namespaces or the lab tools are
// missing. Every process is killed by PID and the namespaces are deleted, even on failure.
import t, { type Test } from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../helpers/vectors.js';
import { RUNTIME } from '../helpers/proc.js';
import { sleep, until as untilAsync } from '../helpers/wait.js';

const LAB = path.join(REPO_ROOT, 'test', 'netns', 'lab.sh');
const BIN = path.join(REPO_ROOT, 'bin', 'kith.mjs');
const RT = RUNTIME === 'bun' ? path.join(REPO_ROOT, 'node_modules', '.bin', 'bun') : process.execPath;
const HOMES = [1, 2, 3];
const VISITOR = 9;
const PERIOD_MS = 3000; // the test profile's rendezvous period
const T = 1000; // the test profile's probe interval
/** Scenario 5 holds 5% loss this long: a measured duration, not a wait for an event. */
const LOSS_SOAK_MS = 30_000;

function whyNot(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (ip netns)';
  for (const [cmd, pkg] of [['ip', 'iproute2'], ['iptables-legacy', 'iptables'], ['miniupnpd', 'miniupnpd miniupnpd-iptables'], ['stund', 'stun-server'], ['python3', 'python3'], ['conntrack', 'conntrack']]) {
    if (spawnSync('sh', ['-c', `command -v ${cmd}`]).status !== 0) return `${cmd} is missing (apt-get install ${pkg})`;
  }
  const probe = spawnSync('ip', ['netns', 'add', 'kl-probe']);
  if (probe.status !== 0) return `cannot create network namespaces: ${probe.stderr.toString().trim()}`;
  spawnSync('ip', ['netns', 'del', 'kl-probe']);
  return undefined;
}

const sh = (args: string[], timeout = 60_000) => spawnSync('bash', [LAB, ...args], { encoding: 'utf8', timeout });
/** lab.sh without blocking the event loop, so agents' log lines keep their true arrival times. */
const shAsync = (args: string[]) => new Promise<number | null>((resolve) => {
  const c = spawn('bash', [LAB, ...args], { stdio: 'ignore' });
  c.once('exit', (code) => resolve(code));
});

interface Agent {
  home: number;
  dir: string;
  child: ChildProcess;
  lines: { at: number; text: string }[];
}

async function lab(t: Test): Promise<void> {
  const agents = new Map<number, Agent>();
  t.teardown(() => {
    for (const a of agents.values()) if (a.child.exitCode === null && a.child.signalCode === null) a.child.kill('SIGKILL');
    sh(['down']);
  });
  const up = sh(['up'], 120_000);
  if (up.status !== 0) {
    t.fail(`lab up failed:\n${up.stderr}`);
    return;
  }
  const root = t.testdir();
  // Homes 1 and 2 map by "auto" (NAT-PMP answers first); home 3 only by UPnP IGD.
  const configOf = (home: number) => path.join(root, `config${home}.toml`);
  for (const h of [...HOMES, VISITOR]) {
    fs.writeFileSync(configOf(h), `[cluster]\nhost = "0.0.0.0"\nport = 5484\n[api]\nport = 5485\n[nat]\nstunServers = "203.0.113.1:3478"\nportMapping = "${h === 3 ? 'upnp' : 'auto'}"\n`);
  }
  // "Home" VISITOR is the laptop namespace kl-v, which lab.sh plugs into one home's LAN at a time.
  const nsOf = (home: number) => (home === VISITOR ? 'kl-v' : `kl-h${home}`);
  const inNs = (home: number, args: string[], timeout = 30_000) =>
    spawnSync('ip', ['netns', 'exec', nsOf(home), RT, BIN, ...args], { encoding: 'utf8', timeout, env: { ...process.env, KITH_DATA_DIR: '' } });
  const dirOf = (home: number) => path.join(root, `home${home}`);

  const start = async (home: number): Promise<Agent> => {
    const child = spawn('ip', ['netns', 'exec', nsOf(home), RT, BIN, 'run', '--data-dir', dirOf(home), '--config', configOf(home), '--profile', 'test'], {
      stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KITH_DATA_DIR: '' },
    });
    const a: Agent = { home, dir: dirOf(home), child, lines: [] };
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        a.lines.push({ at: Date.now(), text: buf.slice(0, i) });
        buf = buf.slice(i + 1);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    agents.set(home, a);
    const ready = await waitLog(a, /ready:/, 0, 20_000);
    if (ready === undefined) throw new Error(`agent ${home} not ready:\n${a.lines.map((l) => l.text).join('\n')}`);
    return a;
  };
  const waitLog = async (a: Agent, re: RegExp, after: number, ms: number): Promise<number | undefined> => {
    const hit = () => a.lines.find((l) => l.at >= after && re.test(l.text));
    await untilAsync(() => hit() !== undefined, ms, 20);
    return hit()?.at;
  };
  const peers = (home: number) => JSON.parse(inNs(home, ['peers', '--json', '--data-dir', dirOf(home)]).stdout || '[]') as { nodeSignKey: string; state: string; endpoint: string | null }[];
  // Polls every 200 ms by default: peers() runs the CLI in a namespace each time.
  const until = (fn: () => boolean, ms: number, everyMs = 200): Promise<number | undefined> => untilAsync(fn, ms, everyMs);
  const allAlive = () => HOMES.every((h) => peers(h).every((x) => x.state === 'alive'));
  const exited = (c: ChildProcess) => c.exitCode !== null || c.signalCode !== null;

  // ---- 1. three agents form a cluster from cards
  for (const h of HOMES) {
    const r = inNs(h, ['init', '--data-dir', dirOf(h), '--phrase-file', `${dirOf(h)}.phrase`, '--node', '0']);
    if (r.status !== 0) throw new Error(r.stderr);
  }
  const secret = path.join(root, 'secret');
  inNs(1, ['secret', 'new', '--out', secret]);
  for (const h of HOMES) await start(h);
  const keys = new Map<number, string>();
  for (const h of HOMES) {
    const r = inNs(h, ['card', '--json', '--data-dir', dirOf(h), '--out', path.join(root, `card${h}.json`)]);
    t.equal(r.status, 0, `card ${h}: ${r.stderr}`);
    const card = JSON.parse(fs.readFileSync(path.join(root, `card${h}.json`), 'utf8'));
    keys.set(h, card.nodeSignKey.slice(0, 16));
    t.ok(card.endpoints.some((e: { kind: string; host: string; port: number }) => e.kind === 'public' && e.host === `203.0.113.1${h}` && e.port === 5484), `home ${h}'s card carries its STUN address 203.0.113.1${h}:5484`);
  }
  const t1 = Date.now();
  for (const h of HOMES) for (const o of HOMES) if (h !== o) {
    const r = inNs(h, ['peer', 'add', path.join(root, `card${o}.json`), '--secret-file', secret, '--data-dir', dirOf(h)]);
    t.equal(r.status, 0, r.stderr);
  }
  const formed = await until(() => HOMES.every((h) => { const p = peers(h); return p.length === 2 && p.every((x) => x.state === 'alive'); }), 30_000);
  t.ok(formed !== undefined, `1. cluster formed through three NATs: every member alive everywhere ${Date.now() - t1} ms after the cards were added`);
  t.comment(`figure 1: cluster formed in ${Date.now() - t1} ms`);
  const st = JSON.parse(inNs(1, ['status', '--json', '--data-dir', dirOf(1)]).stdout);
  t.equal(st.cluster.publicEndpoint, '203.0.113.11:5484', 'status: public endpoint');
  t.match(st.cluster.nat.type, /cone|unknown/, `status: NAT type ${st.cluster.nat.type} (${st.cluster.nat.mapping} mapping)`);
  t.ok(st.cluster.nextWindow?.port >= 45000, 'status: next window');
  const mapped = await waitLog(agents.get(1)!, /endpoints: .*mapped 203\.0\.113\.11:45\d\d\d/, t1, 2 * PERIOD_MS + 2000);
  t.ok(mapped !== undefined, 'a rendezvous window mapped a port on the router ("auto": NAT-PMP, miniupnpd)');
  const mappedUpnp = await waitLog(agents.get(3)!, /endpoints: .*mapped 203\.0\.113\.13:45\d\d\d/, t1, 2 * PERIOD_MS + 2000);
  t.ok(mappedUpnp !== undefined, 'a rendezvous window mapped a port on the router through UPnP IGD (SSDP, then SOAP to miniupnpd)');

  // ---- 2. home 2's router gets a new public address (from a settled cluster)
  t.ok((await until(allAlive, 15_000)) !== undefined, '   everyone alive before the move');
  const t2 = Date.now();
  await shAsync(['move', '2', '22']);
  const seen = await Promise.all([1, 3].map((h) => waitLog(agents.get(h)!, new RegExp(`member ${keys.get(2)} at 203\\.0\\.113\\.22:`), t2, 20_000)));
  const reach2 = seen.every((x) => x !== undefined) ? Math.max(...(seen as number[])) - t2 : undefined;
  t.comment(`figure 2: all members reach node 2 at its new address ${reach2} ms after its router was renumbered`);
  t.ok(reach2 !== undefined, `2. every member reaches the moved node at its new address (${reach2} ms; DESIGN's target is 5000)`);
  if (reach2 === undefined || reach2 > 5000) for (const h of HOMES) t.comment(`home ${h} after the move (${seen[h === 1 ? 0 : 1] ?? 'not seen'}):\n${agents.get(h)!.lines.filter((l) => l.at >= t2).slice(0, 80).map((l) => `  +${l.at - t2} ms ${l.text}`).join('\n')}`);
  if (reach2 === undefined || process.env.KITH_LAB_DEBUG) for (const a of agents.values()) t.comment(`--- agent ${a.home}\n` + a.lines.filter((l) => l.at >= t2 - 1000).map((l) => `${l.at - t2} ${l.text}`).join('\n'));
  if (reach2 === undefined && process.env.KITH_LAB_DEBUG) return;

  // ---- 3. homes 2 and 3 both move while cut off (from a settled cluster)
  await until(allAlive, 15_000);
  for (const h of [2, 3]) sh(['link', String(h), 'down']);
  const apartSince = Date.now();
  await Promise.all([2, 3].map((h) => waitLog(agents.get(1)!, new RegExp(`member ${keys.get(h)} \\w+ → dead`), apartSince, 10_000)));
  sh(['move', '2', '32']);
  sh(['move', '3', '33']);
  const t3 = Date.now();
  await Promise.all([2, 3].map((h) => shAsync(['link', String(h), 'up'])));
  const met = await Promise.all([
    waitLog(agents.get(2)!, new RegExp(`member ${keys.get(3)} at 203\\.0\\.113\\.33:`), t3, 30_000),
    waitLog(agents.get(3)!, new RegExp(`member ${keys.get(2)} at 203\\.0\\.113\\.32:`), t3, 30_000),
  ]);
  const reach3 = met.every((x) => x !== undefined) ? Math.max(...(met as number[])) - t3 : undefined;
  t.comment(`figure 3: homes 2 and 3 found each other ${reach3} ms after coming back with new addresses (window period ${PERIOD_MS} ms)`);
  t.ok(reach3 !== undefined, `3. both moved while apart, and met again (${reach3} ms)`);

  // ---- 4. kill -9, then restart
  await until(allAlive, 15_000);
  const t4 = Date.now();
  agents.get(3)!.child.kill('SIGKILL');
  const deaths = await Promise.all([1, 2].map((h) => waitLog(agents.get(h)!, new RegExp(`member ${keys.get(3)} \\w+ → dead`), t4, 15_000)));
  const dead4 = deaths.every((x) => x !== undefined) ? Math.max(...(deaths as number[])) - t4 : undefined;
  t.comment(`figure 4: node 3 declared dead everywhere ${dead4} ms after kill -9 (3 probe intervals = ${3 * T} ms)`);
  t.ok(dead4 !== undefined && dead4 <= 3 * T + 500, `4. declared dead within 3 probe intervals (${dead4} ms; 500 ms allowed for log delivery)`);
  await until(() => exited(agents.get(3)!.child), 5000, 20); // its port is free again
  const t4b = Date.now();
  await start(3);
  const rejoined = await Promise.all([1, 2].map((h) => waitLog(agents.get(h)!, new RegExp(`member ${keys.get(3)} dead → alive`), t4b, 20_000)));
  t.ok(rejoined.every((x) => x !== undefined), `   restarted, it rejoins (${rejoined.every((x) => x !== undefined) ? Math.max(...(rejoined as number[])) - t4b : '-'} ms)`);

  // ---- 5. 5% loss on every router for 30 s: no member is ever declared dead
  await until(allAlive, 15_000);
  sh(['loss', '5']);
  const t5 = Date.now();
  await sleep(LOSS_SOAK_MS);
  sh(['loss', '0']);
  const falseDeaths = HOMES.flatMap((h) => agents.get(h)!.lines.filter((l) => l.at >= t5 && /→ dead/.test(l.text)));
  const suspicions = HOMES.flatMap((h) => agents.get(h)!.lines.filter((l) => l.at >= t5 && /→ suspect/.test(l.text)));
  t.comment(`figure 5: 30 s at 5% loss per router (about 10% per path): ${falseDeaths.length} deaths, ${suspicions.length} suspicions`);
  t.equal(falseDeaths.length, 0, '5. no member declared dead at 5% loss');

  // ---- 6. a port scan of every home's public address gets nothing back
  const scan = spawnSync('ip', ['netns', 'exec', 'kl-wan', 'python3', '-c', SCAN, '203.0.113.11,203.0.113.32,203.0.113.33', '45000', '45099'], { encoding: 'utf8', timeout: 120_000 });
  t.equal(scan.status, 0, scan.stderr);
  const r6 = JSON.parse(scan.stdout || '{}') as { sent: number; replies: number; bytes: number };
  t.comment(`figure 6: scan sent ${r6.sent} datagrams to 3 homes (ports 5484, 45000-45099, during and outside windows): ${r6.replies} replies, ${r6.bytes} bytes`);
  t.ok(r6.sent > 600, `6. scanned (${r6.sent} datagrams)`);
  t.equal(r6.bytes, 0, '6. zero bytes answered');

  // ---- 7. an agent stopped during an open window removes its mapping from the router
  const st3 = () => JSON.parse(inNs(3, ['status', '--json', '--data-dir', dirOf(3)]).stdout || '{}') as { cluster?: { mapping?: { state: string; protocol: string; externalPort: number | null } } };
  let openMapping: { state: string; protocol: string; externalPort: number | null } | undefined;
  await until(() => {
    const m = st3().cluster?.mapping;
    if (m?.state === 'open') openMapping = m;
    return openMapping !== undefined;
  }, 4 * PERIOD_MS);
  t.ok(openMapping, `7. home 3 has an open window (${openMapping?.protocol} port ${openMapping?.externalPort})`);
  if (!openMapping) {
    const routerLog = path.join(process.env.KITH_LAB_STATE ?? '/run/kith-lab', 'miniupnpd-3.log');
    const tail = fs.existsSync(routerLog) ? fs.readFileSync(routerLog, 'utf8').split('\n').slice(-30).join('\n') : '(no log)';
    t.comment(`status: ${JSON.stringify(st3().cluster?.mapping)}\n--- agent 3\n${agents.get(3)!.lines.slice(-30).map((l) => l.text).join('\n')}\n--- router 3\n${tail}`);
  }
  const rules = () => sh(['run', 'kl-r3', 'iptables-legacy', '-w', '-t', 'nat', '-S', 'MINIUPNPD']).stdout;
  const before = rules();
  const a3 = agents.get(3)!;
  a3.child.kill('SIGTERM');
  await until(() => exited(a3.child), 10_000, 50);
  const after = rules();
  t.comment(`figure 7: router 3's port forwards for ${openMapping?.externalPort}: ${before.split('\n').filter((l) => l.includes(`--dport ${openMapping?.externalPort}`)).length} while open, ${after.split('\n').filter((l) => l.includes(`--dport ${openMapping?.externalPort}`)).length} after SIGTERM`);
  t.notMatch(after, new RegExp(`--dport ${openMapping?.externalPort}\\b`), '7. after SIGTERM the router holds no forward for the window port');

  // ---- 8. a laptop pairs on home 1's LAN with a typed code, then is carried to home 2
  sh(['visit', '1']);
  const v = inNs(VISITOR, ['init', '--data-dir', dirOf(VISITOR), '--phrase-file', `${dirOf(VISITOR)}.phrase`]);
  t.equal(v.status, 0, v.stderr);
  await start(VISITOR);
  const offer = spawn('ip', ['netns', 'exec', 'kl-h1', RT, BIN, 'pair', '--json', '--data-dir', dirOf(1)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KITH_DATA_DIR: '' } });
  let offerOut = '';
  offer.stdout!.on('data', (d: Buffer) => (offerOut += d.toString()));
  t.teardown(() => void (offer.exitCode === null && offer.kill('SIGKILL')));
  await until(() => offerOut.includes('\n'), 10_000);
  const code = (JSON.parse(offerOut.split('\n')[0]!) as { code: string }).code;
  const joined = inNs(VISITOR, ['pair', '--code', code, '--json', '--data-dir', dirOf(VISITOR)]);
  t.equal(joined.status, 0, `8. the laptop paired with home 1 from the typed code ${code} (found by multicast on the LAN): ${joined.stderr}`);
  await until(() => exited(offer), 5000, 50);
  const key1 = keys.get(1)!;
  const vKey = (JSON.parse(inNs(VISITOR, ['id', '--json', '--data-dir', dirOf(VISITOR)]).stdout) as { nodeSignKey: string }).nodeSignKey.slice(0, 16);
  const both = (where: RegExp) => until(() => {
    const mine = peers(VISITOR).find((p) => p.nodeSignKey.startsWith(key1));
    const theirs = peers(1).find((p) => p.nodeSignKey.startsWith(vKey));
    return mine?.state === 'alive' && theirs?.state === 'alive' && where.test(theirs.endpoint ?? '');
  }, 20_000);
  const onLan = await both(/^10\.77\.1\.20:/);
  t.ok(onLan !== undefined, `8. paired on the LAN, each alive for the other over 10.77.1.x (${onLan} ms)`);
  const router2 = sh(['run', 'kl-r2', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'wan']).stdout.match(/203\.0\.113\.\d+/)?.[0] ?? '?';
  const tMove = Date.now();
  sh(['visit', '2']);
  const moved = await both(new RegExp(`^${router2.replace(/\./g, '\\.')}:`));
  t.comment(`figure 8: the laptop carried from home 1 to home 2 was alive again for home 1, behind router 2, ${moved === undefined ? 'never' : Date.now() - tMove} ms after the move`);
  if (moved === undefined) {
    const tail = (h: number) => agents.get(h)!.lines.filter((l) => l.at >= tMove - 2000).slice(-40).map((l) => l.text).join('\n');
    t.comment(`home 1 peers: ${JSON.stringify(peers(1))}\nlaptop peers: ${JSON.stringify(peers(VISITOR))}\n--- home 1\n${tail(1)}\n--- laptop\n${tail(VISITOR)}`);
  }
  t.ok(moved !== undefined, `8. after the move the pair stays connected through the cluster machinery (home 1 reaches it behind router 2 at ${router2}, ${Date.now() - tMove} ms)`);

  for (const a of agents.values()) a.child.kill('SIGTERM');
  await until(() => [...agents.values()].every((a) => exited(a.child)), 10_000, 50);
}

// A stranger on the internet: random bytes and a valid-looking initiation (type 1, right size) to
// every port of the window range and the cluster port, twice, three seconds apart (a window
// period), listening for anything that comes back.
const SCAN = String.raw`
import os, socket, sys, time, json, select
hosts = sys.argv[1].split(','); lo, hi = int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('203.0.113.3', 0)); s.setblocking(False)
sent = replies = nbytes = 0
def drain(until):
    global replies, nbytes
    while time.time() < until:
        r, _, _ = select.select([s], [], [], max(0, until - time.time()))
        if r:
            d, a = s.recvfrom(4096); replies += 1; nbytes += len(d)
for rnd in range(2):
    for h in hosts:
        for p in [5484] + list(range(lo, hi + 1)):
            for payload in (os.urandom(64), bytes([1, 0, 0, 0]) + os.urandom(144)):
                s.sendto(payload, (h, p)); sent += 1
        drain(time.time() + 0.05)
    drain(time.time() + 3.0)
print(json.dumps({'sent': sent, 'replies': replies, 'bytes': nbytes}))
`;

// A lab that cannot run here is a SKIP with its reason, never a pass.
const skip = whyNot();
if (!skip) t.setTimeout(600_000);
t.test('namespace lab', { timeout: 600_000, ...(skip ? { skip: `namespace lab: ${skip}` } : {}) }, lab);
