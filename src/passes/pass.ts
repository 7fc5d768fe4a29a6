// What a pass is, and what it is told about the compile it serves.
import type { Attrs, Graph, TensorType, TypedArray } from '../ir/index.js';

/** Optimization levels, as ONNX Runtime's: each includes the ones below. */
export type OptLevel = 'O0' | 'O1' | 'O2' | 'O3';

export const OPT_LEVELS: readonly OptLevel[] = ['O0', 'O1', 'O2', 'O3'];

/** Whether a pass of level `pass` runs in a pipeline at `level`. */
export function levelIncludes(level: OptLevel, pass: OptLevel): boolean {
  return OPT_LEVELS.indexOf(pass) <= OPT_LEVELS.indexOf(level);
}

/** Constant data with its type: what folding computes on. */
export interface ConstantData {
  readonly data: TypedArray;
  readonly type: TensorType;
}

/**
 * Runs one op on constant data and returns the data of its outputs. The compile side
 * supplies it (running the target's own kernels, so a folded result is bit-for-bit what
 * the unfolded graph computes); passes never call a backend themselves.
 */
export type Evaluator = (op: string, inputs: readonly ConstantData[], attrs: Attrs) => TypedArray[];

/**
 * What a target can run fused, as data (passes never import the runtime). `fusedOps`
 * names ops with a fused kernel on the target; `fusedActivations` lists, per fused op,
 * the activations its kernel applies with the same results as the separate op, NaN
 * included (XNNPACK's clamp turns NaN into 0, so relu is not listed for wasm).
 */
export interface TargetCapabilities {
  readonly name: string;
  readonly fusedOps: readonly string[];
  readonly fusedActivations: Readonly<Record<string, readonly string[]>>;
  /**
   * Ops a generated fused elementwise kernel computes on this target (the elementwise
   * fusion pass groups only these). Absent or empty: no elementwise fusion.
   */
  readonly elementwiseKernels?: readonly string[];
  /**
   * The activation layout the target's conv / pool kernels run natively: 'NHWC' lets the
   * O3 layout pass keep conv regions channels-last (wasm: XNNPACK). Absent: NCHW.
   */
  readonly preferredLayout?: 'NCHW' | 'NHWC';
  /**
   * Whole-sequence recurrent ops (`rnn`, `lstm`, `gru`) the target runs as one kernel over every step
   * faster than their unrolled steps: RNN unrolling leaves them whole at inference (wasm:
   * one call instead of two kernels per step, a split and a concat). Absent: none.
   */
  readonly sequenceKernels?: readonly string[];
}

/** A target with no fused kernels: fusion passes leave the graph alone. */
export const NO_FUSION: TargetCapabilities = { name: 'generic', fusedOps: [], fusedActivations: {} };

/** What a pass knows about the compile it serves. */
export interface PassContext {
  /** Inference: parameters are constants (read live); training: they are graph inputs. */
  readonly mode: 'inference' | 'training';
  /**
   * Constants whose values may change between runs (parameters and buffers read live at
   * every run), by name. A pass may rewrite what reads them but never bake their
   * current values in: folding them gives a folded constant (see `FoldRecipe`).
   */
  readonly live: ReadonlySet<string>;
  /** Computes ops on constant data; absent, folding keeps to what needs no kernel. */
  readonly evaluate?: Evaluator;
  readonly target: TargetCapabilities;
  /**
   * Dropout masks (`x · bernoulli(keep)·scale`) are identities for this graph: set for
   * graphs meant for inference whose dropout was recorded anyway (an imported model).
   * Kiln's own layers record no dropout in eval mode, and a dropout the code applies
   * while tracing is part of what eager computes: default false.
   */
  readonly dropoutIsIdentity?: boolean;
}

/**
 * A graph rewrite: edits `graph` in place and says whether it changed anything. It must
 * keep the graph valid (the verifier runs after every pass in tests) and keep the number
 * and order of the graph's inputs and outputs.
 *
 * @example
 * ```ts
 * const dropNegNeg: Pass = {
 *   name: 'negneg',
 *   level: 'O1',
 *   description: 'neg(neg(x)) → x',
 *   run: (g, ctx) => rewrite(g, [rule('negneg', P.op('neg', [P.op('neg', [P.any('x')])]), (m) => m.value('x'))], ctx),
 * };
 * ```
 */
export interface Pass {
  readonly name: string;
  /** The lowest level it runs at. */
  readonly level: OptLevel;
  /** One line for explain(). */
  readonly description: string;
  run(graph: Graph, ctx: PassContext): boolean;
}
