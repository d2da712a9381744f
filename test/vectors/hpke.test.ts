// HPKE base mode against RFC 9180 Appendix A.2 (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256,
// ChaCha20Poly1305), test/vectors/data/hpke: key derivation, the whole key schedule, every
// listed encryption, and open of each; then the seal/open API and its failure code.
import t from 'tap';
import { hpkeContextOpen, hpkeContextSeal, hpkeDeriveKeyPair, hpkeNonce, hpkeOpen, hpkeSeal, hpkeSealWithEphemeral, hpkeSetupRecipient, hpkeSetupSender } from '../../core/hpke.js';
import { toHex } from '../../core/hex.js';
import { SeededRng } from '../../core/rng.js';
import { isKithError } from '../../core/errors.js';
import { hex, readVector } from '../helpers/vectors.js';

interface Encryption { seq: number; pt: string; aad: string; nonce: string; ct: string }

/** Reads `name: hex` fields (values may wrap onto following lines) from one ~~~ block. */
function fields(block: string): Record<string, string> {
  const out: Record<string, string> = {};
  let last = '';
  for (const line of block.split('\n')) {
    const m = /^([A-Za-z_ ]+):\s*([0-9a-f]*)$/.exec(line.trim());
    if (m) {
      last = m[1]!;
      out[last] = m[2]!;
    } else if (/^[0-9a-f]+$/.test(line.trim()) && last) out[last] += line.trim();
  }
  return out;
}

function baseSection(): { setup: Record<string, string>; encryptions: Encryption[] } {
  const md = readVector('hpke/rfc9180-appendix-a2-x25519-sha256-chacha20poly1305.md');
  const start = md.indexOf('### Base Setup Information');
  const end = md.indexOf('### PSK Setup Information');
  if (start < 0 || end < 0) throw new Error('base mode section not found in the HPKE vector file');
  const blocks = md.slice(start, end).split('~~~').filter((_, i) => i % 2 === 1);
  const setup = fields(blocks[0]!);
  const encryptions = blocks[1]!.split(/\n\s*\n/).filter((b) => b.includes('sequence number')).map((b) => {
    const f = fields(b);
    return { seq: Number(/sequence number: (\d+)/.exec(b)![1]), pt: f.pt!, aad: f.aad!, nonce: f.nonce!, ct: f.ct! };
  });
  return { setup, encryptions };
}

const { setup: v, encryptions } = baseSection();

t.test('A.2 base: the parsed section is the suite we implement', async (t) => {
  t.equal(v.mode, '0');
  t.equal(v.kem_id, '32');
  t.equal(v.kdf_id, '1');
  t.equal(v.aead_id, '3');
  t.equal(encryptions.length, 6, 'six encryptions listed');
});

t.test('A.2 base: DeriveKeyPair of ikmE and ikmR', async (t) => {
  const e = hpkeDeriveKeyPair(hex(v.ikmE!));
  t.equal(toHex(e.secretKey), v.skEm);
  t.equal(toHex(e.publicKey), v.pkEm);
  const r = hpkeDeriveKeyPair(hex(v.ikmR!));
  t.equal(toHex(r.secretKey), v.skRm);
  t.equal(toHex(r.publicKey), v.pkRm);
});

t.test('A.2 base: sender and recipient key schedules match every intermediate value', async (t) => {
  const { enc, ctx } = hpkeSetupSender(hex(v.pkRm!), hex(v.info!), { secretKey: hex(v.skEm!), publicKey: hex(v.pkEm!) });
  const rctx = hpkeSetupRecipient(hex(v.skRm!), enc, hex(v.info!));
  t.equal(toHex(enc), v.enc);
  for (const c of [ctx, rctx]) {
    t.equal(toHex(c.sharedSecret), v.shared_secret);
    t.equal(toHex(c.keyScheduleContext), v.key_schedule_context);
    t.equal(toHex(c.secret), v.secret);
    t.equal(toHex(c.key), v.key);
    t.equal(toHex(c.baseNonce), v.base_nonce);
    t.equal(toHex(c.exporterSecret), v.exporter_secret);
  }
});

t.test('A.2 base: every encryption seals to ct and opens back to pt', async (t) => {
  const ctx = hpkeSetupRecipient(hex(v.skRm!), hex(v.enc!), hex(v.info!));
  for (const e of encryptions) {
    t.equal(toHex(hpkeNonce(ctx.baseNonce, e.seq)), e.nonce, `nonce of seq ${e.seq}`);
    t.equal(toHex(hpkeContextSeal(ctx, e.seq, hex(e.aad), hex(e.pt))), e.ct, `ct of seq ${e.seq}`);
    t.equal(toHex(hpkeContextOpen(ctx, e.seq, hex(e.aad), hex(e.ct))), e.pt, `open of seq ${e.seq}`);
  }
});

t.test('A.2 base: single-shot seal with ikmE as the rng output is the seq-0 vector; open reverses it', async (t) => {
  const e0 = encryptions.find((e) => e.seq === 0)!;
  const ikmRng = { bytes: (n: number) => (n === 32 ? hex(v.ikmE!) : new Uint8Array(n)), below: () => 0 };
  const sealed = hpkeSeal(hex(v.pkRm!), hex(v.info!), hex(e0.aad), hex(e0.pt), ikmRng);
  t.equal(toHex(sealed.enc), v.enc);
  t.equal(toHex(sealed.ct), e0.ct);
  t.equal(toHex(hpkeOpen(hex(v.skRm!), hex(v.enc!), hex(v.info!), hex(e0.aad), hex(e0.ct))), e0.pt);
  const det = hpkeSealWithEphemeral(hex(v.pkRm!), hex(v.info!), hex(e0.aad), hex(e0.pt), hpkeDeriveKeyPair(hex(v.ikmE!)));
  t.equal(toHex(det.ct), e0.ct);
});

t.test('open refuses wrong key, info, aad, enc and any flipped bit with SEAL_INVALID', async (t) => {
  const rng = new SeededRng('hpke-negative');
  const r = hpkeDeriveKeyPair(rng.bytes(32));
  const other = hpkeDeriveKeyPair(rng.bytes(32));
  const info = new TextEncoder().encode('kith test');
  const aad = Uint8Array.of(1, 2, 3);
  const pt = new TextEncoder().encode('a chunk key');
  const s = hpkeSeal(r.publicKey, info, aad, pt, rng);
  t.equal(new TextDecoder().decode(hpkeOpen(r.secretKey, s.enc, info, aad, s.ct)), 'a chunk key');
  const bad = (f: () => unknown, what: string) => {
    try {
      f();
      t.fail(`${what}: no error`);
    } catch (e) {
      t.ok(isKithError(e, 'SEAL_INVALID'), `${what}: SEAL_INVALID`);
    }
  };
  bad(() => hpkeOpen(other.secretKey, s.enc, info, aad, s.ct), 'wrong key');
  bad(() => hpkeOpen(r.secretKey, s.enc, Uint8Array.of(), aad, s.ct), 'wrong info');
  bad(() => hpkeOpen(r.secretKey, s.enc, info, Uint8Array.of(1, 2), s.ct), 'wrong aad');
  bad(() => hpkeOpen(r.secretKey, other.publicKey, info, aad, s.ct), 'wrong enc');
  bad(() => hpkeOpen(r.secretKey, s.enc.subarray(1), info, aad, s.ct), 'short enc');
  bad(() => hpkeOpen(r.secretKey, new Uint8Array(32), info, aad, s.ct), 'low-order enc');
  bad(() => hpkeOpen(r.secretKey, s.enc, info, aad, s.ct.subarray(0, 5)), 'truncated ct');
  for (let bit = 0; bit < s.ct.length * 8; bit += 7) {
    const ct = Uint8Array.from(s.ct);
    ct[bit >> 3]! ^= 1 << (bit & 7);
    bad(() => hpkeOpen(r.secretKey, s.enc, info, aad, ct), `bit ${bit} flipped`);
  }
  bad(() => hpkeSeal(new Uint8Array(32), info, aad, pt, rng), 'seal to a low-order key');
});
