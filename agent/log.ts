// A tiny logger: one line per event on stderr with the syslog priority prefix journald reads
// (<3> error, <4> warning, <6> info, <7> debug), left off on a terminal. pino's transports break inside Bun binaries
// (docs/PLATFORM.md). Callers never pass secrets; keys are shown by their public half only.
// Every message is one line: control characters (a peer's label, say) are escaped (printable.ts).
import type { LogLevelName } from './config.js';
import { printable } from './printable.js';

const PRIORITY: Record<LogLevelName, number> = { error: 3, warn: 4, info: 6, debug: 7 };
const ORDER: Record<LogLevelName, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export interface Logger {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/**
 * Whether lines carry the <N> prefix: journald needs it, a person at a terminal does not. systemd
 * sets JOURNAL_STREAM when stderr goes to the journal; a pipe or file keeps the prefix too.
 */
export function wantsPriorityPrefix(stderr: { isTTY?: boolean }, env: Record<string, string | undefined>): boolean {
  return (env['JOURNAL_STREAM'] ?? '') !== '' || stderr.isTTY !== true;
}

export function createLogger(
  level: LogLevelName,
  write: (line: string) => void = (l) => process.stderr.write(l),
  prefix = wantsPriorityPrefix(process.stderr, process.env),
): Logger {
  const at = (l: LogLevelName) => (msg: string) => {
    if (ORDER[l] >= ORDER[level]) write(`${prefix ? `<${PRIORITY[l]}>` : ''}${printable(msg)}\n`);
  };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
