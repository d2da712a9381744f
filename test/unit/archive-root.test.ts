// The holder's root (archive/holder.ts, rput / rget): it keeps the newest signed index manifest
// per owner, signed by the node that sends it; a forged root (another key), an older root, a
// sender whose key it does not know and an oversize root are refused or ignored, and the kept
// root stays as it was.
import t from 'tap';
import { VirtualClock } from '../../core/clock.js';
import { signatures } from '../../core/crypto.js';
import { hpkeDeriveKeyPair } from '../../core/hpke.js';
import { SeededRng } from '../../core/rng.js';
import { MemoryStore } from '../../core/store.js';
import { toHex } from '../../core/hex.js';
import { HolderClient } from '../../archive/client.js';
import { Holder } from '../../archive/holder.js';
import { signManifest } from '../../archive/manifest.js';
import { putObject } from '../../archive/pipeline.js';
import { sealingPolicy } from '../../archive/policy.js';
import { MAX_ROOT_BYTES } from '../../archive/protocol.js';

t.test('roots: newest signed by the sender kept; forged, older, unknown sender and oversize refused', async (t) => {
  const rng = new SeededRng('archive-root-1');
  const clock = new VirtualClock({ wallStartMs: 1_800_000_000_000 });
  const device = hpkeDeriveKeyPair(rng.bytes(32));
  const nodeSeed = rng.bytes(32);
  const nodeKey = signatures.ed25519PublicKey(nodeSeed);
  const otherSeed = rng.bytes(32);
  const holderDh = hpkeDeriveKeyPair(rng.bytes(32));
  const holder = new Holder({
    clock, store: new MemoryStore(), log: () => undefined, selfId: 'bob-nas', dh: holderDh,
    ownerOf: (peer) => (peer.startsWith('alice-') ? 'alice' : undefined),
    quotaOf: () => 1e9, freeDiskBytes: async () => 1e12,
    signKeyOf: (peer) => (peer === 'alice-laptop' ? nodeKey : undefined),
  });
  const as = (peer: string) => new HolderClient({ request: (_p, payload) => holder.handle(peer, payload) });
  const alice = as('alice-laptop');
  const index = async (createdMs: number, seed: Uint8Array) => {
    const body = await putObject([new Uint8Array(100)], {
      kind: 'history', policy: sealingPolicy('history', [{ id: 'laptop', dhPublicKey: device.publicKey }]),
      holders: [{ id: 'bob-nas', household: 'bob', dhPublicKey: holderDh.publicKey }, { id: 'carol', household: 'carol', dhPublicKey: holderDh.publicKey }],
      placement: [0, 1], k: 1, m: 1, signerPublicKey: signatures.ed25519PublicKey(seed), rng, wallTimeMs: createdMs,
    }, async () => undefined);
    return signManifest(body, seed);
  };
  t.equal(await alice.getRoot('bob-nas'), undefined, 'no root at first');
  const first = await index(2000, nodeSeed);
  await alice.putRoot('bob-nas', first);
  t.equal(toHex((await alice.getRoot('bob-nas'))!), toHex(first), 'kept');
  await t.rejects(alice.putRoot('bob-nas', await index(3000, otherSeed)), { code: 'SIGNATURE_INVALID' }, 'a root signed by another key is refused');
  await alice.putRoot('bob-nas', await index(1000, nodeSeed));
  t.equal(toHex((await alice.getRoot('bob-nas'))!), toHex(first), 'an older root does not replace the newer one');
  await t.rejects(as('alice-phone').putRoot('bob-nas', await index(4000, nodeSeed)), { code: 'ARCHIVE_NOT_OWNER' }, 'a sender whose signing key the holder does not know is refused');
  await t.rejects(alice.putRoot('bob-nas', new Uint8Array(MAX_ROOT_BYTES + 1)), { code: 'ARCHIVE_MESSAGE_INVALID' }, 'an oversize root is refused');
  await t.rejects(alice.putRoot('bob-nas', new Uint8Array([1, 2, 3])), /CBOR|SIGN|MANIFEST|MESSAGE/, 'garbage is refused');
  await t.rejects(as('mallory').getRoot('bob-nas'), { code: 'ARCHIVE_NOT_OWNER' }, 'a stranger gets no root');
  t.equal(toHex((await alice.getRoot('bob-nas'))!), toHex(first), 'after all that, the first root is still kept');
  const newer = await index(5000, nodeSeed);
  await alice.putRoot('bob-nas', newer);
  t.equal(toHex((await alice.getRoot('bob-nas'))!), toHex(newer), 'a newer one replaces it');
});
