// Where the published known-answer vectors live: test/vectors/data inside the checkout (each
// folder with its SOURCE.md), or KITH_VECTORS_DIR. Nothing outside the checkout is read.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const REPO_ROOT = path.resolve(here, '..', '..');

export const VECTORS_DIR = process.env.KITH_VECTORS_DIR ?? path.resolve(REPO_ROOT, 'test', 'vectors', 'data');

export function readVector(rel: string): string {
  const file = path.join(VECTORS_DIR, rel);
  if (!fs.existsSync(file)) throw new Error(`vector file ${file} is missing: test/vectors/data is part of the repository (see its README.md)`);
  return fs.readFileSync(file, 'utf8');
}

export function readJsonVector<T>(rel: string): T {
  return JSON.parse(readVector(rel)) as T;
}

export const hex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
