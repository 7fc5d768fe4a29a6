import * as ops from '../../ops/linear.js';
import { opError, run1 } from '../dispatch.js';
import { Tensor } from '../tensor.js';

/**
 * Fully connected map y = x·Wᵀ + b (PyTorch `F.linear`): input `[..., in]`, weight
 * `[out, in]`, optional bias `[out]` → `[..., out]`. One op (a traced graph shows one
 * `linear` node); on wasm it runs on XNNPACK with Wᵀ kept packed while W is unchanged.
 *
 * @example
 * ```ts
 * const x = kiln.tensor([[1, 2, 3]]);
 * const w = kiln.tensor([[1, 0, 0], [0, 1, 1]]);
 * kiln.linear(x, w, kiln.tensor([10, 20])).toArray(); // [[11, 25]]
 * ```
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const inputs: unknown[] = [x, weight];
  if (bias !== null && bias !== undefined) inputs.push(bias);
  inputs.forEach((t, i) => {
    if (!(t instanceof Tensor)) throw opError('linear', `${['input', 'weight', 'bias'][i]} must be a Tensor, got ${t === null ? 'null' : typeof t}`);
  });
  // Shapes and dtypes are checked by the op's `infer` (errors name every shape).
  return run1(ops.linear, inputs as Tensor[], {});
}
