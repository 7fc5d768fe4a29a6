import { KilnError, noGrad, randn, scope, type Tensor } from '../eager/index.js';
import { checkImageBatch, fromHost } from './hostTensor.js';
import { checkSeed, drawSeed, SeededRandom } from './random.js';

/** The seed option the augmentation helpers take. */
export interface AugmentOptions {
  /**
   * Seed of the random choices: the same seed gives the same result, so pass a new one
   * per batch (e.g. `seed: base + step`). Default: drawn from Kiln's global generator
   * (`kiln.manualSeed`).
   */
  seed?: number;
}

/**
 * Noise injection: `x + std · ε`, ε ~ N(0, 1) per element (e.g. the corrupted input of
 * a denoising autoencoder). Works on any shape; gradients flow to `x` when it requires
 * them. With `clip`, the result is clamped (e.g. `[0, 1]` for images).
 *
 * @example
 * ```ts
 * const noisy = kiln.data.addGaussianNoise(images, 0.1, { seed: step, clip: [0, 1] });
 * ```
 */
export function addGaussianNoise(x: Tensor, std: number, options: AugmentOptions & { clip?: readonly [number, number] } = {}): Tensor {
  const op = 'addGaussianNoise';
  if (!(Number.isFinite(std) && std >= 0)) throw new KilnError(`std must be a non-negative number, got ${std}`, { op });
  if (x.dtype !== 'float32' && x.dtype !== 'float64') throw new KilnError(`expected float32 or float64 data, got ${x.dtype}`, { op });
  if (options.seed !== undefined) checkSeed(op, options.seed);
  const f = (): Tensor => {
    const noise = randn(x.shape, { dtype: x.dtype, backend: x.backend.name, ...(options.seed !== undefined ? { seed: options.seed } : {}) });
    const y = x.add(noise.mul(std));
    return options.clip ? y.clip(options.clip[0], options.clip[1]) : y;
  };
  // Without gradients the noise and intermediates are freed at once; with them, the
  // caller's scope owns them (the backward pass may need them).
  return x.requiresGrad ? f() : scope(() => noGrad(f));
}

/**
 * Mirrors each image of an NCHW batch left–right with probability `p` (default 0.5).
 * Returns a new tensor (no gradient history); the input is unchanged.
 *
 * @example
 * ```ts
 * const xb2 = kiln.data.randomFlipHorizontal(xb, { seed: step });
 * ```
 */
export function randomFlipHorizontal(x: Tensor, options: AugmentOptions & { p?: number } = {}): Tensor {
  const op = 'randomFlipHorizontal';
  checkImageBatch(op, x);
  const p = options.p ?? 0.5;
  if (!(p >= 0 && p <= 1)) throw new KilnError(`p must be in [0, 1], got ${p}`, { op });
  const rng = new SeededRandom(seedOf(op, options));
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const src = x.dataSync();
  const out = src.slice();
  const plane = c * h * w;
  for (let s = 0; s < n; s++) {
    if (!(rng.next() < p)) continue;
    for (let row = s * plane; row < (s + 1) * plane; row += w) {
      for (let j = 0; j < w; j++) out[row + j] = src[row + w - 1 - j]!;
    }
  }
  return fromHost(out, x.shape, x.dtype, x.backend.name);
}

/**
 * Translates each image of an NCHW batch by a random whole number of pixels, drawn
 * uniformly from `[-maxShift, maxShift]` (default 2) independently for rows and
 * columns; uncovered pixels get `fill` (default 0). Returns a new tensor (no gradient
 * history).
 *
 * @example
 * ```ts
 * const xb2 = kiln.data.randomShift(xb, { maxShift: 2, seed: step });
 * ```
 */
export function randomShift(x: Tensor, options: AugmentOptions & { maxShift?: number; fill?: number } = {}): Tensor {
  const op = 'randomShift';
  checkImageBatch(op, x);
  const m = options.maxShift ?? 2;
  if (!Number.isInteger(m) || m < 0) throw new KilnError(`maxShift must be a non-negative integer, got ${m}`, { op });
  const fill = options.fill ?? 0;
  const rng = new SeededRandom(seedOf(op, options));
  const [n, c, h, w] = x.shape as [number, number, number, number];
  const src = x.dataSync();
  const out = src.slice().fill(fill);
  for (let s = 0; s < n; s++) {
    const dy = rng.int(2 * m + 1) - m;
    const dx = rng.int(2 * m + 1) - m;
    // Destination columns [j0, j1) read source columns shifted by dx.
    const j0 = Math.max(0, dx);
    const j1 = Math.min(w, w + dx);
    if (j1 <= j0) continue;
    for (let ch = 0; ch < c; ch++) {
      const base = (s * c + ch) * h * w;
      for (let i = Math.max(0, dy); i < Math.min(h, h + dy); i++) {
        const from = base + (i - dy) * w;
        out.set(src.subarray(from + j0 - dx, from + j1 - dx), base + i * w + j0);
      }
    }
  }
  return fromHost(out, x.shape, x.dtype, x.backend.name);
}

function seedOf(op: string, options: AugmentOptions): number {
  if (options.seed === undefined) return drawSeed();
  checkSeed(op, options.seed);
  return options.seed;
}
