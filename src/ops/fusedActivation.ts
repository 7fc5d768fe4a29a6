/**
 * Activations fused into conv2d / convTranspose2d / linear (attr `activation` and its
 * prefixed params, see `ir/fusedActivation.ts`): what those ops' inference, decomposition
 * and gradient share. The fused op computes act(op(x)) exactly as the two separate ops
 * do (kernels run the activation's own kernel, or the same generated code, on the
 * result), NaN included. The gradient is taken from the output, so only activations
 * whose derivative the output determines (`gradientFromOutput`) may be fused where a
 * gradient is wanted; the others (clip, whose mask needs the input at its bounds) are
 * inference-only and their gradient raises.
 */
import { fusedActivationOf, KilnError, type Attrs, type FusedActivation, type IrAttrs } from '../ir/index.js';
import type { AnyTensor } from './tensorLike.js';

/** Per activation: its attributes (all required on the node) and how dL/d(pre-activation) follows from y and dy. */
interface ActivationRule {
  readonly attrs: readonly string[];
  /** Whether `grad` is the activation's own gradient for these attrs (it is written from the output). */
  gradientFromOutput(attrs: Attrs): boolean;
  grad(y: AnyTensor, dy: AnyTensor, attrs: Attrs): AnyTensor;
}

const num = (a: Attrs, k: string): number => a[k] as number;

/**
 * The rules, each the activation op's own gradient (src/ops/elementwise.ts) with its
 * input tests written on the output: relu's `x ≤ 0` is `y ≤ 0` (NaN passes both),
 * leakyRelu's and elu's `x > 0` is `y > 0` for alpha ≥ 0 / > 0.
 */
const RULES: Readonly<Record<string, ActivationRule>> = {
  relu: { attrs: [], gradientFromOutput: () => true, grad: (y, dy) => dy.where(y.lessEqual(0).logicalNot(), 0) },
  leakyRelu: {
    attrs: ['alpha'],
    gradientFromOutput: (a) => num(a, 'alpha') >= 0,
    grad: (y, dy, a) => dy.where(y.greater(0), dy.mul(num(a, 'alpha'))),
  },
  elu: {
    attrs: ['alpha'],
    gradientFromOutput: (a) => num(a, 'alpha') > 0,
    grad: (y, dy, a) => dy.where(y.greater(0), dy.mul(y.add(num(a, 'alpha')))),
  },
  sigmoid: { attrs: [], gradientFromOutput: () => true, grad: (y, dy) => dy.mul(y).mul(y.neg().add(1)) },
  tanh: { attrs: [], gradientFromOutput: () => true, grad: (y, dy) => dy.mul(y.square().neg().add(1)) },
  clip: { attrs: ['min', 'max'], gradientFromOutput: () => false, grad: () => { throw new KilnError('a fused clip has no gradient (its mask needs the input at the bounds): fuse it in inference only'); } },
};

/** Activations an op may carry fused. */
export const FUSABLE_ACTIVATIONS: readonly string[] = Object.keys(RULES);

/** Whether activation `op` with `attrs` can be fused where a gradient is taken (its derivative follows from its output). */
export function gradientFromOutput(op: string, attrs: Attrs): boolean {
  const r = RULES[op];
  return r !== undefined && r.gradientFromOutput(attrs);
}

/** Checks a node's fused activation (infer): a known activation with its attributes. */
export function checkFusedActivation(attrs: IrAttrs): FusedActivation | null {
  const act = fusedActivationOf(attrs);
  if (!act) {
    if (attrs['activation'] !== undefined && attrs['activation'] !== null) throw new KilnError(`activation must be an op name, got ${JSON.stringify(attrs['activation'])}`);
    return null;
  }
  const r = RULES[act.op];
  if (!r) throw new KilnError(`unknown fused activation '${act.op}' (expected one of ${FUSABLE_ACTIVATIONS.join(', ')})`);
  for (const k of r.attrs) {
    const v = act.attrs[k];
    if (!(typeof v === 'number' || (act.op === 'clip' && v === null))) throw new KilnError(`fused ${act.op} needs a number attribute '${k}' (activation${k[0]!.toUpperCase()}${k.slice(1)})`);
  }
  return act;
}

/** act(y) as the separate op computes it (the decomposition's last step); y itself without an activation. */
export function applyFusedActivation(y: AnyTensor, attrs: Attrs): AnyTensor {
  const act = fusedActivationOf(attrs);
  return act ? y.applyOp(act.op, [], act.attrs)[0]! : y;
}

/** dL/d(pre-activation) from the fused op's output `y` and its gradient `dy`; dy itself without an activation. */
export function fusedActivationGrad(y: AnyTensor, dy: AnyTensor, attrs: Attrs): AnyTensor {
  const act = fusedActivationOf(attrs);
  if (!act) return dy;
  return RULES[act.op]!.grad(y, dy, act.attrs);
}
