/**
 * `fusedElementwise`: a chain (or DAG) of elementwise ops as one node, made by the
 * elementwise-fusion pass (O2) so a target runs it as one generated kernel: one pass over
 * memory instead of one per op. Its `program` attribute lists the ops (see
 * `ir/elementwiseProgram.ts`); its meaning is that program run op by op, which is its
 * decomposition (what backends without a kernel for it and the interpreter run).
 *
 * Inference only: the pass fuses in inference-mode compiles alone, and the op has no
 * gradient (a training graph keeps its primitives, whose intermediates the backward pass
 * reads anyway).
 */
import { KilnError, parseProgram, programDtypes, registerOp, runProgram, symbolicInfer, type Dim } from '../ir/index.js';
import { broadcastShapes } from './shapeHelpers.js';
import type { AnyTensor } from './tensorLike.js';

function programOf(attrs: Readonly<Record<string, unknown>>): ReturnType<typeof parseProgram> {
  const text = attrs['program'];
  if (typeof text !== 'string') throw new KilnError(`fusedElementwise needs a string attribute 'program', got ${JSON.stringify(text) ?? 'none'}`);
  return parseProgram(text);
}

/** fusedElementwise(x0, …, xK-1) {program}: the program's result, inputs broadcast together (NumPy). */
export const fusedElementwise = registerOp<AnyTensor>({
  name: 'fusedElementwise',
  arity: [1, Infinity],
  internalFor: 'elementwiseFusion',
  doc: 'Elementwise ops fused into one node (attr program, e.g. "mul(x0, x1); tanh(t0)"): inputs broadcast together; float32/bool; inference only (no gradient). Made by the elementwiseFusion pass.',
  ...symbolicInfer((inputs, attrs) => {
    const p = programOf(attrs);
    const dtypes = programDtypes(p, inputs.map((t) => t.dtype));
    let shape: readonly Dim[] = inputs[0]!.shape;
    for (const t of inputs.slice(1)) shape = broadcastShapes(shape, t.shape);
    return [{ shape, dtype: dtypes[dtypes.length - 1]! }];
  }),
  decompose: (inputs, attrs) => [runProgram(programOf(attrs), inputs, (s, [a, ...rest]) => a!.applyOp(s.op, rest, s.attrs)[0]!)],
});
