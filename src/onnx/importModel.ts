// `kiln.onnx.importModel`: ONNX bytes → IR graph (importGraph.ts) → the pipeline every
// compiled graph goes through (lowerGraph: verify, passes, ExecutionPlan) → a model whose
// `run` feeds the plan. Symbolic input dims (`dim_param`) become IR symbols and one plan
// serves every size; a model that needs concrete sizes somewhere (a stride over a symbolic
// height, an `If` on the batch size) is imported again for each new input shape instead.
import { bindShape, formatDim, formatShape, isSym, KilnError, sym, userCallSite, type Dim, type DType, type Graph, type TypedArray, type ValueType } from '../ir/index.js';
import type { OptLevel } from '../passes/index.js';
import { engine } from '../eager/engine.js';
import { Tensor } from '../eager/tensor.js';
import { lowerGraph, type CompileTarget } from '../compiled/lower.js';
import type { ExecutionPlan } from '../compiled/executionPlan.js';
import { runPlan } from '../compiled/kernelExecutor.js';
import { loadNodeHost } from '../platform/index.js';
import { decodeModel, type IGraphProto, type ModelProto } from './proto.js';
import { importGraph, realInputs, sanitize } from './importGraph.js';
import { NeedsConcreteShapes } from './importContext.js';
import { kilnDTypeForValue, known, type ExternalData, type Known } from './importTensor.js';
import { importerFor } from './importOps/index.js';

/** The ONNX opsets (default domain) Kiln imports. */
export const IMPORT_OPSETS = { min: 9, max: 18 } as const;

/** How `importModel` compiles. */
export interface ImportOptions {
  /** Where the model runs (default: the default backend, else 'wasm'). */
  readonly target?: CompileTarget;
  /** Optimization level of the pass pipeline (default: `kiln.compile`'s). */
  readonly optimize?: OptLevel;
  /** External tensor data by location, for a model given as bytes (a path reads them from beside the model). */
  readonly externalData?: Readonly<Record<string, Uint8Array>>;
}

/** One model input as the ONNX file declares it. */
export interface ImportedInput {
  readonly name: string;
  /** The dtype `run` takes (int64 inputs take int32 tensors). */
  readonly dtype: DType;
  /** Sizes; symbolic dims by name. */
  readonly shape: readonly (number | string)[];
}

/**
 * A model imported from ONNX, compiled for one target.
 *
 * @example
 * ```ts
 * const model = await kiln.onnx.importModel('model.onnx', { target: 'wasm' });
 * console.log(model.inputNames, model.outputNames);
 * const y = model.run(kiln.randn([1, 3, 224, 224])) as kiln.Tensor;
 * ```
 */
export interface ImportedModel {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputs: readonly ImportedInput[];
  /** The model's default-domain opset. */
  readonly opset: number;
  readonly target: CompileTarget;
  /**
   * Runs the model on tensors given in the model's input order; returns the output
   * (one) or the outputs in order (several). A new input shape of a model imported per
   * shape imports and compiles it once for that shape.
   */
  run(...inputs: Tensor[]): Tensor | Tensor[];
  /** The optimized graph of the symbolic plan, else of the most recent shape (null before the first run of a per-shape model). */
  readonly graph: Graph | null;
  /** Whether one plan with symbolic dims serves every input size. */
  readonly symbolic: boolean;
  /** Plans compiled (the symbolic one, or one per input shape). */
  readonly cacheSize: number;
  /** How the model was imported: inputs, opset, symbolic or per-shape (and why), plans. */
  explain(): string;
  /** Frees the plans. */
  dispose(): void;
}

const MAX_SHAPES = 8;

interface Compiled {
  readonly graph: Graph;
  readonly plan: ExecutionPlan;
}

function defaultOpset(model: ModelProto): number {
  const entries = model.opsetImport ?? [];
  const main = entries.find((o) => !o.domain || o.domain === 'ai.onnx');
  if (!main) throw new KilnError('the model declares no opset for the default ONNX domain', { op: 'onnx.importModel' });
  const v = Number(main.version ?? 0);
  if (!(v >= IMPORT_OPSETS.min && v <= IMPORT_OPSETS.max)) {
    throw new KilnError(`opset ${v} is not supported (Kiln imports opsets ${IMPORT_OPSETS.min}–${IMPORT_OPSETS.max})`, { op: 'onnx.importModel' });
  }
  return v;
}

/** Every op used (subgraphs included) must have an importer: one error naming each missing op and a node using it. */
function checkOps(g: IGraphProto): void {
  const missing = new Map<string, string>();
  const visit = (graph: IGraphProto, depth: number): void => {
    if (depth > 64) throw new KilnError('subgraphs nested more than 64 deep', { op: 'onnx.importModel' });
    for (const n of graph.node ?? []) {
      const op = n.opType ?? '';
      const domain = n.domain ?? '';
      const key = domain && domain !== 'ai.onnx' ? `${domain}.${op}` : op;
      if ((domain && domain !== 'ai.onnx') || !importerFor(op)) {
        if (!missing.has(key)) missing.set(key, n.name || (n.output ?? []).find((o) => o) || '(unnamed)');
      }
      for (const a of n.attribute ?? []) {
        if (a.g) visit(a.g, depth + 1);
        for (const s of a.graphs ?? []) visit(s, depth + 1);
      }
    }
  };
  visit(g, 0);
  if (missing.size) {
    const list = [...missing].map(([op, node]) => `'${op}' (node '${node}')`).join(', ');
    throw new KilnError(`unsupported ONNX op${missing.size > 1 ? 's' : ''} ${list}`, { op: 'onnx.importModel' });
  }
}

function hasIf(g: IGraphProto): boolean {
  return (g.node ?? []).some((n) => n.opType === 'If' || (n.attribute ?? []).some((a) => (a.g && hasIf(a.g)) || (a.graphs ?? []).some(hasIf)));
}

function declaredInputs(g: IGraphProto): { inputs: ImportedInput[]; types: ValueType[] } {
  const inputs: ImportedInput[] = [];
  const types: ValueType[] = [];
  for (const v of realInputs(g)) {
    const name = v.name ?? '';
    const tt = v.type?.tensorType;
    if (!tt) throw new KilnError(`input '${name}' is not a tensor (sequences, maps and optionals are not supported)`, { op: 'onnx.importModel' });
    const dtype = kilnDTypeForValue(tt.elemType ?? 0, `input '${name}'`);
    if (!tt.shape) throw new KilnError(`input '${name}' declares no shape (its rank is needed)`, { op: 'onnx.importModel' });
    const shape: Dim[] = [];
    const shown: (number | string)[] = [];
    (tt.shape.dim ?? []).forEach((d, k) => {
      if (d.dimValue !== undefined && d.dimValue !== null && Number(d.dimValue) > 0 && !d.dimParam) {
        shape.push(Number(d.dimValue));
        shown.push(Number(d.dimValue));
      } else {
        const s = sanitize(d.dimParam || `${name}_${k}`);
        shape.push(sym(s));
        shown.push(s);
      }
    });
    inputs.push({ name, dtype, shape: shown });
    types.push({ dtype, shape });
  }
  return { inputs, types };
}

class Imported implements ImportedModel {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputs: readonly ImportedInput[];
  private readonly types: readonly ValueType[];
  /** Inputs the model is imported per value of (one-element int/bool inputs of a model with If). */
  private readonly byValue: readonly boolean[];
  private symbolicPlan: Compiled | null = null;
  private whyPerShape = '';
  private readonly perShape = new Map<string, Compiled>();
  private last: Compiled | null = null;
  private disposed = false;

  constructor(
    private readonly model: ModelProto,
    readonly opset: number,
    readonly target: CompileTarget,
    private readonly external: ExternalData | null,
    private readonly optimize: OptLevel | undefined,
  ) {
    const g = model.graph!;
    const { inputs, types } = declaredInputs(g);
    this.inputs = inputs;
    this.types = types;
    this.inputNames = inputs.map((i) => i.name);
    this.outputNames = (g.output ?? []).map((o) => o.name ?? '');
    if (this.outputNames.length === 0) throw new KilnError('the model has no outputs', { op: 'onnx.importModel' });
    const hasSymbols = types.some((t) => t.shape.some(isSym));
    // Where an If could depend on a one-element int input (Silero's sample rate), the
    // model is imported per value of those inputs, so the condition folds and only the
    // taken branch is imported (no run-time If, which webgpu plans refuse).
    this.byValue = hasIf(g) ? types.map((t) => t.dtype !== 'float32' && t.dtype !== 'float64' && t.shape.every((d) => d === 1)) : types.map(() => false);
    if (this.byValue.some((b) => b)) {
      this.whyPerShape = `inputs ${this.inputNames.filter((_, i) => this.byValue[i]).join(', ')} may decide If conditions: imported per value`;
      return;
    }
    try {
      this.symbolicPlan = this.compile(types);
    } catch (e) {
      // Sizes the symbolic import could not handle: import per concrete shape at run time.
      if (!hasSymbols || !(e instanceof KilnError)) throw e;
      this.whyPerShape = e.message;
    }
  }

  private compile(types: readonly ValueType[], values: readonly (Known | null)[] = []): Compiled {
    const graph = importGraph(this.model.graph!, types, { opset: this.opset, external: this.external }, values);
    const lowered = lowerGraph(graph, this.target, new Map(), this.optimize ? { optimize: this.optimize } : {});
    return { graph: lowered.graph, plan: lowered.plan };
  }

  get graph(): Graph | null {
    return (this.symbolicPlan ?? this.last)?.graph ?? null;
  }

  get symbolic(): boolean {
    return this.symbolicPlan !== null && this.types.some((t) => t.shape.some(isSym));
  }

  get cacheSize(): number {
    return (this.symbolicPlan ? 1 : 0) + this.perShape.size;
  }

  run(...inputs: Tensor[]): Tensor | Tensor[] {
    // The user's line is found only when something fails (a stack capture per run would cost more than small models take to run).
    const fail = (message: string) => new KilnError(message, { op: 'onnx.run', callSite: userCallSite() });
    if (this.disposed) throw fail('this imported model was disposed');
    if (inputs.length !== this.inputs.length) {
      throw fail(`the model takes ${this.inputs.length} input${this.inputs.length === 1 ? '' : 's'} (${this.inputNames.join(', ')}), got ${inputs.length}`);
    }
    const bindings = new Map<string, number>();
    inputs.forEach((x, i) => {
      const want = this.inputs[i]!;
      if (!(x instanceof Tensor)) throw fail(`input '${want.name}' must be a kiln Tensor`);
      if (x.disposed) throw fail(`input '${want.name}' was disposed`);
      if (x.dtype !== want.dtype) throw fail(`input '${want.name}' must be ${want.dtype}, got ${x.dtype}`);
      const problem = bindShape(this.types[i]!.shape, x.shape, bindings);
      if (problem) throw fail(`input '${want.name}' must have shape [${this.types[i]!.shape.map(formatDim).join(', ')}], got ${formatShape(x.shape)} (${problem})`);
    });
    let compiled: Compiled;
    if (this.symbolicPlan && this.symbolicPlan.plan.prepare(bindings) === null) compiled = this.symbolicPlan;
    else compiled = this.forShapes(inputs);
    this.last = compiled;
    const temps: Tensor[] = [];
    const fed = inputs.map((x) => {
      if (x.backend === compiled.plan.backend) return x;
      const y = x.to(compiled.plan.backend.name);
      temps.push(y);
      return y;
    });
    try {
      const outs = runPlan(compiled.plan, fed, bindings);
      return outs.length === 1 ? outs[0]! : outs;
    } finally {
      for (const t of temps) t.dispose();
    }
  }

  private forShapes(inputs: readonly Tensor[]): Compiled {
    const values = inputs.map((x, i) => (this.byValue[i] ? known(x.dtype, x.shape, x.dataSync() as TypedArray) : null));
    const key = inputs.map((x, i) => formatShape(x.shape) + (values[i] ? `=${Array.from(values[i]!.data).join()}` : '')).join(';');
    let c = this.perShape.get(key);
    if (c) {
      this.perShape.delete(key);
      this.perShape.set(key, c); // most recent last
      return c;
    }
    try {
      c = this.compile(inputs.map((x, i) => ({ dtype: this.types[i]!.dtype, shape: [...x.shape] })), values);
    } catch (e) {
      if (e instanceof KilnError && !e.callSite) throw new KilnError(`${e.message.replace(/^onnx\.importModel: /, '')} (importing for input shapes ${key})`, { op: 'onnx.run', callSite: userCallSite() });
      throw internalError(e, userCallSite());
    }
    if (this.perShape.size >= MAX_SHAPES) {
      const [oldKey, old] = this.perShape.entries().next().value!;
      old.plan.dispose();
      this.perShape.delete(oldKey);
    }
    this.perShape.set(key, c);
    return c;
  }

  explain(): string {
    const lines = [`ONNX model, opset ${this.opset}, on ${this.target}`];
    for (const i of this.inputs) lines.push(`  input ${i.name}: ${i.dtype}[${i.shape.join(', ')}]`);
    lines.push(`  outputs: ${this.outputNames.join(', ')}`);
    if (this.symbolicPlan) lines.push(`  one plan for every size (${this.symbolicPlan.graph.nodes.length} nodes)`);
    else if (this.whyPerShape) lines.push(`  imported per input shape: ${this.whyPerShape}`);
    for (const [key, c] of this.perShape) lines.push(`  plan for ${key}: ${c.graph.nodes.length} nodes`);
    return lines.join('\n');
  }

  dispose(): void {
    this.symbolicPlan?.plan.dispose();
    for (const c of this.perShape.values()) c.plan.dispose();
    this.perShape.clear();
    this.symbolicPlan = null;
    this.disposed = true;
  }
}

/**
 * A model that trips something other than a KilnError inside the importer is still
 * reported as one (a bug of Kiln's, but the user's call gets a clear error, never a
 * stray RangeError); the fuzz test asserts this never happens on its mutants.
 */
function internalError(e: unknown, callSite: string | undefined): KilnError {
  if (e instanceof KilnError) return e;
  const message = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new KilnError(`internal error while importing the model (${message}); please report it with the model`, { op: 'onnx.importModel', callSite });
}

function folderOf(path: string): string {
  const at = Math.max(path.lastIndexOf('/'), path.lastIndexOf('\\'));
  return at < 0 ? '.' : path.slice(0, at) || '/';
}

/**
 * Imports an ONNX model (a path in Node, or the file's bytes) and compiles it for
 * `options.target`. Opsets 9–18 of the default domain; int64 tensors become int32 (a
 * value out of int32's range is a KilnError), float16 weights float32. Inputs are
 * given to `run` positionally, in the model's input order. Anything Kiln cannot import
 * (bytes that are not ONNX, an unsupported op or opset, missing external data) is a
 * `KilnError` saying what and where.
 *
 * @example
 * ```ts
 * const vad = await kiln.onnx.importModel('silero_vad.onnx', { target: 'wasm' });
 * const [prob, state] = vad.run(audio, kiln.zeros([2, 1, 128]), kiln.tensor([16000], { dtype: 'int32', shape: [] })) as kiln.Tensor[];
 * ```
 */
export async function importModel(pathOrBytes: string | Uint8Array | ArrayBuffer, options: ImportOptions = {}): Promise<ImportedModel> {
  const callSite = userCallSite();
  let bytes: Uint8Array;
  let external: ExternalData | null = null;
  let source = 'the bytes';
  if (typeof pathOrBytes === 'string') {
    const host = await loadNodeHost();
    if (!host) throw new KilnError('importing from a path needs Node; in a browser, fetch the file and pass its bytes', { op: 'onnx.importModel', callSite });
    source = `'${pathOrBytes}'`;
    bytes = await host.readFile(pathOrBytes, 'onnx.importModel', callSite);
    const dir = folderOf(pathOrBytes);
    const files = new Map<string, Uint8Array>();
    external = (location, tensor) => {
      let b = files.get(location);
      if (!b) {
        const file = host.joinPath(dir, location);
        if (!host.existsSync(file)) throw new KilnError(`${tensor} is stored in '${location}', but ${file} does not exist`);
        b = host.readFileSync(file);
        files.set(location, b);
      }
      return b;
    };
  } else if (pathOrBytes instanceof Uint8Array || pathOrBytes instanceof ArrayBuffer) {
    bytes = pathOrBytes instanceof Uint8Array ? pathOrBytes : new Uint8Array(pathOrBytes);
    const given = options.externalData;
    if (given) {
      external = (location, tensor) => {
        const b = given[location];
        if (!b) throw new KilnError(`${tensor} is stored in '${location}', which options.externalData does not hold`);
        return b;
      };
    }
  } else {
    throw new KilnError('importModel takes a path or the model\'s bytes (Uint8Array or ArrayBuffer)', { op: 'onnx.importModel', callSite });
  }
  try {
    const model = decodeModel(bytes, source);
    if (!model.graph) throw new KilnError(`${source} holds no graph (is it an ONNX model?)`);
    const opset = defaultOpset(model);
    checkOps(model.graph);
    const target = options.target ?? (engine.defaultBackend?.name as CompileTarget | undefined) ?? 'wasm';
    return new Imported(model, opset, target, external, options.optimize);
  } catch (e) {
    if (e instanceof NeedsConcreteShapes) throw new KilnError(e.message, { op: 'onnx.importModel', callSite });
    if (e instanceof KilnError && !e.callSite) throw new KilnError(e.message.replace(/^onnx\.importModel: /, ''), { op: 'onnx.importModel', callSite });
    throw internalError(e, callSite);
  }
}
