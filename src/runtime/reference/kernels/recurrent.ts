import type { Attrs } from '../../../ir/index.js';
import type { ArrayKernel } from '../../backend.js';
import { registerReferenceKernels } from '../../arrayKernels.js';

/*
 * Portable whole-sequence rnn / lstm / gru (see src/ops/recurrent.ts for the inputs and
 * gate orders), arithmetic and states in float64. Reference backend only: on wasm the
 * ops run their decomposition, whose per-step products are XNNPACK GEMMs.
 */

type Mode = 'rnn' | 'lstm' | 'gru';

const sigmoid = (v: number): number => 1 / (1 + Math.exp(-v));

function recurrentKernel(mode: Mode): ArrayKernel {
  return (inputs, attrs: Attrs, outputs) => {
    const H = attrs['hiddenSize'] as number, L = attrs['numLayers'] as number;
    const D = attrs['bidirectional'] ? 2 : 1, batchFirst = attrs['batchFirst'] === true, hasBiases = attrs['hasBiases'] === true;
    const relu = mode === 'rnn' && attrs['nonlinearity'] === 'relu';
    const kinds = mode === 'lstm' ? 2 : 1;
    const G = (mode === 'lstm' ? 4 : mode === 'gru' ? 3 : 1) * H;
    const perSlot = hasBiases ? 4 : 2, first = 1 + kinds, base = first + L * D * perSlot;
    const lens = inputs.length > base ? inputs[base]!.data : null;
    const x = inputs[0]!;
    const [T, B] = batchFirst ? [x.shape[1]!, x.shape[0]!] : [x.shape[0]!, x.shape[1]!];
    const I = x.shape[2]!;
    // The layer input, time-major [T, B, F].
    let inp = new Float64Array(T * B * I);
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < B; b++) {
        const src = (batchFirst ? b * T + t : t * B + b) * I;
        for (let f = 0; f < I; f++) inp[(t * B + b) * I + f] = x.data[src + f]!;
      }
    }
    const hN = outputs[1]!.data, cN = mode === 'lstm' ? outputs[2]!.data : null;
    const pre = new Float64Array(G), hp = new Float64Array(G);
    let F = I;
    for (let l = 0; l < L; l++) {
      const out = new Float64Array(T * B * D * H);
      for (let dir = 0; dir < D; dir++) {
        const slot = l * D + dir, at = first + slot * perSlot;
        const wIh = inputs[at]!.data, wHh = inputs[at + 1]!.data;
        const bIh = hasBiases ? inputs[at + 2]!.data : null, bHh = hasBiases ? inputs[at + 3]!.data : null;
        const h = Float64Array.from(inputs[1]!.data.subarray(slot * B * H, (slot + 1) * B * H));
        const c = mode === 'lstm' ? Float64Array.from(inputs[2]!.data.subarray(slot * B * H, (slot + 1) * B * H)) : null;
        for (let k = 0; k < T; k++) {
          const t = dir === 1 ? T - 1 - k : k;
          for (let b = 0; b < B; b++) {
            if (lens && t >= lens[b]!) continue; // state kept, output 0 (out is zero-filled)
            const xo = (t * B + b) * F, ho = b * H;
            for (let g = 0; g < G; g++) {
              let sx = bIh ? bIh[g]! : 0, sh = bHh ? bHh[g]! : 0;
              for (let f = 0; f < F; f++) sx += wIh[g * F + f]! * inp[xo + f]!;
              for (let j = 0; j < H; j++) sh += wHh[g * H + j]! * h[ho + j]!;
              pre[g] = sx;
              hp[g] = sh;
            }
            const o = (t * B + b) * D * H + dir * H;
            for (let j = 0; j < H; j++) {
              let hj: number;
              if (mode === 'rnn') {
                const v = pre[j]! + hp[j]!;
                hj = relu ? Math.max(v, 0) : Math.tanh(v); // Math.max keeps NaN
              } else if (mode === 'lstm') {
                const ig = sigmoid(pre[j]! + hp[j]!), fg = sigmoid(pre[H + j]! + hp[H + j]!);
                const gg = Math.tanh(pre[2 * H + j]! + hp[2 * H + j]!), og = sigmoid(pre[3 * H + j]! + hp[3 * H + j]!);
                const cj = fg * c![ho + j]! + ig * gg;
                c![ho + j] = cj;
                hj = og * Math.tanh(cj);
              } else {
                const r = sigmoid(pre[j]! + hp[j]!), z = sigmoid(pre[H + j]! + hp[H + j]!);
                const n = Math.tanh(pre[2 * H + j]! + r * hp[2 * H + j]!);
                hj = (1 - z) * n + z * h[ho + j]!;
              }
              out[o + j] = hj;
            }
            // h is read by every gate above: update it only after the whole row.
            for (let j = 0; j < H; j++) h[ho + j] = out[o + j]!;
          }
        }
        hN.set(h, slot * B * H);
        if (cN) cN.set(c!, slot * B * H);
      }
      inp = out;
      F = D * H;
    }
    const y = outputs[0]!.data;
    for (let t = 0; t < T; t++) {
      for (let b = 0; b < B; b++) {
        const dst = (batchFirst ? b * T + t : t * B + b) * F;
        for (let f = 0; f < F; f++) y[dst + f] = inp[(t * B + b) * F + f]!;
      }
    }
  };
}

registerReferenceKernels({
  rnn: recurrentKernel('rnn'),
  lstm: recurrentKernel('lstm'),
  gru: recurrentKernel('gru'),
});
