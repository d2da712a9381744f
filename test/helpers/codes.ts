// The stable error code a call fails with ('none' when it returns), for tables of bad input.
import { isKithError } from '../../core/errors.js';

export function codeOf(fn: () => unknown): string {
  try {
    fn();
    return 'none';
  } catch (e) {
    return isKithError(e) ? e.code : String(e);
  }
}
