// Named sets of timing defaults. "home" is what a router or NAS runs: long, randomized intervals
// that keep idle traffic tiny. "test" shortens everything so labs and tests finish quickly.
// Later subsystems (membership, rendezvous) read their intervals from here.
import { SECOND, MINUTE } from '../core/clock.js';

export const PROFILE_NAMES = ['home', 'test'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export interface Profile {
  /** Mean interval between probes of one member (drawn from [T/2, 3T/2]). */
  heartbeatIntervalMs: number;
  /** How often the agent tells systemd's watchdog it is alive, at most (also bounded by WATCHDOG_USEC/2). */
  watchdogMaxIntervalMs: number;
}

export const PROFILES: Record<ProfileName, Profile> = {
  home: { heartbeatIntervalMs: 5 * MINUTE, watchdogMaxIntervalMs: 30 * SECOND },
  test: { heartbeatIntervalMs: 1 * SECOND, watchdogMaxIntervalMs: 1 * SECOND },
};
