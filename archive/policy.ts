// Who the two layers are sealed to (DESIGN.md §7), as a pure decision.
//   active conversations: inner = every access device of the owner; outer = the holding relay,
//     which removes its layer for the owner and sends the rest over the Noise session.
//   history (and files a user puts): inner = access device A; outer = access device B. Reading
//     needs A and B to cooperate; one stolen device opens nothing.
// With a single access device, history cannot have A ≠ B: it falls back to the active scheme
// (inner = that device, outer = the holder), still two systems, and says so with the warning
// ARCHIVE_ONE_ACCESS_DEVICE for the user. With none, nothing can be sealed: ARCHIVE_NO_ACCESS_DEVICE.
import { KithError } from '../core/errors.js';
import type { ObjectKind } from './manifest.js';

export interface AccessDevice {
  id: string;
  dhPublicKey: Uint8Array;
}

export interface SealingPolicy {
  /** Public keys the object key is wrapped to. */
  inner: Uint8Array[];
  /** 'holder': each holder's own DH key; otherwise this one key (device B) for every holder. */
  outer: 'holder' | Uint8Array;
  /** Things the user must be told (each has a fix); empty when the scheme is the designed one. */
  warnings: KithError[];
}

/** accessDevices in the owner's order: the first is A, the second B. */
export function sealingPolicy(kind: ObjectKind, accessDevices: readonly AccessDevice[]): SealingPolicy {
  const devices = accessDevices; // the caller's order: [A, B, ...]
  if (devices.length === 0) {
    throw new KithError('ARCHIVE_NO_ACCESS_DEVICE', `cannot archive a ${kind} object: the owner has no access device to seal it to`);
  }
  if (kind === 'active') return { inner: devices.map((d) => d.dhPublicKey), outer: 'holder', warnings: [] };
  if (devices.length === 1) {
    const warning = new KithError(
      'ARCHIVE_ONE_ACCESS_DEVICE',
      `only one access device (${devices[0]!.id}): this ${kind} object is sealed to it and to each holding relay, not to two of your own devices`,
    );
    return { inner: [devices[0]!.dhPublicKey], outer: 'holder', warnings: [warning] };
  }
  return { inner: [devices[0]!.dhPublicKey], outer: devices[1]!.dhPublicKey, warnings: [] };
}
