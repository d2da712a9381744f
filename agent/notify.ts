// systemd integration: READY=1 once the agent serves, WATCHDOG=1 every WATCHDOG_USEC/2 (never
// slower than the profile's bound), STOPPING=1 on shutdown. Nothing happens when NOTIFY_SOCKET
// is unset. How a message is sent depends on the runtime (docs/PLATFORM.md):
// - Bun: bun:ffi calls libc socket(AF_UNIX, SOCK_DGRAM) and sendto() on the notify socket, from
//   the agent's own PID; this works in a compiled binary too.
// - Node (node:dgram has no unix datagram sockets), or Bun without FFI: a spawned
//   `systemd-notify`, i.e. a child PID, which is why the unit sets NotifyAccess=all.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import type { Clock, Timer } from '../core/clock.js';
import type { Logger } from './log.js';

export interface Notifier {
  ready(status: string): void;
  stopping(): void;
  stop(): void;
}

/** Sends one notify message ("READY=1\nSTATUS=…"). */
type Send = (message: string) => void;

const AF_UNIX = 1;
const SOCK_DGRAM_CLOEXEC = 2 | 0o2000000;
const SUN_PATH_BYTES = 108;

/** struct sockaddr_un for a path; "@name" is Linux's abstract namespace (a leading NUL). */
export function sockaddrUn(socketPath: string): Uint8Array {
  const name = Buffer.from(socketPath.startsWith('@') ? '\0' + socketPath.slice(1) : socketPath);
  if (name.length >= SUN_PATH_BYTES) throw new Error(`NOTIFY_SOCKET path is longer than ${SUN_PATH_BYTES - 1} bytes`);
  // Abstract names are exactly their bytes; file paths end with a NUL.
  const addr = new Uint8Array(2 + name.length + (name[0] === 0 ? 0 : 1));
  new DataView(addr.buffer).setUint16(0, AF_UNIX, true);
  addr.set(name, 2);
  return addr;
}

// glibc, then musl (the x64-musl binary).
const LIBCS = ['libc.so.6', `libc.musl-${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}.so.1`];
function openFirst<T>(tries: (() => T)[]): T {
  for (const t of tries.slice(0, -1)) {
    try {
      return t();
    } catch { /* next */ }
  }
  return tries[tries.length - 1]!();
}

/** Under Bun: a datagram socket of our own through libc (bun:ffi), or undefined if unavailable. */
function ffiSender(socketPath: string): Send | undefined {
  if (typeof (globalThis as { Bun?: unknown }).Bun === 'undefined') return undefined;
  try {
    type Ffi = { dlopen: (lib: string, fns: Record<string, { args: string[]; returns: string }>) => { symbols: Record<string, (...a: unknown[]) => number | bigint> }; ptr: (b: Uint8Array) => unknown };
    const ffi = createRequire(import.meta.url)('bun:ffi') as Ffi;
    const fns = {
      socket: { args: ['i32', 'i32', 'i32'], returns: 'i32' },
      sendto: { args: ['i32', 'ptr', 'u64', 'i32', 'ptr', 'u32'], returns: 'i64' },
    };
    const { symbols } = openFirst(LIBCS.map((lib) => () => ffi.dlopen(lib, fns)));
    const fd = symbols['socket']!(AF_UNIX, SOCK_DGRAM_CLOEXEC, 0) as number;
    if (fd < 0) return undefined;
    const addr = sockaddrUn(socketPath);
    return (message) => {
      const data = Buffer.from(message);
      if (Number(symbols['sendto']!(fd, ffi.ptr(data), data.length, 0, ffi.ptr(addr), addr.length)) < 0) throw new Error('sendto on NOTIFY_SOCKET failed');
    };
  } catch {
    return undefined;
  }
}

/** Anywhere: `systemd-notify` as a child process (its messages come from the child's PID). */
function spawnSender(socketPath: string, log: Logger): Send {
  return (message) => {
    const child = spawn('systemd-notify', message.split('\n'), { stdio: 'ignore', env: { ...process.env, NOTIFY_SOCKET: socketPath } });
    child.on('error', (e) => log.warn(`systemd-notify failed: ${e.message}`));
    child.unref();
  };
}

/** Ping interval: half the watchdog timeout, never slower than the profile's bound; 0 = off. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number, maxIntervalMs: number): number {
  const usec = Number(env['WATCHDOG_USEC'] ?? 0);
  const forPid = env['WATCHDOG_PID'];
  if (!(usec > 0) || (forPid !== undefined && Number(forPid) !== pid)) return 0;
  return Math.min(usec / 1000 / 2, maxIntervalMs);
}

export function createNotifier(deps: { clock: Clock; log: Logger; env?: NodeJS.ProcessEnv; maxIntervalMs: number }): Notifier {
  const env = deps.env ?? process.env;
  const socketPath = env['NOTIFY_SOCKET'];
  if (!socketPath) return { ready() {}, stopping() {}, stop() {} };
  const viaFfi = ffiSender(socketPath);
  const raw = viaFfi ?? spawnSender(socketPath, deps.log);
  const send: Send = (m) => {
    try {
      raw(m);
    } catch (e) {
      deps.log.warn(`systemd notify failed: ${(e as Error).message}`);
    }
  };
  deps.log.debug(`systemd notify socket ${socketPath} via ${viaFfi ? 'bun:ffi sendto' : 'systemd-notify'}`);

  let timer: Timer | undefined;
  const intervalMs = watchdogIntervalMs(env, process.pid, deps.maxIntervalMs);
  const ping = (): void => {
    send('WATCHDOG=1');
    timer = deps.clock.setTimer(intervalMs, ping);
  };
  return {
    ready(status) {
      // systemd-notify takes READY=1 as an argument like any assignment; STATUS= too.
      send(`READY=1\nSTATUS=${status.replace(/\n/g, ' ')}`);
      if (intervalMs > 0) timer = deps.clock.setTimer(intervalMs, ping);
    },
    stopping() {
      timer?.cancel();
      send('STOPPING=1');
    },
    stop() {
      timer?.cancel();
    },
  };
}
