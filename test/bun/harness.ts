// A small test harness for Bun (tap's runner needs node:v8 serialisation, which Bun lacks).
// Implements test/helpers/assert.ts with node:assert; prints TAP; exits non-zero on failure.
import assert from 'node:assert/strict';
import type { Assert } from '../helpers/assert.js';

export async function runCases(suite: string, cases: { name: string; fn: (t: Assert) => Promise<void> }[]): Promise<number> {
  let failed = 0;
  let n = 0;
  for (const c of cases) {
    n++;
    const teardowns: (() => unknown)[] = [];
    const t: Assert = {
      ok: (v, m) => assert.ok(v, m),
      notOk: (v, m) => assert.ok(!v, m),
      equal: (a, b, m) => assert.equal(a, b, m),
      not: (a, b, m) => assert.notEqual(a, b, m),
      same: (a, b, m) => assert.deepStrictEqual(JSON.parse(JSON.stringify(a ?? null)), JSON.parse(JSON.stringify(b ?? null)), m),
      throws: (fn, wanted) => assert.throws(fn as () => void, wanted as never),
      teardown: (fn) => teardowns.push(fn),
    };
    try {
      await c.fn(t);
      console.log(`ok ${n} - ${suite}: ${c.name}`);
    } catch (e) {
      failed++;
      console.log(`not ok ${n} - ${suite}: ${c.name}\n  # ${String((e as Error).message).split('\n').join('\n  # ')}`);
    } finally {
      for (const f of teardowns.reverse()) await f();
    }
  }
  return failed;
}
