// Text that came from other nodes is escaped before it reaches a terminal or the log (issue 18,
// weak spot 13): named cases for printable(), the logger, and `kith peers`' row.
import t from 'tap';
import { printable } from '../../agent/printable.js';
import { createLogger } from '../../agent/log.js';
import { peerRow } from '../../agent/cli-cluster.js';
import type { MemberView } from '../../cluster/membership.js';

t.test('printable: named cases', async (t) => {
  const cases: [string, string, string][] = [
    ['plain text stays', 'living-room router', 'living-room router'],
    ['accents and emoji stay', 'Küche 🍳', 'Küche 🍳'],
    ['a forged second line', 'evil\nerror: your disk is full', 'evil\\nerror: your disk is full'],
    ['a colour escape', 'x\u001b[31mRED\u001b[0m', 'x\\e[31mRED\\e[0m'],
    ['carriage return overwriting the line', 'ok\rFAIL', 'ok\\rFAIL'],
    ['a C1 CSI', 'a\u009b2Jb', 'a\\u009b2Jb'],
    ['bell and backspace', 'a\u0007\u0008b', 'a\\u0007\\u0008b'],
    ['DEL', 'a\u007fb', 'a\\u007fb'],
    ['right-to-left override', 'photo\u202egnp.exe', 'photo\\u202egnp.exe'],
    ['an isolate', 'a\u2066b\u2069', 'a\\u2066b\\u2069'],
    ['a line separator', 'a\u2028b', 'a\\u2028b'],
    ['a tab', 'a\tb', 'a\\tb'],
  ];
  for (const [name, input, want] of cases) t.equal(printable(input), want, name);
});

t.test('the logger writes one line per message, escaped', async (t) => {
  const lines: string[] = [];
  const log = createLogger('debug', (l) => lines.push(l));
  log.info('member "evil\n\u001b[31mRED" joined');
  t.same(lines, ['<6>member "evil\\n\\e[31mRED" joined\n']);
});

t.test('a member row shows a hostile label and endpoint escaped, on two lines', async (t) => {
  const p = { nodeSignKey: 'ab'.repeat(32), userKey: 'cd'.repeat(32), nodeIndex: 0, label: 'x\n\u001b[2Jy', state: 'alive', endpoint: '1.2.3.4:5\u001b[0m', rttMs: 3, lastSeenMs: 10, clockOffsetMs: 0 } as unknown as MemberView;
  const row = peerRow(p);
  t.equal(row.split('\n').length, 2);
  t.notMatch(row, /\u001b/);
  t.match(row, /"x\\n\\e\[2Jy"/);
});
