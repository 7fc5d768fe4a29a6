import { KilnError, Tensor } from '../../eager/index.js';

/**
 * What a scheduler needs of an optimizer: param groups with a writable `lr`. Schedulers
 * set numbers: a group with a tensor learning rate (a differentiable optimizer) raises.
 */
export interface LrOptimizer {
  readonly paramGroups: readonly { lr: number | Tensor }[];
}

/** @internal The optimizer's groups, checked to hold number learning rates. */
export function numberLrGroups(optimizer: LrOptimizer, op: string): { lr: number }[] {
  if (!optimizer || !Array.isArray(optimizer.paramGroups)) throw new KilnError('expected an optimizer (an object with paramGroups)', { op });
  optimizer.paramGroups.forEach((g, i) => {
    if (g.lr instanceof Tensor) {
      throw new KilnError(`param group ${i} has a tensor learning rate; schedulers set number learning rates (compute a scheduled tensor lr yourself, e.g. lr0.mul(factor), and build the optimizer with it)`, { op });
    }
  });
  return optimizer.paramGroups as { lr: number }[];
}

/** A scheduler's position, as plain JSON (for checkpoints). */
export interface SchedulerStateDict {
  lastEpoch: number;
  stepCount: number;
  baseLrs: number[];
  lastLr: number[];
}

/**
 * Base class of epoch-indexed learning-rate schedules (PyTorch's `_LRScheduler`).
 *
 * Construction records each group's initial lr (`initialLr`, shared by every
 * scheduler on the optimizer) and performs step 0; each `step()` then advances one
 * epoch and writes the new lr into every param group. Subclasses compute the next lr
 * from the group's current one (PyTorch's "chainable" form), so two schedulers
 * stepped together compose as in `torch.optim.lr_scheduler.ChainedScheduler`.
 *
 * @example
 * ```ts
 * const w = kiln.tensor([1, 2], { requiresGrad: true });
 * const opt = new kiln.optim.SGD([w], { lr: 0.1 });
 * const sched = new kiln.optim.StepLR(opt, { stepSize: 30, gamma: 0.1 });
 * for (let epoch = 0; epoch < 100; epoch++) {
 *   // ... one epoch of training: backward(), opt.step(), opt.zeroGrad() ...
 *   sched.step();
 * }
 * sched.getLastLr(); // ≈ [1e-4]
 * ```
 */
export abstract class LRScheduler {
  /** Index of the current epoch (0 after construction). */
  lastEpoch = -1;
  /** The initial lr of each param group. */
  readonly baseLrs: number[];
  /** Number of `step()` calls, including the one made by the constructor. */
  protected stepCount = 0;
  private lastLr: number[] = [];

  protected constructor(
    /** The optimizer whose param groups' lr this schedules. */
    readonly optimizer: LrOptimizer,
    /** Name used in error messages. */
    protected readonly name: string,
  ) {
    const groups = numberLrGroups(optimizer, name) as { lr: number; initialLr?: number }[];
    for (const group of groups) group.initialLr ??= group.lr;
    this.baseLrs = groups.map((g) => g.initialLr!);
  }

  /** Advances one epoch and sets each param group's lr. */
  step(): void {
    this.stepCount++;
    this.lastEpoch++;
    const values = this.computeLr();
    this.optimizer.paramGroups.forEach((g, i) => ((g as { lr: number }).lr = values[i]!));
    this.lastLr = this.currentLrs();
  }

  /** The lr of each param group as set by the last `step()`. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** The scheduler's position (hyperparameters come from its constructor). */
  stateDict(): SchedulerStateDict {
    return { lastEpoch: this.lastEpoch, stepCount: this.stepCount, baseLrs: [...this.baseLrs], lastLr: [...this.lastLr] };
  }

  /** Restores a position saved by `stateDict()` (the optimizer's lr comes from its own state dict). */
  loadStateDict(state: SchedulerStateDict): void {
    if (state.baseLrs.length !== this.baseLrs.length) throw new KilnError(`loadStateDict: ${state.baseLrs.length} param groups in the state dict, ${this.baseLrs.length} here`, { op: this.name });
    this.lastEpoch = state.lastEpoch;
    this.stepCount = state.stepCount;
    this.baseLrs.splice(0, this.baseLrs.length, ...state.baseLrs);
    this.lastLr = [...state.lastLr];
  }

  /** The lr of every group at epoch `lastEpoch`, from the groups' current lr. */
  protected abstract computeLr(): number[];

  /** Subclasses call this at the end of their constructor (their fields are set by then). */
  protected initialStep(): void {
    this.step();
  }

  /** The current lr of each param group. */
  protected currentLrs(): number[] {
    return numberLrGroups(this.optimizer, this.name).map((g) => g.lr);
  }

  /** Throws unless `value` is a number satisfying `ok`. */
  protected check(what: string, value: unknown, ok: (v: number) => boolean, rule: string): void {
    if (typeof value !== 'number' || Number.isNaN(value) || !ok(value)) throw new KilnError(`invalid ${what}: ${String(value)} (${rule})`, { op: this.name });
  }
}
