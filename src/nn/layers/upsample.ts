import { matmul, tensor, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';
import { checkInt, checkRank, layerError } from './common.js';

/** Options of `Upsample`: exactly one of `size` and `scaleFactor`. */
export interface UpsampleOptions {
  /** Output [H, W] (one number for both). */
  size?: number | readonly [number, number];
  /** Multiplier of H and W (one number for both); the output size is ⌊in·scale⌋. */
  scaleFactor?: number | readonly [number, number];
  /** `'nearest'` (default) or `'bilinear'`. */
  mode?: 'nearest' | 'bilinear';
  /**
   * Bilinear only: true maps the corner pixels' centres onto each other (source =
   * dst·(in−1)/(out−1)); false (default) maps pixel areas (source = (dst+½)/scale − ½).
   */
  alignCorners?: boolean;
}

function toPositivePair(name: string, v: number | readonly [number, number], isInt: boolean): [number, number] {
  const p: readonly number[] = typeof v === 'number' ? [v, v] : v;
  if (!Array.isArray(p) || p.length !== 2 || !p.every((d) => typeof d === 'number' && (isInt ? Number.isInteger(d) : Number.isFinite(d)) && d > 0)) {
    throw layerError('Upsample', `${name} must be a positive ${isInt ? 'integer' : 'number'} or a pair [h, w] of them, got ${JSON.stringify(v)}`);
  }
  return [p[0]!, p[1]!];
}

/**
 * Source rows of nearest-neighbour resizing, as PyTorch's CPU kernel computes them:
 * identity at equal sizes, dst >> 1 at twice the size, otherwise ⌊dst·s⌋ (clamped) in
 * float32 arithmetic with s = 1/scaleFactor when one was given, else in/out.
 */
function nearestIndices(inSize: number, outSize: number, scale: number | null): number[] {
  const idx: number[] = [];
  const s = Math.fround(scale !== null ? 1 / scale : inSize / outSize);
  for (let o = 0; o < outSize; o++) {
    if (outSize === inSize) idx.push(o);
    else if (outSize === 2 * inSize) idx.push(o >> 1);
    else idx.push(Math.min(Math.floor(Math.fround(o * s)), inSize - 1));
  }
  return idx;
}

/**
 * The [outSize, inSize] matrix of linear interpolation weights along one axis, as
 * PyTorch's upsample_bilinear2d computes them (`transposed`: laid out [inSize, outSize]).
 */
function linearWeights(inSize: number, outSize: number, scale: number | null, alignCorners: boolean, transposed = false): Float64Array {
  const m = new Float64Array(outSize * inSize);
  let s: number;
  if (alignCorners) s = outSize > 1 ? (inSize - 1) / (outSize - 1) : 0;
  else s = scale !== null ? 1 / scale : inSize / outSize;
  for (let o = 0; o < outSize; o++) {
    const src = alignCorners ? s * o : Math.max(s * (o + 0.5) - 0.5, 0);
    const i0 = Math.floor(src);
    const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
    const l1 = Math.min(Math.max(src - i0, 0), 1);
    const at = (i: number) => (transposed ? i * outSize + o : o * inSize + i);
    m[at(i0)] += 1 - l1;
    m[at(i1)] += l1;
  }
  return m;
}

/**
 * Resizes the spatial dims of NCHW input (PyTorch `nn.Upsample` / `F.interpolate`),
 * to `size` or by `scaleFactor`. `'nearest'` copies the source pixel PyTorch picks
 * (integer factors by reshape + expand, other sizes by `indexSelect`); `'bilinear'`
 * interpolates with two constant weight matrices: y = Aₕ · x · A_wᵀ. Both are
 * differentiable w.r.t. the input. No parameters; the same in training and eval.
 *
 * @example
 * ```ts
 * const up = new kiln.nn.Upsample({ scaleFactor: 2, mode: 'bilinear' });
 * up.forward(kiln.randn([1, 3, 8, 8])).shape; // [1, 3, 16, 16]
 * new kiln.nn.Upsample({ size: [5, 7] }).forward(kiln.randn([1, 3, 2, 3])).shape; // [1, 3, 5, 7]
 * ```
 */
export class Upsample extends Module {
  readonly size: [number, number] | null;
  readonly scaleFactor: [number, number] | null;
  readonly mode: 'nearest' | 'bilinear';
  readonly alignCorners: boolean;

  constructor(options: UpsampleOptions = {}) {
    super();
    const { size, scaleFactor } = options;
    if ((size === undefined) === (scaleFactor === undefined)) {
      throw layerError('Upsample', 'give exactly one of size and scaleFactor');
    }
    this.size = size === undefined ? null : toPositivePair('size', size, true);
    this.scaleFactor = scaleFactor === undefined ? null : toPositivePair('scaleFactor', scaleFactor, false);
    this.mode = options.mode ?? 'nearest';
    if (this.mode !== 'nearest' && this.mode !== 'bilinear') {
      throw layerError('Upsample', `mode must be 'nearest' or 'bilinear', got '${String(this.mode)}'`);
    }
    if (options.alignCorners !== undefined && this.mode === 'nearest') {
      throw layerError('Upsample', "alignCorners only applies to mode 'bilinear'");
    }
    this.alignCorners = options.alignCorners ?? false;
  }

  /** Output [H, W] for an input of spatial size [h, w]. */
  outputSize(h: number, w: number): [number, number] {
    if (this.size) return [this.size[0], this.size[1]];
    const [sh, sw] = this.scaleFactor!;
    return [checkInt('Upsample', 'output height', Math.floor(h * sh)), checkInt('Upsample', 'output width', Math.floor(w * sw))];
  }

  forward(x: Tensor): Tensor {
    checkRank('Upsample', x, [4], 'NCHW');
    const [n, c, h, w] = x.shape as [number, number, number, number];
    const [oh, ow] = this.outputSize(h, w);
    const [sh, sw] = this.scaleFactor ?? [null, null];
    if (this.mode === 'bilinear') {
      const opts = { dtype: x.dtype, backend: x.backend.name };
      const ah = tensor(linearWeights(h, oh, sh, this.alignCorners), { ...opts, shape: [oh, h] });
      const awT = tensor(linearWeights(w, ow, sw, this.alignCorners, true), { ...opts, shape: [w, ow] });
      return matmul(ah, matmul(x, awT));
    }
    const rows = nearestIndices(h, oh, sh), cols = nearestIndices(w, ow, sw);
    const kh = oh / h, kw = ow / w;
    if (Number.isInteger(kh) && Number.isInteger(kw) && rows.every((r, i) => r === Math.floor(i / kh)) && cols.every((r, i) => r === Math.floor(i / kw))) {
      // Each pixel repeated kh × kw times: a broadcast, whose gradient sums each block.
      return x.reshape([n, c, h, 1, w, 1]).expand([n, c, h, kh, w, kw]).reshape([n, c, oh, ow]);
    }
    const index = (list: number[]) => tensor(list, { dtype: 'int32', backend: x.backend.name });
    return x.indexSelect(2, index(rows)).indexSelect(3, index(cols));
  }
}
