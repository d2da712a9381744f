// The pairing offer's LAN discovery responder (agent/pair-net.ts lanDiscovery) under 3,000 garbage
// datagrams, in a network namespace of its own (`unshare -n`: only a loopback interface, so no
// multicast ever reaches a real one). The offer keeps waiting, only a well-formed question for its
// number is answered, and the answer is exactly {t, offer, port}: no key, no name, no certificate
// (issue 18, held rows "discovery datagrams leave the offer waiting", "discovery leaks no identity").
import t from 'tap';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO_ROOT } from '../helpers/vectors.js';

const dist = (f: string) => JSON.stringify(path.join(REPO_ROOT, 'dist', f));
const canRun = process.getuid?.() === 0 && spawnSync('unshare', ['-n', 'true'], { timeout: 5000 }).status === 0 && fs.existsSync(path.join(REPO_ROOT, 'dist', 'agent', 'pair-net.js'));

const CHILD = `
import { execSync } from 'node:child_process';
import dgram from 'node:dgram';
execSync('ip link set lo up');
const { realClock, VirtualClock } = await import(${dist('core/clock.js')});
const { cryptoRng, SeededRng } = await import(${dist('core/rng.js')});
const { encodeCanonical } = await import(${dist('core/cbor.js')});
const { toHex } = await import(${dist('core/hex.js')});
const { generatePhrase } = await import(${dist('identity/phrase.js')});
const { certifyNode } = await import(${dist('identity/create.js')});
const { verifyCertificate } = await import(${dist('identity/certificate.js')});
const { makeFriendCard } = await import(${dist('cluster/pairing/friend-card.js')});
const { parsePairTarget } = await import(${dist('cluster/pairing/code.js')});
const { lanDiscovery } = await import(${dist('agent/pair-net.js')});
const { startPairing } = await import(${dist('agent/pairing-service.js')});
const node = certifyNode(new VirtualClock(), { phrase: generatePhrase(new SeededRng('disc')), nodeIndex: 0, generation: 0, roles: ['access'], label: 'alice-router' });
const card = { cert: verifyCertificate(node.certBytes), certBytes: node.certBytes, endpoints: [] };
const me = { userKey: node.userKey, friendCard: makeFriendCard('Alice', [card], node.keys.sign.secretKey), isBlocked: () => false };
const log = { debug() {}, info() {}, warn() {}, error() {} };
const svc = startPairing({ clock: realClock, rng: cryptoRng, roster: { pairSelf: async () => me }, log, host: '127.0.0.1', defaultTtlMs: 60000, discovery: lanDiscovery(realClock, log) });
const offer = await svc.offer();
const n = parsePairTarget(offer.qr).code.offer;
const s = dgram.createSocket('udp4');
const replies = [];
s.on('message', (m) => replies.push(toHex(new Uint8Array(m))));
await new Promise((r) => s.bind(0, '127.0.0.1', r));
const rng = new SeededRng('garbage');
for (let i = 0; i < 3000; i++) {
  if (i % 100 === 99) await new Promise((r) => setTimeout(r, 2));
  const kind = i % 5;
  const d = kind === 0 ? rng.bytes(1 + rng.below(300))
    : kind === 1 ? encodeCanonical({ t: 'where', offer: n === 9999 ? 1000 : n + 1 })
    : kind === 2 ? encodeCanonical({ t: 'here', offer: n, port: 1 })
    : kind === 3 ? encodeCanonical({ t: 'where', offer: String(n) })
    : encodeCanonical({ t: 'where', offer: n, pad: 'x'.repeat(200) });
  s.send(d, 5486, '127.0.0.1');
}
await new Promise((r) => setTimeout(r, 300));
const afterGarbage = replies.length;
s.send(encodeCanonical({ t: 'where', offer: n }), 5486, '127.0.0.1');
await new Promise((r) => setTimeout(r, 300));
console.log(JSON.stringify({ afterGarbage, replies, n, port: Number(offer.endpoint.split(':')[1]), state: svc.offerState(offer.id).state,
  secrets: [toHex(node.userKey), toHex(node.keys.sign.publicKey), toHex(node.keys.dh.publicKey), toHex(node.certBytes).slice(0, 64), toHex(new TextEncoder().encode('alice'))] }));
await svc.stop();
s.close();
`;

t.test('3,000 garbage discovery datagrams: no answer, the offer waits; the one real question gets {t, offer, port} only', {
  skip: canRun ? false : 'needs root, `unshare -n` and a built dist/ (npm test builds it)',
}, async (t) => {
  const script = path.join(t.testdir(), 'child.mjs');
  fs.writeFileSync(script, CHILD);
  const r = spawnSync('unshare', ['-n', process.execPath, script], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, CBOR_NATIVE_ACCELERATION_DISABLED: 'true' } });
  t.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout.trim().split('\n').pop()!) as { afterGarbage: number; replies: string[]; n: number; port: number; state: string; secrets: string[] };
  t.equal(out.afterGarbage, 0, 'no datagram of garbage, spoofed answer or question for another offer is answered');
  t.equal(out.state, 'waiting', 'the offer still waits');
  t.equal(out.replies.length, 1, 'the well-formed question gets one answer');
  const { decodeCanonical } = await import('../../core/cbor.js');
  const { fromHex } = await import('../../core/hex.js');
  t.same(decodeCanonical(fromHex(out.replies[0]!)!), { t: 'here', offer: out.n, port: out.port }, 'exactly {t, offer, port}');
  t.same(out.secrets.filter((s) => out.replies[0]!.includes(s)), [], 'no key, certificate or name in it');
});
