// Usage mistakes on the command line: one `error[USAGE]` report each, exit status 2. Runs the CLI's
// main() in-process with captured output (no agent, no data dir).
import t from 'tap';
import { main, type CliIo } from '../../agent/cli.js';

async function run(argv: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: CliIo = { out: (s) => (out += s), err: (s) => (err += s), readStdin: async () => '', stdinIsTty: false };
  const status = await main(argv, io);
  return { status, out, err };
}

t.test('a usage mistake is reported once, as error[USAGE], with exit status 2', async (t) => {
  for (const argv of [['init', '--bogus'], ['frob'], ['init', '--node'], ['run', '--profile', 'fast']]) {
    const r = await run(argv);
    t.equal(r.status, 2, argv.join(' '));
    t.equal(r.out, '', 'nothing on stdout');
    t.match(r.err, /^error\[USAGE\]: /, 'our report comes first');
    t.equal(r.err.split('\n').filter((l) => l.startsWith('error')).length, 1, `one error line for "${argv.join(' ')}": ${r.err}`);
  }
});

t.test('--help and --version still print and exit 0', async (t) => {
  const help = await run(['init', '--help']);
  t.equal(help.status, 0);
  t.match(help.out, /--recover/);
  const version = await run(['--version']);
  t.equal(version.status, 0);
  t.match(version.out, /\d+\.\d+/);
});
