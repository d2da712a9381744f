// How a person names another user on the command line: the whole 64-hex user key, any unique
// leading part of it (at least MIN_PREFIX_DIGITS, as `kith friend list` shows 16), or the
// user's name when exactly one known user has it. One resolver for every command that names a
// user (friend remove/block, conv new --with/--side), so they all accept the same forms.
import { KithError } from '../core/errors.js';

/** Fewer hex digits than this match too many users by chance to be taken as a choice. */
export const MIN_PREFIX_DIGITS = 4;

export interface KnownUser {
  /** The user key, 64 lowercase hex digits. */
  userKey: string;
  name: string;
}

/**
 * The one known user `ref` names, or FRIEND_UNKNOWN saying why not (too short, nobody, or how
 * many match). A full key is matched only against known users; callers that take strangers'
 * keys check for a full key first.
 */
export function resolveUserRef(ref: string, known: readonly KnownUser[]): KnownUser {
  const want = ref.trim().toLowerCase();
  const isHex = /^[0-9a-f]*$/.test(want) && want.length <= 64;
  const byKey = isHex && want.length >= MIN_PREFIX_DIGITS ? known.filter((u) => u.userKey.startsWith(want)) : [];
  const byName = known.filter((u) => u.name !== '' && u.name.toLowerCase() === want);
  const hits = [...new Map([...byKey, ...byName].map((u) => [u.userKey, u])).values()];
  if (hits.length === 1) return hits[0]!;
  if (hits.length > 1) {
    const shown = hits.slice(0, 5).map((u) => `${u.userKey.slice(0, 16)} "${u.name}"`).join(', ');
    throw new KithError('FRIEND_UNKNOWN', `"${ref}" matches ${hits.length} users (${shown}${hits.length > 5 ? ', …' : ''}): give more digits of the key`);
  }
  if (isHex && want.length < MIN_PREFIX_DIGITS) {
    throw new KithError('FRIEND_UNKNOWN', `"${ref}" is too short: give at least ${MIN_PREFIX_DIGITS} hex digits of the user key, or the user's name`);
  }
  throw new KithError('FRIEND_UNKNOWN', `no known user has the key or name "${ref}"`);
}
