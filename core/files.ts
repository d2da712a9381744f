// Files that must survive crashes and keep secrets: atomic writes (temp file, fsync, rename,
// fsync of the directory) and a permission check for files only their owner may read.
import fs from 'node:fs';
import path from 'node:path';
import { KithError, type ErrorCode } from './errors.js';

/** Writes a file atomically with the given mode: readers see the old bytes or the new, never half. */
export function writeFileAtomic(file: string, data: Uint8Array | string, mode = 0o600): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  const fd = fs.openSync(tmp, 'wx', mode);
  try {
    fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
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

/** Creates a directory (and parents) private to its owner, or fails with DATA_DIR. */
export function ensurePrivateDir(dir: string): void {
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    fs.accessSync(dir, fs.constants.W_OK);
  } catch (e) {
    throw new KithError('DATA_DIR', `cannot create or write the data dir ${dir}: ${(e as NodeJS.ErrnoException).code ?? e}`, { cause: e });
  }
}
