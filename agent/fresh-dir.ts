// A command that creates the data dir and then fails removes what it made: a mistyped phrase or a
// missing identity must not leave behind an empty data dir that looks like a node set up. Only
// what did not exist when the command began is removed; a dir that existed is never touched.
import fs from 'node:fs';
import path from 'node:path';

/** The outermost of dir and its parents that does not exist yet (what `mkdir -p dir` creates). */
export function firstMissingDir(dir: string): string | undefined {
  let missing: string | undefined;
  for (let d = path.resolve(dir); !fs.existsSync(d); d = path.dirname(d)) {
    missing = d;
    if (path.dirname(d) === d) break;
  }
  return missing;
}

/** Runs fn; when it throws, removes the directories that came into being for dir, then rethrows. */
export async function undoNewDirOnFailure<T>(dir: string, fn: () => Promise<T> | T): Promise<T> {
  const created = firstMissingDir(dir);
  try {
    return await fn();
  } catch (e) {
    if (created !== undefined) fs.rmSync(created, { recursive: true, force: true });
    throw e;
  }
}
