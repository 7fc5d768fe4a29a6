// What `kiln.compile` was asked to do: the options, checked, and the code being compiled
// (a function or a module) with the names its inputs get in the graph.
import { KilnError, userCallSite } from '../ir/index.js';
import type { OptLevel, Pass } from '../passes/index.js';
import type { Tensor } from '../eager/tensor.js';
import { callForward, Module } from '../nn/module.js';
import type { CompileTarget, LowerOptions } from './lower.js';
import type { InputSpec } from './spec.js';

/** Options of `kiln.compile`. */
export interface CompileOptions {
  /** One spec per input (`kiln.spec([kiln.dim('batch'), 784])`). */
  readonly inputs: readonly InputSpec[];
  /**
   * `'inference'` (default): parameters are constants of the graph, no autograd.
   * `'training'`: parameters are graph inputs; with grad enabled the compiled forward
   * runs through eager dispatch, so `loss.backward()` works as usual (backward is eager).
   */
  readonly mode?: 'inference' | 'training';
  /** Backend the compiled plan runs on: `'wasm'` or `'reference'`; default: `kiln.init`'s. */
  readonly target?: CompileTarget;
  /** Make every graph break an error naming the line (default false: break and continue). */
  readonly fullGraph?: boolean;
  /** How many input signatures get their own compiled entry before new ones run eagerly (default 8). */
  readonly maxRecompiles?: number;
  /**
   * Optimization level of the pass pipeline: `'O0'` none; `'O1'` dead code, constant
   * folding (weight transposes done once, redone when a parameter changes), CSE,
   * algebraic simplification, dropout removal where marked, BatchNorm folding in
   * inference; `'O2'` adds RNN unrolling, bias and activation fusion onto the conv/linear
   * kernels, and elementwise-chain fusion into generated SIMD kernels; `'O3'` (default)
   * adds the NHWC layout pass and in-place reuse in the memory plan. `explain()` lists
   * what ran.
   */
  readonly optimize?: OptLevel;
  /** Passes appended to the pipeline (see `kiln.passes.Pass`). */
  readonly passes?: readonly Pass[];
  /** Print the graph after every pass (default: the environment variable KILN_DUMP_IR=1). */
  readonly dumpIR?: boolean;
}

export type Fn = (...xs: Tensor[]) => unknown;

/** The code compiled and the options with their defaults, checked. */
export interface CompileSettings {
  readonly fn: Fn;
  /** The module, when one was compiled (its parameters, buffers and flags are guarded). */
  readonly module: Module | null;
  /** For messages: the module's class or the function's name. */
  readonly label: string;
  /** Graph input names: the function's parameter names. */
  readonly inputNames: readonly string[];
  readonly specs: readonly InputSpec[];
  readonly mode: 'inference' | 'training';
  readonly target: CompileTarget | undefined;
  readonly fullGraph: boolean;
  readonly maxRecompiles: number;
  /** What `lower` gets for every graph: traced entries and lazy segments alike. */
  readonly lowering: LowerOptions;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/**
 * Graph input names from the function's parameter names (`forward(x, h)` → x, h);
 * `x`, `x1`, … where they are unclear (rest parameters, destructuring).
 */
function parameterNames(fn: Function, count: number): string[] {
  const src = Function.prototype.toString.call(fn);
  const arrow = /^\s*(?:async\s*)?([A-Za-z_$][\w$]*)\s*=>/.exec(src);
  const m = arrow ? null : /^[^(]*\(([^)]*)\)/.exec(src);
  const params = arrow ? [arrow[1]!] : m ? m[1]!.split(',').map((p) => p.trim()) : [];
  return Array.from({ length: count }, (_, i) => {
    const p = params[i]?.replace(/\s*[=:].*$/s, '').trim();
    return p && IDENT.test(p) ? p : count === 1 ? 'x' : `x${i}`;
  });
}

function invalid(message: string): KilnError {
  return new KilnError(`compile: ${message}`, { op: 'compile', callSite: userCallSite() });
}

/** Checks `kiln.compile`'s arguments (throwing a `KilnError` at the caller's line) and fills in defaults. */
export function compileSettings(fnOrModule: Module | Fn, options: CompileOptions): CompileSettings {
  let fn: Fn, module: Module | null, label: string, inputNames: string[];
  if (fnOrModule instanceof Module) {
    const m = fnOrModule;
    module = m;
    fn = (...xs) => callForward(m, ...xs);
    inputNames = parameterNames(m.forward, options?.inputs?.length ?? 0);
    label = m.constructor.name;
  } else if (typeof fnOrModule === 'function') {
    module = null;
    fn = fnOrModule;
    inputNames = parameterNames(fnOrModule, options?.inputs?.length ?? 0);
    label = fnOrModule.name || 'function';
  } else {
    throw invalid(`expected a function or an nn.Module, got ${fnOrModule === null ? 'null' : typeof fnOrModule}`);
  }
  if (!options || !Array.isArray(options.inputs)) throw invalid('options.inputs must list one kiln.spec(...) per input');
  for (const s of options.inputs) {
    if (!s || !Array.isArray(s.shape) || typeof s.dtype !== 'string') throw invalid('each entry of options.inputs must be a kiln.spec(shape, dtype)');
  }
  const mode = options.mode ?? 'inference';
  if (mode !== 'inference' && mode !== 'training') throw invalid(`mode must be 'inference' or 'training', got ${JSON.stringify(mode)}`);
  const target = options.target;
  if (target !== undefined && target !== 'wasm' && target !== 'reference' && target !== 'webgpu') throw invalid(`target must be 'wasm', 'webgpu' or 'reference', got ${JSON.stringify(target)}`);
  const maxRecompiles = options.maxRecompiles ?? 8;
  const lowering: LowerOptions = {
    mode,
    ...(options.optimize !== undefined ? { optimize: options.optimize } : {}),
    ...(options.passes ? { passes: options.passes } : {}),
    ...(options.dumpIR !== undefined ? { dumpIR: options.dumpIR } : {}),
  };
  if (!Number.isInteger(maxRecompiles) || maxRecompiles < 1) throw invalid(`maxRecompiles must be a positive integer, got ${maxRecompiles}`);
  return { fn, module, label, inputNames, specs: options.inputs, mode, target, fullGraph: options.fullGraph ?? false, maxRecompiles, lowering };
}
