// Naming a user on the command line: a full key, a unique prefix (as `kith friend list` shows
// it), or a name; ambiguous and unknown references are errors that say why.
import t from 'tap';
import { checkDisplayName, resolveUserRef, type KnownUser } from '../../identity/user-ref.js';
import { isKithError } from '../../core/errors.js';

const bob: KnownUser = { userKey: 'ab12cd34'.repeat(8), name: 'Bob' };
const bea: KnownUser = { userKey: 'ab12ee00'.repeat(8), name: 'Bea' };
const carol: KnownUser = { userKey: '77aa'.repeat(16), name: 'carol' };
const known = [bob, bea, carol];

function message(ref: string): string {
  try {
    return `ok ${resolveUserRef(ref, known).name}`;
  } catch (e) {
    return isKithError(e, 'FRIEND_UNKNOWN') || isKithError(e, 'USER_AMBIGUOUS') ? `${e.code} ${e.message}` : `crash ${(e as Error).message}`;
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
  t.match(message('ab12'), /^USER_AMBIGUOUS "ab12" matches 2 users \(ab12cd34ab12cd34 "Bob", ab12ee00ab12ee00 "Bea"\): give more digits/);
  t.match(message('ab1'), /^FRIEND_UNKNOWN .*too short: give at least 4 hex digits/);
  t.match(message('ffff'), /no known user has the key or name "ffff"/);
  t.match(message('dave'), /no known user/);
  t.match(message(''), /too short/);
});

t.test('exact name, prefix, ambiguous name, unknown (named cases)', async (t) => {
  const twins = [...known, { userKey: 'cc'.repeat(32), name: 'carol' }];
  const code = (ref: string, list: readonly KnownUser[]) => {
    try {
      return resolveUserRef(ref, list).userKey.slice(0, 4);
    } catch (e) {
      return isKithError(e) ? e.code : 'crash';
    }
  };
  t.equal(code('Carol', known), '77aa', 'exact name, other case');
  t.equal(code('ab12e', known), 'ab12', 'unique prefix');
  t.equal(code('carol', twins), 'USER_AMBIGUOUS', 'two friends named carol');
  t.match(message('carol'), /^ok carol/);
  t.equal(code('zed', known), 'FRIEND_UNKNOWN', 'nobody');
});

t.test('hostile unicode names: escaped in errors, never a look-alike match, refused as own names', async (t) => {
  const rlo: KnownUser = { userKey: 'dd'.repeat(32), name: 'bob\u202e\u001b[31m' };
  const fullwidth: KnownUser = { userKey: 'ee'.repeat(32), name: '\uff22\uff4f\uff42' }; // "Ｂｏｂ"
  const list = [bob, rlo, fullwidth];
  let msg = '';
  try {
    resolveUserRef('bob', list);
  } catch (e) {
    msg = (e as Error).message;
  }
  t.match(msg, /matches 2 users/, 'NFKC folds fullwidth Ｂｏｂ onto Bob: ambiguous, not a silent pick');
  t.notOk(/[\u001b\u202e]/.test(msg), 'no raw escape or bidi override reaches the terminal');
  t.equal(resolveUserRef('dddd', list).userKey, rlo.userKey, 'the key prefix still names the hostile one');
  t.throws(() => resolveUserRef('bob\u202e', [bob]), /no known user/, 'a ref with a bidi mark is not Bob');
  t.equal(checkDisplayName('  Alice  '), 'Alice');
  for (const bad of ['', '   ', 'a'.repeat(65), 'al\u202eice', 'x\u0007', 'zero\u200bwidth']) t.throws(() => checkDisplayName(bad), { code: 'NAME_INVALID' }, JSON.stringify(bad));
  t.equal(checkDisplayName('Zoë 🌻'), 'Zoë 🌻', 'accents and emoji are fine');
});
