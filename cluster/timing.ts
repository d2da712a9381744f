// Membership timings. "home" is what routers and NAS boxes run: probes every two minutes on
// average keep idle traffic to a few bytes a second per peer, and a dead member is still declared
// dead within 3 probe intervals. "test" is the same shape, a hundred times faster, for labs.
//
// Worst case from a member's death to "dead": the next probe comes at most 1.5 T later, its round
// takes ackTimeout + indirectTimeout, then suspicionMs: 1.5 T + 0.5 T + 0.9 T < 3 T (test), and
// 1.5 T + 3.5 s + T < 3 T (home).
import { MINUTE, SECOND } from '../core/clock.js';
import type { MembershipTiming } from './membership.js';

export const HOME_TIMING: MembershipTiming = {
  probeIntervalMs: 2 * MINUTE,
  ackTimeoutMs: 1500,
  indirectTimeoutMs: 2000,
  indirectProbes: 3,
  suspicionMs: 2 * MINUTE,
  // WireGuard's persistent keepalive: holds a NAT mapping on nearly every home router.
  keepaliveMs: 25 * SECOND,
  reconnectMaxMs: 5 * MINUTE,
};

export const TEST_TIMING: MembershipTiming = {
  probeIntervalMs: 1 * SECOND,
  ackTimeoutMs: 240,
  indirectTimeoutMs: 260,
  indirectProbes: 3,
  suspicionMs: 900,
  keepaliveMs: 5 * SECOND,
  reconnectMaxMs: 4 * SECOND,
};
