// The losses as modules (PyTorch's nn.MSELoss & co.): options fixed at construction,
// `forward(input, target)`. Class weights are buffers, so they travel with stateDict.
import type { Tensor } from '../../eager/index.js';
import { buffer, Module } from '../module.js';
import { binaryCrossEntropy } from './binaryCrossEntropy.js';
import { binaryCrossEntropyWithLogits } from './binaryCrossEntropyWithLogits.js';
import { crossEntropy } from './crossEntropy.js';
import { huberLoss, smoothL1Loss } from './huberLoss.js';
import { klDiv, type KLDivOptions } from './klDiv.js';
import { l1Loss } from './l1Loss.js';
import { mseLoss } from './mseLoss.js';
import { nllLoss } from './nllLoss.js';
import type { Reduction } from './reduction.js';

/** Options of every loss module. */
export interface LossModuleOptions {
  /** Default `'mean'`. */
  reduction?: Reduction;
}

/**
 * `mseLoss` as a module.
 *
 * @example
 * ```ts
 * const loss = new kiln.nn.MSELoss().forward(kiln.tensor([1, 2]), kiln.tensor([1, 0])); // 2
 * ```
 */
export class MSELoss extends Module {
  readonly reduction: Reduction;
  constructor(options: LossModuleOptions = {}) {
    super();
    this.reduction = options.reduction ?? 'mean';
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return mseLoss(input, target, { reduction: this.reduction });
  }
}

/**
 * `l1Loss` as a module.
 *
 * @example
 * ```ts
 * new kiln.nn.L1Loss({ reduction: 'sum' }).forward(kiln.tensor([1, -2]), kiln.tensor([0, 0])).item(); // 3
 * ```
 */
export class L1Loss extends Module {
  readonly reduction: Reduction;
  constructor(options: LossModuleOptions = {}) {
    super();
    this.reduction = options.reduction ?? 'mean';
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return l1Loss(input, target, { reduction: this.reduction });
  }
}

/**
 * `huberLoss` as a module.
 *
 * @example
 * ```ts
 * new kiln.nn.HuberLoss({ delta: 0.5 }).forward(kiln.tensor([2]), kiln.tensor([0])).item(); // 0.5·(2 − 0.25)
 * ```
 */
export class HuberLoss extends Module {
  readonly reduction: Reduction;
  readonly delta: number;
  constructor(options: LossModuleOptions & { delta?: number } = {}) {
    super();
    this.reduction = options.reduction ?? 'mean';
    this.delta = options.delta ?? 1;
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return huberLoss(input, target, { reduction: this.reduction, delta: this.delta });
  }
}

/**
 * `smoothL1Loss` as a module.
 *
 * @example
 * ```ts
 * new kiln.nn.SmoothL1Loss({ beta: 2 }).forward(kiln.tensor([1]), kiln.tensor([0])).item(); // ½·1/2 = 0.25
 * ```
 */
export class SmoothL1Loss extends Module {
  readonly reduction: Reduction;
  readonly beta: number;
  constructor(options: LossModuleOptions & { beta?: number } = {}) {
    super();
    this.reduction = options.reduction ?? 'mean';
    this.beta = options.beta ?? 1;
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return smoothL1Loss(input, target, { reduction: this.reduction, beta: this.beta });
  }
}

/** Options of `CrossEntropyLoss`. */
export interface CrossEntropyLossOptions extends LossModuleOptions {
  weight?: Tensor | null;
  ignoreIndex?: number;
  labelSmoothing?: number;
}

/**
 * `crossEntropy` as a module; `weight` is kept as a buffer.
 *
 * @example
 * ```ts
 * const criterion = new kiln.nn.CrossEntropyLoss({ labelSmoothing: 0.1 });
 * const loss = criterion.forward(kiln.randn([8, 10]), kiln.randint(0, 10, [8]));
 * ```
 */
export class CrossEntropyLoss extends Module {
  readonly reduction: Reduction;
  readonly weight: Tensor | null;
  readonly ignoreIndex: number;
  readonly labelSmoothing: number;
  constructor(options: CrossEntropyLossOptions = {}) {
    super();
    this.reduction = options.reduction ?? 'mean';
    this.weight = options.weight ? buffer(options.weight) : null;
    this.ignoreIndex = options.ignoreIndex ?? -100;
    this.labelSmoothing = options.labelSmoothing ?? 0;
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return crossEntropy(input, target, { reduction: this.reduction, weight: this.weight, ignoreIndex: this.ignoreIndex, labelSmoothing: this.labelSmoothing });
  }
}

/**
 * `nllLoss` as a module (after a `LogSoftmax`); `weight` is kept as a buffer.
 *
 * @example
 * ```ts
 * const loss = new kiln.nn.NLLLoss().forward(kiln.randn([4, 3]).logSoftmax(1), kiln.tensor([0, 2, 1, 1], { dtype: 'int32' }));
 * ```
 */
export class NLLLoss extends Module {
  readonly reduction: Reduction;
  readonly weight: Tensor | null;
  readonly ignoreIndex: number;
  constructor(options: Omit<CrossEntropyLossOptions, 'labelSmoothing'> = {}) {
    super();
    this.reduction = options.reduction ?? 'mean';
    this.weight = options.weight ? buffer(options.weight) : null;
    this.ignoreIndex = options.ignoreIndex ?? -100;
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return nllLoss(input, target, { reduction: this.reduction, weight: this.weight, ignoreIndex: this.ignoreIndex });
  }
}

/**
 * `binaryCrossEntropy` as a module (PyTorch `BCELoss`); `weight` is kept as a buffer.
 *
 * @example
 * ```ts
 * const loss = new kiln.nn.BCELoss().forward(kiln.tensor([0.9, 0.2]), kiln.tensor([1, 0]));
 * ```
 */
export class BCELoss extends Module {
  readonly reduction: Reduction;
  readonly weight: Tensor | null;
  constructor(options: LossModuleOptions & { weight?: Tensor | null } = {}) {
    super();
    this.reduction = options.reduction ?? 'mean';
    this.weight = options.weight ? buffer(options.weight) : null;
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return binaryCrossEntropy(input, target, { reduction: this.reduction, weight: this.weight });
  }
}

/**
 * `binaryCrossEntropyWithLogits` as a module (PyTorch `BCEWithLogitsLoss`); `weight` and
 * `posWeight` are kept as buffers.
 *
 * @example
 * ```ts
 * const criterion = new kiln.nn.BCEWithLogitsLoss({ posWeight: kiln.tensor([4]) });
 * const loss = criterion.forward(kiln.randn([8, 1]), kiln.ones([8, 1]));
 * ```
 */
export class BCEWithLogitsLoss extends Module {
  readonly reduction: Reduction;
  readonly weight: Tensor | null;
  readonly posWeight: Tensor | null;
  constructor(options: LossModuleOptions & { weight?: Tensor | null; posWeight?: Tensor | null } = {}) {
    super();
    this.reduction = options.reduction ?? 'mean';
    this.weight = options.weight ? buffer(options.weight) : null;
    this.posWeight = options.posWeight ? buffer(options.posWeight) : null;
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return binaryCrossEntropyWithLogits(input, target, { reduction: this.reduction, weight: this.weight, posWeight: this.posWeight });
  }
}

/**
 * `klDiv` as a module (PyTorch `KLDivLoss`).
 *
 * @example
 * ```ts
 * const criterion = new kiln.nn.KLDivLoss({ reduction: 'batchmean' });
 * const loss = criterion.forward(kiln.randn([4, 5]).logSoftmax(1), kiln.randn([4, 5]).softmax(1));
 * ```
 */
export class KLDivLoss extends Module {
  readonly reduction: NonNullable<KLDivOptions['reduction']>;
  readonly logTarget: boolean;
  constructor(options: KLDivOptions = {}) {
    super();
    this.reduction = options.reduction ?? 'mean';
    this.logTarget = options.logTarget ?? false;
  }
  forward(input: Tensor, target: Tensor): Tensor {
    return klDiv(input, target, { reduction: this.reduction, logTarget: this.logTarget });
  }
}
