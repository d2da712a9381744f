// Named sets of timing defaults. "home" is what a router or NAS runs: long, randomized intervals
// that keep idle traffic tiny. "test" shortens everything so labs and tests finish quickly.
// Later subsystems (membership, rendezvous) read their intervals from here.
import { SECOND, MINUTE } from '../core/clock.js';
import type { MembershipTiming } from '../cluster/membership.js';
import type { WindowParams } from '../cluster/rendezvous.js';
import { HOME_TIMING, TEST_TIMING } from '../cluster/timing.js';

export const PROFILE_NAMES = ['home', 'test'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export interface Profile {
  /** How often the agent tells systemd's watchdog it is alive, at most (also bounded by WATCHDOG_USEC/2). */
  watchdogMaxIntervalMs: number;
  membership: MembershipTiming;
  rendezvous: WindowParams;
  /** Least guard added to each side of a rendezvous window (more when the clock error is larger). */
  minGuardMs: number;
  /** How often configured STUN servers are asked (only while there are members). */
  stunIntervalMs: number;
  /** How often local interfaces are read for address changes (no traffic). */
  interfacePollMs: number;
  /** How long a pairing offer (`kith pair`) waits for its code. */
  pairOfferTtlMs: number;
}

export const PROFILES: Record<ProfileName, Profile> = {
  home: {
    watchdogMaxIntervalMs: 30 * SECOND, membership: HOME_TIMING,
    rendezvous: { periodMs: 10 * MINUTE, lengthMs: 20 * SECOND, portMin: 40000, portMax: 59999 },
    minGuardMs: 2 * SECOND, stunIntervalMs: 10 * MINUTE, interfacePollMs: 10 * SECOND, pairOfferTtlMs: 10 * MINUTE,
  },
  test: {
    watchdogMaxIntervalMs: 1 * SECOND, membership: TEST_TIMING,
    rendezvous: { periodMs: 3 * SECOND, lengthMs: 1 * SECOND, portMin: 45000, portMax: 45099 },
    minGuardMs: 250, stunIntervalMs: 5 * SECOND, interfacePollMs: 1 * SECOND, pairOfferTtlMs: 10 * MINUTE,
  },
};
