import { it } from 'vitest';

/** Pool geometries the generated pool kernels (forward and gradient) are checked on. */
export type PoolAttrs = { kernelShape: number[]; strides: number[]; pads: number[] };

/** [N, C, H, W] inputs for 2×2 stride-2 pools (the SIMD fast path): odd and tiny sizes. */
export const POOL_2X2_SHAPES: readonly (readonly [number, number, number, number])[] = [
  [4, 3, 28, 28], [2, 5, 14, 14], [3, 2, 7, 7], [1, 1, 2, 2], [2, 3, 5, 3], [1, 2, 6, 22], [1, 1, 3, 18],
];

/** General windows: overlap, strides 1 / 2 / 3, padding, non-square. */
export const POOL_GENERAL_CASES: readonly (readonly [readonly [number, number, number, number], PoolAttrs])[] = [
  [[2, 3, 9, 9], { kernelShape: [3, 3], strides: [1, 1], pads: [1, 1, 1, 1] }],
  [[2, 4, 14, 15], { kernelShape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] }],
  [[1, 3, 10, 17], { kernelShape: [3, 3], strides: [3, 3], pads: [1, 1, 1, 1] }],
  [[2, 2, 8, 13], { kernelShape: [2, 3], strides: [2, 1], pads: [1, 0, 1, 0] }],
  [[1, 2, 11, 6], { kernelShape: [4, 2], strides: [1, 2], pads: [2, 1, 2, 1] }],
  [[2, 2, 6, 6], { kernelShape: [2, 2], strides: [1, 1], pads: [0, 0, 0, 0] }],
  [[1, 1, 1, 1], { kernelShape: [1, 1], strides: [1, 1], pads: [0, 0, 0, 0] }],
  // Asymmetric padding (internal use) still agrees.
  [[1, 2, 7, 9], { kernelShape: [3, 3], strides: [2, 2], pads: [0, 1, 1, 0] }],
  // 2×2 stride 2 with bottom/right padding on odd sizes: the last windows stick out, so
  // both backends must leave the 2×2 fast path (it would read past the plane).
  [[2, 3, 7, 5], { kernelShape: [2, 2], strides: [2, 2], pads: [0, 0, 1, 1] }],
];

/** A check of one pool geometry: inputs drawn from `seed`, wasm compared with a model or the reference. */
export type PoolCheck = (N: number, C: number, H: number, W: number, attrs: PoolAttrs, seed: number) => void;

/** The two tests every pool kernel runs: `POOL_2X2_SHAPES` and `POOL_GENERAL_CASES`. */
export function poolGeometryTests(check: PoolCheck): void {
  it('2×2 stride 2 pools (the SIMD path), odd and tiny sizes', () => {
    let seed = 100;
    for (const [N, C, H, W] of POOL_2X2_SHAPES) check(N, C, H, W, { kernelShape: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0] }, seed++);
  });

  it('general windows: overlap, strides 1 / 2 / 3, padding, non-square', () => {
    let seed = 200;
    for (const [[N, C, H, W], attrs] of POOL_GENERAL_CASES) check(N, C, H, W, attrs, seed++);
  });
}
