// Activation fusion (O2): an activation right after a conv2d / convTranspose2d / linear
// (BN folding and bias fusion have already run into them) becomes an attribute of that
// node, so its kernel applies it to the result it has just written instead of another
// step reading and writing the whole tensor.
import { withFusedActivation, type Attrs, type Graph } from '../ir/index.js';
import { FUSABLE_ACTIVATIONS, gradientFromOutput } from '../ops/fusedActivation.js';
import type { Pass, PassContext } from './pass.js';
import { P, rewrite, rule } from './pattern.js';

const ANCHORS = ['conv2d', 'convTranspose2d', 'linear'];

const fuseRule = rule(
  'op(x) → act: op{activation=act}',
  P.op(FUSABLE_ACTIVATIONS, [P.op(ANCHORS, undefined, { name: 'y', where: (n) => n.attrs['activation'] === undefined })]),
  (m, b) => {
    const g = m.graph, act = m.root, y = m.value('y'), node = m.node('y');
    // The pre-activation value must die here: read by anything else it would have to exist.
    if (g.outputs.includes(y) || g.uses(y).length !== 1) return null;
    if (!m.ctx.target.fusedActivations[node.op]?.includes(act.op)) return null;
    const attrs = act.attrs as Attrs;
    // The fused op's gradient is taken from its output: only where that is the activation's own.
    if (m.ctx.mode === 'training' && !gradientFromOutput(act.op, attrs)) return null;
    return b.op(node.op, [...node.inputs], withFusedActivation(node.attrs, act.op, attrs), act.outputs[0]!.type);
  },
);

/**
 * Fuses relu / leakyRelu / clip (relu6, hardtanh) / sigmoid / tanh / elu into the
 * conv2d, convTranspose2d or linear node before it, when that node's output is read by
 * the activation only and the target lists the pair in `fusedActivations`. The fused
 * node computes act(op(x)) bit for bit as the two nodes did, NaN included (kernels run
 * XNNPACK without its NaN-dropping clamp and then the activation's own code). In
 * training mode only activations whose gradient follows from the output fuse (relu,
 * sigmoid, tanh, leakyRelu with alpha ≥ 0, elu with alpha > 0; not clip).
 */
export function fuseActivations(g: Graph, ctx: PassContext): boolean {
  if (!Object.keys(ctx.target.fusedActivations).length) return false;
  return rewrite(g, [fuseRule], ctx);
}

export const activationFusion: Pass = {
  name: 'activationFusion',
  level: 'O2',
  description: 'an activation after a conv/convTranspose/linear runs inside that node\'s kernel (attr activation), NaN kept',
  run: fuseActivations,
};
