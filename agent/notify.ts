// systemd integration: READY=1 once the agent serves, WATCHDOG=1 every WATCHDOG_USEC/2,
// STOPPING=1 on shutdown. The unit sets NotifyAccess=all because the message comes from a child:
// Node's node:dgram has no unix datagram sockets, so we spawn `systemd-notify` (docs/PLATFORM.md),
// which works the same under Bun. Nothing happens when NOTIFY_SOCKET is unset.
import { spawn } from 'node:child_process';
import type { Clock, Timer } from '../core/clock.js';
import type { Logger } from './log.js';

export interface Notifier {
  ready(status: string): void;
  stopping(): void;
  stop(): void;
}

export function createNotifier(deps: { clock: Clock; log: Logger; env?: NodeJS.ProcessEnv; maxIntervalMs: number }): Notifier {
  const env = deps.env ?? process.env;
  const socket = env['NOTIFY_SOCKET'];
  if (!socket) return { ready() {}, stopping() {}, stop() {} };

  const send = (args: string[]): void => {
    const child = spawn('systemd-notify', args, { stdio: 'ignore', env: { ...process.env, NOTIFY_SOCKET: socket } });
    child.on('error', (e) => deps.log.warn(`systemd-notify failed: ${e.message}`));
    child.unref();
  };

  let timer: Timer | undefined;
  const watchdogUsec = Number(env['WATCHDOG_USEC'] ?? 0);
  const watchdogPid = env['WATCHDOG_PID'];
  const watchdogOn = watchdogUsec > 0 && (watchdogPid === undefined || Number(watchdogPid) === process.pid);
  // systemd's advice: ping at half the timeout. Never slower than the profile's bound.
  const intervalMs = Math.min(watchdogUsec / 1000 / 2, deps.maxIntervalMs);
  const ping = (): void => {
    send(['WATCHDOG=1']);
    timer = deps.clock.setTimer(intervalMs, ping);
  };
  return {
    ready(status) {
      send(['--ready', `--status=${status}`]);
      if (watchdogOn) timer = deps.clock.setTimer(intervalMs, ping);
    },
    stopping() {
      timer?.cancel();
      send(['STOPPING=1']);
    },
    stop() {
      timer?.cancel();
    },
  };
}
