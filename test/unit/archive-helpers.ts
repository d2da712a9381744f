// Shared by the archive tests (not a test file itself): key pairs and error-code expectations.
import type { Test } from 'tap';
import { isKithError, type ErrorCode } from '../../core/errors.js';

export function expectCode(t: Test, f: () => unknown, code: ErrorCode, what: string): void {
  try {
    f();
    t.fail(`${what}: no error`);
  } catch (e) {
    t.ok(isKithError(e, code), `${what}: ${code}${isKithError(e) ? (e.code === code ? '' : ` (got ${e.code})`) : ` (got ${String(e)})`}`);
  }
}

export async function expectCodeAsync(t: Test, f: () => Promise<unknown>, code: ErrorCode, what: string): Promise<void> {
  try {
    await f();
    t.fail(`${what}: no error`);
  } catch (e) {
    t.ok(isKithError(e, code), `${what}: ${code}${isKithError(e) ? (e.code === code ? '' : ` (got ${e.code})`) : ` (got ${String(e)})`}`);
  }
}

export async function collect(it: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of it) parts.push(p);
  return new Uint8Array(Buffer.concat(parts));
}
