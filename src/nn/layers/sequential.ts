import { KilnError, Tensor } from '../../eager/index.js';
import { callForward, Module } from '../module.js';

/**
 * Modules applied one after another (PyTorch `nn.Sequential`). Children are named
 * `0`, `1`, … so parameters read `0.weight`, `2.bias`. A child returning several
 * tensors passes them all to the next one.
 *
 * @example
 * ```ts
 * const model = new kiln.nn.Sequential(new kiln.nn.Linear(784, 128), new kiln.nn.ReLU(), new kiln.nn.Linear(128, 10));
 * const logits = model.forward(kiln.randn([32, 784])); // [32, 10]
 * model.at(0);                                        // the first Linear
 * ```
 */
export class Sequential extends Module {
  /** Children by position (also reachable with `at`). */
  readonly [index: number]: Module;
  // A private field is not an enumerable property, so Module's discovery ignores it.
  #count = 0;

  constructor(...modules: Module[]) {
    super();
    for (const m of modules) this.append(m);
  }

  /** Number of children. */
  get length(): number {
    return this.#count;
  }

  /** The child at `index` (negative counts from the end). */
  at(index: number): Module {
    const i = index < 0 ? this.#count + index : index;
    if (!Number.isInteger(i) || i < 0 || i >= this.#count) {
      throw new KilnError(`index ${index} is out of range for ${this.#count} modules`, { op: 'Sequential.at' });
    }
    return this[i]!;
  }

  /** Adds `module` at the end. Returns this. */
  append(module: Module): this {
    if (!(module instanceof Module)) throw new KilnError(`expected a Module, got ${module === null ? 'null' : typeof module}`, { op: 'Sequential' });
    (this as unknown as Record<number, Module>)[this.#count++] = module;
    return this;
  }

  *[Symbol.iterator](): Generator<Module> {
    for (let i = 0; i < this.#count; i++) yield this[i]!;
  }

  forward(...inputs: Tensor[]): Tensor {
    let values: Tensor[] = inputs;
    for (let i = 0; i < this.#count; i++) {
      const out = callForward(this[i]!, ...values);
      values = Array.isArray(out) ? (out as Tensor[]) : [out as Tensor];
    }
    if (values.length !== 1) {
      throw new KilnError(`the last module returned ${values.length} tensors; Sequential returns one`, { op: 'Sequential' });
    }
    return values[0]!;
  }
}
