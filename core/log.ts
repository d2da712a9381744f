// What domain components log through: four levels, one line each. agent/log.ts writes it to
// stderr for journald; simulations collect it per node. Callers never pass secrets.
export interface Log {
  debug(msg: string): void;
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

/** A Log that drops everything (tests that do not look at logs). */
export const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
