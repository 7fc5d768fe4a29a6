// Bias fusion (O2): an add of a per-channel constant after a conv / linear / matmul runs
// inside that op's kernel, which takes a bias (XNNPACK's fused matmul and convolution).
import { getOp, type Graph, type Node, type Value } from '../ir/index.js';
import { anchorOf, ChannelMath, foldInto, perChannel, type Anchor } from './channelFold.js';
import { foldConstants } from './constantFolding.js';
import { eliminateDeadCode } from './deadCode.js';
import type { Pass, PassContext } from './pass.js';
import { constantOf, eraseIfDead, replaceValue } from './values.js';

/** The anchor feeding `add` and the constant added, when `add` is y + c (or c + y) with y read by nothing else. */
function biasAdd(g: Graph, add: Node): { a: Anchor; y: Value; c: Value } | null {
  if (add.op !== 'add' || add.inputs.length !== 2) return null;
  for (const k of [0, 1]) {
    const y = add.inputs[k]!, c = add.inputs[1 - k]!;
    if (!y.producer || y.index !== 0 || g.outputs.includes(y) || g.uses(y).length !== 1) continue;
    const a = anchorOf(g, y.producer);
    if (a && perChannel(g, a, y, c)) return { a, y, c };
  }
  return null;
}

/** W [out, in] of a matmul's K [in, out]: the constant K was folded from, or a transpose of K (folded next). */
function weightOf(g: Graph, k: Value, at: Node): Value {
  const f = constantOf(g, k)?.folded;
  if (f && f.op === 'transpose' && (f.attrs['perm'] as readonly number[] | undefined)?.join() === '1,0') return f.inputs[0]!;
  const [inF, out] = k.type.shape as [number, number];
  return g.insertBefore(at, 'transpose', [k], { perm: [1, 0] }, [{ dtype: k.type.dtype, shape: [out, inF] }], at.source).outputs[0]!;
}

/**
 * Moves a per-channel constant add into the op before it where the target has a kernel
 * taking a bias (`ctx.target.fusedOps`): conv2d / convTranspose2d / linear get it as (or
 * added to) their bias; matmul(x, K) + b becomes linear(x, Kᵀ, b). Results may differ by
 * rounding (the kernel starts its sums from the bias). No activation is fused: XNNPACK's
 * fused ReLU turns NaN into 0 where relu keeps NaN.
 */
export function fuseBiases(g: Graph, ctx: PassContext): boolean {
  if (!ctx.evaluate) return false;
  const can = new Set(ctx.target.fusedOps);
  let changed = false;
  for (const add of [...g.nodes]) {
    if (!g.nodes.includes(add)) continue;
    const m = biasAdd(g, add);
    if (!m) continue;
    const { a, c } = m;
    const node = a.node;
    if (node.op !== 'matmul') {
      if (can.has(node.op) && foldInto(g, a, [{ node: add, kind: 'add', c }])) changed = true;
      continue;
    }
    if (!can.has('linear') || !getOp('linear')) continue;
    const [x, k] = node.inputs as [Value, Value];
    const w = weightOf(g, k, node);
    const bias = new ChannelMath(g, node, a.channels, add.outputs[0]!.type.dtype).vector(c);
    const lin = g.insertBefore(add, 'linear', [x, w, bias], {}, [add.outputs[0]!.type], node.source).outputs[0]!;
    replaceValue(g, add.outputs[0]!, lin);
    eraseIfDead(g, add);
    eraseIfDead(g, node);
    changed = true;
  }
  if (changed) {
    foldConstants(g, ctx);
    eliminateDeadCode(g);
  }
  return changed;
}

export const biasFusion: Pass = {
  name: 'biasFusion',
  level: 'O2',
  description: 'per-channel constant adds run inside the conv/linear kernel before them (matmul + b → linear)',
  run: fuseBiases,
};
