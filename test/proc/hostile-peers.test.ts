// Two real agents on loopback at debug log level, made members of each other by hand; one of
// them is a hostile peer whose node label is full of terminal escapes (issue 18, weak spot 13).
// Also the rows marked "held": no secret in any log at debug level or any --json output, and
// kill -9 while posting loses nothing acknowledged.
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { kith, startAgent, RUNTIME, type AgentProc } from '../helpers/proc.js';
import { decodeCanonical } from '../../core/cbor.js';
import { toHex } from '../../core/hex.js';

t.comment(`agent runtime: ${RUNTIME}`);

const EVIL = 'evil\n\u001b[31mRED\u001b[0m\r\u202egnp.exe';
const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f\u202e]/;
let dir: string;
let da: string;
let db: string;
let a: AgentProc;
let b: AgentProc;
const outputs: { stdout: string; stderr: string }[] = [];
const run = (args: string[]) => {
  const r = kith(args);
  outputs.push(r);
  return r;
};

const request = (x: AgentProc, route: string, body?: unknown) =>
  fetch(`http://127.0.0.1:${x.apiPort}${route}`, {
    method: body === undefined ? 'GET' : 'POST',
    headers: { authorization: `Bearer ${x.token}`, 'content-type': 'application/json', connection: 'close' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000),
  });
/**
 * One retry when fetch's pooled socket was closed under it ("other side closed", UND_ERR_SOCKET):
 * seen in 2 of 2 fresh-clone runs on the first call after a 4 s gap, while the same request on a
 * new raw connection answers at once. The agent is not at fault, and these tests measure the agent.
 */
const api = async (x: AgentProc, route: string, body?: unknown): Promise<Response> => {
  try {
    return await request(x, route, body);
  } catch (e) {
    if ((e as { cause?: { code?: string } }).cause?.code !== 'UND_ERR_SOCKET') throw e;
    return request(x, route, body);
  }
};

t.before(async () => {
  dir = t.testdir();
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(config, '[agent]\nlogLevel = "debug"\n[cluster]\nhost = "127.0.0.1"\n');
  da = path.join(dir, 'a');
  db = path.join(dir, 'b');
  for (const [d, extra] of [[da, []], [db, ['--label', EVIL]]] as const) {
    const r = kith(['init', '--data-dir', d, '--phrase-file', `${d}.phrase`, ...extra]);
    if (r.status !== 0) throw new Error(r.stderr);
  }
  [a, b] = await Promise.all([startAgent(t, da, ['--config', config, '--profile', 'test']), startAgent(t, db, ['--config', config, '--profile', 'test'])]);
});

t.test('a peer\'s label full of control characters is escaped in `peer add`, `peers` and the log', async (t) => {
  const secret = path.join(dir, 'secret');
  t.equal(run(['secret', 'new', '--out', secret, '--json']).status, 0);
  t.equal(run(['card', '--json', '--out', path.join(dir, 'b.card'), '--data-dir', db]).status, 0);
  t.equal(run(['card', '--json', '--out', path.join(dir, 'a.card'), '--data-dir', da]).status, 0);
  const added = run(['peer', 'add', path.join(dir, 'b.card'), '--secret-file', secret, '--data-dir', da]);
  t.equal(added.status, 0, added.stderr);
  t.equal(run(['peer', 'add', path.join(dir, 'a.card'), '--secret-file', secret, '--json', '--data-dir', db]).status, 0);
  t.notMatch(added.stdout, CONTROL, '`peer add` prints no control character');
  t.equal(added.stdout.trim().split('\n').length, 1, 'and one line');
  t.match(added.stdout, /evil\\n\\e\[31mRED/, 'the label is shown escaped');
  const peers = run(['peers', '--data-dir', da]);
  t.notMatch(peers.stdout, CONTROL, '`peers` prints no control character');
  t.equal(peers.stdout.trim().split('\n').length, 2, 'two lines for one member');
  const json = run(['peers', '--json', '--data-dir', da]);
  t.equal(JSON.parse(json.stdout)[0].label, EVIL, '--json keeps the label exactly (JSON escapes it)');
  const alive = await new Promise<boolean>((resolve) => {
    const end = Date.now() + 15_000;
    const poll = async () => {
      const p = (await (await api(a, '/api/peers')).json()) as { peers: { state: string }[] };
      if (p.peers[0]?.state === 'alive') return resolve(true);
      if (Date.now() > end) return resolve(false);
      setTimeout(poll, 200);
    };
    void poll();
  });
  t.ok(alive, 'the two agents talk (so the log has had the label\'s chance)');
  t.notMatch(a.output(), CONTROL, 'the agent log holds no control character');
});

t.test('no secret in the log at debug level or in any --json output', async (t) => {
  for (const cmd of [['status'], ['peers']]) for (const d of [da, db]) run([...cmd, '--json', '--data-dir', d]);
  for (const cmd of [['id'], ['doctor'], ['node', 'list'], ['friend', 'list']]) run([...cmd, '--json', '--data-dir', da]);
  const secrets: [string, string][] = [['the cluster secret', fs.readFileSync(path.join(dir, 'secret'), 'utf8').trim()]];
  for (const d of [da, db]) {
    secrets.push(['an API token', fs.readFileSync(path.join(d, 'api.token'), 'utf8').trim()]);
    const key = decodeCanonical(new Uint8Array(fs.readFileSync(path.join(d, 'node.key')))) as Record<string, Uint8Array>;
    for (const k of ['signSecret', 'dhSecret', 'own'] as const) {
      const v = key[k];
      if (v) secrets.push([`node.key ${k}`, toHex(v)], [`node.key ${k} (base64)`, Buffer.from(v).toString('base64').slice(0, 40)]);
    }
    const phrase = fs.readFileSync(`${d}.phrase`, 'utf8').trim();
    secrets.push(['the seed phrase', phrase], ['its first four words', phrase.split(' ').slice(0, 4).join(' ')]);
  }
  const haystack = [a.output(), b.output(), ...outputs.map((o) => o.stdout + o.stderr)].join('\n').toLowerCase();
  t.match(a.output(), /^<6>kith .* ready/m, 'the agent logged (at debug level: config agent.logLevel)');
  const found = secrets.filter(([, s]) => haystack.includes(s.toLowerCase())).map(([n]) => n);
  t.same(found, [], `none of ${secrets.length} secrets appears in ${haystack.length} bytes of logs and --json output`);
});

t.test('kill -9 while posting: every acknowledged post is there after a restart', async (t) => {
  // Participants must be friends (issue 14): b, a peer since the first test; a discussion takes no method.
  const bUser = (JSON.parse(run(['id', '--json', '--data-dir', db]).stdout) as { userKey: string }).userKey;
  const created = (await (await api(a, '/api/conv/create', { topic: 'crash test', pattern: 'discussion', with: [bUser] })).json()) as { result?: { id: string }; error?: unknown };
  t.ok(created.result, `created ${JSON.stringify(created.error ?? '')}`);
  const id = created.result!.id;
  let acked = 0;
  const poster = (async () => {
    for (let i = 0; i < 5000; i++) {
      try {
        const r = await api(a, '/api/conv/post', { id, text: `message ${i}` });
        if (r.status !== 200) break;
        acked = i + 1;
      } catch {
        break;
      }
    }
  })();
  await new Promise((r) => setTimeout(r, 1500));
  a.child.kill('SIGKILL');
  await poster;
  t.ok(acked > 5, `${acked} posts acknowledged before kill -9`);
  const again = await startAgent(t, da);
  const view = (await (await api(again, '/api/conv/show', { id })).json()) as { result: { messages: { data: { text: string } }[] } };
  const texts = new Set(view.result.messages.map((m) => m.data.text));
  const lost = Array.from({ length: acked }, (_, i) => `message ${i}`).filter((m) => !texts.has(m));
  t.same(lost, [], `all ${acked} acknowledged posts survived (${texts.size} stored)`);
  await Promise.all([again.stop(), b.stop()]);
});
