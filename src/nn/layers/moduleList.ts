import { KilnError, type Tensor } from '../../eager/index.js';
import { Module } from '../module.js';

/**
 * A list of modules whose parameters are registered (PyTorch `nn.ModuleList`); children
 * are named `0`, `1`, …. It has no `forward`: iterate it in your own.
 *
 * @example
 * ```ts
 * class Deep extends kiln.nn.Module {
 *   layers = new kiln.nn.ModuleList([1, 2, 3].map(() => new kiln.nn.Linear(16, 16)));
 *   forward(x: kiln.Tensor) {
 *     for (const layer of this.layers) x = layer.forward(x); // layers: ModuleList<Linear>
 *     return x.relu();
 *   }
 * }
 * new Deep().namedParameters()[0]![0]; // 'layers.0.weight'
 * ```
 */
export class ModuleList<M extends Module = Module> extends Module {
  /** Children by position (also reachable with `at`). */
  readonly [index: number]: M;
  // A private field is not an enumerable property, so Module's discovery ignores it.
  #count = 0;

  constructor(modules: Iterable<M> = []) {
    super();
    for (const m of modules) this.append(m);
  }

  /** Number of children. */
  get length(): number {
    return this.#count;
  }

  /** The child at `index` (negative counts from the end). */
  at(index: number): M {
    const i = index < 0 ? this.#count + index : index;
    if (!Number.isInteger(i) || i < 0 || i >= this.#count) {
      throw new KilnError(`index ${index} is out of range for ${this.#count} modules`, { op: `${this.constructor.name}.at` });
    }
    return this[i]!;
  }

  /** Adds `module` at the end. Returns this. */
  append(module: M): this {
    if (!(module instanceof Module)) throw new KilnError(`expected a Module, got ${module === null ? 'null' : typeof module}`, { op: this.constructor.name });
    (this as unknown as Record<number, M>)[this.#count++] = module;
    return this;
  }

  /** Adds every module of `modules` at the end. Returns this. */
  extend(modules: Iterable<M>): this {
    for (const m of modules) this.append(m);
    return this;
  }

  *[Symbol.iterator](): Generator<M> {
    for (let i = 0; i < this.#count; i++) yield this[i]!;
  }

  /** A ModuleList is a container, not a computation. */
  forward(..._inputs: Tensor[]): Tensor {
    throw new KilnError('ModuleList has no forward: iterate over it in your own forward', { op: 'ModuleList' });
  }
}
