// SLIP-0010 test vectors 1 and 2 for ed25519 and curve25519
// (source: satoshilabs/slips slip-0010.md, see test/vectors/data/slip10/SOURCE.md).
import t from 'tap';
import { derivePath, publicKeyOf, type Slip10Curve } from '../../identity/slip10.js';
import { toHex } from '../../core/hex.js';
import { hex, readJsonVector } from '../helpers/vectors.js';

interface Chain { path: string; chain_code: string; private: string; public: string }
interface Vector { name: string; curve: string; seed: string; chains: Chain[] }
const { vectors } = readJsonVector<{ vectors: Vector[] }>('slip10/slip10-vectors.json');

const ours = vectors.filter((v) => v.curve === 'ed25519' || v.curve === 'curve25519');

t.test('the file holds both test vectors for both curves', async (t) => {
  t.equal(ours.length, 4);
  t.ok(ours.every((v) => v.chains.length >= 5));
});

for (const v of ours) {
  t.test(`${v.name} ${v.curve}: every path gives the published keys and chain code`, async (t) => {
    for (const c of v.chains) {
      const node = derivePath(v.curve as Slip10Curve, hex(v.seed), c.path);
      t.equal(toHex(node.chainCode), c.chain_code, `${c.path} chain code`);
      t.equal(toHex(node.privateKey), c.private, `${c.path} private key`);
      // ed25519 public keys are printed with a leading 00 (ser_P); curve25519 ones too.
      t.equal('00' + toHex(publicKeyOf(v.curve as Slip10Curve, node.privateKey)), c.public, `${c.path} public key`);
    }
  });
}

t.test('non-hardened and malformed paths are refused', async (t) => {
  t.throws(() => derivePath('ed25519', hex('000102030405060708090a0b0c0d0e0f'), "m/0'/1"), RangeError);
  t.throws(() => derivePath('ed25519', hex('000102030405060708090a0b0c0d0e0f'), "0'"), RangeError);
  t.throws(() => derivePath('ed25519', hex('000102030405060708090a0b0c0d0e0f'), "m/2147483648'"), RangeError);
  t.throws(() => derivePath('curve25519', new Uint8Array(8), "m/0'"), RangeError);
});
