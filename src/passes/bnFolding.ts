// BatchNorm folding (inference): a `batchNorm` node after a conv2d / convTranspose2d /
// linear / matmul with a constant weight is a per-channel scale and shift of that node's
// output, y·s + t with s = γ·rsqrt(var + eps), t = β − mean·s, which is folded into its
// weight and bias.
import type { Graph, Node, Value } from '../ir/index.js';
import { anchorOf, ChannelMath, foldInto, perChannel, type Anchor, type Step } from './channelFold.js';
import { foldConstants } from './constantFolding.js';
import { eliminateDeadCode } from './deadCode.js';
import type { Pass, PassContext } from './pass.js';
import { constantOf, replaceValue, staticShape } from './values.js';
/** A batch norm rewritten as y·s + t after its anchor: the two steps `foldInto` absorbs. */
interface Expanded {
  readonly anchor: Anchor;
  readonly mul: Node;
  readonly add: Node;
}

/**
 * A `batchNorm` node (inference form) right after an anchor whose channels are its
 * channels (axis 1), with constant statistics: rewritten as y·s + t (s and t computed from
 * the constants, folded next), or null where it does not apply.
 */
function expandBatchNorm(g: Graph, bn: Node): Expanded | null {
  const [x, mean, variance, w, b] = bn.inputs as [Value, Value, Value, Value | undefined, Value | undefined];
  if (!x.producer || bn.inputs.slice(1).some((v) => !constantOf(g, v))) return null;
  const a = anchorOf(g, x.producer);
  if (!a || a.axis !== 1 || x.index !== 0 || g.outputs.includes(x) || g.uses(x).length !== 1) return null;
  const eps = bn.attrs['eps'];
  const rank = x.type.shape.length;
  const dtype = x.type.dtype;
  if (typeof eps !== 'number' || staticShape(variance.type)?.length !== 1) return null;
  const math = new ChannelMath(g, bn, a.channels, dtype);
  const epsData = dtype === 'float64' ? Float64Array.of(eps) : Float32Array.of(eps);
  const e = g.addConstant('eps', epsData, { dtype, shape: [] });
  let s = g.insertBefore(bn, 'rsqrt', [math.binary('add', variance, e)], {}, [variance.type], bn.source).outputs[0]!;
  if (w) s = math.binary('mul', s, w);
  const ms = math.binary('mul', mean, s);
  const t = b ? math.binary('sub', b, ms) : math.neg(ms);
  const shape = [1, a.channels, ...new Array<number>(rank - 2).fill(1)];
  const mul = g.insertBefore(bn, 'mul', [x, math.reshape(s, shape)], {}, [x.type], bn.source);
  const add = g.insertBefore(bn, 'add', [mul.outputs[0]!, math.reshape(t, shape)], {}, [bn.outputs[0]!.type], bn.source);
  replaceValue(g, bn.outputs[0]!, add.outputs[0]!);
  g.erase(bn);
  return { anchor: a, mul, add };
}

/**
 * Folds `batchNorm` nodes (inference form, constant statistics) into the preceding
 * conv2d / convTranspose2d (group 1) / linear / matmul with a constant weight whose output
 * only the batch norm reads: W' = W·s, b' = b·s + t with s = γ·rsqrt(var + eps),
 * t = β − mean·s. The new weight and bias are folded constants, recomputed from the
 * parameters and statistics whenever one of them changes. In training mode parameters
 * are graph inputs, not constants, so nothing folds: BatchNorm is left alone there.
 * Results differ from the unfolded graph by rounding only (the products are associated
 * differently); a scale of 0 meeting an overflow to ±Infinity gives 0 here, NaN there.
 * Per-channel arithmetic the code writes itself is left as written (exact).
 */
export function foldBatchNorms(g: Graph, ctx: PassContext): boolean {
  // The scale and shift must be constants to fold into a weight: no folding without an evaluator.
  if (!ctx.evaluate) return false;
  const expanded: Expanded[] = [];
  for (const node of [...g.nodes]) {
    if (node.op !== 'batchNorm') continue;
    const e = expandBatchNorm(g, node);
    if (e) expanded.push(e);
  }
  if (!expanded.length) return false;
  foldConstants(g, ctx);
  for (const { anchor, mul, add } of expanded) {
    const y = anchor.node.outputs[0]!;
    const steps: Step[] = [{ node: mul, kind: 'mul', c: mul.inputs[1]! }, { node: add, kind: 'add', c: add.inputs[1]! }];
    // Folding cannot fail for a checked anchor; should it, y·s + t stays (correct, one node more).
    if (perChannel(g, anchor, y, steps[0]!.c) && perChannel(g, anchor, mul.outputs[0]!, steps[1]!.c)) foldInto(g, anchor, steps);
  }
  foldConstants(g, ctx);
  eliminateDeadCode(g);
  return true;
}

export const bnFolding: Pass = {
  name: 'bnFolding',
  level: 'O1',
  description: 'folds batchNorm (inference) into the preceding conv/convTranspose/linear/matmul weight and bias',
  run: (g, ctx) => (ctx.mode === 'inference' ? foldBatchNorms(g, ctx) : false),
};
