// The assertions shared test suites use: tap's `t` provides them, and so does the small Bun
// harness (test/bun/harness.ts), so one suite runs under both runtimes.
export interface Assert {
  ok(v: unknown, msg?: string): void;
  notOk(v: unknown, msg?: string): void;
  equal(a: unknown, b: unknown, msg?: string): void;
  not(a: unknown, b: unknown, msg?: string): void;
  same(a: unknown, b: unknown, msg?: string): void;
  throws(fn: () => unknown, wanted?: unknown, msg?: string): void;
  teardown(fn: () => unknown): void;
}
