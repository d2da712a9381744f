// How a person names another user on the command line: the whole 64-hex user key, any unique
// leading part of it (at least MIN_PREFIX_DIGITS, as `kith friend list` shows 16), or the
// user's display name when exactly one known user has it. One resolver for every command that
// names a user (friend remove/block, conv new --with/--side, chat), so they all accept the same
// forms. Names come from the network: they are compared (NFKC, case-folded), never trusted as
// identifiers, and shown escaped (core/printable.ts) in every message.
import { KithError } from '../core/errors.js';
import { printable } from '../core/printable.js';

/** Fewer hex digits than this match too many users by chance to be taken as a choice. */
export const MIN_PREFIX_DIGITS = 4;
/** A display name: at most this many bytes of UTF-8 (as friend cards carry it). */
export const MAX_DISPLAY_NAME_BYTES = 64;

export interface KnownUser {
  /** The user key, 64 lowercase hex digits. */
  userKey: string;
  name: string;
}

/** The form two names are compared in: NFKC, lower case, spaces trimmed. */
export function nameKey(name: string): string {
  return name.normalize('NFKC').trim().toLowerCase();
}

/** Controls, DEL, line/paragraph separators, bidi marks, and zero-width characters. */
const UNSAFE_IN_NAME = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

/** A display name this user sets: trimmed, 1–64 bytes, nothing unprintable; NAME_INVALID otherwise. */
export function checkDisplayName(name: string): string {
  const n = name.normalize('NFC').trim();
  if (n === '') throw new KithError('NAME_INVALID', 'a display name cannot be empty');
  if (new TextEncoder().encode(n).length > MAX_DISPLAY_NAME_BYTES) throw new KithError('NAME_INVALID', `a display name is at most ${MAX_DISPLAY_NAME_BYTES} bytes of UTF-8`);
  if (UNSAFE_IN_NAME.test(n)) throw new KithError('NAME_INVALID', `the display name ${JSON.stringify(printable(n))} holds control, bidi or invisible characters`);
  return n;
}

/**
 * The one known user `ref` names: FRIEND_UNKNOWN when nobody (or too short), USER_AMBIGUOUS
 * listing the candidates when several match. A full key is matched only against known users;
 * callers that take strangers' keys check for a full key first. A name with unsafe characters
 * matches only by what it is (never by a look-alike: compared NFKC, so a ref must equal it).
 */
export function resolveUserRef(ref: string, known: readonly KnownUser[]): KnownUser {
  const want = ref.trim().toLowerCase();
  const isHex = /^[0-9a-f]*$/.test(want) && want.length <= 64;
  const byKey = isHex && want.length >= MIN_PREFIX_DIGITS ? known.filter((u) => u.userKey.startsWith(want)) : [];
  const byName = want === '' ? [] : known.filter((u) => u.name !== '' && nameKey(u.name) === nameKey(ref));
  const hits = [...new Map([...byKey, ...byName].map((u) => [u.userKey, u])).values()];
  if (hits.length === 1) return hits[0]!;
  const shown = printable(ref);
  if (hits.length > 1) {
    const list = hits.slice(0, 5).map((u) => `${u.userKey.slice(0, 16)} "${printable(u.name)}"`).join(', ');
    throw new KithError('USER_AMBIGUOUS', `"${shown}" matches ${hits.length} users (${list}${hits.length > 5 ? ', …' : ''}): give more digits of the key`, { hint: 'kith friend list shows every friend\'s key' });
  }
  if (isHex && want.length < MIN_PREFIX_DIGITS) {
    throw new KithError('FRIEND_UNKNOWN', `"${shown}" is too short: give at least ${MIN_PREFIX_DIGITS} hex digits of the user key, or the user's name`);
  }
  throw new KithError('FRIEND_UNKNOWN', `no known user has the key or name "${shown}"`);
}
