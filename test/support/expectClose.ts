import { expect } from 'vitest';
import type * as kiln from '../../src/index.js';

/**
 * Same shape, and every element within `rel`·max(1, |expected|) of `expected`; the
 * message names the worst element.
 */
export function expectClose(actual: kiln.Tensor, expected: kiln.Tensor, rel: number, what: string): void {
  expect(actual.shape, what).toEqual(expected.shape);
  const a = actual.dataSync(), e = expected.dataSync();
  let worst = 0, at = -1;
  for (let i = 0; i < a.length; i++) {
    const err = Math.abs(a[i]! - e[i]!) / Math.max(1, Math.abs(e[i]!));
    if (!(err <= worst)) { worst = err; at = i; }
  }
  expect(worst, `${what}: element ${at}: ${a[at]} vs ${e[at]}`).toBeLessThanOrEqual(rel);
}
