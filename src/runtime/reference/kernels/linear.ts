import { registerArrayKernels } from '../../arrayKernels.js';
import { applyFusedActivationInPlace } from './fusedActivation.js';

/**
 * linear: out[r, o] = b[o] + Σₖ x[r, k]·w[o, k]. Rows of x and of W are both contiguous,
 * so each output is a dot product of two unit-stride runs, accumulated in float64.
 */
registerArrayKernels({
  linear: ([x, w, b], attrs, [out]) => {
    const [outF, inF] = w!.shape as [number, number];
    const xs = x!.data, ws = w!.data, bs = b?.data, os = out!.data;
    const rowCount = inF === 0 ? os.length / Math.max(outF, 1) : xs.length / inF;
    for (let r = 0; r < rowCount; r++) {
      const xo = r * inF;
      for (let o = 0; o < outF; o++) {
        const wo = o * inF;
        let s = 0;
        for (let k = 0; k < inF; k++) s += xs[xo + k]! * ws[wo + k]!;
        os[r * outF + o] = bs ? s + bs[o]! : s;
      }
    }
    applyFusedActivationInPlace(out!, attrs);
  },
});
