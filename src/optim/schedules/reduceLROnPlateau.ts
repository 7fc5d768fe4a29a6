import { KilnError } from '../../eager/index.js';
import { numberLrGroups, type LrOptimizer } from './lrScheduler.js';

/** Options of `ReduceLROnPlateau` (PyTorch's defaults). */
export interface ReduceLROnPlateauOptions {
  /** 'min': the metric should fall (a loss); 'max': it should rise (an accuracy). */
  mode?: 'min' | 'max';
  /** lr ← lr·factor on a plateau (default 0.1; 0.5 halves it). Must be < 1. */
  factor?: number;
  /** Epochs without improvement tolerated before reducing (default 10). */
  patience?: number;
  /** Minimum change that counts as an improvement (default 1e-4). */
  threshold?: number;
  /** 'rel': better than best·(1 ∓ threshold); 'abs': better than best ∓ threshold (default 'rel'). */
  thresholdMode?: 'rel' | 'abs';
  /** Epochs to wait after a reduction before counting bad epochs again (default 0). */
  cooldown?: number;
  /** Lower bound on the lr, one for all groups or one per group (default 0). */
  minLr?: number | readonly number[];
  /** Reductions smaller than this are skipped (default 1e-8). */
  eps?: number;
}

/** The position of a `ReduceLROnPlateau`, as plain JSON. */
export interface PlateauStateDict {
  best: number;
  numBadEpochs: number;
  cooldownCounter: number;
  lastEpoch: number;
  lastLr: number[];
}

/**
 * Reduces the lr when a metric stops improving (as `torch.optim.lr_scheduler.ReduceLROnPlateau`):
 * after more than `patience` epochs without improvement, every group's lr is multiplied
 * by `factor` (not below `minLr`), then `cooldown` epochs pass before counting again.
 * The classic "halve the learning rate when validation error stops improving" is `factor: 0.5`.
 *
 * @example
 * ```ts
 * const w = kiln.tensor([1, 2], { requiresGrad: true });
 * const opt = new kiln.optim.SGD([w], { lr: 0.1 });
 * const sched = new kiln.optim.ReduceLROnPlateau(opt, { factor: 0.5, patience: 2 });
 * for (const valLoss of [1.0, 0.8, 0.81, 0.82, 0.8]) {
 *   // ... one epoch of training, then valLoss from the validation set ...
 *   sched.step(valLoss);
 * }
 * sched.getLastLr(); // [0.05]: halved after three epochs without improvement
 * ```
 */
export class ReduceLROnPlateau {
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: 'rel' | 'abs';
  readonly cooldown: number;
  readonly minLrs: number[];
  readonly eps: number;
  /** Best metric seen so far (±Infinity before the first step). */
  best: number;
  /** Consecutive epochs without improvement. */
  numBadEpochs = 0;
  /** Epochs of cooldown left. */
  cooldownCounter = 0;
  /** Number of `step()` calls. */
  lastEpoch = 0;
  private lastLr: number[];

  constructor(
    /** The optimizer whose param groups' lr this reduces. */
    readonly optimizer: LrOptimizer,
    options: ReduceLROnPlateauOptions = {},
  ) {
    const fail = (message: string): never => {
      throw new KilnError(message, { op: 'ReduceLROnPlateau' });
    };
    numberLrGroups(optimizer, 'ReduceLROnPlateau');
    this.mode = options.mode ?? 'min';
    this.factor = options.factor ?? 0.1;
    this.patience = options.patience ?? 10;
    this.threshold = options.threshold ?? 1e-4;
    this.thresholdMode = options.thresholdMode ?? 'rel';
    this.cooldown = options.cooldown ?? 0;
    this.eps = options.eps ?? 1e-8;
    if (this.mode !== 'min' && this.mode !== 'max') fail(`mode must be 'min' or 'max', got ${String(this.mode)}`);
    if (this.thresholdMode !== 'rel' && this.thresholdMode !== 'abs') fail(`thresholdMode must be 'rel' or 'abs', got ${String(this.thresholdMode)}`);
    if (typeof this.factor !== 'number' || !(this.factor < 1) || !(this.factor >= 0)) fail(`factor must be in [0, 1), got ${String(this.factor)}`);
    if (!Number.isInteger(this.patience) || this.patience < 0) fail(`patience must be a non-negative integer, got ${String(this.patience)}`);
    if (!Number.isInteger(this.cooldown) || this.cooldown < 0) fail(`cooldown must be a non-negative integer, got ${String(this.cooldown)}`);
    if (typeof this.threshold !== 'number' || !(this.threshold >= 0)) fail(`threshold must be ≥ 0, got ${String(this.threshold)}`);
    const n = optimizer.paramGroups.length;
    const minLr = options.minLr ?? 0;
    if (typeof minLr === 'number') this.minLrs = new Array<number>(n).fill(minLr);
    else if (minLr.length !== n) this.minLrs = fail(`expected ${n} minLr values (one per param group), got ${minLr.length}`);
    else this.minLrs = [...minLr];
    this.best = this.mode === 'min' ? Infinity : -Infinity;
    this.lastLr = numberLrGroups(optimizer, 'ReduceLROnPlateau').map((g) => g.lr);
  }

  /** Records one epoch's metric (e.g. validation loss) and reduces the lr on a plateau. */
  step(metric: number): void {
    if (typeof metric !== 'number') throw new KilnError(`step(metric) needs a number (use loss.item()), got ${typeof metric}`, { op: 'ReduceLROnPlateau' });
    this.lastEpoch++;
    if (this.isBetter(metric, this.best)) {
      this.best = metric;
      this.numBadEpochs = 0;
    } else {
      this.numBadEpochs++;
    }
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.numBadEpochs = 0; // bad epochs during cooldown do not count
    }
    if (this.numBadEpochs > this.patience) {
      this.reduceLr();
      this.cooldownCounter = this.cooldown;
      this.numBadEpochs = 0;
    }
    this.lastLr = numberLrGroups(this.optimizer, 'ReduceLROnPlateau').map((g) => g.lr);
  }

  /** The lr of each param group after the last `step()`. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  /** Whether `a` improves on `best` by more than the threshold. */
  isBetter(a: number, best: number): boolean {
    const { mode, thresholdMode, threshold } = this;
    if (mode === 'min') return thresholdMode === 'rel' ? a < best * (1 - threshold) : a < best - threshold;
    return thresholdMode === 'rel' ? a > best * (1 + threshold) : a > best + threshold;
  }

  /** The scheduler's position (options come from its constructor). */
  stateDict(): PlateauStateDict {
    return { best: this.best, numBadEpochs: this.numBadEpochs, cooldownCounter: this.cooldownCounter, lastEpoch: this.lastEpoch, lastLr: [...this.lastLr] };
  }

  /** Restores a position saved by `stateDict()`. */
  loadStateDict(state: PlateauStateDict): void {
    // JSON turns ±Infinity into null: an unset best comes back as the mode's worst value.
    this.best = typeof state.best === 'number' ? state.best : this.mode === 'min' ? Infinity : -Infinity;
    this.numBadEpochs = state.numBadEpochs;
    this.cooldownCounter = state.cooldownCounter;
    this.lastEpoch = state.lastEpoch;
    this.lastLr = [...state.lastLr];
  }

  private reduceLr(): void {
    numberLrGroups(this.optimizer, 'ReduceLROnPlateau').forEach((g, i) => {
      const newLr = Math.max(g.lr * this.factor, this.minLrs[i]!);
      if (g.lr - newLr > this.eps) g.lr = newLr;
    });
  }
}
