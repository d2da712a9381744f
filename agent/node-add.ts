// `kith node add`: makes this machine a new node of an existing user. It runs before the machine
// has an agent (there is no identity yet), so it does the pairing itself:
//   1. the phrase gives the user key; the data dir must have no identity;
//   2. it finds the offer (`kith pair` on one of the user's nodes) and runs the PAKE, enrolling;
//   3. the offering node gives the next free node index (see below), and this machine certifies
//      itself as that index with the phrase;
//   4. the welcome lists the user's nodes, friends (with their pair secrets) and revocations; they
//      are stored as members and friend records, and the key file is written last.
// Then `kith run` (or the service) starts the agent, which reaches the user's nodes and friends.
//
// Node indexes: the offering node gives 1 + the highest index it knows of (its own, every own
// member's, every revoked one's, every index it gave before, which it keeps in its store), and
// keeps that reservation. Two machines enrolled through the same node can never collide; two
// enrolled at the same moment through two different nodes that have not yet heard of each
// other's new node could, which is why enrolling is one node at a time in practice.
import type { Clock } from '../core/clock.js';
import type { KvStore } from '../core/store.js';
import { realTcp, type TcpNet } from '../core/tcp.js';
import { KithError, isKithError } from '../core/errors.js';
import { bytesEqual, toHex } from '../core/hex.js';
import type { Rng } from '../core/rng.js';
import type { Endpoint } from '../core/udp.js';
import type { Role } from '../identity/certificate.js';
import { certifyNode, userKeyOf, type CertifiedNode } from '../identity/create.js';
import { hasIdentity, saveIdentity } from '../identity/keystore.js';
import { parsePhrase } from '../identity/phrase.js';
import { memberSpecFor, saveMember } from '../cluster/member-store.js';
import { parsePairTarget } from '../cluster/pairing/code.js';
import { makeFriendCard } from '../cluster/pairing/friend-card.js';
import { PairInitiator } from '../cluster/pairing/protocol.js';
import { revokes, verifyCertificate, type NodeCertificate } from '../identity/certificate.js';
import type { NodeCard } from '../cluster/card.js';
import { ensurePrivateDir } from '../core/files.js';
import { openLevelStore } from './level-store.js';
import { runJoin } from '../cluster/pairing/frames.js';
import { isLoopback } from '../cluster/cluster-service.js';
import { discoverOffer } from './pair-net.js';
import { dataFiles } from './paths.js';
import { storeWelcome } from '../cluster/roster-store.js';

export interface NodeAddOptions {
  dataDir: string;
  phrase: string;
  /** The code `kith pair` printed, or its QR content. */
  target: string;
  roles: Role[];
  label: string;
  /** The name friends see for this user (like the agent's display name). */
  name: string;
  /** Where this node will listen (its card's LAN endpoints), and whether the LAN may be searched. */
  host: string;
  lan: Endpoint[];
}

export interface NodeAddResult {
  userKey: string;
  nodeIndex: number;
  label: string;
  ownNodes: number;
  friends: number;
  revocations: number;
}

export interface NodeAddDeps {
  clock: Clock;
  rng: Rng;
  progress?: (line: string) => void;
  /** The environment (agent/env.ts); real TCP, LAN search and LevelDB when not given. */
  tcp?: TcpNet;
  findOffer?: (offer: number) => Promise<Endpoint>;
  openStore?: (dir: string) => Promise<KvStore>;
}

export async function addNode(deps: NodeAddDeps, opts: NodeAddOptions): Promise<NodeAddResult> {
  const { clock, rng } = deps;
  const say = deps.progress ?? (() => undefined);
  if (hasIdentity(opts.dataDir)) throw new KithError('IDENTITY_EXISTS', `${opts.dataDir} already has an identity (node.key); \`kith node add\` needs an empty data dir`);
  const phrase = parsePhrase(opts.phrase);
  const userKey = userKeyOf(phrase);
  const { code, endpoint: given } = parsePairTarget(opts.target);
  say(given ? `connecting to the offer at ${given.host}:${given.port}…` : `looking for offer ${code.offer} on the local network…`);
  const endpoint = given ?? (await findOffer(deps, opts.host, code.offer));

  let made: { node: CertifiedNode; card: NodeCard } | undefined;
  const init = new PairInitiator(code, {
    userKey,
    certify: (nodeIndex) => {
      say(`the node gave index ${nodeIndex}: certifying this machine…`);
      const node = certifyNode(clock, { phrase, nodeIndex, generation: 0, roles: opts.roles, label: opts.label });
      made = { node, card: { cert: verifyCertificate(node.certBytes), certBytes: node.certBytes, endpoints: opts.lan.slice(0, 8).map((e) => ({ kind: 'lan' as const, ...e })) } };
      return makeFriendCard(opts.name, [made.card], node.keys.sign.secretKey);
    },
  }, rng);
  let step;
  try {
    step = await runJoin(clock, deps.tcp ?? realTcp, endpoint, init);
  } catch (e) {
    if (isKithError(e, 'PAIR_REFUSED')) throw new KithError('NODE_ADD_FAILED', `the node refused: ${e.message}`, { cause: e });
    throw e;
  }
  if (!step.welcome || !made) throw new KithError('NODE_ADD_FAILED', 'the offer is a friend\'s, not one of this user\'s nodes: use `kith pair --code` there instead');
  const { welcome, nodeIndex } = step.welcome;
  const { node, card: { cert } } = made;

  // Members and friends first, the key file last: an interrupted add leaves no identity behind.
  ensurePrivateDir(opts.dataDir);
  const store = await (deps.openStore ?? openLevelStore)(dataFiles(opts.dataDir).store);
  let ownNodes = 0;
  try {
    const revoked = (c: NodeCertificate) => welcome.revocations.some((r) => revokes(r.revocation, c));
    for (const n of welcome.own.nodes) {
      if (bytesEqual(n.cert.dhKey, cert.dhKey) || revoked(n.cert)) continue;
      await saveMember(store, memberSpecFor(cert.dhKey, n, node.ownSecret));
      ownNodes++;
    }
    for (const f of welcome.friends) {
      if (f.state !== 'friend') continue;
      for (const n of f.nodes) if (!revoked(n.cert)) await saveMember(store, memberSpecFor(cert.dhKey, n, f.secret!));
    }
    await storeWelcome(store, welcome);
  } finally {
    await store.close();
  }
  saveIdentity(opts.dataDir, node);
  node.keys.sign.secretKey.fill(0);
  node.keys.dh.secretKey.fill(0);
  node.ownSecret.fill(0);
  return {
    userKey: toHex(userKey), nodeIndex, label: opts.label, ownNodes,
    friends: welcome.friends.filter((f) => f.state === 'friend').length, revocations: welcome.revocations.length,
  };
}

function findOffer(deps: NodeAddDeps, host: string, offer: number): Promise<Endpoint> {
  if (deps.findOffer) return deps.findOffer(offer);
  if (isLoopback(host)) {
    return Promise.reject(new KithError('PAIR_NOT_FOUND', 'this node is bound to loopback and does not search the LAN: give the QR content (kith:pair?c=…&a=host:port)'));
  }
  return discoverOffer(deps.clock, offer);
}
