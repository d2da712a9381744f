// Members on disk: one entry per member under "member/<dh hex>", canonical CBOR
//   { cert: bytes, psk: bytes(32), rdv: bytes(32), eps: [[host, port]...], rec?: bytes }
// The PSK and rendezvous secret are secrets: the store lives in the 0700 data dir, and these
// values are never logged or shown by the API.
import { decodeCanonical, encodeCanonical, type CborValue } from '../core/cbor.js';
import { toHex } from '../core/hex.js';
import { prefixEnd, type KvStore } from '../core/store.js';
import { verifyCertificate } from '../identity/certificate.js';
import type { MemberSpec } from './membership.js';
import type { NodeCard } from './card.js';
import { pairPsk, rendezvousSecret } from './secrets.js';

/** A member from its card and the secret this node shares with its user (pair or own secret). */
export function memberSpecFor(selfDh: Uint8Array, card: NodeCard, secret: Uint8Array): MemberSpec {
  return {
    cert: card.cert, certBytes: card.certBytes,
    psk: pairPsk(secret, selfDh, card.cert.dhKey), rendezvousSecret: rendezvousSecret(secret),
    endpoints: card.endpoints.map((e) => ({ host: e.host, port: e.port })),
  };
}

const PREFIX = 'member/';

export async function saveMember(store: KvStore, spec: MemberSpec): Promise<void> {
  const body: Record<string, CborValue> = {
    cert: spec.certBytes, psk: spec.psk, rdv: spec.rendezvousSecret,
    eps: spec.endpoints.map((e) => [e.host, e.port]),
  };
  if (spec.record) body['rec'] = spec.record;
  await store.put(PREFIX + toHex(spec.cert.dhKey), encodeCanonical(body));
}

export async function saveMemberRecord(store: KvStore, id: string, record: Uint8Array): Promise<void> {
  const raw = await store.get(PREFIX + id);
  if (!raw) return;
  const v = decodeCanonical(raw) as Record<string, CborValue>;
  v['rec'] = record;
  await store.put(PREFIX + id, encodeCanonical(v));
}

export async function deleteMember(store: KvStore, id: string): Promise<void> {
  await store.del(PREFIX + id);
}

/** Every stored member; an entry that no longer verifies is reported and skipped, never fatal. */
export async function loadMembers(store: KvStore, onBad: (key: string, why: string) => void): Promise<MemberSpec[]> {
  const out: MemberSpec[] = [];
  for await (const [key, raw] of store.range({ gte: PREFIX, lt: prefixEnd(PREFIX) })) {
    try {
      const v = decodeCanonical(raw) as Record<string, CborValue>;
      const certBytes = v['cert'] as Uint8Array;
      const cert = verifyCertificate(certBytes);
      const eps = (v['eps'] as [string, number][]).map(([host, port]) => ({ host, port }));
      const psk = v['psk'] as Uint8Array;
      const rdv = v['rdv'] as Uint8Array;
      if (!(psk instanceof Uint8Array) || psk.length !== 32 || !(rdv instanceof Uint8Array) || rdv.length !== 32) throw new Error('bad secrets');
      out.push({ cert, certBytes, psk, rendezvousSecret: rdv, endpoints: eps, ...(v['rec'] instanceof Uint8Array ? { record: v['rec'] } : {}) });
    } catch (e) {
      onBad(key, (e as Error).message);
    }
  }
  return out;
}
