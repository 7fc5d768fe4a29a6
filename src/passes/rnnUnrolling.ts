// RNN unrolling (O2): a whole-sequence rnn / lstm / gru node over a static number of
// steps becomes its steps, so the plan runs each as its own kernels: per layer and
// direction one input-projection GEMM over all steps, then per step the recurrent GEMM
// and one gate op (`lstmGates` / `gruGates`; the Elman RNN's add + tanh/relu). Ops the
// target runs as one sequence kernel (`TargetCapabilities.sequenceKernels`: all three
// on wasm) stay whole at inference.
import { arrayFor, type Attrs, type Dim, type DType, type Graph, type IrAttrs, type Node, type Value } from '../ir/index.js';
import { recurrentAttrs, recurrentLayout, type RecurrentAttrs, type RecurrentOp } from '../ops/recurrent.js';
import { gruGates, lstmGates } from '../ops/recurrentCells.js';
import { foldConstants } from './constantFolding.js';
import { eliminateDeadCode } from './deadCode.js';
import type { Pass, PassContext } from './pass.js';
import { Builder } from './pattern.js';
import { replaceValue } from './values.js';

/** Longer sequences stay one node: the unrolled graph grows with the steps (≈4 nodes each per layer and direction). */
export const MAX_UNROLLED_STEPS = 64;

const RECURRENT_OPS: readonly string[] = ['rnn', 'lstm', 'gru'];

/** Builds the unrolled steps of one recurrent node right before it. */
class Unroller {
  private readonly b: Builder;

  constructor(g: Graph, private readonly node: Node, private readonly op: RecurrentOp, private readonly a: RecurrentAttrs) {
    this.b = new Builder(g, node);
  }

  private one(op: string, inputs: Value[], attrs: IrAttrs = {}): Value {
    return this.b.outputs(op, inputs, attrs)[0]!;
  }

  private reshape(v: Value, shape: readonly Dim[]): Value {
    return this.one('reshape', [v], { shape });
  }

  /** `v` cut along `axis` into its `n` slices, each without that axis. */
  private unstack(v: Value, n: number, axis = 0): Value[] {
    const rest = v.type.shape.filter((_, i) => i !== axis);
    const pieces = n === 1 ? [v] : this.b.outputs('split', [v], { axis, sizes: new Array<number>(n).fill(1) });
    return pieces.map((p) => this.reshape(p, rest));
  }

  /** A scalar constant. */
  private scalar(v: number, dtype: DType): Value {
    const data = arrayFor(dtype, 1);
    data[0] = v;
    return this.b.constant(dtype === 'int32' ? 'step' : 'zero', data, { dtype, shape: [] });
  }

  /** Slices joined along a new `axis`. */
  private stack(vs: readonly Value[], axis = 0): Value {
    const lifted = vs.map((v) => this.reshape(v, [...v.type.shape.slice(0, axis), 1, ...v.type.shape.slice(axis)]));
    return lifted.length === 1 ? lifted[0]! : this.one('concat', lifted, { axis });
  }

  /** The node's outputs, computed by its steps: [y, h_n, (c_n)]. */
  build(steps: number): Value[] {
    const { node, op, a } = this;
    const lay = recurrentLayout(op, a, node.inputs.length);
    const d = lay.directions, slots = a.numLayers * d;
    // Batch-first sequences stay so: steps are sliced and stacked along axis 1.
    const time = a.batchFirst ? 1 : 0;
    // initial[k][slot]: state kind k (h, c) of one layer and direction, [B, H].
    const initial = Array.from({ length: lay.states }, (_, k) => this.unstack(node.inputs[1 + k]!, slots));
    const finals: Value[][] = initial.map(() => []);
    // With lengths, per step [B, 1]: inside sequence b (lengths[b] > t). A sequence keeps
    // its state past its end and outputs 0 there, as the decomposition does.
    const lengths = lay.lengths >= 0 ? node.inputs[lay.lengths]! : null;
    const masks = lengths && Array.from({ length: steps }, (_, t) =>
      this.reshape(this.one('greater', [lengths, this.scalar(t, 'int32')]), [lengths.type.shape[0]!, 1]));
    const zero = masks && this.scalar(0, node.inputs[0]!.type.dtype);
    let layerInput = node.inputs[0]!;
    for (let l = 0; l < a.numLayers; l++) {
      const outs: Value[] = [];
      for (let dir = 0; dir < d; dir++) {
        const slot = l * d + dir;
        const at = lay.weights + slot * lay.perSlot;
        const [wIh, wHh] = [node.inputs[at]!, node.inputs[at + 1]!];
        const [bIh, bHh] = a.hasBiases ? [node.inputs[at + 2]!, node.inputs[at + 3]!] : [null, null];
        // b_hh joins the projection's bias (folded at compile time), except for gru, whose
        // candidate gate multiplies W_hn·h + b_hn by r.
        const bias = bIh && bHh && op !== 'gru' ? this.one('add', [bIh, bHh]) : bIh;
        // All steps' input projections: one GEMM over T·B rows (linear over [T, B, F] or [B, T, F]).
        const xp = this.unstack(this.one('linear', bias ? [layerInput, wIh, bias] : [layerInput, wIh]), steps, time);
        let state = initial.map((k) => k[slot]!);
        const ys = new Array<Value>(steps);
        for (let k = 0; k < steps; k++) {
          const t = dir === 1 ? steps - 1 - k : k;
          const h = state[0]!;
          const hp = this.one('linear', op === 'gru' && bHh ? [h, wHh, bHh] : [h, wHh]);
          let next: Value[];
          if (op === 'lstm') next = this.b.outputs(lstmGates.name, [xp[t]!, hp, state[1]!]);
          else if (op === 'gru') next = [this.one(gruGates.name, [xp[t]!, hp, h])];
          else next = [this.one(a.nonlinearity, [this.one('add', [xp[t]!, hp])])];
          const m = masks?.[t];
          if (m) {
            ys[t] = this.one('where', [m, next[0]!, zero!]);
            const prev = state;
            state = next.map((v, i) => this.one('where', [m, v, prev[i]!]));
          } else {
            ys[t] = next[0]!;
            state = next;
          }
        }
        outs.push(this.stack(ys, time));
        state.forEach((s, k) => finals[k]!.push(s));
      }
      layerInput = outs.length === 1 ? outs[0]! : this.one('concat', outs, { axis: 2 });
    }
    return [layerInput, ...finals.map((f) => this.stack(f))];
  }
}

/** The static number of steps of a recurrent node, or null (symbolic). */
function stepsOf(node: Node, a: RecurrentAttrs): number | null {
  const t = node.inputs[0]!.type.shape[a.batchFirst ? 1 : 0];
  return typeof t === 'number' ? t : null;
}

/**
 * Unrolls every rnn / lstm / gru node whose sequence length is static and at most
 * `MAX_UNROLLED_STEPS`: per layer
 * and direction, the input projection of all steps is one `linear` over the sequence
 * ([T, B, F], or [B, T, F] batch-first, which stays so; b_ih + b_hh one folded bias),
 * then each step is `linear(h, W_hh)` and one gate op (`lstmGates(xp_t, hp, c)`,
 * `gruGates(xp_t, hp, h)`; rnn: `tanh|relu(xp_t + hp)`); with `lengths`, each step's
 * output and state go through `where(lengths > t, …)` as in the decomposition (a finished
 * sequence outputs 0 and keeps its state). The weights are used as they
 * are (`linear` takes W [out, in]): nothing is transposed at run time. A symbolic length
 * (`kiln.dim('seq')`) stays one node, so one graph keeps serving every length; a
 * symbolic batch is fine. Nodes inside control-flow subgraphs are left alone. Inference
 * and training alike: the gate ops have closed-form gradients. Results match the
 * whole-sequence op's decomposition (the same ops in the same order) up to the GEMM
 * kernels' summation order (measured: bit-identical on wasm).
 */
export function unrollRecurrent(g: Graph, ctx: PassContext): boolean {
  let changed = false;
  for (const node of [...g.nodes]) {
    if (!RECURRENT_OPS.includes(node.op)) continue;
    const op = node.op as RecurrentOp;
    // The target's one-kernel sequence beats its unrolled steps (training keeps the steps:
    // their gradients are the gate ops' closed forms).
    if (ctx.mode === 'inference' && ctx.target.sequenceKernels?.includes(op)) continue;
    const a = recurrentAttrs(op, node.attrs as Attrs);
    const steps = stepsOf(node, a);
    if (steps === null || steps < 1 || steps > MAX_UNROLLED_STEPS) continue;
    const outs = new Unroller(g, node, op, a).build(steps);
    outs.forEach((v, i) => replaceValue(g, node.outputs[i]!, v));
    g.erase(node);
    changed = true;
  }
  if (changed) {
    // b_ih + b_hh of constant weights become one folded bias; unused final states (a
    // caller reading y only) leave their stacking behind.
    foldConstants(g, ctx);
    eliminateDeadCode(g);
  }
  return changed;
}

export const rnnUnrolling: Pass = {
  name: 'rnnUnrolling',
  level: 'O2',
  description: `rnn/lstm/gru over a static length ≤ ${MAX_UNROLLED_STEPS} → one input-projection GEMM per layer and direction, then per step a recurrent GEMM and one gate op`,
  run: unrollRecurrent,
};
