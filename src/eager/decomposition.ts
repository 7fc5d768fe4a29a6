// Running an op through its decomposition (`OpDef.decompose`: its meaning as primitive
// ops): where a backend has no kernel for it, and for gradients that go through it.
// One fallback for every runner: eager dispatch and compiled plans look kernels up with
// `kernelOf`; the interpreter runs nodes through eager dispatch.
import { isFloat, KilnError, type Attrs, type OpDef, type TensorType } from '../ir/index.js';
import type { Backend, Kernel, Storage } from '../runtime/backend.js';
import { engine } from './engine.js';
import { computeGrads, ruleState, type GradNode } from './autograd.js';
import { scope } from './scope.js';
import { Tensor } from './tensor.js';

const fallbacks = new WeakMap<Backend, Map<string, Kernel>>();
const decompositionKernels = new WeakSet<Kernel>();

/**
 * The kernel that runs `def` on `backend`: the backend's own, else (for an op with a
 * decomposition) one that runs the decomposition's primitives on the backend, made once
 * per backend and op; undefined when there is neither.
 *
 * @example
 * ```ts
 * const k = kernelOf(getOp('lstm')!, getBackend('wasm')); // wasm has no lstm kernel: its decomposition
 * ```
 */
export function kernelOf(def: OpDef, backend: Backend): Kernel | undefined {
  const own = backend.kernels.get(def.name) as Kernel | undefined;
  if (own || !def.decompose) return own;
  let byName = fallbacks.get(backend);
  if (!byName) fallbacks.set(backend, (byName = new Map()));
  let k = byName.get(def.name);
  if (!k) {
    k = decompositionKernel(def, backend);
    decompositionKernels.add(k);
    byName.set(def.name, k);
  }
  return k;
}

/** Whether `kernel` is a decomposition made by `kernelOf` (not a backend's own kernel). */
export function isDecompositionKernel(kernel: Kernel): boolean {
  return decompositionKernels.has(kernel);
}

function sameType(t: { shape: readonly number[]; dtype: string }, want: TensorType): boolean {
  return t.dtype === want.dtype && t.shape.length === want.shape.length && t.shape.every((d, i) => d === want.shape[i]);
}

function badDecomposition(def: OpDef, what: string): KilnError {
  return new KilnError(`the decomposition of ${def.name} ${what} (a bug in Kiln's definition of this op)`, { op: def.name });
}

/**
 * A kernel running `def.decompose` on `backend`: the primitives run eagerly there, not
 * traced and without a tape (the op's own node carries the gradient), and everything
 * they allocate except the outputs is freed before it returns.
 */
function decompositionKernel(def: OpDef, backend: Backend): Kernel {
  const decompose = def.decompose!;
  return (inputs, attrs, outTypes) => {
    const made: Tensor[] = [];
    const saved = { tracer: engine.tracer, grad: engine.gradEnabled, rule: ruleState.node };
    engine.tracer = null;
    engine.gradEnabled = false;
    ruleState.node = null;
    engine.scopes.push(made);
    try {
      const xs = inputs.map((x) => {
        x.storage.refs++;
        return new Tensor(x.storage, x.shape, x.dtype, backend);
      });
      const ys = decompose(xs, attrs) as Tensor[];
      if (ys.length !== outTypes.length) throw badDecomposition(def, `returned ${ys.length} outputs instead of ${outTypes.length}`);
      const given = new Set<Storage>(xs.map((x) => x.storage));
      return ys.map((y, k) => {
        if (!sameType(y, outTypes[k]!)) throw badDecomposition(def, `returned ${y.dtype}[${y.shape.join(', ')}] for output ${k}, not ${outTypes[k]!.dtype}[${outTypes[k]!.shape.join(', ')}]`);
        // The caller owns each output's storage. One that is also an input's or another
        // output's (an identity, a reshape of an input) is copied.
        if (given.has(y.storage)) {
          const s = backend.alloc(y.dtype, y.size);
          backend.copy(y.storage, s);
          return s;
        }
        given.add(y.storage);
        y.storage.refs++; // outlives the tensors disposed below
        return y.storage;
      });
    } finally {
      engine.scopes.pop();
      for (const t of made) t.dispose();
      engine.tracer = saved.tracer;
      engine.gradEnabled = saved.grad;
      ruleState.node = saved.rule;
    }
  };
}

/**
 * Runs `def` eagerly as its decomposition with the primitives recorded on the tape (as
 * PyTorch's composite ops do): what dispatch does where a backend has no kernel for an
 * op differentiated through its decomposition (`grad: gradThroughDecomposition`) and a
 * gradient is needed, so the forward pass is not run again for the backward pass.
 */
export function runDecomposed(def: OpDef, inputs: readonly Tensor[], attrs: Attrs, outTypes: readonly TensorType[]): Tensor[] {
  const ys = def.decompose!(inputs, attrs) as Tensor[];
  if (ys.length !== outTypes.length) throw badDecomposition(def, `returned ${ys.length} outputs instead of ${outTypes.length}`);
  return ys.map((y, k) => {
    if (!sameType(y, outTypes[k]!)) throw badDecomposition(def, `returned ${y.dtype}[${y.shape.join(', ')}] for output ${k}, not ${outTypes[k]!.dtype}[${outTypes[k]!.shape.join(', ')}]`);
    return inputs.includes(y) ? y.clone() : y;
  });
}

/**
 * The gradient of `def` w.r.t. each input that `needs` one, through its decomposition
 * (`GradContext.throughDecomposition`): the primitives run again on the inputs with a
 * tape, and `dys` are backpropagated through them. The inputs enter that tape through
 * an alias that is a leaf while the inner backward runs (so it stops there) and is
 * linked to the input again afterwards, so a recorded backward (`createGraph`) can
 * itself be differentiated w.r.t. the inputs.
 */
export function differentiateDecomposition(def: OpDef, inputs: readonly Tensor[], dys: readonly Tensor[], attrs: Attrs, needs: readonly boolean[]): (Tensor | null)[] {
  const decompose = def.decompose;
  if (!decompose) throw badDecomposition(def, 'is missing, but its gradient runs through it');
  const createGraph = engine.gradEnabled;
  const cut: { t: Tensor; fn: GradNode | null }[] = [];
  const run = (): (Tensor | null)[] => {
    const stand = inputs.map((x, i) => {
      if (!needs[i] || !isFloat(x.dtype)) return x.detach();
      const a = x.reshape(x.shape);
      cut.push({ t: a, fn: a.gradFn });
      a.gradFn = null;
      a.requiresGrad = true;
      return a;
    });
    const outs = decompose(stand, attrs) as Tensor[];
    const roots: Tensor[] = [], seeds: Tensor[] = [];
    outs.forEach((o, k) => {
      if (o.requiresGrad && dys[k]) {
        roots.push(o);
        seeds.push(dys[k]!);
      }
    });
    const grads = roots.length ? computeGrads(roots, seeds, createGraph) : null;
    return stand.map((a, i) => (needs[i] && isFloat(a.dtype) ? grads?.of(a) ?? inputs[i]!.zerosLike() : null));
  };
  engine.gradEnabled = true;
  try {
    // Without a recorded backward nothing refers to the recomputation afterwards: free it.
    return createGraph ? run() : scope(run);
  } finally {
    for (const c of cut) c.t.gradFn = c.fn;
    engine.gradEnabled = createGraph;
  }
}
