// KithError: the one error class for failures a person or a peer can cause.
// Codes are API: they never change meaning and are never reused. Messages may change.
// Programmer mistakes stay TypeError / RangeError.

export interface ErrorCodeInfo {
  /** What makes this error happen. */
  cause: string;
  /** The one thing to do about it (printed as the hint when the thrower gives none). */
  fix: string;
}

/** Every stable error code, listed once with its cause and its fix. */
export const ERROR_CODES = {
  // --- pairing and friends ---
  PAIR_CODE_INVALID: {
    cause: 'a pairing code is not of the form <digits>-<word>-<word> with words from the BIP39 English list',
    fix: 'type the code exactly as the other agent printed it, e.g. 4096-violin-harbor',
  },
  PAIR_NOT_FOUND: {
    cause: 'no agent on the local network answered for that pairing code',
    fix: 'check that both machines are on the same network and the offer is still waiting, or use the QR content, which carries the address',
  },
  PAIR_WRONG_CODE: {
    cause: 'the two agents did not hold the same code: the PAKE failed, and the offer is used up',
    fix: 'start a new offer with `kith pair` and type its code carefully',
  },
  PAIR_EXPIRED: {
    cause: 'the pairing offer expired or was already used',
    fix: 'start a new offer with `kith pair`',
  },
  PAIR_RATE_LIMITED: {
    cause: 'this address failed a pairing attempt a moment ago',
    fix: 'wait a minute, then try again with a new offer',
  },
  PAIR_REFUSED: {
    cause: 'the other agent refused to pair: its user blocked this user, or the message was malformed',
    fix: 'ask the other person; a block is lifted only by them',
  },
  PAIR_FAILED: {
    cause: 'the pairing connection broke or the other agent sent something that is not kith pairing',
    fix: 'try again; check that nothing between the machines interferes',
  },
  PAIR_BUSY: {
    cause: 'another joiner is in the middle of pairing with that offer (it has sent its hello); if that joiner fails, the offer is used up',
    fix: 'wait a few seconds and try again; if it then says PAIR_EXPIRED or PAIR_WRONG_CODE, ask for a new offer and check who else is pairing',
  },
  PAIR_NOT_CONFIRMED: {
    cause: 'one side ran `kith pair --verify` (joining or offering) and its person did not confirm the safety number (answered no, or did not answer within 2 minutes, or the connection closed): neither side changed anything',
    fix: 'compare the safety numbers on both screens and pair again; if they differ, someone is in the middle: pair in person with a new code',
  },
  FRIEND_UNKNOWN: {
    cause: 'no friend has that user key (or key prefix)',
    fix: 'run `kith friend list` to see friends and their keys',
  },
  USER_AMBIGUOUS: {
    cause: 'a name or key prefix given for a user matches more than one known user (the message lists them)',
    fix: 'give more hex digits of the user key, as `kith friend list` shows it',
  },
  NAME_INVALID: {
    cause: 'a display name is empty, longer than 64 bytes of UTF-8, or holds control or bidi characters',
    fix: 'choose a shorter name of printable characters: `kith name set "Alice"`',
  },
  // --- own nodes and the roster ---
  ROSTER_INVALID: {
    cause: 'a revocation, node announcement, friend record or enrollment welcome is malformed, forged or from the wrong user',
    fix: 'nothing to do locally: it was dropped and nothing else changed',
  },
  NODE_UNKNOWN: {
    cause: 'this user has no node with that index (or it is this very node)',
    fix: 'run `kith node list` to see the user\'s nodes and their indexes',
  },
  NODE_ADD_FAILED: {
    cause: '`kith node add` could not enroll this machine: the phrase is another user\'s, the node offering the code cannot enroll, or the data dir already has an identity',
    fix: 'run `kith pair` on one of your existing nodes (with a current key file) and give its code to `kith node add --code` on an empty data dir',
  },
  REVOCATION_INVALID: {
    cause: 'the revocation is not signed by this node\'s user, or names a node the user does not have',
    fix: 'give the seed phrase of this node\'s user and an index from `kith node list`',
  },
  // --- cluster: members, NAT ---
  CARD_INVALID: {
    cause: 'a node card is malformed, its signature does not verify, or its certificate is not valid',
    fix: 'ask for a fresh `kith card --json` from that node and copy the whole file',
  },
  SECRET_INVALID: {
    cause: 'a bootstrap secret file does not hold exactly 64 hex digits (32 bytes)',
    fix: 'make one with `kith secret new --out FILE` and give the same file to both ends',
  },
  MEMBER_UNKNOWN: {
    cause: 'no cluster member has that node key',
    fix: 'run `kith peers` to see the members and their keys',
  },
  STUN_INVALID: {
    cause: 'a datagram claiming to be STUN is malformed',
    fix: 'nothing was accepted from it; if it came from a configured STUN server, check that server',
  },
  STUN_TIMEOUT: {
    cause: 'a STUN server did not answer a binding request',
    fix: 'check nat.stunServers in the config and that UDP to the server is not blocked',
  },
  STUN_ERROR: {
    cause: 'a STUN server answered a binding request with an error',
    fix: 'use another STUN server (nat.stunServers)',
  },
  PORT_MAPPING_FAILED: {
    cause: 'the router refused or did not answer a UPnP IGD / NAT-PMP port mapping request',
    fix: 'enable UPnP or NAT-PMP on the router, or set nat.portMapping = "off"; members can still reach this node while it keeps sessions open',
  },
  PORT_MAPPING_NO_GATEWAY: {
    cause: 'this machine has no IPv4 default gateway (a LAN without a router to the internet), so no router was asked for a port mapping',
    fix: 'nothing, if the members are on this LAN; otherwise give the router with nat.gateway, or set nat.portMapping = "off"',
  },
  // --- input and encoding ---
  CBOR_INVALID: {
    cause: 'bytes are not well-formed canonical CBOR of the kinds kith uses (or break a size limit)',
    fix: 'the sender or the file is corrupt or speaks another version; nothing was accepted from it',
  },
  SIGNATURE_INVALID: {
    cause: 'a signed object does not verify: forged, truncated, altered or signed by another key',
    fix: 'nothing was accepted from it; if it came from a file, restore the file from a good copy',
  },
  SEAL_INVALID: {
    cause: 'a sealed box (HPKE or a chunk seal) does not open: wrong key, wrong context, or altered or truncated bytes',
    fix: 'nothing was accepted from it; fetch the object again from another holder (the archive does this by itself)',
  },
  USAGE: {
    cause: 'a command was called with missing, unknown or malformed arguments',
    fix: 'run the command with --help to see its arguments',
  },
  // --- consensus ---
  METHOD_UNKNOWN: {
    cause: 'no built-in consensus method has that name',
    fix: 'run `kith method list` for the names, or write a CEL method with --cel',
  },
  METHOD_PARAM: {
    cause: 'a consensus method parameter is unknown, of the wrong type or out of range',
    fix: 'run `kith method list` to see each method\'s parameters and their ranges',
  },
  METHOD_INPUT: {
    cause: 'ballots or method input do not fit the method (wrong shape, unknown option, bad count)',
    fix: 'correct the ballots listed; `kith method list` says which ballot shapes each method takes',
  },
  CEL_INVALID: {
    cause: 'a CEL method does not parse or does not type-check',
    fix: 'correct the expression at the position shown; the context variables are listed in consensus/README.md',
  },
  CEL_LIMIT: {
    cause: 'a CEL method is longer, deeper or more nested than kith allows',
    fix: 'simplify the expression: use the precomputed tallies instead of nested loops over ballots',
  },
  CEL_EVAL: {
    cause: 'a CEL method failed while evaluating (division by zero, missing key, wrong result type)',
    fix: 'guard the expression (e.g. with has() or size() checks) and try it with `kith method test`',
  },
  CONV_INVALID: {
    cause: 'a conversation definition is incomplete or inconsistent (pattern, method, options, sides)',
    fix: 'correct the arguments named in the message; `kith conv new --help` lists them',
  },
  CONV_NOT_FOUND: {
    cause: 'no conversation with that id is in this node\'s store',
    fix: 'run `kith conv list` to see the ids (a prefix of 8 or more characters is enough)',
  },
  MESSAGE_REJECTED: {
    cause: 'a message breaks the conversation\'s pattern (wrong kind, wrong author, wrong turn, after the deadline)',
    fix: 'the reason says which rule; nothing was stored',
  },
  CONV_CLOSED: {
    cause: 'the conversation has a valid closing record and takes no more messages',
    fix: 'start a new conversation if there is more to decide',
  },
  // --- identity ---
  PHRASE_WORD_UNKNOWN: {
    cause: 'a word of the seed phrase is not in the BIP39 English word list (a typo?)',
    fix: 'check the word named in the message against the phrase written down at init',
  },
  PHRASE_LENGTH: {
    cause: 'the seed phrase does not have 24 words',
    fix: 'enter all 24 words, separated by spaces',
  },
  PHRASE_CHECKSUM: {
    cause: 'every word is valid but the checksum does not match: a word is wrong or two are swapped',
    fix: 'compare the phrase word by word with the one written down at init',
  },
  PHRASE_FILE: {
    cause: 'the phrase file cannot be read, or can be read by other users',
    fix: 'create it readable by its owner only: chmod 600 FILE',
  },
  IDENTITY_MISSING: {
    cause: 'this data dir has no identity yet',
    fix: 'run `kith init` (or `kith init --recover` with your seed phrase)',
  },
  IDENTITY_EXISTS: {
    cause: 'this data dir already has an identity; init would overwrite its keys',
    fix: 'use another --data-dir, or move the existing one away first if you really mean to replace it',
  },
  KEY_FILE_MISSING: {
    cause: 'a key file of this data dir is missing',
    fix: 'restore it from a backup, or recreate it with `kith init --recover` and your seed phrase',
  },
  KEY_FILE_CORRUPT: {
    cause: 'a key file cannot be decoded or its certificate does not match its keys',
    fix: 'recreate it with `kith init --recover` and your seed phrase (move the bad file away first)',
  },
  KEY_FILE_PERMISSIONS: {
    cause: 'a key file can be read or written by users other than its owner',
    fix: 'chmod 600 the file named in the message, and check who else could have read it',
  },
  CERT_INVALID: {
    cause: 'a node certificate or revocation is malformed, forged or signed by the wrong user key',
    fix: 'nothing was accepted from it; ask its owner for a fresh card',
  },
  // --- delivery between nodes ---
  MESSAGE_TOO_LARGE: {
    cause: 'a message is larger than reliable delivery carries in one piece',
    fix: 'split it, or send it as an archive object (chunked) instead',
  },
  SEND_BACKPRESSURE: {
    cause: 'too much data is already in flight to this peer',
    fix: 'wait for earlier sends to finish (await them) before sending more',
  },
  DELIVERY_FAILED: {
    cause: 'a message was not acknowledged after every retransmission',
    fix: 'the peer is unreachable or gone; membership will notice, and the caller may retry later',
  },
  REQUEST_TIMEOUT: {
    cause: 'no response to a request arrived in time',
    fix: 'the peer is slow or unreachable; retry later',
  },
  STREAM_REFUSED: {
    cause: 'the peer takes no streams now: nothing there reads them, or it already receives as many as it allows from this node',
    fix: 'retry when its earlier streams have finished',
  },
  STREAM_ABORTED: {
    cause: 'a stream ended before all of it was read: one side cancelled it, its source failed, the peer was removed, or a chunk broke the stream protocol',
    fix: 'the message says which; nothing after the last chunk read was delivered, so send it again',
  },
  STREAM_STALLED: {
    cause: 'a stream made no progress for the idle time (default 60 s): the other side stopped reading or sending',
    fix: 'the peer is unreachable or its reader hangs; send again later',
  },
  // --- archive ---
  ARCHIVE_MANIFEST_INVALID: {
    cause: 'an archive manifest is malformed or inconsistent (wrong shard counts, sizes, indices or an unknown format)',
    fix: 'nothing was accepted from it; if it is your own, read the object through another copy of its manifest',
  },
  ARCHIVE_NO_ACCESS_DEVICE: {
    cause: 'an object was to be archived but the owner has no access device whose key could seal its inner layer',
    fix: 'add an access device (a laptop or desktop) with `kith node add`, then archive again',
  },
  ARCHIVE_ONE_ACCESS_DEVICE: {
    cause: 'history should be sealed inside to access device A and outside to access device B, but the owner has only one access device; the outer layer goes to the holding relays instead (two systems still, but a holder and that one device together can read it)',
    fix: 'add a second access device with `kith node add`; objects archived from then on use A and B',
  },
  ARCHIVE_PLACEMENT_IMPOSSIBLE: {
    cause: 'the shards of an object cannot be placed so that losing any one household leaves enough of them: too few households, holders or free quota',
    fix: 'pair with a friend in another household, or ask a friend to raise the quota they give you (the message says what is missing)',
  },
  ARCHIVE_QUOTA_EXCEEDED: {
    cause: 'a holder refused a shard: storing it would take the sender past the quota this holder gives them',
    fix: 'ask that friend to raise your quota, remove old objects, or let placement choose another holder',
  },
  ARCHIVE_DISK_FULL: {
    cause: 'a holder refused a shard because its disk does not have the free space the shard needs (plus its reserve)',
    fix: 'free disk space on that machine; nothing already stored was touched',
  },
  ARCHIVE_SHARD_UNKNOWN: {
    cause: 'a request named a shard (or an object) this holder does not hold',
    fix: 'the shard may have been lost or collected after its lease ran out; the owner repairs from other holders',
  },
  ARCHIVE_SHARD_INVALID: {
    cause: 'a shard or its proof does not match the integrity root in the manifest (altered, truncated, oversize or for another object)',
    fix: 'nothing was accepted from it; the holder is counted as failing its audit and the shard is repaired elsewhere',
  },
  ARCHIVE_UNRECOVERABLE: {
    cause: 'fewer than k good shards of a chunk could be fetched, so that chunk cannot be rebuilt now',
    fix: 'bring holders that are offline back online (see `kith archive status`), then try again',
  },
  ARCHIVE_NOT_OWNER: {
    cause: 'a node asked a holder to remove its layer from, or delete, shards it does not own',
    fix: 'only the owner of an object (any of their certified nodes) can read or delete it',
  },
  ARCHIVE_MESSAGE_INVALID: {
    cause: 'an archive protocol message is well-formed CBOR but not a valid put, get, audit or answer',
    fix: 'the peer speaks another version or is faulty; nothing was accepted from it',
  },
  ARCHIVE_RESEAL_KEY_NEEDED: {
    cause: 'a history object\'s outer layer is sealed to an access device that was revoked since, and this node does not have that device\'s key, so it cannot read the object or re-seal it away from the revoked device',
    fix: 'run `kith node revoke <index> --generation <g>` for that device again on this node: it derives the revoked key from the seed phrase and hands it to the agent for re-sealing only',
  },
  ARCHIVE_RESEAL_KEY_UNKNOWN: {
    cause: 'a key handed over for re-sealing is not the DH key of an access device this node knows to be revoked: objects are sealed to it, but no certificate kept here ties it to a revoked node of this user, or it is another node\'s key than the index and generation given',
    fix: 'give the index and generation of the revoked node, as `kith node list` shows them; nothing was re-sealed',
  },
  ARCHIVE_RESEAL_DEVICE_LIVE: {
    cause: 'a key handed over for re-sealing is that of a node that is not revoked (this node, or a node of this user whose signed revocation this node does not hold): taking it would strip a live device\'s layer',
    fix: 'revoke the node first (`kith node revoke <index>`); check the index and generation in `kith node list`. Nothing was re-sealed',
  },
  ARCHIVE_OBJECT_UNKNOWN: {
    cause: 'no archived object has this id (or the prefix names several) in this node\'s index',
    fix: 'list the objects with `kith archive ls` and give the id (or enough of its first hex digits)',
  },
  // --- mailbox ---
  STORAGE_FULL: {
    cause: 'a mailbox relay refused a blob: the conversation\'s quota, your quota on that relay, or the relay itself is full',
    fix: 'the message is kept and sent to online participants directly and through other relays; ask the relay\'s owner for more room, or wait until participants have caught up',
  },
  RATE_LIMITED: {
    cause: 'a mailbox relay refused a blob: this node pushed more than the relay takes per minute',
    fix: 'wait a minute; nothing is lost, the blob is pushed again later',
  },
  MAILBOX_REFUSED: {
    cause: 'a mailbox relay refused a request: not a member, a blob over its size limit, a cursor of another incarnation, or a malformed request',
    fix: 'the message says which; a stale cursor is handled by pulling again from the start',
  },
  // --- configuration ---
  CONFIG_INVALID: {
    cause: 'the configuration file has values of the wrong type, out of range, or unknown keys',
    fix: 'correct every problem listed (each key is documented in agent/README.md)',
  },
  CONFIG_UNREADABLE: {
    cause: 'the configuration file cannot be read or is not valid TOML',
    fix: 'check the path given to --config and the TOML syntax at the line named',
  },
  // --- running agent ---
  AGENT_ALREADY_RUNNING: {
    cause: 'another kith agent already holds this data dir',
    fix: 'stop it first (systemctl stop kith, or kill the PID shown), or use another --data-dir',
  },
  AGENT_NOT_RUNNING: {
    cause: 'no agent is running for this data dir',
    fix: 'start one with `kith run` (or systemctl start kith)',
  },
  PORT_IN_USE: {
    cause: 'a port the agent needs is already bound by another program',
    fix: 'stop the other program, or choose another port with --port / --api-port or the config file',
  },
  BIND_FAILED: {
    cause: 'a socket could not be bound for a reason other than the port being in use',
    fix: 'check the address in the config exists on this machine and that kith may bind it',
  },
  STORE_FAILED: {
    cause: 'the LevelDB store in the data dir could not be opened or written',
    fix: 'check free disk space and the permissions of the data dir',
  },
  STORE_CORRUPT: {
    cause: 'LevelDB found damaged data in the store (a truncated or overwritten file, a bad checksum): a disk fault, a crash of the disk itself, or someone editing store/',
    fix: 'stop the agent and copy the whole data dir aside first; then restore store/ from a backup, or move store/ away to start an empty one (node.key stays; pairings and conversations kept only here are lost)',
  },
  DISK_FULL: {
    cause: 'the disk (or the quota) that holds the data dir or the named file is full: nothing was written',
    fix: 'free space on that file system (df -h DIR); the agent writes again once there is room, and nothing it acknowledged was lost',
  },
  DATA_DIR_UNSAFE: {
    cause: 'the data dir already exists but is not private: it belongs to another user, others can write to it, or others can read it and it holds files that are not kith\'s',
    fix: 'use a new --data-dir (kith creates it with mode 0700), or check what is in that one, then chown it to this user and chmod 700 it',
  },
  API_HOST_REFUSED: {
    cause: 'a request to the local API named another host in its Host header (a web page using DNS rebinding, or a proxy in front of the API)',
    fix: 'call the API as http://127.0.0.1:PORT/ (or localhost, or the configured api.host), with the port from <data-dir>/agent.json',
  },
  STORE_SCHEMA_NEWER: {
    cause: 'the store in the data dir was written by a newer kith (its meta/schema is above what this version knows)',
    fix: 'install that kith version or a newer one; the store is left untouched so nothing of it is lost',
  },
  DATA_DIR: {
    cause: 'the data dir cannot be created or written',
    fix: 'choose a writable --data-dir, or fix its owner and permissions',
  },
  API_UNAUTHORIZED: {
    cause: 'a local API request had no valid bearer token',
    fix: 'send the token from <data-dir>/api.token as `Authorization: Bearer TOKEN`',
  },
  API_UNREACHABLE: {
    cause: 'the agent recorded in the data dir does not answer on its API port',
    fix: 'check `systemctl status kith` or the agent log; restart the agent',
  },
  API_BAD_REQUEST: {
    cause: 'a local API request did not match the shape declared for its route (agent/api-shapes.ts; docs/api/openapi.json): a missing or mistyped field, or a body that is not JSON',
    fix: 'send the body and parameters the route declares; the message names the first field that is wrong',
  },
  API_NOT_FOUND: {
    cause: 'no local API route has that method and path',
    fix: 'use a route listed in agent/README.md "Local API" (or docs/api/openapi.json)',
  },
  API_BODY_TOO_LARGE: {
    cause: 'a local API request body was larger than 256 KiB',
    fix: 'send a smaller request',
  },
  API_INTERNAL: {
    cause: 'the agent failed while answering a local API request (a bug: the agent log has the details)',
    fix: 'look at the agent log (journalctl -u kith) and report it',
  },
  API_ORIGIN_REFUSED: {
    cause: 'a request to the local API came from a web page of another origin (its Origin or Sec-Fetch-Site header names another site): the API serves no other site',
    fix: 'open the UI from the link `kith ui` prints, at the address it names',
  },
  API_SESSION_INVALID: {
    cause: 'a browser request had no session cookie, or one that expired, was signed out, or belongs to a removed client',
    fix: 'open a new login link with `kith ui` (or `kith client add` for a phone)',
  },
  API_LOGIN_LINK_USED: {
    cause: 'a UI login link was opened a second time, or after it expired (each link works once, for a few minutes)',
    fix: 'run `kith ui` again for a new link',
  },
  API_CSRF_REFUSED: {
    cause: 'a browser request that changes something came without the X-Kith-CSRF header matching its session (a page of another site trying to act through the session cookie)',
    fix: 'send the csrf value from GET /api/v1/session as the X-Kith-CSRF header (the web UI does this)',
  },
  API_SCOPE_REFUSED: {
    cause: 'a companion client (a phone added with `kith client add`) asked for something outside its scope',
    fix: 'do it on this machine, or add the client with a wider --scope',
  },
  CLIENT_UNKNOWN: {
    cause: 'no companion client has that name',
    fix: 'list them with `kith client list`',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class KithError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  /** Extra lines (e.g. every config problem) printed under the message. */
  readonly details: readonly string[];

  constructor(code: ErrorCode, message: string, opts: { hint?: string; cause?: unknown; details?: readonly string[] } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'KithError';
    this.code = code;
    this.hint = opts.hint ?? ERROR_CODES[code].fix;
    this.details = opts.details ?? [];
  }

  /** The form people read: `error[CODE]: message`, details, then the hint. */
  format(): string {
    const lines = [`error[${this.code}]: ${this.message}`];
    for (const d of this.details) lines.push(`  - ${d}`);
    lines.push(`  hint: ${this.hint}`);
    return lines.join('\n');
  }

  toJSON(): { code: ErrorCode; message: string; hint: string; details: readonly string[] } {
    return { code: this.code, message: this.message, hint: this.hint, details: this.details };
  }
}

export function isKithError(e: unknown, code?: ErrorCode): e is KithError {
  return e instanceof KithError && (code === undefined || e.code === code);
}
