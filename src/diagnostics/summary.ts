// kiln.summary: a per-layer table (output shapes, parameters, FLOPs) like torchinfo's or
// Keras's model.summary().
//
// The model runs once per probe size with forward hooks on every module; a module call
// during which no other module was called is a row (a leaf of the call tree, so
// MultiheadAttention, which computes its projections itself, is one row). It runs as
// a shape-only trace (kiln.compile's 'meta' mode: no kernels, no random draws, no
// writes) where the model allows it, else eagerly on zeros; either way in eval mode and
// without gradients, so running statistics and the generator are untouched.
// Symbolic dims (`kiln.dim('batch')`) take a stated size (default 1); to show them by
// name, each symbol is also run at size + 1 and + 2 and every output dim that follows
// it as a·s + c (or c·s₁·s₂ for a product of symbols) is printed that way.
import { KilnError, noGrad, scope, Tensor, userCallSite, zeros } from '../eager/index.js';
import { getBackend } from '../eager/engine.js';
import { pendingTensor } from '../eager/tensor.js';
import { GraphTracer } from '../compiled/graphTracer.js';
import { isSymbolicDim, type InputSpec } from '../compiled/spec.js';
import { callForward, Module, PackedSequence } from '../nn/index.js';
import { layerFlops } from './flops.js';

/** Options of `kiln.summary`. */
export interface SummaryOptions {
  /** The size each symbolic dim takes for the run, by name (default 1). FLOPs are for these sizes. */
  sizes?: Readonly<Record<string, number>>;
}

/** One row of a summary: one call of a leaf module. */
export interface LayerSummary {
  /** Module path (`features.0`, `fc1`); '' for the model itself. */
  name: string;
  /** Class name (`Conv2d`). */
  type: string;
  /** Shape of each output tensor; symbolic dims are strings (`'batch'`, `'2*batch'`). */
  outputShapes: (number | string)[][];
  /** Parameters of the module (with its sub-modules), trainable or not. */
  params: number;
  /** Of those, the ones that require grad. */
  trainableParams: number;
  /** FLOPs of this call at the stated sizes (multiply-add = 2); null when the layer type's cost is unknown. */
  flops: number | null;
  /** The module already appeared in an earlier row (shared weights): its parameters count once in the totals. */
  repeated: boolean;
}

/** Totals of a summary. */
export interface SummaryTotals {
  /** Every parameter of the model (each shared tensor once), including layers that did not run. */
  params: number;
  trainableParams: number;
  nonTrainableParams: number;
  /** Bytes of all parameters. */
  paramBytes: number;
  /** Sum of the rows' known FLOPs. */
  flops: number;
  /** Rows whose FLOPs are unknown (then `flops` is a lower bound). */
  unknownFlopsLayers: number;
}

const numberFormat = new Intl.NumberFormat('en-US');
const fmt = (n: number): string => numberFormat.format(n);

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 ** 2) return `${(n / 1024).toFixed(2)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(2)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

/** What `kiln.summary` returns; `toString()` is the table. */
export class ModelSummary {
  constructor(
    readonly layers: readonly LayerSummary[],
    readonly totals: SummaryTotals,
    /** The declared inputs, as `float32[batch, 784]`. */
    readonly inputs: readonly string[],
    /** The size each symbolic dim had for the run. */
    readonly sizes: Readonly<Record<string, number>>,
    /** How the model ran: a shape-only trace, or eagerly on zeros (the model reads values). */
    readonly mode: 'shape-only' | 'eager',
  ) {}

  /** An aligned table: one row per layer call, then the totals. */
  toString(): string {
    const head = ['Layer (type)', 'Output shape', 'Params', 'FLOPs'];
    const rows = this.layers.map((l) => [
      l.name ? `${l.name} (${l.type})` : l.type,
      l.outputShapes.map((s) => `[${s.join(', ')}]`).join(', ') || '-',
      l.repeated ? '(shared)' : fmt(l.params),
      l.flops === null ? '?' : fmt(l.flops),
    ]);
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const line = (cells: readonly string[]) =>
      cells.map((c, i) => (i >= 2 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('   ').trimEnd();
    const width = widths.reduce((a, b) => a + b, 0) + 3 * (widths.length - 1);
    const at = Object.entries(this.sizes).map(([k, v]) => `${k} = ${v}`).join(', ');
    const t = this.totals;
    const unknown = t.unknownFlopsLayers ? ` + unknown (${t.unknownFlopsLayers} layer${t.unknownFlopsLayers === 1 ? '' : 's'} marked ?)` : '';
    return [
      `Input: ${this.inputs.join(', ')}${at ? ` (run at ${at})` : ''}`,
      '='.repeat(width),
      line(head),
      '-'.repeat(width),
      ...rows.map(line),
      '='.repeat(width),
      `Total params: ${fmt(t.params)} (${formatBytes(t.paramBytes)})`,
      `Trainable params: ${fmt(t.trainableParams)}`,
      `Non-trainable params: ${fmt(t.nonTrainableParams)}`,
      `FLOPs: ${fmt(t.flops)}${unknown}${at ? ` at ${at}` : ''} (multiply-add = 2)`,
    ].join('\n');
  }
}

/** One leaf call seen in one run. */
interface Call {
  readonly module: Module;
  readonly shapes: readonly (readonly number[])[];
  readonly flops: number | null;
}

function outputShapes(v: unknown, out: (readonly number[])[], depth = 0): (readonly number[])[] {
  if (v instanceof Tensor) out.push(v.shape);
  else if (v instanceof PackedSequence) out.push(v.padded.shape);
  else if (Array.isArray(v) && depth < 8) for (const e of v) outputShapes(e, out, depth + 1);
  return out;
}

/** Runs `run` with hooks on every module of `model`; returns the leaf calls in order. */
function observe(model: Module, run: () => unknown): Call[] {
  const calls: Call[] = [];
  const stack: { children: number }[] = [];
  const handles = [];
  try {
    for (const m of model.modules()) {
      handles.push(m.registerForwardPreHook(() => {
        const parent = stack[stack.length - 1];
        if (parent) parent.children++;
        stack.push({ children: 0 });
      }));
      handles.push(m.registerForwardHook((mod, inputs, output) => {
        const frame = stack.pop();
        if (frame && frame.children === 0) calls.push({ module: mod, shapes: outputShapes(output, []), flops: layerFlops(mod, inputs, output) });
      }));
    }
    run();
  } finally {
    for (const h of handles) h.remove();
  }
  return calls;
}

function shapeAt(s: InputSpec, sizes: ReadonlyMap<string, number>): number[] {
  return s.shape.map((d) => (isSymbolicDim(d) ? sizes.get(d.name)! : d));
}

function runShapeOnly(model: Module, specs: readonly InputSpec[], sizes: ReadonlyMap<string, number>): Call[] {
  const backend = getBackend();
  return scope(() => {
    const inputs = specs.map((s) => pendingTensor(shapeAt(s, sizes), s.dtype, backend));
    const tracer = new GraphTracer({ mode: 'meta', stateAsInputs: false, fullGraph: false, stateNames: new Map(), inputNames: inputs.map((_, i) => `x${i}`) }, inputs);
    let calls: Call[] = [];
    tracer.trace((...xs) => {
      let out: unknown;
      calls = observe(model, () => (out = callForward(model, ...xs)));
      return out;
    });
    return calls;
  });
}

function runEager(model: Module, specs: readonly InputSpec[], sizes: ReadonlyMap<string, number>): Call[] {
  return scope(() => {
    const inputs = specs.map((s) => zeros(shapeAt(s, sizes), { dtype: s.dtype }));
    return observe(model, () => callForward(model, ...inputs));
  });
}

/** Whether two runs called the same modules in the same order with outputs of the same ranks. */
function sameStructure(a: readonly Call[], b: readonly Call[]): boolean {
  return a.length === b.length && a.every((c, i) => {
    const d = b[i]!;
    return c.module === d.module && c.shapes.length === d.shapes.length && c.shapes.every((s, k) => s.length === d.shapes[k]!.length);
  });
}

/** `a·s + c` as text (`batch`, `2*batch`, `batch+1`, `4*batch-2`). */
function affineText(name: string, a: number, c: number): string {
  const term = a === 1 ? name : `${a}*${name}`;
  return c === 0 ? term : c > 0 ? `${term}+${c}` : `${term}-${-c}`;
}

/**
 * The dim as text or number, from its value in the base run (`v0`) and in the runs
 * with one symbol at base + 1 and base + 2 (`probes[symbol] = [v1, v2]`).
 */
function symbolicDim(v0: number, base: ReadonlyMap<string, number>, probes: ReadonlyMap<string, readonly [number, number]>): number | string {
  const varying = [...probes].filter(([, [v1, v2]]) => v1 !== v0 || v2 !== v0);
  if (varying.length === 0) return v0;
  if (varying.length === 1) {
    const [name, [v1, v2]] = varying[0]!;
    const a = v1 - v0;
    const b = base.get(name)!;
    if (v2 - v1 === a && Number.isInteger(a) && a > 0) return affineText(name, a, v0 - a * b);
  }
  // A product of symbols (a flatten of [batch, seq, …]): v = c·Π s.
  const names = varying.map(([n]) => n);
  const coef = v0 / names.reduce((p, n) => p * base.get(n)!, 1);
  const isProduct = Number.isInteger(coef) && coef > 0 && varying.every(([n, [v1, v2]]) => {
    const b = base.get(n)!;
    return v1 * b === v0 * (b + 1) && v2 * b === v0 * (b + 2);
  });
  if (isProduct) return [...(coef === 1 ? [] : [String(coef)]), ...names].join('*');
  return v0; // not expressible here: the value at the stated sizes
}

/**
 * A per-layer table of a model: each call of a leaf module (in call order, named by its
 * module path) with its output shape, parameter count and FLOPs, then the totals
 * (torchinfo / Keras `summary()`). The model runs once on an input built from each
 * spec — a shape-only trace where it allows (no kernels, no side effects), else eagerly
 * on zeros — in eval mode without gradients; symbolic dims take `options.sizes[name]`
 * (default 1) and are shown by name in the output shapes.
 *
 * FLOPs count a multiply-add as 2 and any other arithmetic op (and exp/tanh) as 1, at
 * the stated sizes: Linear 2·in·out per row (+1 per output for the bias); Conv1d/2d
 * 2·(Cin/groups)·k per output element (+bias); ConvTranspose2d 2·(Cout/groups)·k per
 * input element (+bias); BatchNorm 2 per element with running statistics, LayerNorm /
 * GroupNorm / BatchNorm with batch statistics 5, each +1 for a scale and +1 for a shift;
 * MaxPool2d k−1 and AvgPool2d k per output; activations per element ReLU 1, LeakyReLU /
 * PReLU 2, ELU 3, Sigmoid 4, Tanh 1, (Log)Softmax 5; Flatten, Dropout (eval), Identity,
 * Embedding, nearest Upsample 0; RNN/LSTM/GRU 2·(in+hidden)·gates·hidden per step and
 * batch element plus biases and gate arithmetic (see `flops.ts`); MultiheadAttention its
 * projections, scores, softmax and weighted sum. Other leaf modules report FLOPs as
 * unknown (`null`, shown `?`), never 0. Work a module does outside its child modules
 * (`x.relu()` in your own `forward`) is not in any row.
 *
 * @example
 * ```ts
 * const model = new kiln.nn.Sequential(
 *   new kiln.nn.Conv2d(1, 4, 3, { padding: 1 }), new kiln.nn.ReLU(), new kiln.nn.MaxPool2d(2),
 *   new kiln.nn.Flatten(), new kiln.nn.Linear(4 * 4 * 4, 10),
 * );
 * const s = kiln.summary(model, kiln.spec([kiln.dim('batch'), 1, 8, 8]));
 * console.log(s.toString());        // "0 (Conv2d)   [batch, 4, 8, 8]   40   4,864" …
 * s.totals.params;                   // 40 + 650 = 690
 * s.layers[4]!.outputShapes[0];      // ['batch', 10]
 * ```
 */
export function summary(model: Module, inputs: InputSpec | readonly InputSpec[], options: SummaryOptions = {}): ModelSummary {
  if (!(model instanceof Module)) throw new KilnError(`summary: expected an nn.Module, got ${model === null ? 'null' : typeof model}`, { op: 'summary', callSite: userCallSite() });
  const specs: readonly InputSpec[] = Array.isArray(inputs) ? inputs : [inputs as InputSpec];
  for (const s of specs) {
    if (!s || !Array.isArray(s.shape) || typeof s.dtype !== 'string') throw new KilnError('summary: inputs must be kiln.spec(shape, dtype) (or an array of them, one per forward argument)', { op: 'summary', callSite: userCallSite() });
  }
  const base = new Map<string, number>();
  for (const s of specs) {
    for (const d of s.shape) {
      if (!isSymbolicDim(d) || base.has(d.name)) continue;
      const v = options.sizes?.[d.name] ?? 1;
      if (!Number.isInteger(v) || v < 0) throw new KilnError(`summary: size of '${d.name}' must be a non-negative integer, got ${String(v)}`, { op: 'summary', callSite: userCallSite() });
      base.set(d.name, v);
    }
  }
  const runs: { sizes: Map<string, number>; symbol: string | null }[] = [{ sizes: base, symbol: null }];
  for (const [name, v] of base) for (const extra of [1, 2]) runs.push({ sizes: new Map([...base, [name, v + extra]]), symbol: name });

  // Eval mode and no gradients for the runs; every module's own flag is restored after.
  const flags = [...model.modules()].map((m) => [m, m.training] as const);
  let mode: 'shape-only' | 'eager' = 'shape-only';
  let results: Call[][];
  try {
    model.eval();
    results = noGrad(() => {
      try {
        return runs.map((r) => runShapeOnly(model, specs, r.sizes));
      } catch {
        // The model reads values (or does something a shape-only trace cannot): run it.
        mode = 'eager';
        return runs.map((r) => runEager(model, specs, r.sizes));
      }
    });
  } finally {
    for (const [m, t] of flags) m.training = t;
  }

  const [calls, ...probeRuns] = results;
  const structured = probeRuns.every((p) => sameStructure(calls!, p));
  const names = new Map<Module, string>();
  for (const [path, m] of model.namedModules()) if (!names.has(m)) names.set(m, path);
  const seen = new Set<Module>();
  const layers: LayerSummary[] = calls!.map((c, i) => {
    const params = c.module.namedParameters().map(([, p]) => p);
    const row: LayerSummary = {
      name: names.get(c.module) ?? '?',
      type: c.module.constructor.name,
      outputShapes: c.shapes.map((shape, k) => shape.map((v0, j) => {
        if (!structured || base.size === 0) return v0;
        const probes = new Map<string, [number, number]>();
        runs.forEach((r, ri) => {
          if (ri === 0) return;
          const v = results[ri]![i]!.shapes[k]![j]!;
          const entry = probes.get(r.symbol!) ?? [v, v];
          if (r.sizes.get(r.symbol!) === base.get(r.symbol!)! + 1) entry[0] = v;
          else entry[1] = v;
          probes.set(r.symbol!, entry);
        });
        return symbolicDim(v0, base, probes);
      })),
      params: params.reduce((n, p) => n + p.size, 0),
      trainableParams: params.filter((p) => p.requiresGrad).reduce((n, p) => n + p.size, 0),
      flops: c.flops,
      repeated: seen.has(c.module),
    };
    seen.add(c.module);
    return row;
  });

  const all = model.namedParameters().map(([, p]) => p);
  const params = all.reduce((n, p) => n + p.size, 0);
  const trainableParams = all.filter((p) => p.requiresGrad).reduce((n, p) => n + p.size, 0);
  const bytes = { float32: 4, float64: 8, int32: 4, bool: 1 } as const;
  const totals: SummaryTotals = {
    params,
    trainableParams,
    nonTrainableParams: params - trainableParams,
    paramBytes: all.reduce((n, p) => n + p.size * bytes[p.dtype], 0),
    flops: layers.reduce((n, l) => n + (l.flops ?? 0), 0),
    unknownFlopsLayers: layers.filter((l) => l.flops === null).length,
  };
  const inputText = specs.map((s) => `${s.dtype}[${s.shape.map((d) => (isSymbolicDim(d) ? d.name : String(d))).join(', ')}]`);
  return new ModelSummary(layers, totals, inputText, Object.fromEntries(base), mode);
}
