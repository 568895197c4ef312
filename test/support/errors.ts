/** The UnwindError code `f` throws, or 'accepted' when it returns (any other throw fails the test). */
import { isUnwindError } from '../../src/errors.js';

export function codeOf(f: () => void): string {
  try {
    f();
  } catch (e) {
    if (isUnwindError(e)) return e.code;
    throw e;
  }
  return 'accepted';
}
