// The user's display name on this node: `<data-dir>/name.json`, `{"name": text, "setAtMs": uint}`,
// written by `kith init --name`, `kith name set` and the roster when an own node renamed the user
// (cluster/roster-service.ts onOwnName). Without the file the name is the OS account's, never set
// (setAtMs 0), so any name set on an own node wins over it.
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../core/files.js';
import { checkDisplayName, MAX_DISPLAY_NAME_BYTES } from '../identity/user-ref.js';

export interface DisplayName {
  name: string;
  setAtMs: number;
}

const fileOf = (dataDir: string) => path.join(dataDir, 'name.json');

/** The stored name, else `fallback` (the OS account name) cut to 64 bytes, with setAtMs 0. */
export function readDisplayName(dataDir: string, fallback: string): DisplayName {
  try {
    const v = JSON.parse(fs.readFileSync(fileOf(dataDir), 'utf8')) as Partial<DisplayName>;
    if (typeof v.name === 'string' && Number.isSafeInteger(v.setAtMs) && v.setAtMs! >= 0) return { name: checkDisplayName(v.name), setAtMs: v.setAtMs! };
  } catch {
    // absent or unreadable: the default below (a bad file is replaced by the next `kith name set`)
  }
  let name = fallback.trim() || 'kith user';
  while (new TextEncoder().encode(name).length > MAX_DISPLAY_NAME_BYTES) name = name.slice(0, -1);
  return { name, setAtMs: 0 };
}

/** Writes the name (checked: NAME_INVALID when empty, too long or unprintable). */
export function writeDisplayName(dataDir: string, name: string, setAtMs: number): DisplayName {
  const d = { name: checkDisplayName(name), setAtMs: Math.max(0, Math.floor(setAtMs)) };
  writeFileAtomic(fileOf(dataDir), JSON.stringify(d) + '\n', 0o600);
  return d;
}
