// `kith archive put|ls|get|verify|status` as real processes against three paired agents on
// 127.0.0.1 (alice archives; bob's and carol's nodes hold, 2+2, each giving her 2 MiB of quota
// through `archive.friendQuotaMiB`): progress on stderr, a file read back byte for byte, an audit
// round, per-object health, and the errors a person meets, each with its stable code; a refused
// put loses nothing already archived.
import t from 'tap';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { kith, kithSpawn, startAgent, until, type CliResult } from '../helpers/proc.js';

function json(r: CliResult) {
  if (r.status !== 0) throw new Error(`exit ${r.status}: ${r.stderr}`);
  return JSON.parse(r.stdout);
}
const sha256 = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const QUOTA_MIB = 2;
// About 40 CLI processes and three agents: ~30 s on an idle machine, far more on a loaded one.
t.setTimeout(300_000);

t.test('three agents on loopback: put with progress, ls, get --out byte-identical, verify, status, and errors with stable codes', async (t) => {
  const dir = t.testdir();
  const config = path.join(dir, 'config.toml');
  fs.writeFileSync(config, `[cluster]\nhost = "127.0.0.1"\n[archive]\nfriendQuotaMiB = ${QUOTA_MIB}\n`);
  const run = ['--config', config, '--profile', 'test'];
  const [a, b, c] = ['alice', 'bob', 'carol'].map((n) => path.join(dir, n)) as [string, string, string];
  for (const [d, n] of [[a, 'alice'], [b, 'bob'], [c, 'carol']] as const) json(kith(['init', '--data-dir', d, '--phrase-file', `${d}.phrase`, '--name', n, '--json']));
  const off = kith(['archive', 'ls', '--data-dir', a]);
  t.match(off.stderr, /error\[AGENT_NOT_RUNNING\]/, 'no agent: AGENT_NOT_RUNNING');
  t.equal(off.status, 1);
  const agents = [await startAgent(t, a, run), await startAgent(t, b, run), await startAgent(t, c, run)];
  t.same(json(kith(['archive', 'ls', '--json', '--data-dir', a])), [], 'an empty archive');
  t.match(kith(['archive', 'ls', '--data-dir', a]).stdout, /the archive is empty/);

  const src = path.join(dir, 'notes.bin');
  fs.writeFileSync(src, crypto.randomBytes(600_000));
  const lonely = kith(['archive', 'put', src, '--data-dir', a]);
  t.match(lonely.stderr, /error\[ARCHIVE_PLACEMENT_IMPOSSIBLE\]/, `no friend yet: ARCHIVE_PLACEMENT_IMPOSSIBLE (${lonely.stderr.trim().split('\n')[0]})`);
  t.equal(lonely.status, 1);

  for (const friend of [b, c]) {
    const offer = kithSpawn(t, ['pair', '--json', '--data-dir', a]);
    const first = await offer.firstLine(10_000);
    t.ok(first, `offer is up ${offer.stderr()}`);
    const joined = kith(['pair', '--code', (JSON.parse(first!) as { qr: string }).qr, '--json', '--data-dir', friend]);
    t.equal(joined.status, 0, `paired ${joined.stderr}`);
    t.equal(await offer.exited, 0);
  }
  const alive = await until(() => {
    const r = kith(['peers', '--json', '--data-dir', a]);
    return r.status === 0 && (JSON.parse(r.stdout) as { state: string }[]).filter((p) => p.state === 'alive').length === 2;
  }, 20_000, 250);
  t.ok(alive !== undefined, 'alice reaches bob and carol');

  // ---- put with progress, ls
  const put = kith(['archive', 'put', src, '--data-dir', a]);
  t.equal(put.status, 0, put.stderr);
  t.match(put.stderr, /put 0\.6 MiB of 0\.6 MiB \(100%\)/, 'progress on stderr, up to 100%');
  t.match(put.stderr, /warning\[ARCHIVE_ONE_ACCESS_DEVICE\]/, 'one access device: the warning, in words');
  t.match(put.stdout, /^[0-9a-f]{16} {2}notes\.bin {2}600000 B {2}2\+2 over 2 households\n$/, 'one line per object');
  const ls = json(kith(['archive', 'ls', '--json', '--data-dir', a])) as { id: string; name: string; kind: string; size: number; createdMs: number }[];
  t.equal(ls.length, 1);
  t.match(ls[0], { name: 'notes.bin', kind: 'file', size: 600_000 });
  t.match(ls[0]!.id, /^[0-9a-f]{64}$/);
  const id = ls[0]!.id;
  t.match(kith(['archive', 'ls', '--data-dir', a]).stdout, new RegExp(`^${id.slice(0, 16)} {2}file {5}\\s+600000 B {2}\\S+ {2}notes\\.bin\\n$`));

  // ---- get --out, byte for byte, by a prefix of the id
  const out = path.join(dir, 'back.bin');
  const got = kith(['archive', 'get', id.slice(0, 8), '--out', out, '--data-dir', a]);
  t.equal(got.status, 0, got.stderr);
  t.match(got.stderr, /get 0\.6 MiB of 0\.6 MiB \(100%\)/, 'progress on stderr, up to 100%');
  t.match(got.stdout, `wrote 600000 bytes to ${out}`);
  t.equal(sha256(out), sha256(src), 'byte-identical');
  t.notOk(fs.existsSync(`${out}.kith-partial`), 'no partial file left');
  const gotJson = json(kith(['archive', 'get', id, '--out', out, '--json', '--data-dir', a]));
  t.same(gotJson, { out, bytes: 600_000 }, 'get --json: where and how much');

  // ---- verify, status
  const v = json(kith(['archive', 'verify', '--json', '--data-dir', a]));
  t.match(v, { audit: { pass: 2, fail: 0, noAnswer: 0 }, repair: { repaired: 0, stuck: 0, deferred: 0, bytesRead: 0 } }, 'an audit round: both holders pass, nothing to repair');
  t.match(kith(['archive', 'verify', '--data-dir', a]).stdout, /audits: 2 passed, 0 failed, 0 unanswered\nrepair: 0 chunk\(s\) repaired/);
  const st = json(kith(['archive', 'status', '--json', '--data-dir', a])) as { id: string; healthyShards: number; shards: number; k: number; households: number; lastAuditMs: number | null; repairs: number; holders: { state: string }[] }[];
  t.match(st, [{ id, k: 2, shards: 4, healthyShards: 4, households: 2, repairs: 0 }], 'status: 4 of 4 shards healthy over 2 households');
  t.ok(st[0]!.lastAuditMs && Math.abs(st[0]!.lastAuditMs - Date.now()) < 60_000, 'and the audit just made');
  t.same(st[0]!.holders.map((h) => h.state), ['ok', 'ok']);
  t.match(kith(['archive', 'status', '--data-dir', a]).stdout, /notes\.bin {2}4\/4 shards healthy \(k=2\), 2 households, last audit \d{4}-/);

  // ---- errors, each with its code and exit status 1
  const fails = (args: string[], code: string, what: string) => {
    const r = kith([...args, '--data-dir', a]);
    t.equal(r.status, code === 'USAGE' ? 2 : 1, `${what}: exit ${code === 'USAGE' ? 2 : 1}`);
    // A job that ran before it failed (a put) leaves its progress line above the error.
    t.match(r.stderr, new RegExp(`^(\\r[^\\n]*\\n)?error\\[${code}\\]: `), `${what}: ${r.stderr.split('\n').find((l) => l.startsWith('error'))}`);
    return r;
  };
  fails(['archive', 'get', 'ffffffff', '--out', path.join(dir, 'x')], 'ARCHIVE_OBJECT_UNKNOWN', 'an unknown id');
  fails(['archive', 'get', 'not-hex', '--out', path.join(dir, 'x')], 'ARCHIVE_OBJECT_UNKNOWN', 'an id that is not hex');
  fails(['archive', 'get', 'ffffffff'], 'ARCHIVE_OBJECT_UNKNOWN', 'an unknown id without --out');
  t.notOk(fs.existsSync(path.join(dir, 'x')) || fs.existsSync(path.join(dir, 'x.kith-partial')), 'and no file written');
  fails(['archive', 'put', path.join(dir, 'no-such-file')], 'USAGE', 'a path that does not exist');
  fails(['archive', 'get', id, '--out', path.join(dir, 'no-such-dir', 'x')], 'USAGE', 'an --out in a folder that does not exist');
  fails(['archive', 'get', id, '--out', dir], 'USAGE', 'an --out that is a folder');
  const big = path.join(dir, 'big.bin');
  fs.writeFileSync(big, crypto.randomBytes(QUOTA_MIB * 1024 * 1024));
  const full = fails(['archive', 'put', big], 'ARCHIVE_PLACEMENT_IMPOSSIBLE', `a put past the ${QUOTA_MIB} MiB each friend gives`);
  t.match(full.stderr, /short of room: "(bob|carol)" \([0-9a-f]{8}…\) \(1 of 2, no room left\), "(bob|carol)"/, 'the message names the friends short of room');
  t.match(full.stderr, /hint: ask a friend to raise the quota/, 'and the hint says what to do');

  // ---- nothing already archived was lost
  t.same((json(kith(['archive', 'ls', '--json', '--data-dir', a])) as { id: string }[]).map((x) => x.id), [id], 'still the one object, and only it');
  fs.rmSync(out);
  t.equal(kith(['archive', 'get', id, '--out', out, '--data-dir', a]).status, 0);
  t.equal(sha256(out), sha256(src), 'still byte-identical after the refused put');
  for (const ag of agents) await ag.stop();
});
