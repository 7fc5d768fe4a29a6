import { arityMismatch, getOp, gradThroughDecomposition, KilnError, userCallSite, formatShape, type Attrs, type OpDef, type TensorType } from '../ir/index.js';
import { isAllocationFailure } from '../runtime/backend.js';
import { engine } from './engine.js';
import { Tensor } from './tensor.js';
import { GradNode, ruleState } from './autograd.js';
import { checkAnomaly } from './anomaly.js';
import { isDecompositionKernel, kernelOf, runDecomposed } from './decomposition.js';

/**
 * Runs one op eagerly: infers output types, calls the backend's kernel, records the
 * tape entry when a gradient is needed. This is the hot path: no stack capture, no
 * allocation beyond the outputs. While `kiln.compile` traces, the tracer gets the op.
 */
export function run(def: OpDef, inputs: readonly Tensor[], attrs: Attrs): Tensor[] {
  // Inside a gradient rule: saved tensors it reads must be unmodified and not released.
  if (ruleState.node !== null) ruleState.node.checkReads(inputs);
  const tracer = engine.tracer;
  if (tracer !== null) return tracer.run(def, inputs, attrs);
  return execute(def, inputs, attrs);
}

/** `run` without the tracing hook: what a tracer calls to execute an op for real. */
export function execute(def: OpDef, inputs: readonly Tensor[], attrs: Attrs): Tensor[] {
  const needsGrad = checkInputs(def, inputs);
  const outTypes = inferTypes(def, inputs, attrs);
  const first = inputs[0]!;
  const backend = first.backend;
  let outputs: Tensor[];
  if (def.alias) {
    first.storage.refs++;
    outputs = [new Tensor(first.storage, outTypes[0]!.shape, outTypes[0]!.dtype, backend)];
  } else {
    const kernel = kernelOf(def, backend);
    if (!kernel) throw opError(def.name, `no kernel on the '${backend.name}' backend`, inputs);
    for (const t of outTypes) {
      if (t.dtype === 'float64' && !backend.supportsFloat64) throw opError(def.name, `float64 is supported on the reference backend only, not '${backend.name}'`, inputs);
    }
    // No kernel of its own (or one the op prefers not to recompute: `tapeDecomposition`),
    // a gradient through its decomposition wanted, and no trace to record the op whole:
    // its primitives go on the tape (the backward pass then need not run them again).
    // Ops with a closed-form gradient keep it.
    if (needsGrad && engine.gradEnabled && engine.tracer === null && def.grad === gradThroughDecomposition && (def.tapeDecomposition === true || isDecompositionKernel(kernel))) {
      return runDecomposed(def, inputs, attrs, outTypes);
    }
    let storages;
    try {
      storages = kernel(inputs, attrs, outTypes);
    } catch (e) {
      // Kernels validate data (index ranges) and backends throw out of memory: give their
      // errors the op, the shapes and the user's call site. A JS array too large to make
      // inside a kernel is out of memory too.
      if (e instanceof KilnError && !e.callSite) throw opError(def.name, stripOp(def.name, e.message), inputs);
      if (isAllocationFailure(e)) throw opError(def.name, `out of memory: ${e.message}`, inputs);
      throw e;
    }
    outputs = new Array<Tensor>(outTypes.length);
    for (let i = 0; i < outTypes.length; i++) outputs[i] = new Tensor(storages[i]!, outTypes[i]!.shape, outTypes[i]!.dtype, backend);
  }
  if (needsGrad && engine.gradEnabled && def.grad) attachGrad(def, inputs, outputs, attrs);
  if (engine.anomaly !== null) checkAnomaly(def, inputs, outputs);
  return outputs;
}

/** Checks that inputs exist, are alive and share one backend; returns whether any requires grad. */
export function checkInputs(def: OpDef, inputs: readonly Tensor[]): boolean {
  const first = inputs[0];
  if (!first) throw new KilnError('an op needs at least one input tensor', { op: def.name });
  const wrongCount = arityMismatch(def, inputs.length);
  if (wrongCount) throw opError(def.name, wrongCount, inputs);
  const backend = first.backend;
  let needsGrad = false;
  for (let i = 0; i < inputs.length; i++) {
    const x = inputs[i]!;
    if (x.disposed) throw opError(def.name, `input ${i} was disposed (by dispose() or at the end of a kiln.scope)`, inputs);
    if (x.backend !== backend) throw opError(def.name, `inputs live on different backends ('${backend.name}' and '${x.backend.name}'); move one with .to('${backend.name}')`, inputs);
    if (x.requiresGrad) needsGrad = true;
  }
  return needsGrad;
}

/** The op's output types; its errors get the input shapes and the user's call site. */
export function inferTypes(def: OpDef, inputs: readonly Tensor[], attrs: Attrs): TensorType[] {
  try {
    return def.infer(inputs, attrs);
  } catch (e) {
    if (e instanceof KilnError && !e.callSite) throw opError(def.name, stripOp(def.name, e.message), inputs);
    throw e;
  }
}

/** Records the tape entry of one op application (floating outputs get its `gradFn`). */
export function attachGrad(def: OpDef, inputs: readonly Tensor[], outputs: readonly Tensor[], attrs: Attrs): void {
  const node = new GradNode(def, inputs, outputs, attrs);
  // Anomaly mode names the forward line when this node's gradient goes wrong.
  if (engine.anomaly !== null) node.site = userCallSite();
  for (let i = 0; i < outputs.length; i++) {
    const o = outputs[i]!;
    if (o.dtype === 'float32' || o.dtype === 'float64') {
      o.requiresGrad = true;
      o.gradFn = node;
      o.outputIndex = i;
    }
  }
}

/** Runs a single-output op. */
export function run1(def: OpDef, inputs: readonly Tensor[], attrs: Attrs): Tensor {
  return run(def, inputs, attrs)[0]!;
}

/** Runs a registered op by name (used by gradient rules for internal ops). */
export function applyOp(name: string, inputs: readonly Tensor[], attrs: Attrs): Tensor[] {
  const def = getOp(name);
  if (!def) throw new KilnError(`unknown op '${name}'`, { callSite: userCallSite() });
  return run(def, inputs, attrs);
}

/** A KilnError naming the op, the input shapes/dtypes and the user's call site. */
export function opError(op: string, message: string, inputs: readonly { shape: readonly number[]; dtype: string }[] = []): KilnError {
  const desc = inputs.length ? ` (inputs: ${inputs.map((x) => `${x.dtype}${formatShape(x.shape)}`).join(', ')})` : '';
  return new KilnError(message + desc, { op, callSite: userCallSite() });
}

function stripOp(op: string, message: string): string {
  return message.startsWith(`${op}: `) ? message.slice(op.length + 2) : message;
}
