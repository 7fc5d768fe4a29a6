// `kiln.compile`: the orchestration. A call is served by the first compiled entry whose
// guard it passes; otherwise the code is traced (graphTracer.ts), made symbolic where it
// can be (symbolicProbe.ts), lowered (lower.ts: verify, passes, plan) and cached. Calls
// with graph breaks run the code lazily (lazyTracer.ts), with segments cached by
// structure (segmentCache.ts). Feeding a run is feeding.ts, guards guards.ts, the
// `explain()` text explain.ts.
import { formatShape, KilnError, type Bindings, type Graph } from '../ir/index.js';
import type { OptLevel, PipelineReport } from '../passes/index.js';
import { engine } from '../eager/engine.js';
import { noGrad } from '../eager/autograd.js';
import { scope } from '../eager/scope.js';
import { pendingTensor, type Tensor } from '../eager/tensor.js';
import type { Module } from '../nn/module.js';
import { freeingIntermediates } from './callScope.js';
import { compileSettings, type CompileOptions, type CompileSettings, type Fn } from './compileOptions.js';
import { graphEntryServes, segmentCount, type Entry, type GraphEntry, type SegmentEntry } from './entries.js';
import { explainCompiled } from './explain.js';
import { runTracedEntry } from './feeding.js';
import { breakCause, GraphTracer, type Trace, type TraceOptions } from './graphTracer.js';
import { checkInputs, guardFor, matchGuard, symbolValues } from './guards.js';
import { LazyTracer } from './lazyTracer.js';
import { DEFAULT_OPT_LEVEL, lower, lowerGraph, optimizeGraph, type CompileTarget } from './lower.js';
import { ModuleStructure, sameFlags } from './moduleStructure.js';
import { SegmentCache } from './segmentCache.js';
import { isSymbolicDim, type InputSpec } from './spec.js';
import { findSymbolicDims, type SymbolicEntry } from './symbolicProbe.js';

export type { CompileOptions } from './compileOptions.js';

/** Counters of a compiled model's life. */
export interface CompileStats {
  /** Traces of the user's code at real sizes (one per compiled entry). */
  readonly traces: number;
  /** Calls served by an existing entry. */
  readonly hits: number;
  /** Calls run eagerly because the cache was full. */
  readonly eagerFallbacks: number;
  /** Segments of graph-breaking code compiled, and segment runs. */
  readonly segmentsCompiled: number;
  readonly segmentRuns: number;
}

/**
 * A function or module compiled by `kiln.compile`: call `run` like the original.
 *
 * @example
 * ```ts
 * const fast = kiln.compile(model, { inputs: [kiln.spec([kiln.dim('batch'), 784])] });
 * const y = fast.run(x) as kiln.Tensor;
 * console.log(fast.graph.toString());
 * console.log(fast.explain());
 * ```
 */
export interface CompiledModel<R = unknown> {
  /** Runs the compiled code (tracing and compiling on the first call of each new input signature). */
  run(...inputs: Tensor[]): R;
  /** The IR of the first entry (with graph breaks: the whole traced call; see `explain()` for the segments that run). */
  readonly graph: Graph;
  /** Entries, guards, symbolic and pinned dims, the pass pipeline, graph breaks with their source lines, the lazy segments that ran. */
  explain(): string;
  /** Compiled entries (input signatures) cached. */
  readonly cacheSize: number;
  /** Traces of the user's code so far (a retrace is a new input signature). */
  readonly traceCount: number;
  readonly stats: CompileStats;
  /** Frees the compiled plans' memory. */
  dispose(): void;
}

/** A traced call made symbolic and optimized, with no plan (see `traceOptimized`). */
export interface TracedGraph {
  /** The graph after the pass pipeline at the compile's level. */
  readonly graph: Graph;
  readonly report: PipelineReport;
  /** The symbolic trace (feeds, live constants, output tree) before the passes. */
  readonly trace: Trace;
  readonly symbols: readonly string[];
  readonly pinned: ReadonlyMap<string, { readonly value: number; readonly reason: string }>;
  /** What the traced call returned (eager's result). */
  readonly result: unknown;
}

/**
 * Traces `fnOrModule` once on `inputs` as `kiln.compile` would (same tracer, symbolic
 * probes and pass pipeline at `options.optimize`) and returns the optimized graph
 * without building an execution plan. Used by `kiln.onnx.exportModel`.
 */
export function traceOptimized(fnOrModule: Module | Fn, options: CompileOptions, inputs: readonly Tensor[]): TracedGraph {
  return new Compiled(fnOrModule, options).traceOptimized(inputs);
}

/**
 * What `kiln.compile` returned `c` with: its input specs, and a function tracing its code
 * afresh at `optimize` (as `traceOptimized`); null when `c` is not a compiled model.
 */
export function compiledSource(c: unknown): { readonly specs: readonly InputSpec[]; readonly module: Module | null; trace(inputs: readonly Tensor[], optimize: OptLevel): TracedGraph } | null {
  if (!(c instanceof Compiled)) return null;
  return { specs: c.specs, module: c.module, trace: (inputs, optimize) => c.traceOptimized(inputs, optimize) };
}

/** Whether entry `e` was traced in the module's mode now: its `training` flag, and for graph entries every submodule's (bn.eval() alone). */
function sameMode(e: Entry, training: boolean | null, flags: readonly boolean[] | null): boolean {
  return e.training === training && (e.kind !== 'graph' || !e.flags || sameFlags(e.flags, flags!));
}

class Compiled<R> implements CompiledModel<R> {
  private readonly entries: Entry[] = [];
  private readonly o: CompileSettings;
  /** Segments of graph-breaking calls, lowered like every graph (the compile's level and passes), on the backend their tensors live on. */
  private readonly segmentCache: SegmentCache;
  private readonly structure = new ModuleStructure();
  private warned = false;
  private counts = { traces: 0, hits: 0, eagerFallbacks: 0 };

  constructor(fnOrModule: Module | Fn, options: CompileOptions) {
    const o = compileSettings(fnOrModule, options);
    this.o = o;
    this.segmentCache = new SegmentCache((g, backend) => lower(g, backend.name as CompileTarget, new Map(), o.lowering));
  }

  get specs(): readonly InputSpec[] {
    return this.o.specs;
  }

  get module(): Module | null {
    return this.o.module;
  }

  get cacheSize(): number {
    return this.entries.length;
  }

  get traceCount(): number {
    return this.counts.traces;
  }

  get stats(): CompileStats {
    return { ...this.counts, segmentsCompiled: this.segmentCache.compiled, segmentRuns: this.segmentCache.runs };
  }

  get graph(): Graph {
    const e = this.entries[0];
    if (!e) throw new KilnError('compile: nothing traced yet; call run(...) once first (tracing needs real inputs)', { op: 'compile' });
    return e.kind === 'graph' ? e.optimized : e.graph;
  }

  private get target(): CompileTarget {
    return this.o.target ?? (engine.defaultBackend?.name as CompileTarget | undefined) ?? 'wasm';
  }

  run(...inputs: Tensor[]): R {
    const module = this.o.module;
    // Inside another trace (a compiled function called by a compiled function): let it see the ops.
    if (engine.tracer !== null) return this.o.fn(...inputs) as R;
    checkInputs(this.o.specs, inputs);
    const training = module ? module.training : null;
    const flags = module ? this.dropStale(module) : null;
    // A loop over the entries, no closures: a call served by an entry allocates nothing here.
    const entries = this.entries;
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i]!;
      if (!sameMode(e, training, flags)) continue;
      const bindings = matchGuard(e.guard, inputs);
      if (!bindings || (e.kind === 'graph' && !graphEntryServes(e, bindings))) continue;
      e.hits++;
      this.counts.hits++;
      return this.runEntry(e, inputs, bindings) as R;
    }
    return this.runUnserved(inputs, training, flags);
  }

  /**
   * A call no entry serves: traced into a new entry, or run eagerly once the cache is
   * full. Its own method: the closures here would make every call allocate their context.
   */
  private runUnserved(inputs: Tensor[], training: boolean | null, flags: readonly boolean[] | null): R {
    const { fn } = this.o;
    if (this.entries.length >= this.o.maxRecompiles) {
      if (!this.warned) {
        this.warned = true;
        console.warn(`kiln.compile(${this.o.label}): ${this.entries.length} compiled input signatures (maxRecompiles); new signatures such as ${inputs.map((x) => `${x.dtype}${formatShape(x.shape)}`).join(', ')} now run eagerly. Use kiln.dim(...) in the input specs for sizes that vary.`);
      }
      this.counts.eagerFallbacks++;
      return this.withMode(() => freeingIntermediates(() => fn(...inputs))) as R;
    }
    // A symbolic entry that refused these sizes: trace again with every size pinned.
    const pinAll = this.entries.some((e) => sameMode(e, training, flags) && e.kind === 'graph' && matchGuard(e.guard, inputs) !== null);
    const { entry, result } = this.traceEntry(inputs, training, pinAll);
    this.entries.push(entry);
    return result as R;
  }

  /**
   * Drops the graph entries if the module no longer holds the submodules, parameters
   * and buffers they were traced with: their graphs read the old tensors. Segment
   * entries run the code itself, so they always see the current ones. Returns each
   * submodule's `training` flag now (`ModuleStructure.flags`: rewritten at the next check).
   */
  private dropStale(module: Module): readonly boolean[] {
    const same = this.structure.check(module);
    if (same) return this.structure.flags;
    for (let k = this.entries.length - 1; k >= 0; k--) {
      const e = this.entries[k]!;
      if (e.kind === 'graph') {
        e.plan.dispose();
        this.entries.splice(k, 1);
      }
    }
    this.structure.forget();
    return this.structure.flags;
  }

  private withMode<T>(f: () => T): T {
    return this.o.mode === 'inference' ? noGrad(f) : f();
  }

  private traceOptions(mode: 'record' | 'meta', startId?: number): TraceOptions {
    const stateNames = new Map<Tensor, string>();
    const m = this.o.module;
    if (m) for (const [name, t] of [...m.namedParameters(), ...m.namedBuffers()]) stateNames.set(t, name);
    return { mode, stateAsInputs: this.o.mode === 'training', fullGraph: this.o.fullGraph, stateNames, inputNames: this.o.inputNames, ...(startId === undefined ? {} : { startId }) };
  }

  private traceEntry(inputs: readonly Tensor[], training: boolean | null, pinAll: boolean): { entry: Entry; result: unknown } {
    this.counts.traces++;
    const values = symbolValues(this.o.specs, inputs);
    const tracer = new GraphTracer(this.traceOptions('record'), inputs);
    const trace = this.withMode(() => tracer.trace((...xs) => freeingIntermediates(() => this.o.fn(...xs))));
    if (trace.breaks.length) {
      // Symbolic dims stay open: lazy runs handle any size (segments are cached per shape).
      const guard = guardFor(this.o.specs, inputs, new Set());
      const entry: SegmentEntry = { kind: 'segments', guard, training, hits: 0, graph: trace.graph, breaks: trace.breaks, segmentCount: segmentCount(trace.graph.nodes.length, trace.breaks) };
      return { entry, result: trace.result };
    }
    const sym = this.symbolic(trace, inputs, values, pinAll);
    const guard = guardFor(this.o.specs, inputs, new Set(sym.pinned.keys()));
    const { plan, graph: optimized, report } = lowerGraph(sym.trace.graph, this.target, sym.trace.live, this.o.lowering);
    const module = this.o.module;
    if (module) this.dropStale(module); // code that changed the module while tracing: older graphs are stale
    const entry: GraphEntry = {
      kind: 'graph', guard, training, hits: 0, trace: sym.trace, plan, optimized, report,
      symbols: sym.symbols, pinned: sym.pinned, refused: new Set(), atLeastTwo: sym.atLeastTwo, minSize: sym.minSize,
      flags: module ? this.structure.record(module) : null,
    };
    return { entry, result: trace.result };
  }

  /** The real trace made symbolic where shape-only traces at other sizes allow (symbolicProbe.ts). */
  private symbolic(trace: Trace, inputs: readonly Tensor[], values: ReadonlyMap<string, number>, pinAll: boolean): SymbolicEntry {
    return findSymbolicDims(trace, values, pinAll, this.o.mode, (name, size) => this.metaTrace(inputs, name, size, trace.startId));
  }

  /**
   * One trace of `inputs`, made symbolic and optimized, without an execution plan and
   * without caching an entry: what `kiln.onnx.exportModel` writes (an ONNX file holds
   * the graph, not a plan).
   * A graph break is a KilnError naming its line.
   */
  traceOptimized(inputs: readonly Tensor[], optimize: OptLevel = this.o.lowering.optimize ?? DEFAULT_OPT_LEVEL): TracedGraph {
    if (this.o.mode !== 'inference') throw new KilnError(`only an inference-mode compile (${this.o.label}) traces for export: parameters must be constants`, { op: 'compile' });
    checkInputs(this.o.specs, inputs);
    const values = symbolValues(this.o.specs, inputs);
    const tracer = new GraphTracer(this.traceOptions('record'), inputs);
    const trace = this.withMode(() => tracer.trace((...xs) => freeingIntermediates(() => this.o.fn(...xs))));
    const brk = trace.breaks[0];
    if (brk) throw new KilnError(`${breakCause(brk.reason)}: a graph with a break cannot be exported whole`, { op: 'compile', ...(brk.site ? { callSite: brk.site } : {}) });
    const sym = this.symbolic(trace, inputs, values, false);
    const { graph, report } = optimizeGraph(sym.trace.graph, this.target, sym.trace.live, { ...this.o.lowering, optimize });
    return { graph, report, trace: sym.trace, symbols: sym.symbols, pinned: sym.pinned, result: trace.result };
  }

  /** A shape-only trace with symbol `name` at `size` (other dims as in `inputs`). */
  private metaTrace(inputs: readonly Tensor[], name: string, size: number, startId: number): Trace {
    return scope(() => {
      const metaInputs = inputs.map((x, i) => {
        const shape = this.o.specs[i]!.shape.map((d, k) => (isSymbolicDim(d) && d.name === name ? size : x.shape[k]!));
        return pendingTensor(shape, x.dtype, x.backend);
      });
      const tracer = new GraphTracer(this.traceOptions('meta', startId), metaInputs);
      const t = this.withMode(() => tracer.trace(this.o.fn));
      return { ...t, result: null };
    });
  }

  private runEntry(e: Entry, inputs: readonly Tensor[], bindings: Bindings): unknown {
    if (e.kind === 'graph') return runTracedEntry(e.trace, e.plan, inputs, bindings, this.o.mode);
    return this.runLazily(inputs);
  }

  /** A call with graph breaks: the code itself, its segments compiled (its own method: the closures' context is allocated only here). */
  private runLazily(inputs: readonly Tensor[]): unknown {
    const lazy = new LazyTracer(this.segmentCache);
    return this.withMode(() => lazy.call(() => freeingIntermediates(() => this.o.fn(...inputs))));
  }

  explain(): string {
    return explainCompiled({ settings: this.o, target: this.target, stats: this.stats, entries: this.entries, segments: this.segmentCache.entries() });
  }

  dispose(): void {
    for (const e of this.entries) if (e.kind === 'graph') e.plan.dispose();
    this.entries.length = 0;
    this.structure.forget();
    this.segmentCache.dispose();
  }
}

/**
 * Compiles a function or an `nn.Module` (the static side of Kiln): the first call with
 * each new input signature traces the code (it runs eagerly and records every op into a
 * graph), later calls run the compiled graph without the JavaScript. Reading a value
 * inside (`item()`, `dataSync()`, `toArray()`) is a graph break: the code then runs as
 * compiled segments with eager code between them, with the same results as eager
 * (`fullGraph: true` makes a break an error naming the line). Inputs are guarded: a
 * wrong dtype or rank throws; new sizes retrace (up to `maxRecompiles`, then eager),
 * except `kiln.dim` sizes, which one graph serves. Random ops draw fresh numbers at
 * every run, from the same generator as eager. A `for` loop over a fixed count (an RNN
 * over a static sequence length) unrolls into the graph; a loop whose count depends on
 * tensor values reads them, which breaks the graph at each read.
 *
 * The code may run more than once while compiling (shape-only traces at other sizes
 * find which dims can stay symbolic); those runs draw no random numbers and write
 * nothing into parameters or buffers, but plain JavaScript side effects do happen.
 *
 * @example
 * ```ts
 * const model = new kiln.nn.Sequential(new kiln.nn.Linear(784, 128), new kiln.nn.ReLU(), new kiln.nn.Linear(128, 10)).eval();
 * const fast = kiln.compile(model, { inputs: [kiln.spec([kiln.dim('batch'), 784])] });
 * const y = fast.run(kiln.randn([32, 784])) as kiln.Tensor;   // traces, compiles, returns eager's result
 * fast.run(kiln.randn([1, 784]));                              // same graph: batch is symbolic
 * console.log(fast.graph.toString());
 * console.log(fast.explain());
 * ```
 */
export function compile<R = unknown>(fnOrModule: Module | ((...inputs: Tensor[]) => R), options: CompileOptions): CompiledModel<R> {
  return new Compiled<R>(fnOrModule as Module | Fn, options);
}
