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

/**
 * Max |a − b| relative to b's largest finite magnitude (1 if none), for comparing an
 * optimized graph with the unoptimized one: asserts the same shape, NaN exactly where `b`
 * has NaN and the same infinities where `b` has them, so the number measures the finite
 * elements only.
 */
export function relDiff(a: kiln.Tensor, b: kiln.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync(), y = b.dataSync();
  let m = 0, scale = 0;
  for (let i = 0; i < y.length; i++) if (Number.isFinite(y[i]!)) scale = Math.max(scale, Math.abs(y[i]!));
  for (let i = 0; i < x.length; i++) {
    expect(Number.isNaN(x[i]!), `NaN at ${i}`).toBe(Number.isNaN(y[i]!));
    if (!Number.isFinite(y[i]!)) expect(x[i], `at ${i}`).toBe(y[i]);
    else m = Math.max(m, Math.abs(x[i]! - y[i]!));
  }
  return m / (scale || 1);
}
