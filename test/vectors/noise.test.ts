// Noise: the cacophony vectors for IK, IKpsk1 and IKpsk2 with 25519/ChaChaPoly/BLAKE2s
// (test/vectors/data/noise/cacophony-xx-ik-25519-chachapoly.json, filtered from
// haskell-cryptography/cacophony vectors/cacophony.txt). Both handshake messages, the handshake
// hash, and the transport messages after Split.
import t from 'tap';
import { IkHandshake, type CipherState } from '../../cluster/noise.js';
import { signatures } from '../../core/crypto.js';
import { toHex } from '../../core/hex.js';
import { hex, readJsonVector } from '../helpers/vectors.js';

interface NoiseVector {
  protocol_name: string;
  init_prologue: string; init_static: string; init_ephemeral: string; init_remote_static?: string; init_psks?: string[];
  resp_prologue: string; resp_static: string; resp_ephemeral: string; resp_psks?: string[];
  handshake_hash?: string;
  messages: { payload: string; ciphertext: string }[];
}

const { vectors } = readJsonVector<{ vectors: NoiseVector[] }>('noise/cacophony-xx-ik-25519-chachapoly.json');
const ours = vectors.filter((v) => /^Noise_IK(psk[12])?_25519_ChaChaPoly_BLAKE2s$/.test(v.protocol_name));
const pair = (secret: string) => ({ secretKey: hex(secret), publicKey: signatures.x25519PublicKey(hex(secret)) });

t.test('the vector file has IK, IKpsk1 and IKpsk2 for BLAKE2s', async (t) => {
  t.same(ours.map((v) => v.protocol_name).sort(), ['Noise_IK_25519_ChaChaPoly_BLAKE2s', 'Noise_IKpsk1_25519_ChaChaPoly_BLAKE2s', 'Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s']);
});

for (const v of ours) {
  t.test(`${v.protocol_name}: handshake, hash and transport messages`, async (t) => {
    const psk = /psk(\d)/.exec(v.protocol_name);
    const pos = (psk ? Number(psk[1]) : 0) as 0 | 1 | 2;
    const init = new IkHandshake({ initiator: true, prologue: hex(v.init_prologue), s: pair(v.init_static), rs: hex(v.init_remote_static!), ephemeralSecret: hex(v.init_ephemeral), pskPosition: pos, ...(v.init_psks ? { psk: hex(v.init_psks[0]!) } : {}), protocolName: v.protocol_name });
    const resp = new IkHandshake({ initiator: false, prologue: hex(v.resp_prologue), s: pair(v.resp_static), ephemeralSecret: hex(v.resp_ephemeral), pskPosition: pos, ...(v.resp_psks ? { psk: hex(v.resp_psks[0]!) } : {}), protocolName: v.protocol_name });
    const [m1, m2, ...rest] = v.messages;
    const c1 = init.writeMessage(hex(m1!.payload));
    t.equal(toHex(c1), m1!.ciphertext, 'message 1');
    t.equal(toHex(resp.readMessage(c1)), m1!.payload);
    t.equal(toHex(resp.rs!), toHex(pair(v.init_static).publicKey), 'the responder learnt the initiator\'s static key');
    const c2 = resp.writeMessage(hex(m2!.payload));
    t.equal(toHex(c2), m2!.ciphertext, 'message 2');
    t.equal(toHex(init.readMessage(c2)), m2!.payload);
    if (v.handshake_hash) {
      t.equal(toHex(init.handshakeHash), v.handshake_hash);
      t.equal(toHex(resp.handshakeHash), v.handshake_hash);
    }
    const [iSend, iRecv] = init.split();
    const [rRecv, rSend] = resp.split();
    rest.forEach((m, i) => {
      const [send, recv]: [CipherState, CipherState] = i % 2 === 0 ? [iSend, rRecv] : [rSend, iRecv];
      const c = send.encryptWithAd(new Uint8Array(0), hex(m.payload));
      t.equal(toHex(c), m.ciphertext, `transport message ${i + 3}`);
      t.equal(toHex(recv.decryptWithAd(new Uint8Array(0), c)), m.payload);
    });
  });
}

t.test('a flipped bit anywhere in message 1 fails the handshake', async (t) => {
  const v = ours.find((x) => x.protocol_name.includes('IKpsk2'))!;
  const mk = () => new IkHandshake({ initiator: false, prologue: hex(v.resp_prologue), s: pair(v.resp_static), ephemeralSecret: hex(v.resp_ephemeral), pskPosition: 2, psk: hex(v.resp_psks![0]!) });
  const c1 = hex(v.messages[0]!.ciphertext);
  for (let i = 0; i < c1.length; i += 3) {
    const bad = new Uint8Array(c1);
    bad[i]! ^= 0x04;
    t.throws(() => mk().readMessage(bad), `byte ${i}`);
  }
  t.throws(() => mk().readMessage(c1.subarray(0, 40)));
});
