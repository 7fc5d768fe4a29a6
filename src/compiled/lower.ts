import { getOp, KilnError, verifyGraph, type Graph, type TypedArray } from '../ir/index.js';
import { levelIncludes, PassManager, type Evaluator, type OptLevel, type Pass, type PassContext, type PipelineReport, type TargetCapabilities } from '../passes/index.js';
import type { Backend, BackendName, Storage } from '../runtime/backend.js';
import { engine, getBackend } from '../eager/engine.js';
import { kernelOf } from '../eager/decomposition.js';
import type { Tensor } from '../eager/tensor.js';
import { FUSED_ELEMENTWISE_OPS } from '../runtime/wasm/kernels/fusedElementwiseKernel.js';
import { WEBGPU_FUSED_ELEMENTWISE_OPS } from '../runtime/webgpu/kernels/fusedElementwise.js';
import { ExecutionPlan } from './executionPlan.js';

/** Where a compiled graph runs. */
export type CompileTarget = BackendName;

/** The level `kiln.compile` optimizes at unless told otherwise. */
export const DEFAULT_OPT_LEVEL: OptLevel = 'O3';

/** Activations conv2d / convTranspose2d / linear apply themselves (attr `activation`) on both targets. */
const CONV_LINEAR_ACTIVATIONS = ['relu', 'leakyRelu', 'clip', 'sigmoid', 'tanh', 'elu'] as const;
const FUSED_ACTIVATIONS = { conv2d: CONV_LINEAR_ACTIVATIONS, convTranspose2d: CONV_LINEAR_ACTIVATIONS, linear: CONV_LINEAR_ACTIVATIONS };

/**
 * What each target runs fused, as data for the passes (which never import the runtime):
 * ops whose kernel takes a bias (on wasm, XNNPACK's `_FusedMatMul` and `_FusedConv2D`),
 * and the activations those kernels apply to their result. On wasm XNNPACK runs without
 * its activation clamp (which turns NaN into 0 while `relu(NaN)` is NaN); relu, leakyRelu
 * and clip then run in place on the generated kernels the separate ops use, the others
 * on the separate op's kernel, so a fused node gives the unfused graph's bits. On wasm,
 * groups of elementwise ops run as one generated SIMD kernel (`elementwiseKernels`); the
 * reference backend would only interpret such a node, so it lists none. On webgpu they run
 * as one generated WGSL shader; no layout change (its conv kernels read NCHW).
 */
export const TARGET_CAPABILITIES: Readonly<Record<CompileTarget, TargetCapabilities>> = {
  wasm: { name: 'wasm', fusedOps: ['linear', 'conv2d', 'convTranspose2d'], fusedActivations: FUSED_ACTIVATIONS, preferredLayout: 'NHWC', elementwiseKernels: FUSED_ELEMENTWISE_OPS, sequenceKernels: ['lstm', 'gru', 'rnn'] },
  reference: { name: 'reference', fusedOps: ['linear', 'conv2d', 'convTranspose2d'], fusedActivations: FUSED_ACTIVATIONS },
  webgpu: { name: 'webgpu', fusedOps: ['linear', 'conv2d', 'convTranspose2d'], fusedActivations: FUSED_ACTIVATIONS, elementwiseKernels: WEBGPU_FUSED_ELEMENTWISE_OPS },
};

/**
 * The backend constants fold on for `target`: its own (bit for bit what the unfolded
 * graph computes there), except on webgpu, whose values cannot be read synchronously:
 * there they fold on the CPU (wasm when loaded).
 */
function foldingBackend(target: CompileTarget): Backend {
  if (target !== 'webgpu') return getBackend(target);
  return engine.backends.get('wasm') ?? getBackend('reference');
}

/** How `lower` optimizes. */
export interface LowerOptions {
  /** Optimization level (default `DEFAULT_OPT_LEVEL`). */
  readonly optimize?: OptLevel;
  /** Default 'inference'. In training, parameters are graph inputs: nothing of theirs folds. */
  readonly mode?: 'inference' | 'training';
  /** Passes appended to the pipeline. */
  readonly passes?: readonly Pass[];
  /** Verify after every pass (default: KILN_VERIFY_PASSES=1, or running under vitest). */
  readonly verify?: boolean;
  /** Print the graph after every pass (default: KILN_DUMP_IR=1). */
  readonly dumpIR?: boolean;
  /** Where dumps go (default console.log). */
  readonly log?: (text: string) => void;
}

/** A lowered graph: the optimized graph, what the pipeline did, and the plan that runs it (with its memory plans). */
export interface Lowered {
  readonly graph: Graph;
  readonly report: PipelineReport;
  readonly plan: ExecutionPlan;
}

function envFlag(name: string): string | undefined {
  return (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
}

/** The verifier runs after every pass in tests: under vitest, or with KILN_VERIFY_PASSES=1. */
function verifyByDefault(): boolean {
  return envFlag('KILN_VERIFY_PASSES') === '1' || envFlag('VITEST') !== undefined;
}

/**
 * Runs ops on constant data with `backend`'s own kernels (bit for bit what the unfolded
 * graph would compute there), outside autograd and tracing.
 */
export function kernelEvaluator(backend: Backend): Evaluator {
  return (op, inputs, attrs) => {
    const def = getOp(op);
    if (!def) throw new KilnError(`cannot fold unknown op '${op}'`, { op: 'compile' });
    const types = def.infer(inputs.map((i) => i.type), attrs);
    if (def.alias) return [inputs[0]!.data];
    // An op the backend has no kernel for folds through its decomposition, as it would run.
    const kernel = kernelOf(def, backend);
    if (!kernel) throw new KilnError(`cannot fold '${op}': no kernel on the '${backend.name}' backend`, { op: 'compile' });
    const held: Storage[] = [];
    try {
      const slots = inputs.map((i) => {
        const storage = backend.alloc(i.type.dtype, i.data.length);
        held.push(storage);
        backend.write(storage, i.data);
        return { storage, shape: i.type.shape, dtype: i.type.dtype };
      });
      const outs = kernel(slots, attrs, types);
      held.push(...outs);
      return outs.map((s): TypedArray => backend.read(s).slice());
    } finally {
      for (const s of held) if (--s.refs <= 0) backend.free(s);
    }
  };
}

/**
 * Runs the pass pipeline on a copy of `graph` at `options.optimize`: the traced graph
 * stays as traced. Verifies the graph before and after (and after every pass when
 * `verify`).
 */
export function optimizeGraph(graph: Graph, target: CompileTarget, live: ReadonlyMap<string, Tensor> = new Map(), options: LowerOptions = {}): { graph: Graph; report: PipelineReport } {
  verifyGraph(graph);
  const level = options.optimize ?? DEFAULT_OPT_LEVEL;
  const pm = new PassManager({
    level,
    verify: options.verify ?? verifyByDefault(),
    ...(options.passes ? { passes: options.passes } : {}),
    ...(options.dumpIR !== undefined ? { dumpIR: options.dumpIR } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  const g = level === 'O0' ? graph : graph.clone();
  const ctx: PassContext = {
    mode: options.mode ?? 'inference',
    live: new Set(live.keys()),
    evaluate: kernelEvaluator(foldingBackend(target)),
    target: TARGET_CAPABILITIES[target],
  };
  const report = pm.run(g, ctx);
  if (level !== 'O0') verifyGraph(g);
  return { graph: g, report };
}

/**
 * Graph → optimized graph → ExecutionPlan on `target`, with what the pipeline did.
 * `live` binds constants to tensors read at every run (parameters) instead of copies.
 *
 * @example
 * ```ts
 * const { graph, report, plan } = lowerGraph(traced, 'wasm', new Map(), { optimize: 'O1' });
 * console.log(formatReport(report));
 * const [y] = plan.run([x], new Map([['batch', 8]]));
 * ```
 */
export function lowerGraph(graph: Graph, target: CompileTarget, live: ReadonlyMap<string, Tensor> = new Map(), options: LowerOptions = {}): Lowered {
  const { graph: g, report } = optimizeGraph(graph, target, live, options);
  // Every level plans the arena (per binding, see ExecutionPlan.memoryPlans); O3 adds in-place reuse.
  // Not on webgpu: a dispatch may not bind one buffer as both input and output.
  const inPlace = levelIncludes(options.optimize ?? DEFAULT_OPT_LEVEL, 'O3') && target !== 'webgpu';
  const plan = new ExecutionPlan(g, getBackend(target), live, { inPlace });
  return { graph: g, report, plan };
}

/**
 * Graph → ExecutionPlan on `target`: verifies the graph (SSA, order, types against each
 * op's inference), runs the optimization passes of `options.optimize` on a copy, then
 * orders kernel calls with the memory plan. `live` binds constants to tensors read at
 * every run (parameters) instead of copies.
 *
 * @example
 * ```ts
 * const plan = lower(graph, 'wasm');
 * const [y] = plan.run([x], new Map([['batch', 8]]));
 * ```
 */
export function lower(graph: Graph, target: CompileTarget, live: ReadonlyMap<string, Tensor> = new Map(), options: LowerOptions = {}): ExecutionPlan {
  return lowerGraph(graph, target, live, options).plan;
}
