import { expect } from 'vitest';

/** Seeded uniform numbers in [0, 1) (an LCG: the same stream on every run). */
export function rng(seed: number): () => number {
  let s = (seed * 2654435761) >>> 0;
  return () => (s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32;
}

const bitsOf = (a: Float32Array): Uint32Array => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** Equal bits, any NaN matching any NaN; the message names the first differing element. */
export function sameBits(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  const gb = bitsOf(got), wb = bitsOf(want);
  for (let i = 0; i < want.length; i++) {
    if (gb[i] !== wb[i] && !(Number.isNaN(got[i]) && Number.isNaN(want[i]))) {
      expect.fail(`${what}: element ${i} is ${Object.is(got[i], -0) ? '-0' : got[i]}, expected ${Object.is(want[i], -0) ? '-0' : want[i]}`);
    }
  }
}
