import { evalDim, formatShape, KilnError, printGraph, userCallSite, type Bindings, type DType, type Graph } from '../ir/index.js';
import { drawsFor } from '../ops/random.js';
import { engine } from '../eager/engine.js';
import { noGrad, type GradNode } from '../eager/autograd.js';
import { scope } from '../eager/scope.js';
import { keyTensor, nextStream } from '../eager/creation.js';
import { pendingTensor, Tensor } from '../eager/tensor.js';
import { callForward, isBuffer, isParameter, Module } from '../nn/module.js';
import type { ExecutionPlan } from './executionPlan.js';
import { describeSite, indent, splitAtBreaks } from './explain.js';
import { breakCause, GraphTracer, type GraphBreak, type Trace } from './graphTracer.js';
import { LazyTracer } from './lazyTracer.js';
import { SegmentCache } from './segmentCache.js';
import { lower, lowerGraph, type CompileTarget, type LowerOptions } from './lower.js';
import { formatReport, type OptLevel, type Pass, type PipelineReport } from '../passes/index.js';
import { unflattenOutputs } from './outputTree.js';
import { formatSpec, isSymbolicDim, type InputSpec } from './spec.js';
import { generalize, type SymbolProbe } from './symbolic.js';

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
   * Optimization level of the pass pipeline: `'O0'` none; `'O1'` (default) dead code,
   * constant folding (weight transposes done once, redone when a parameter changes), CSE,
   * algebraic simplification, BatchNorm folding in inference; `'O2'`/`'O3'` add fusion,
   * layout and memory planning as those passes land. `explain()` lists what ran.
   */
  readonly optimize?: OptLevel;
  /** Passes appended to the pipeline (see `kiln.passes.Pass`). */
  readonly passes?: readonly Pass[];
  /** Print the graph after every pass (default: the environment variable KILN_DUMP_IR=1). */
  readonly dumpIR?: boolean;
}

/** Accepted input signatures: dtypes, and per dim a size or a symbol name. */
interface Guard {
  readonly dtypes: readonly DType[];
  readonly dims: readonly (readonly (number | string)[])[];
}

interface EntryCommon {
  readonly guard: Guard;
  /** The module's `training` flag it was traced with (null for a plain function). */
  readonly training: boolean | null;
  hits: number;
}

/** A compiled graph run without the user's code (no graph break). */
interface GraphEntry extends EntryCommon {
  readonly kind: 'graph';
  readonly trace: Trace;
  readonly plan: ExecutionPlan;
  /** The graph after the pass pipeline (what the plan runs), and what each pass did. */
  readonly optimized: Graph;
  readonly report: PipelineReport;
  /** Symbols kept symbolic. */
  readonly symbols: readonly string[];
  /** Symbols pinned to their traced value, and why. */
  readonly pinned: ReadonlyMap<string, { readonly value: number; readonly reason: string }>;
  /** Bindings the plan was found not to hold for (they retrace with every dim pinned). */
  readonly refused: Set<string>;
  /**
   * Symbols the user's code rejects at size 1 (e.g. BatchNorm in training), with the
   * error: the entry serves sizes ≥ 2 only (see `minSize`).
   */
  readonly atLeastTwo: ReadonlyMap<string, string>;
  /**
   * The smallest size each symbol serves. Sizes below were never traced (0 unless the
   * first call had it, 1 where the code rejects it): a call there retraces, so the code
   * itself decides, raising its own error as eager does, before any state is written.
   */
  readonly minSize: ReadonlyMap<string, number>;
  /** Every submodule's `training` flag when traced, in `walkModule` order (null for a plain function). */
  readonly flags: readonly boolean[] | null;
}

/** A call with graph breaks: the code runs lazily, its segments are compiled and cached. */
interface SegmentEntry extends EntryCommon {
  readonly kind: 'segments';
  readonly graph: Graph;
  readonly breaks: readonly GraphBreak[];
  readonly segments: readonly Graph[];
}

type Entry = GraphEntry | SegmentEntry;

/**
 * Visits `m`, then its properties in order: submodules (recursively, also in arrays),
 * parameters and buffers. This is what a traced graph of a module holds besides its
 * inputs (by identity: the graph reads the very tensors it traced). Stops, returning
 * false, when `visit` does.
 */
function walkModule(m: Module, visit: (item: Module | Tensor) => boolean): boolean {
  if (!visit(m)) return false;
  for (const key in m) {
    const v = (m as unknown as Record<string, unknown>)[key];
    if (typeof v !== 'object' || v === null) continue;
    if (v instanceof Module) {
      if (!walkModule(v, visit)) return false;
    } else if (v instanceof Tensor) {
      if ((isParameter(v) || isBuffer(v)) && !visit(v)) return false;
    } else if (Array.isArray(v)) {
      for (const u of v) if (u instanceof Module && !walkModule(u, visit)) return false;
    }
  }
  return true;
}

function sameFlags(a: readonly boolean[], b: readonly boolean[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Tensors in `value` (arrays, Maps, objects' own values), up to the depth a compiled result may have. */
function tensorsIn(value: unknown, into: Set<Tensor>, seen = new Set<object>(), depth = 0): void {
  if (value instanceof Tensor) {
    into.add(value);
    return;
  }
  if (depth > 16 || value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  const items = value instanceof Map ? [...value.values()] : Array.isArray(value) ? value : Object.values(value);
  for (const v of items) tensorsIn(v, into, seen, depth + 1);
}

/**
 * Runs one call of the user's code in a `kiln.scope`, so that its intermediates are
 * freed when it returns even if the caller has no scope. Kept: the tensors in the
 * result, and while autograd records, every tensor the result's tape saved for
 * backward (what eager code in a scope keeps alive through the loss it returns).
 */
function freeingIntermediates<T>(fn: () => T): T {
  let result!: T;
  scope(() => {
    result = fn();
    const keep = new Set<Tensor>();
    tensorsIn(result, keep);
    if (engine.gradEnabled) {
      const seen = new Set<GradNode>();
      const stack = [...keep].map((t) => t.gradFn).filter((n): n is GradNode => n !== null);
      while (stack.length) {
        const node = stack.pop()!;
        if (seen.has(node)) continue;
        seen.add(node);
        for (const t of node.outputs) keep.add(t);
        for (const t of node.inputs) {
          keep.add(t);
          if (t.gradFn) stack.push(t.gradFn);
        }
      }
    }
    return [...keep];
  });
  return result;
}

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
  /** The IR of the first entry (with graph breaks: the whole traced call; see `explain()` for its segments). */
  readonly graph: Graph;
  /** Entries, guards, symbolic and pinned dims, graph breaks with their source lines. */
  explain(): string;
  /** Compiled entries (input signatures) cached. */
  readonly cacheSize: number;
  /** Traces of the user's code so far (a retrace is a new input signature). */
  readonly traceCount: number;
  readonly stats: CompileStats;
  /** Frees the compiled plans' memory. */
  dispose(): void;
}

type Fn = (...xs: Tensor[]) => unknown;

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

function guardText(g: Guard): string {
  return g.dtypes.map((d, i) => `${d}[${g.dims[i]!.join(', ')}]`).join(', ');
}

class Compiled<R> implements CompiledModel<R> {
  private readonly entries: Entry[] = [];
  /** Segments of graph-breaking calls, lowered like every graph, on the backend their tensors live on. */
  // Called after the constructor set `lowering`: segments get the compile's level and passes too.
  private readonly segmentCache = new SegmentCache((g, backend) => lower(g, backend.name as CompileTarget, new Map(), this.lowering));
  private readonly fn: Fn;
  private readonly module: Module | null;
  private readonly specs: readonly InputSpec[];
  private readonly mode: 'inference' | 'training';
  private readonly target: CompileTarget | undefined;
  private readonly fullGraph: boolean;
  private readonly maxRecompiles: number;
  private readonly lowering: LowerOptions;
  private readonly inputNames: string[];
  private readonly label: string;
  private warned = false;
  /** What every graph entry was traced with: submodules, parameters, buffers (see `dropStale`). */
  private structure: (Module | Tensor)[] | null = null;
  private counts = { traces: 0, hits: 0, eagerFallbacks: 0 };

  constructor(fnOrModule: Module | Fn, options: CompileOptions) {
    if (fnOrModule instanceof Module) {
      const m = fnOrModule;
      this.module = m;
      this.fn = (...xs) => callForward(m, ...xs);
      this.inputNames = parameterNames(m.forward, options?.inputs?.length ?? 0);
      this.label = m.constructor.name;
    } else if (typeof fnOrModule === 'function') {
      this.module = null;
      this.fn = fnOrModule;
      this.inputNames = parameterNames(fnOrModule, options?.inputs?.length ?? 0);
      this.label = fnOrModule.name || 'function';
    } else {
      throw new KilnError(`compile: expected a function or an nn.Module, got ${fnOrModule === null ? 'null' : typeof fnOrModule}`, { op: 'compile', callSite: userCallSite() });
    }
    if (!options || !Array.isArray(options.inputs)) throw new KilnError('compile: options.inputs must list one kiln.spec(...) per input', { op: 'compile', callSite: userCallSite() });
    for (const s of options.inputs) {
      if (!s || !Array.isArray(s.shape) || typeof s.dtype !== 'string') throw new KilnError('compile: each entry of options.inputs must be a kiln.spec(shape, dtype)', { op: 'compile', callSite: userCallSite() });
    }
    this.specs = options.inputs;
    this.mode = options.mode ?? 'inference';
    if (this.mode !== 'inference' && this.mode !== 'training') throw new KilnError(`compile: mode must be 'inference' or 'training', got ${JSON.stringify(this.mode)}`, { op: 'compile', callSite: userCallSite() });
    this.target = options.target;
    if (this.target !== undefined && this.target !== 'wasm' && this.target !== 'reference') throw new KilnError(`compile: target must be 'wasm' or 'reference', got ${JSON.stringify(this.target)}`, { op: 'compile', callSite: userCallSite() });
    this.fullGraph = options.fullGraph ?? false;
    this.maxRecompiles = options.maxRecompiles ?? 8;
    this.lowering = {
      mode: this.mode,
      ...(options.optimize !== undefined ? { optimize: options.optimize } : {}),
      ...(options.passes ? { passes: options.passes } : {}),
      ...(options.dumpIR !== undefined ? { dumpIR: options.dumpIR } : {}),
    };
    if (!Number.isInteger(this.maxRecompiles) || this.maxRecompiles < 1) throw new KilnError(`compile: maxRecompiles must be a positive integer, got ${this.maxRecompiles}`, { op: 'compile', callSite: userCallSite() });
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

  run(...inputs: Tensor[]): R {
    // Inside another trace (a compiled function called by a compiled function): let it see the ops.
    if (engine.tracer !== null) return this.fn(...inputs) as R;
    this.checkInputs(inputs);
    const training = this.module ? this.module.training : null;
    const flags = this.module ? this.dropStale(this.module) : null;
    // Graph entries also guard every submodule's training flag (bn.eval() alone).
    const sameMode = (e: Entry) => e.training === training && (e.kind !== 'graph' || !e.flags || sameFlags(e.flags, flags!));
    for (const e of this.entries) {
      if (!sameMode(e)) continue;
      const bindings = this.match(e.guard, inputs);
      if (!bindings) continue;
      if (e.kind === 'graph' && e.plan.isSymbolic) {
        let below = false;
        for (const [name, min] of e.minSize) if (bindings.get(name)! < min) below = true;
        if (below) continue;
        const key = [...bindings].join(';');
        if (e.refused.has(key)) continue;
        if (e.plan.prepare(bindings) !== null) {
          e.refused.add(key);
          continue;
        }
      }
      e.hits++;
      this.counts.hits++;
      return this.runEntry(e, inputs, bindings) as R;
    }
    if (this.entries.length >= this.maxRecompiles) {
      if (!this.warned) {
        this.warned = true;
        console.warn(`kiln.compile(${this.label}): ${this.entries.length} compiled input signatures (maxRecompiles); new signatures such as ${inputs.map((x) => `${x.dtype}${formatShape(x.shape)}`).join(', ')} now run eagerly. Use kiln.dim(...) in the input specs for sizes that vary.`);
      }
      this.counts.eagerFallbacks++;
      return this.withMode(() => freeingIntermediates(() => this.fn(...inputs))) as R;
    }
    // A symbolic entry that refused these sizes: trace again with every size pinned.
    const pinAll = this.entries.some((e) => sameMode(e) && e.kind === 'graph' && this.match(e.guard, inputs) !== null);
    const { entry, result } = this.traceEntry(inputs, training, pinAll);
    this.entries.push(entry);
    return result as R;
  }

  /**
   * Drops the graph entries if the module no longer holds the submodules, parameters
   * and buffers they were traced with (`m.fc = new nn.Linear(…)`, `m.fc.weight = …`):
   * their graphs read the old tensors. Segment entries run the code itself, so they
   * always see the current ones. Returns each submodule's `training` flag now.
   */
  private dropStale(module: Module): boolean[] {
    const flags: boolean[] = [];
    const items = this.structure;
    if (items === null) return flags;
    let i = 0;
    const same = walkModule(module, (x) => {
      if (x instanceof Module) flags.push(x.training);
      return items[i++] === x;
    });
    if (same && i === items.length) return flags;
    for (let k = this.entries.length - 1; k >= 0; k--) {
      const e = this.entries[k]!;
      if (e.kind === 'graph') {
        e.plan.dispose();
        this.entries.splice(k, 1);
      }
    }
    this.structure = null;
    return flags;
  }

  /**
   * Notes what the module holds now (after a trace: code that builds submodules on its
   * first call has them) for `dropStale`; returns the `training` flags.
   */
  private recordStructure(module: Module): boolean[] {
    this.dropStale(module); // code that changed the module while tracing: older graphs are stale
    const items: (Module | Tensor)[] = [];
    const flags: boolean[] = [];
    walkModule(module, (x) => {
      items.push(x);
      if (x instanceof Module) flags.push(x.training);
      return true;
    });
    this.structure = items;
    return flags;
  }

  private checkInputs(inputs: readonly Tensor[]): void {
    const site = () => userCallSite();
    if (inputs.length !== this.specs.length) {
      throw new KilnError(`compile: expected ${this.specs.length} input${this.specs.length === 1 ? '' : 's'} (${this.specs.map(formatSpec).join(', ')}), got ${inputs.length}`, { op: 'compile', callSite: site() });
    }
    inputs.forEach((x, i) => {
      const s = this.specs[i]!;
      if (!(x instanceof Tensor)) throw new KilnError(`compile: input ${i} must be a Tensor (spec ${formatSpec(s)}), got ${x === null ? 'null' : typeof x}`, { op: 'compile', callSite: site() });
      if (x.dtype !== s.dtype) throw new KilnError(`compile: input ${i} has dtype ${x.dtype} but the spec says ${s.dtype}: expected ${formatSpec(s)}, got ${x.dtype}${formatShape(x.shape)}`, { op: 'compile', callSite: site() });
      if (x.rank !== s.shape.length) throw new KilnError(`compile: input ${i} has rank ${x.rank} but the spec says ${s.shape.length}: expected ${formatSpec(s)}, got ${x.dtype}${formatShape(x.shape)}`, { op: 'compile', callSite: site() });
    });
  }

  /** The symbols' values if `inputs` pass `g`, else null. */
  private match(g: Guard, inputs: readonly Tensor[]): Map<string, number> | null {
    const b = new Map<string, number>();
    for (let i = 0; i < inputs.length; i++) {
      const x = inputs[i]!;
      if (x.dtype !== g.dtypes[i]) return null;
      const dims = g.dims[i]!;
      if (dims.length !== x.rank) return null;
      for (let k = 0; k < dims.length; k++) {
        const d = dims[k]!, n = x.shape[k]!;
        if (typeof d === 'number') {
          if (d !== n) return null;
        } else {
          const prev = b.get(d);
          if (prev === undefined) b.set(d, n);
          else if (prev !== n) return null;
        }
      }
    }
    return b;
  }

  private withMode<T>(f: () => T): T {
    return this.mode === 'inference' ? noGrad(f) : f();
  }

  /** Symbols of the specs with their values in `inputs` (one value per name). */
  private symbolValues(inputs: readonly Tensor[]): Map<string, number> {
    const values = new Map<string, number>();
    this.specs.forEach((s, i) => s.shape.forEach((d, k) => {
      if (!isSymbolicDim(d)) return;
      const n = inputs[i]!.shape[k]!;
      const prev = values.get(d.name);
      if (prev !== undefined && prev !== n) {
        throw new KilnError(`compile: the inputs disagree on dimension '${d.name}': ${prev} and ${n} (input ${i}, dimension ${k})`, { op: 'compile', callSite: userCallSite() });
      }
      values.set(d.name, n);
    }));
    return values;
  }

  private traceOptions(mode: 'record' | 'meta', startId?: number) {
    const stateNames = new Map<Tensor, string>();
    if (this.module) for (const [name, t] of [...this.module.namedParameters(), ...this.module.namedBuffers()]) stateNames.set(t, name);
    return { mode, stateAsInputs: this.mode === 'training', fullGraph: this.fullGraph, stateNames, inputNames: this.inputNames, ...(startId === undefined ? {} : { startId }) };
  }

  private traceEntry(inputs: readonly Tensor[], training: boolean | null, pinAll: boolean): { entry: Entry; result: unknown } {
    this.counts.traces++;
    const values = this.symbolValues(inputs);
    const tracer = new GraphTracer(this.traceOptions('record'), inputs);
    const trace = this.withMode(() => tracer.trace((...xs) => freeingIntermediates(() => this.fn(...xs))));
    if (trace.breaks.length) {
      // Symbolic dims stay open: lazy runs handle any size (segments are cached per shape).
      const guard = this.guardFor(inputs, new Set());
      const entry: SegmentEntry = { kind: 'segments', guard, training, hits: 0, graph: trace.graph, breaks: trace.breaks, segments: splitAtBreaks(trace.graph, trace.breaks) };
      return { entry, result: trace.result };
    }
    const probes: SymbolProbe[] = [];
    const atLeastTwo = new Map<string, string>();
    const minSize = new Map<string, number>();
    const failure = (name: string, a: number, b: number, e: unknown): string =>
      `tracing at ${name} = ${a} or ${b} failed: ${(e as Error).message.split('\n')[0]}${e instanceof KilnError && e.callSite ? ` (at ${e.callSite})` : ''}`;
    for (const [name, v] of values) {
      if (pinAll) {
        probes.push({ name, values: [v, v + 1, v + 2], variants: `the symbolic graph did not hold for these sizes, so this entry is specialized` });
        continue;
      }
      // Size 1 is among the probes: it is where code most often special-cases a size
      // (squeeze, broadcasting shortcuts), and a structural difference there pins the dim.
      let sizes: [number, number, number] = [v, v + 1, v <= 1 ? v + 2 : 1];
      let variants: SymbolProbe['variants'];
      try {
        variants = [this.metaTrace(inputs, name, sizes[1], trace.startId), this.metaTrace(inputs, name, sizes[2], trace.startId)];
      } catch (e) {
        variants = failure(name, sizes[1], sizes[2], e);
        // Code that rejects size 1 (BatchNorm when training) can still be symbolic for
        // sizes ≥ 2: probe v + 2 instead and keep size 1 off this entry.
        if (sizes[2] === 1) {
          const reason = variants;
          try {
            variants = [this.metaTrace(inputs, name, v + 1, trace.startId), this.metaTrace(inputs, name, v + 2, trace.startId)];
            sizes = [v, v + 1, v + 2];
            atLeastTwo.set(name, reason);
          } catch (e2) {
            variants = failure(name, v + 1, v + 2, e2);
          }
        }
      }
      probes.push({ name, values: sizes, variants });
      // The entry serves sizes from the smallest probed one up (2 when size 1 failed):
      // below it (size 0) the code was never run, and may reject it (BatchNorm) or differ.
      minSize.set(name, atLeastTwo.has(name) ? 2 : Math.min(...sizes));
    }
    const gen = generalize(trace, probes);
    const pinned = new Map([...gen.pinned].map(([name, reason]) => [name, { value: values.get(name)!, reason }]));
    const guard = this.guardFor(inputs, new Set(pinned.keys()));
    const { plan, graph: optimized, report } = lowerGraph(gen.trace.graph, this.target ?? engine.defaultBackend?.name as CompileTarget ?? 'wasm', gen.trace.live, this.lowering);
    const entry: GraphEntry = {
      kind: 'graph', guard, training, hits: 0, trace: gen.trace, plan, optimized, report,
      symbols: [...values.keys()].filter((s) => !pinned.has(s)), pinned, refused: new Set(),
      atLeastTwo: new Map([...atLeastTwo].filter(([name]) => !pinned.has(name))),
      minSize: new Map([...minSize].filter(([name]) => !pinned.has(name))),
      flags: this.module ? this.recordStructure(this.module) : null,
    };
    return { entry, result: trace.result };
  }

  /** A shape-only trace with symbol `name` at `size` (other dims as in `inputs`). */
  private metaTrace(inputs: readonly Tensor[], name: string, size: number, startId: number): Trace {
    return scope(() => {
      const metaInputs = inputs.map((x, i) => {
        const shape = this.specs[i]!.shape.map((d, k) => (isSymbolicDim(d) && d.name === name ? size : x.shape[k]!));
        return pendingTensor(shape, x.dtype, x.backend);
      });
      const tracer = new GraphTracer(this.traceOptions('meta', startId), metaInputs);
      const t = this.withMode(() => tracer.trace(this.fn));
      return { ...t, result: null };
    });
  }

  private guardFor(inputs: readonly Tensor[], pinned: ReadonlySet<string>): Guard {
    return {
      dtypes: inputs.map((x) => x.dtype),
      dims: inputs.map((x, i) => this.specs[i]!.shape.map((d, k) => (isSymbolicDim(d) && !pinned.has(d.name) ? d.name : x.shape[k]!))),
    };
  }

  private runEntry(e: Entry, inputs: readonly Tensor[], bindings: Bindings): unknown {
    if (e.kind === 'segments') {
      const lazy = new LazyTracer(this.segmentCache);
      return this.withMode(() => lazy.call(() => freeingIntermediates(() => this.fn(...inputs))));
    }
    const { trace, plan } = e;
    const backend = plan.backend;
    // A failed run writes nothing back and leaves nothing behind: what can fail is
    // checked before anything is made or run, and state is written after every kernel ran.
    for (const f of trace.feeds) {
      if (f.kind !== 'state') continue;
      if (f.tensor.disposed) throw new KilnError(`compile: %${f.name} was disposed; a compiled model reads its parameters at every run`, { op: 'compile' });
      if (f.tensor.backend !== backend && this.mode === 'training' && engine.gradEnabled) throw new KilnError(`compile: %${f.name} lives on the '${f.tensor.backend.name}' backend but the plan runs on '${backend.name}'; for training, compile with the target your parameters live on`, { op: 'compile' });
    }
    for (const m of trace.mutations) {
      if ('state' in m.target && m.target.state.disposed) throw new KilnError(`compile: %${m.target.name} was disposed; a compiled model writes it at every run`, { op: 'compile' });
    }
    const temps: Tensor[] = [];
    const feeds = trace.feeds.map((f): Tensor => {
      switch (f.kind) {
        case 'input': {
          const x = inputs[f.index]!;
          if (x.backend === backend) return x;
          const y = x.to(backend.name);
          temps.push(y);
          return y;
        }
        case 'state': {
          const t = f.tensor;
          if (t.backend === backend) return t;
          const y = noGrad(() => t.to(backend.name));
          temps.push(y);
          return y;
        }
        case 'rng': {
          const k = keyTensor(backend, nextStream(drawsFor(f.draws, evalDim(f.numel, bindings))));
          temps.push(k);
          return k;
        }
      }
    });
    const tape = this.mode === 'training' && engine.gradEnabled && feeds.some((x) => x.requiresGrad);
    let outs: Tensor[];
    let ran = false;
    try {
      outs = tape ? plan.runEager(feeds, bindings) : plan.run(feeds, bindings);
      ran = true;
    } finally {
      // With a tape, moved inputs may be saved for backward: the enclosing scope frees them.
      for (const t of temps) if (!ran || !tape || t.dtype === 'int32') t.dispose();
    }
    for (const m of trace.mutations) {
      const src = outs[m.output]!;
      const dst = 'input' in m.target ? inputs[m.target.input]! : m.target.state;
      if (src.storage === dst.storage) continue;
      if (src.backend === dst.backend && src.dtype === dst.dtype && src.size === dst.size) dst.backend.copy(src.storage, dst.storage);
      else noGrad(() => dst.copy_(src));
    }
    const handed = new Set<number>();
    const result = unflattenOutputs(trace.outputs, (leaf) => {
      if (leaf.same) return 'input' in leaf.same ? inputs[leaf.same.input]! : leaf.same.state;
      handed.add(leaf.output);
      return outs[leaf.output]!;
    });
    outs.forEach((o, i) => { if (!handed.has(i)) o.dispose(); });
    return result;
  }

  explain(): string {
    const lines: string[] = [];
    const target = this.target ?? engine.defaultBackend?.name ?? 'wasm';
    const s = this.stats;
    lines.push(`kiln.compile(${this.label}): mode ${this.mode}, target ${target}${this.fullGraph ? ', fullGraph' : ''}`);
    lines.push(`  inputs: ${this.specs.map(formatSpec).join(', ')}`);
    lines.push(`  ${this.entries.length} compiled entr${this.entries.length === 1 ? 'y' : 'ies'} (maxRecompiles ${this.maxRecompiles}), ${s.traces} trace${s.traces === 1 ? '' : 's'}, ${s.hits} cache hit${s.hits === 1 ? '' : 's'}${s.eagerFallbacks ? `, ${s.eagerFallbacks} eager fallback${s.eagerFallbacks === 1 ? '' : 's'} (cache full)` : ''}`);
    this.entries.forEach((e, i) => {
      lines.push('');
      const mode = e.training === null ? '' : `, training=${e.training}`;
      if (e.kind === 'graph') {
        const g = e.optimized;
        lines.push(`entry ${i + 1}: guard ${guardText(e.guard)}${mode} → one compiled graph (${g.nodes.length} nodes, ${g.constants.size} constants, ${g.inputs.length} inputs), ${e.hits} hit${e.hits === 1 ? '' : 's'}`);
        lines.push(`  symbolic dims: ${e.symbols.length ? e.symbols.join(', ') : 'none'}`);
        for (const [name, p] of e.pinned) lines.push(`  dim '${name}' specialized to ${p.value} (guarded, not symbolic): ${p.reason}`);
        for (const [name, reason] of e.atLeastTwo) lines.push(`  dim '${name}' symbolic for sizes ≥ 2 only (size 1 retraces): ${reason}`);
        const rng = e.trace.feeds.filter((f) => f.kind === 'rng').length;
        if (rng) lines.push(`  random inputs: ${rng} Philox key${rng === 1 ? '' : 's'} drawn from the global generator at each run`);
        if (e.trace.mutations.length) lines.push(`  in-place updates written back after each run: ${e.trace.mutations.map((m) => ('input' in m.target ? `input ${m.target.input}` : m.target.name)).join(', ')}`);
        if (e.refused.size) lines.push(`  sizes it did not hold for (retraced with every dim pinned): ${[...e.refused].join(' | ')}`);
        lines.push(formatReport(e.report, '  '));
        lines.push(indent(printGraph(g), '  '));
      } else {
        lines.push(`entry ${i + 1}: guard ${guardText(e.guard)}${mode} → ${e.breaks.length} graph break${e.breaks.length === 1 ? '' : 's'}, ${e.segments.length} compiled segment${e.segments.length === 1 ? '' : 's'} with eager code between them, ${e.hits} hit${e.hits === 1 ? '' : 's'}`);
        lines.push('  later calls run the code lazily: each segment is compiled once per structure and shape, then cached');
        e.breaks.forEach((b, k) => {
          lines.push(`  break ${k + 1}: ${breakCause(b.reason)} (after ${b.node} recorded op${b.node === 1 ? '' : 's'})`);
          lines.push(describeSite(b.site, '    '));
        });
        e.segments.forEach((g, k) => {
          lines.push(`  segment ${k + 1}:`);
          lines.push(indent(printGraph(g), '    '));
        });
      }
    });
    if (s.segmentsCompiled || s.segmentRuns) lines.push('', `segments compiled at run time: ${s.segmentsCompiled}, segment runs: ${s.segmentRuns}`);
    return lines.join('\n') + '\n';
  }

  dispose(): void {
    for (const e of this.entries) if (e.kind === 'graph') e.plan.dispose();
    this.entries.length = 0;
    this.structure = null;
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
