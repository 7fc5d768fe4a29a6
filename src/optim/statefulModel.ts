import type { Tensor } from '../eager/index.js';

/**
 * Anything whose weights can be saved and restored by name: `kiln.nn.Module`
 * implements it. `stateDict()` returns the live tensors (not copies);
 * `loadStateDict` copies values into them in place.
 *
 * @example
 * ```ts
 * const model: kiln.optim.StatefulModel = new kiln.nn.Linear(4, 2);
 * const stopper = new kiln.optim.EarlyStopping({ patience: 3 });
 * stopper.step(0.5, model);
 * ```
 */
export interface StatefulModel {
  stateDict(): Map<string, Tensor> | Record<string, Tensor>;
  loadStateDict(state: Map<string, Tensor>): void;
}

/** Weights to snapshot: a model with a state dict, or a plain list of tensors. */
export type Weights = StatefulModel | readonly Tensor[];
