// Files that must survive crashes and keep secrets: atomic writes (temp file, fsync, rename,
// fsync of the directory) and a permission check for files only their owner may read.
import fs from 'node:fs';
import path from 'node:path';
import { KithError, type ErrorCode } from './errors.js';

/** A full disk or quota as DISK_FULL, naming the file; other errors unchanged. */
function diskFull(file: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' || code === 'EDQUOT' ? new KithError('DISK_FULL', `cannot write ${file}: ${code === 'ENOSPC' ? 'no space left on the device' : 'disk quota exceeded'}; nothing was written`, { cause: e }) : e;
}

/** Writes a file atomically with the given mode: readers see the old bytes or the new, never half. A full disk is DISK_FULL. */
export function writeFileAtomic(file: string, data: Uint8Array | string, mode = 0o600): void {
  try {
    writeAtomic(file, data, mode);
  } catch (e) {
    throw diskFull(file, e);
  }
}

function writeAtomic(file: string, data: Uint8Array | string, mode: number): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    // A nearly full disk may take part of a write without an error: write until all is written.
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    for (let at = 0; at < bytes.length;) {
      const n = fs.writeSync(fd, bytes, at, bytes.length - at);
      if (n <= 0) throw Object.assign(new Error(`short write to ${tmp}`), { code: 'ENOSPC' });
      at += n;
    }
    fs.fchmodSync(fd, mode); // the umask may have narrowed or, for 0600, must not widen it
    fs.fsyncSync(fd);
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  try {
    const dfd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(dfd);
    } finally {
      fs.closeSync(dfd);
    }
  } catch {
    /* some filesystems refuse fsync on directories; the rename is still atomic */
  }
}

export interface PrivateFileErrors {
  missing: ErrorCode;
  permissions: ErrorCode;
}

/**
 * Reads a file that must be private to its owner (no group or other bits). A missing file or a
 * world-readable one is an error that names the file; the contents are never put in a message.
 */
export function readPrivateFile(file: string, codes: PrivateFileErrors, what: string): Buffer {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new KithError(codes.missing, `${what} ${file} does not exist`);
    throw new KithError(codes.missing, `cannot read ${what} ${file}: ${(e as NodeJS.ErrnoException).code}`, { cause: e });
  }
  if (!st.isFile()) throw new KithError(codes.missing, `${what} ${file} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new KithError(codes.permissions, `${what} ${file} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}; it must be 0600`, {
      hint: `chmod 600 ${file}, and consider whether anyone else could have read it`,
    });
  }
  return fs.readFileSync(file);
}

/** What to do with an existing directory that is to be private: use it, tighten it, or refuse. */
export type PrivateDirVerdict = { use: true; tighten: boolean } | { use: false; why: string };

/**
 * The decision for an existing directory, as a pure function of its owner, its mode and what it
 * holds. Someone else's directory, or one others can write to, is refused: they could have put
 * files there, and tightening it now would not take them out. One others can only read or enter
 * is tightened to 0700 when it is empty or holds only files of ours (`ours`); a directory holding
 * other files (a --data-dir typed wrong, pointing at /etc or a home dir) is refused untouched.
 */
export function judgePrivateDir(st: { uid: number; mode: number }, uid: number | undefined, contents: { empty: boolean; ours: boolean }, groupMayRead = false): PrivateDirVerdict {
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
  if (uid !== undefined && st.uid !== uid) return { use: false, why: `it belongs to user ${st.uid}, not to this user (${uid})` };
  if ((st.mode & 0o022) !== 0) return { use: false, why: `others can write to it (mode ${mode})` };
  // groupMayRead: systemd's StateDirectory= (mode 0750, group kith) lets the group read agent.json.
  if ((st.mode & (groupMayRead ? 0o027 : 0o077)) === 0) return { use: true, tighten: false };
  if (contents.empty || contents.ours) return { use: true, tighten: true };
  return { use: false, why: `others can read it (mode ${mode}) and it holds files that are not kith's` };
}

/**
 * Makes `dir` a directory private to its owner: creates it (and parents) with mode 0700, or
 * checks an existing one with judgePrivateDir and tightens it to 0700. `isOurs` tells the entries
 * that mark it as ours. Fails with DATA_DIR (cannot create or write) or DATA_DIR_UNSAFE; returns
 * the mode it had when it was tightened.
 */
export function ensurePrivateDir(dir: string, opts: { isOurs?: (name: string) => boolean; groupMayRead?: boolean } = {}): { tightenedFrom?: number } {
  const fail = (e: unknown): never => {
    if (e instanceof KithError) throw e;
    const full = diskFull(dir, e);
    if (full instanceof KithError) throw full;
    throw new KithError('DATA_DIR', `cannot create or write the data dir ${dir}: ${(e as NodeJS.ErrnoException).code ?? e}`, { cause: e });
  };
  try {
    let st: fs.Stats | undefined;
    try {
      st = fs.statSync(dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (st === undefined) {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      fs.accessSync(dir, fs.constants.W_OK);
      return {};
    }
    if (!st.isDirectory()) throw new KithError('DATA_DIR', `the data dir ${dir} is not a directory`);
    const entries = fs.readdirSync(dir);
    const verdict = judgePrivateDir(st, process.getuid?.(), { empty: entries.length === 0, ours: entries.every((n) => opts.isOurs?.(n) ?? false) }, opts.groupMayRead ?? false);
    if (!verdict.use) {
      throw new KithError('DATA_DIR_UNSAFE', `the data dir ${dir} is not private: ${verdict.why}; nothing was changed`);
    }
    if (verdict.tighten) fs.chmodSync(dir, 0o700);
    fs.accessSync(dir, fs.constants.W_OK);
    return verdict.tighten ? { tightenedFrom: st.mode & 0o777 } : {};
  } catch (e) {
    return fail(e);
  }
}
