import type { ArrayKernel } from '../../backend.js';
import { registerArrayKernels } from '../../arrayKernels.js';

/*
 * Portable kernels of the per-step gate ops (src/ops/recurrentCells.ts): one pass over
 * batch × hidden, arithmetic in float64, each output rounded once. Both backends take
 * them; on wasm a generated SIMD kernel replaces them for float32.
 */

const sigmoid = (v: number): number => (v >= 0 ? 1 / (1 + Math.exp(-v)) : Math.exp(v) / (1 + Math.exp(v)));

/** lstmGates(xp, hp [B, 4H], c [B, H]) → h', c'. */
const lstmGates: ArrayKernel = ([xp, hp, c], _attrs, [hOut, cOut]) => {
  const [B, H] = c!.shape as [number, number];
  const x = xp!.data, h = hp!.data, cs = c!.data, ho = hOut!.data, co = cOut!.data;
  for (let b = 0; b < B; b++) {
    const row = b * 4 * H;
    for (let j = 0; j < H; j++) {
      const k = row + j;
      const i = sigmoid(x[k]! + h[k]!), f = sigmoid(x[k + H]! + h[k + H]!);
      const g = Math.tanh(x[k + 2 * H]! + h[k + 2 * H]!), o = sigmoid(x[k + 3 * H]! + h[k + 3 * H]!);
      const c2 = f * cs[b * H + j]! + i * g;
      co[b * H + j] = c2;
      ho[b * H + j] = o * Math.tanh(c2);
    }
  }
};

/** gruGates(xp, hp [B, 3H], h [B, H]) → h'. */
const gruGates: ArrayKernel = ([xp, hp, hs], _attrs, [out]) => {
  const [B, H] = hs!.shape as [number, number];
  const x = xp!.data, h = hp!.data, s = hs!.data, o = out!.data;
  for (let b = 0; b < B; b++) {
    const row = b * 3 * H;
    for (let j = 0; j < H; j++) {
      const k = row + j;
      const r = sigmoid(x[k]! + h[k]!), z = sigmoid(x[k + H]! + h[k + H]!);
      const n = Math.tanh(x[k + 2 * H]! + r * h[k + 2 * H]!);
      o[b * H + j] = n + z * (s[b * H + j]! - n);
    }
  }
};

registerArrayKernels({ lstmGates, gruGates });
