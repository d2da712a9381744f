// Which mappings the start-up page trim (agent/page-trim.ts) gives back: the executable's own
// read-only and executable file mappings, never a writable one (its dirty copy-on-write pages are
// anonymous memory) and never another file's. Lines are from a real Bun 1.4.5 /proc/self/maps.
import t from 'tap';
import { readOnlyMappingsOf } from '../../agent/page-trim.js';

const EXE = '/usr/bin/kith';
const MAPS = `00200000-01a39000 r--p 00000000 08:01 1234                               /usr/bin/kith
01a40000-0684a000 r-xp 01838000 08:01 1234                               /usr/bin/kith
0684a000-0685f000 rw-p 06641000 08:01 1234                               /usr/bin/kith
0685f000-06867000 r--p 06656000 08:01 1234                               /usr/bin/kith
06867000-06868000 rw-p 0665e000 08:01 1234                               /usr/bin/kith
06868000-0698a000 rw-p 00000000 00:00 0                                  [heap]
7f0d1c000000-7f0d1c021000 r-xp 00000000 08:01 99                         /usr/lib/x86_64-linux-gnu/libc.so.6
7f0d1c100000-7f0d1c101000 r--p 00000000 08:01 1235                       /usr/bin/kith-old
7ffd5e000000-7ffd5e021000 rw-p 00000000 00:00 0                          [stack]
`;

t.test('the executable read-only and code mappings, in order', async (t) => {
  t.same(readOnlyMappingsOf(MAPS, EXE), [
    { start: 0x200000n, end: 0x1a39000n },
    { start: 0x1a40000n, end: 0x684a000n },
    { start: 0x685f000n, end: 0x6867000n },
  ]);
});

t.test('nothing for a file that is not mapped, or for empty or garbled text', async (t) => {
  t.same(readOnlyMappingsOf(MAPS, '/usr/bin/other'), []);
  t.same(readOnlyMappingsOf('', EXE), []);
  t.same(readOnlyMappingsOf('not a maps line /usr/bin/kith\n', EXE), []);
});

t.test('a path with spaces is matched whole', async (t) => {
  const line = '00400000-00401000 r-xp 00000000 08:01 7   /opt/my apps/kith\n';
  t.same(readOnlyMappingsOf(line, '/opt/my apps/kith'), [{ start: 0x400000n, end: 0x401000n }]);
  t.same(readOnlyMappingsOf(line, '/opt/my'), []);
});
