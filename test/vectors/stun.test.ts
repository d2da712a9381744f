// STUN codec against RFC 5769's sample messages and real browser captures (test/vectors/data/stun,
// from pion/stun: see its SOURCE.md).
import t from 'tap';
import { ATTR, StunClient, checkFingerprint, checkIntegrity, crc32, decodeStun, encodeBindingRequest, longTermKey, mappedAddress, shortTermKey } from '../../cluster/stun.js';
import { VirtualClock } from '../../core/clock.js';
import { SeededRng } from '../../core/rng.js';
import { hex, readJsonVector, readVector } from '../helpers/vectors.js';

interface V { rfc_section: string; hex: string; password: string; username?: string; realm?: string; transaction_id: string; software?: string; xor_mapped_address?: { ip: string; port: number }; credential: string; long_term_key_md5?: string }
const vectors = readJsonVector<{ vectors: V[] }>('stun/rfc5769.json').vectors;

for (const v of vectors) {
  t.test(`RFC 5769 §${v.rfc_section}`, async (t) => {
    const m = decodeStun(hex(v.hex));
    t.equal(Buffer.from(m.transactionId).toString('hex'), v.transaction_id, 'transaction id');
    const key = v.credential === 'long-term' ? longTermKey(v.username!, v.realm!, v.password) : shortTermKey(v.password);
    if (v.long_term_key_md5) t.equal(Buffer.from(key).toString('hex'), v.long_term_key_md5, 'long-term key');
    t.equal(checkIntegrity(m, key), true, 'MESSAGE-INTEGRITY verifies');
    t.equal(checkFingerprint(m), v.rfc_section === '2.4' ? undefined : true, 'FINGERPRINT');
    if (v.software) {
      const sw = m.attributes.find((a) => a.type === ATTR.SOFTWARE)!;
      t.equal(new TextDecoder().decode(sw.value), v.software, 'SOFTWARE');
    }
    if (v.xor_mapped_address) t.same(mappedAddress(m), { host: v.xor_mapped_address.ip, port: v.xor_mapped_address.port }, 'XOR-MAPPED-ADDRESS');
    // One flipped bit anywhere breaks integrity or fingerprint (or the parse).
    const bytes = hex(v.hex);
    for (const i of [21, 30, bytes.length - 30, bytes.length - 1]) {
      const bad = bytes.slice();
      bad[i]! ^= 0x01;
      let ok: boolean;
      try {
        const mm = decodeStun(bad);
        ok = checkIntegrity(mm, key) === true && checkFingerprint(mm) !== false;
      } catch {
        ok = false;
      }
      t.notOk(ok, `bit flip at byte ${i} is caught`);
    }
  });
}

t.test('browser captures (Chrome, Firefox) parse, and every FINGERPRINT they carry verifies', async (t) => {
  const rows = readVector('stun/pion-frombrowsers.csv').split('\n').filter((l) => l && !l.startsWith('#') && !l.startsWith('ip,'));
  t.ok(rows.length >= 10, `${rows.length} captures`);
  let withFingerprint = 0;
  for (const row of rows) {
    const [, b64] = row.split(',');
    const m = decodeStun(new Uint8Array(Buffer.from(b64!, 'base64')));
    t.equal(m.type, 0x0001, `${b64!.slice(0, 16)}… is a binding request`);
    const fp = checkFingerprint(m);
    if (fp !== undefined) {
      withFingerprint++;
      t.equal(fp, true, `${b64!.slice(0, 16)}… fingerprint verifies`);
    }
  }
  t.ok(withFingerprint >= 4, `${withFingerprint} captures carry a fingerprint`);
});

t.test('our binding request round-trips and carries a valid fingerprint', async (t) => {
  const id = hex('0102030405060708090a0b0c');
  const m = decodeStun(encodeBindingRequest(id, { changeIp: true, changePort: true }));
  t.equal(m.type, 0x0001);
  t.equal(checkFingerprint(m), true);
  t.same([...m.attributes.find((a) => a.type === ATTR.CHANGE_REQUEST)!.value], [0, 0, 0, 6]);
  t.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926, 'CRC-32 check value');
});

t.test('malformed STUN is rejected with STUN_INVALID, never a crash', async (t) => {
  const good = hex(vectors[1]!.hex);
  const cases: [string, Uint8Array][] = [
    ['short', good.subarray(0, 19)],
    ['length mismatch', good.subarray(0, good.length - 4)],
    ['attribute overrun', (() => { const b = good.slice(); b[23] = 0xff; return b; })()],
  ];
  for (const [name, b] of cases) t.throws(() => decodeStun(b), { code: 'STUN_INVALID' }, name);
});

t.test('client: retransmits, matches by transaction id, ignores strangers, times out', async (t) => {
  const clock = new VirtualClock();
  const sent: Uint8Array[] = [];
  const c = new StunClient({ clock, rng: new SeededRng('stun'), send: (_to, d) => sent.push(d) }, { rtoMs: 100, attempts: 3 });
  const server = { host: '203.0.113.1', port: 3478 };
  const p = c.binding(server);
  clock.advance(150);
  t.equal(sent.length, 2, 'retransmitted after the RTO');
  t.notOk(c.handle(hex(vectors[1]!.hex), server), 'a response to another transaction is not ours');
  // Build the answer: the RFC's IPv4 response with our transaction id (no integrity needed).
  const req = decodeStun(sent[0]!);
  const resp = new Uint8Array(20 + 12);
  const v = new DataView(resp.buffer);
  v.setUint16(0, 0x0101); v.setUint16(2, 12); v.setUint32(4, 0x2112a442); resp.set(req.transactionId, 8);
  v.setUint16(20, 0x0020); v.setUint16(22, 8); v.setUint16(24, 0x0001); v.setUint16(26, 5484 ^ 0x2112);
  v.setUint32(28, ((203 << 24) | (0 << 16) | (113 << 8) | 7) ^ 0x2112a442);
  t.ok(c.handle(resp, server), 'our answer is taken');
  const r = await p;
  t.same(r.mapped, { host: '203.0.113.7', port: 5484 });
  const q = c.binding(server);
  clock.advance(1000);
  await t.rejects(q, { code: 'STUN_TIMEOUT' }, 'no answer: STUN_TIMEOUT after the last try');
});
