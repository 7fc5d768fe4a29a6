import { KilnError, Tensor } from '../../eager/index.js';
import { callForward, type Module } from '../module.js';
import { ModuleList } from './moduleList.js';

/**
 * Modules applied one after another (PyTorch `nn.Sequential`). Children are named
 * `0`, `1`, … so parameters read `0.weight`, `2.bias`. A child returning several
 * tensors passes them all to the next one. It is a `ModuleList` (`at`, `length`,
 * `append`, iteration) with a `forward`.
 *
 * @example
 * ```ts
 * const model = new kiln.nn.Sequential(new kiln.nn.Linear(784, 128), new kiln.nn.ReLU(), new kiln.nn.Linear(128, 10));
 * const logits = model.forward(kiln.randn([32, 784])); // [32, 10]
 * model.at(0);                                        // the first Linear
 * ```
 */
export class Sequential extends ModuleList {
  constructor(...modules: Module[]) {
    super(modules);
  }

  override forward(...inputs: Tensor[]): Tensor {
    let values: Tensor[] = inputs;
    for (const child of this) {
      const out = callForward(child, ...values);
      values = Array.isArray(out) ? (out as Tensor[]) : [out as Tensor];
    }
    if (values.length !== 1) {
      throw new KilnError(`the last module returned ${values.length} tensors; Sequential returns one`, { op: 'Sequential' });
    }
    return values[0]!;
  }
}
