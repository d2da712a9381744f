// Naming a user on the command line: a full key, a unique prefix (as `kith friend list` shows
// it), or a name; ambiguous and unknown references are errors that say why.
import t from 'tap';
import { resolveUserRef, type KnownUser } from '../../identity/user-ref.js';
import { isKithError } from '../../core/errors.js';

const bob: KnownUser = { userKey: 'ab12cd34'.repeat(8), name: 'Bob' };
const bea: KnownUser = { userKey: 'ab12ee00'.repeat(8), name: 'Bea' };
const carol: KnownUser = { userKey: '77aa'.repeat(16), name: 'carol' };
const known = [bob, bea, carol];

function message(ref: string): string {
  try {
    return `ok ${resolveUserRef(ref, known).name}`;
  } catch (e) {
    return isKithError(e, 'FRIEND_UNKNOWN') ? e.message : `crash ${(e as Error).message}`;
  }
}

t.test('the forms a person types: full key, the 16 digits friend list shows, 8 digits, 4 digits, a name', async (t) => {
  t.equal(message(bob.userKey), 'ok Bob', 'the full key');
  t.equal(message(bob.userKey.slice(0, 16)), 'ok Bob', 'the 16 digits `kith friend list` shows');
  t.equal(message('AB12CD34'), 'ok Bob', 'upper case, 8 digits');
  t.equal(message('77aa'), 'ok carol', '4 digits when they are unique');
  t.equal(message(' bea '), 'ok Bea', 'a name, any case, spaces trimmed');
});

t.test('ambiguous, too short, unknown: each says why', async (t) => {
  t.match(message('ab12'), /^"ab12" matches 2 users \(ab12cd34ab12cd34 "Bob", ab12ee00ab12ee00 "Bea"\): give more digits/);
  t.match(message('ab1'), /too short: give at least 4 hex digits/);
  t.match(message('ffff'), /no known user has the key or name "ffff"/);
  t.match(message('dave'), /no known user/);
  t.match(message(''), /too short/);
});
