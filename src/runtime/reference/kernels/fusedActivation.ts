import { fusedActivationOf, type Attrs } from '../../../ir/index.js';
import { arrayKernels } from '../../arrayKernels.js';
import type { ArrayTensor } from '../../backend.js';

/**
 * Applies the activation fused into a conv2d / convTranspose2d / linear (attr
 * `activation`, see ir/fusedActivation.ts) to its finished output `y`, in place, with
 * the activation's own portable kernel: the result is what the separate op gives, bit
 * for bit (its kernels are elementwise, so reading and writing one array is safe).
 */
export function applyFusedActivationInPlace(y: ArrayTensor, attrs: Attrs): void {
  const act = fusedActivationOf(attrs);
  if (!act) return;
  const k = arrayKernels.get(act.op);
  if (!k) throw new Error(`no portable kernel for the fused activation ${act.op}`);
  k([y], act.attrs, [y]);
}
