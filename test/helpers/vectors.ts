// Where the published known-answer vectors live: ../shared/vectors beside the checkout
// (CI clones the repo with shared/ beside it), or KITH_VECTORS_DIR.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '..', '..');

export const VECTORS_DIR = process.env.KITH_VECTORS_DIR ?? path.resolve(REPO_ROOT, '..', 'shared', 'vectors');

export function readVector(rel: string): string {
  const file = path.join(VECTORS_DIR, rel);
  if (!fs.existsSync(file)) throw new Error(`vector file ${file} is missing: put shared/ beside the checkout or set KITH_VECTORS_DIR`);
  return fs.readFileSync(file, 'utf8');
}

export function readJsonVector<T>(rel: string): T {
  return JSON.parse(readVector(rel)) as T;
}

export const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
