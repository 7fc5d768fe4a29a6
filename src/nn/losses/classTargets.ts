// Shared by nllLoss and crossEntropy: checks class-index targets against [N, C, d1…]
// inputs and computes each element's class weight (0 where the target is ignored).
import { KilnError, Tensor, where } from '../../eager/index.js';

/** Options of the losses that take class-index targets. */
export interface ClassTargetOptions {
  /** A weight per class `[C]`: each element's loss is scaled by its target class's weight, and `'mean'` divides by the sum of those weights. */
  weight?: Tensor | null;
  /** Targets equal to this class contribute nothing (and do not count in `'mean'`). Default −100, as PyTorch. */
  ignoreIndex?: number;
}

/** What the class-index losses need: targets safe to gather with, and per-element weights. */
export interface ClassTargets {
  /** Input with a batch axis: `[N, C, d1…]`. */
  input: Tensor;
  /** Targets `[N, d1…]`, ignored entries replaced by class 0 so they can be gathered. */
  safeTarget: Tensor;
  /** Weight of each element's target class `[N, d1…]`, 0 where ignored. */
  elementWeight: Tensor;
  /** 1 where the target is kept, 0 where it equals `ignoreIndex` `[N, d1…]` (input's dtype). */
  kept: Tensor;
  /** The input had no batch axis (`[C]` with a scalar target). */
  unbatched: boolean;
  /** The loss's name and `ignoreIndex`, for error messages. */
  op: string;
  ignoreIndex: number;
}

export function readClassTargets(op: string, input: Tensor, target: Tensor, options: ClassTargetOptions): ClassTargets {
  if (!(target instanceof Tensor) || target.dtype !== 'int32') {
    throw new KilnError(`class-index targets must be an int32 tensor, got ${target instanceof Tensor ? target.dtype : typeof target}`, { op });
  }
  const unbatched = input.rank === 1;
  const x = unbatched ? input.unsqueeze(0) : input;
  const t = unbatched ? target.reshape([1]) : target;
  const expected = [x.shape[0]!, ...x.shape.slice(2)];
  if (input.rank < 1 || t.shape.join(',') !== expected.join(',')) {
    throw new KilnError(`input [N, C, d1, …] = [${input.shape.join(', ')}] needs targets of shape [${unbatched ? '' : expected.join(', ')}], got [${target.shape.join(', ')}]`, { op });
  }
  const classes = x.shape[1]!;
  const { weight, ignoreIndex = -100 } = options;
  if (weight && (weight.rank !== 1 || weight.shape[0] !== classes)) {
    throw new KilnError(`weight must have one entry per class [${classes}], got [${weight.shape.join(', ')}]`, { op });
  }
  const ignored = t.equal(ignoreIndex);
  const safeTarget = where(ignored, 0, t);
  const classWeight = weight ? pickClasses(op, ignoreIndex, () => weight.indexSelect(0, safeTarget.reshape([-1])).reshape(t.shape)) : null;
  const kept = ignored.logicalNot().cast(x.dtype);
  const elementWeight = classWeight ? where(ignored, 0, classWeight) : kept;
  return { input: x, safeTarget, elementWeight, kept, unbatched, op, ignoreIndex };
}

/**
 * Runs a gather by target class, restating an out-of-range index as a bad target. The
 * gather kernels check ranges themselves, so no values are read back to the host here
 * (which would stall a GPU and break tracing).
 */
export function pickClasses(op: string, ignoreIndex: number, gather: () => Tensor): Tensor {
  try {
    return gather();
  } catch (e) {
    if (e instanceof KilnError && /out of range/.test(e.message)) {
      throw new KilnError(`a target class is out of range (targets must lie in [0, C) or equal ignoreIndex ${ignoreIndex}): ${e.message}`, { op });
    }
    throw e;
  }
}
