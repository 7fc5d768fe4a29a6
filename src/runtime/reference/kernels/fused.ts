import { arrayFor, parseProgram, programDtypes, runProgram } from '../../../ir/index.js';
import { arrayKernels, registerReferenceKernels } from '../../arrayKernels.js';
import type { ArrayTensor } from '../../backend.js';

/** NumPy broadcast of two static shapes (inference has checked they broadcast). */
function broadcast(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const da = a[a.length - n + i] ?? 1, db = b[b.length - n + i] ?? 1;
    return da === 1 ? db : da;
  });
}

/**
 * fusedElementwise on the reference backend: its decomposition, step by step on the
 * portable kernels of its ops (so it is, bit for bit, what the unfused ops compute
 * here). Reference only: the wasm backend has a generated kernel.
 */
registerReferenceKernels({
  fusedElementwise: (inputs, attrs, [out]) => {
    const p = parseProgram(attrs['program'] as string);
    const dtypes = programDtypes(p, inputs.map((x) => x.dtype));
    let k = 0;
    const result = runProgram<ArrayTensor>(p, inputs, (s, args) => {
      const shape = args.map((a) => a.shape).reduce(broadcast);
      const dtype = dtypes[k++]!;
      const y: ArrayTensor = { data: arrayFor(dtype, shape.reduce((m, d) => m * d, 1)), shape, dtype };
      arrayKernels.get(s.op)!(args, s.attrs, [y]);
      return y;
    });
    out!.data.set(result.data);
  },
});
