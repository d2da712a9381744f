// The agent's stderr logger: journald's <N> priority prefixes for the journal and pipes, none for
// a person at a terminal.
import t from 'tap';
import { createLogger, wantsPriorityPrefix } from '../../agent/log.js';

t.test('the <N> prefix: under systemd and in a pipe, not on a terminal', async (t) => {
  t.equal(wantsPriorityPrefix({ isTTY: true }, {}), false, 'kith run in a terminal');
  t.equal(wantsPriorityPrefix({ isTTY: true }, { JOURNAL_STREAM: '8:12345' }), true, 'systemd unit whose stderr is the journal');
  t.equal(wantsPriorityPrefix({}, {}), true, 'stderr piped to a file or a test');
  t.equal(wantsPriorityPrefix({ isTTY: false }, { JOURNAL_STREAM: '' }), true, 'a pipe with an empty JOURNAL_STREAM');
  t.equal(wantsPriorityPrefix({ isTTY: true }, { JOURNAL_STREAM: '' }), false, 'an empty JOURNAL_STREAM is not the journal');
});

t.test('lines carry the prefix only when asked, one line per event, filtered by level', async (t) => {
  const lines: string[] = [];
  createLogger('info', (l) => lines.push(l), true).info('ready\nnow');
  createLogger('info', (l) => lines.push(l), false).warn('no gateway');
  createLogger('info', (l) => lines.push(l), false).debug('hidden');
  t.same(lines, ['<6>ready\\nnow\n', 'no gateway\n'], 'a newline in a message is escaped (printable.ts)');
});
