import { expect } from 'vitest';
import { KilnError } from '../../src/index.js';

/** The KilnError `fn` throws; fails the test if it throws nothing or something else. */
export function kilnError(fn: () => unknown): KilnError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KilnError);
    return e as KilnError;
  }
  return expect.fail('expected a KilnError, nothing was thrown');
}
