import type { Tensor } from '../../src/index.js';

/** Same shape, dtype and bits (NaN equals NaN, −0 differs from +0): compiled = eager exactly. */
export function identical(a: Tensor, b: Tensor): boolean {
  if (a.shape.join() !== b.shape.join() || a.dtype !== b.dtype) return false;
  const x = a.dataSync(), y = b.dataSync();
  for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
  return true;
}
