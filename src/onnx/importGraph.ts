// ONNX IGraphProto → Kiln IR Graph, for given input types (symbolic dims, or the sizes of
// one call). Nodes run through their op's importer (importOps/); values known at import
// (initializers, Constants, anything computed only from them) stay out of the graph
// until a runtime op reads them, so shape arithmetic folds into attributes.
import { formatDim, dimAdd, dimDivExact, dimMul, dimSub, getOp, Graph, inferNode, isSym, KilnError, NotAffineError, type Dim, type DType, type IrAttrs, type Value, type ValueType } from '../ir/index.js';
import { getBackend } from '../eager/engine.js';
import { kernelEvaluator } from '../compiled/lower.js';
import type { Evaluator } from '../passes/index.js';
import { int64ToNumber, onnx, type onnxTypes, type IAttributeProto, type IGraphProto, type INodeProto, type ITensorProto } from './proto.js';
import { isKnown, isKnownDims, NeedsConcreteShapes, type AttrReader, type KnownDims, type OnnxValue, type OpContext } from './importContext.js';
import { kilnData, known, readTensor, type ExternalData, type Known } from './importTensor.js';
import { importerFor } from './importOps/index.js';

const AT = onnx.AttributeProto.AttributeType;

/** What the model gives every graph it imports. */
export interface ImportSettings {
  readonly opset: number;
  readonly external: ExternalData | null;
}

let foldEvaluator: Evaluator | null = null;

/** Import-time folding runs on the reference backend's kernels (portable, exact). */
function evaluator(): Evaluator {
  foldEvaluator ??= kernelEvaluator(getBackend('reference'));
  return foldEvaluator;
}

/** Values by ONNX name, chained to the enclosing graph's (subgraphs see outer values). */
class Scope {
  readonly values = new Map<string, OnnxValue>();
  constructor(readonly parent: Scope | null, readonly graph: Graph) {}

  get(name: string): OnnxValue | undefined {
    return this.values.get(name) ?? this.parent?.get(name);
  }
}

function describe(node: INodeProto): string {
  const name = node.name ? ` '${node.name}'` : '';
  const out = node.output?.find((o) => o) ?? '';
  return `${node.opType}${name}${!node.name && out ? ` (output '${out}')` : ''}`;
}

/**
 * Imports `g` into a new root Graph with inputs of `inputTypes` (by the model's input
 * order); returns it with outputs set.
 */
export function importGraph(g: IGraphProto, inputTypes: readonly ValueType[], settings: ImportSettings, inputValues: readonly (Known | null)[] = []): Graph {
  const imp = new GraphImporter(settings);
  return imp.root(g, inputTypes, inputValues);
}

/** The names of a graph's real inputs (those not also initializers, as IR < 4 lists both). */
export function realInputs(g: IGraphProto): onnxTypes.IValueInfoProto[] {
  const inits = new Set((g.initializer ?? []).map((t) => t.name ?? ''));
  return (g.input ?? []).filter((v) => !inits.has(v.name ?? ''));
}

/** A KilnError already naming the node it happened at (nested imports do not name it again). */
export class NodeImportError extends KilnError {
  constructor(message: string) {
    super(message, { op: 'onnx.importModel' });
  }
}

class GraphImporter {
  private readonly rootGraph = new Graph();
  /** Constants made from known values (one per value). */
  private readonly materialized = new WeakMap<object, Value>();
  private depth = 0;

  constructor(readonly settings: ImportSettings) {}

  root(g: IGraphProto, inputTypes: readonly ValueType[], inputValues: readonly (Known | null)[]): Graph {
    const scope = new Scope(null, this.rootGraph);
    const inputs = realInputs(g);
    inputs.forEach((v, i) => {
      const x = this.rootGraph.addInput(sanitize(v.name ?? 'input'), inputTypes[i]!);
      // An input specialized on its value (see importModel) is read as that value.
      scope.values.set(v.name ?? '', inputValues[i] ?? x);
    });
    this.initializers(g, scope);
    this.nodes(g, scope);
    this.rootGraph.outputs = (g.output ?? []).map((o) => this.materializeIn(this.lookup(scope, o.name ?? '', 'graph output'), scope.graph));
    return this.rootGraph;
  }

  private initializers(g: IGraphProto, scope: Scope): void {
    for (const t of g.initializer ?? []) {
      if (!scope.values.has(t.name ?? '')) scope.values.set(t.name ?? '', readTensor(t, this.settings.external));
    }
  }

  private lookup(scope: Scope, name: string, what: string): OnnxValue {
    const v = scope.get(name);
    if (!v) throw new KilnError(`${what} '${name}' is not defined (no input, initializer or earlier node output has that name)`, { op: 'onnx.importModel' });
    return v;
  }

  private nodes(g: IGraphProto, scope: Scope): void {
    for (const node of g.node ?? []) {
      const domain = node.domain ?? '';
      if (domain !== '' && domain !== 'ai.onnx') throw new NodeImportError(`node ${describe(node)}: op domain '${domain}' is not supported (only the default ONNX domain)`);
      const importer = importerFor(node.opType ?? '');
      if (!importer) throw new NodeImportError(`node ${describe(node)}: ONNX op '${node.opType}' is not supported by Kiln's importer`);
      const ctx = new NodeContext(this, node, scope);
      let outs: OnnxValue[];
      try {
        outs = importer(ctx);
      } catch (e) {
        if (e instanceof NeedsConcreteShapes || e instanceof NodeImportError) throw e;
        if (e instanceof NotAffineError) throw new NeedsConcreteShapes(`node ${describe(node)}: ${e.message}`);
        if (e instanceof KilnError) throw new NodeImportError(`node ${describe(node)}: ${e.message}`);
        if (e instanceof RangeError && /call stack/.test(e.message)) throw new NodeImportError(`node ${describe(node)}: nested too deeply`);
        throw e;
      }
      (node.output ?? []).forEach((name, i) => {
        if (!name) return;
        const v = outs[i];
        if (!v) throw new NodeImportError(`node ${describe(node)}: output ${i} ('${name}') is not supported by Kiln's importer`);
        scope.values.set(name, v);
      });
    }
  }

  // ---- used by NodeContext ---------------------------------------------------------------

  materializeIn(v: OnnxValue, _g: Graph): Value {
    if (!isKnown(v) && !isKnownDims(v)) return v;
    const hit = this.materialized.get(v);
    if (hit) return hit;
    let k: Known;
    if (isKnownDims(v)) {
      const numbers = v.dims.map((d) => (isSym(d) ? null : d));
      if (numbers.some((d) => d === null)) throw new NeedsConcreteShapes(`a shape with symbolic dims [${v.dims.map(formatDim).join(', ')}] is used as tensor data`);
      k = known('int32', v.shape, Int32Array.from(numbers as number[]));
    } else k = v;
    // Constants live in the root graph: subgraphs read outer values.
    const c = this.rootGraph.addConstant(sanitize(k.name ?? 'c'), kilnData(k), { dtype: k.dtype, shape: k.shape });
    this.materialized.set(v, c);
    return c;
  }

  subgraph(g: IGraphProto, parent: Graph, inputs: readonly ValueType[], outer: Scope): Graph {
    if (++this.depth > 64) throw new KilnError('subgraphs nested more than 64 deep', { op: 'onnx.importModel' });
    try {
      const sg = new Graph(parent);
      const scope = new Scope(outer, sg);
      const ins = g.input ?? [];
      ins.forEach((v, i) => {
        const t = inputs[i];
        if (!t) throw new KilnError(`subgraph '${g.name ?? ''}' takes ${ins.length} inputs, the node gives ${inputs.length}`);
        scope.values.set(v.name ?? '', sg.addInput(sanitize(v.name ?? 'input'), t));
      });
      this.initializers(g, scope);
      this.nodes(g, scope);
      sg.outputs = (g.output ?? []).map((o) => this.materializeIn(this.lookup(scope, o.name ?? '', 'subgraph output'), sg));
      return sg;
    } finally {
      this.depth--;
    }
  }

  inline(g: IGraphProto, outer: Scope, inputs: readonly OnnxValue[]): OnnxValue[] {
    if (++this.depth > 64) throw new KilnError('subgraphs nested more than 64 deep', { op: 'onnx.importModel' });
    try {
      const scope = new Scope(outer, outer.graph);
      const names = g.input ?? [];
      if (names.length !== inputs.length) throw new KilnError(`subgraph '${g.name ?? ''}' takes ${names.length} inputs, the node gives ${inputs.length}`);
      names.forEach((v, i) => scope.values.set(v.name ?? '', inputs[i]!));
      this.initializers(g, scope);
      this.nodes(g, scope);
      return (g.output ?? []).map((o) => this.lookup(scope, o.name ?? '', 'subgraph output'));
    } finally {
      this.depth--;
    }
  }
}

/** IR value names: ONNX names with characters the IR text form does not take replaced. */
export function sanitize(name: string): string {
  const s = name.replace(/[^A-Za-z0-9_]/g, '_').replace(/^_+/, '');
  return s === '' ? 'v' : /^[0-9]/.test(s) ? `v${s}` : s;
}

class Attrs implements AttrReader {
  private readonly byName = new Map<string, IAttributeProto>();

  constructor(node: INodeProto) {
    for (const a of node.attribute ?? []) this.byName.set(a.name ?? '', a);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  raw(name: string): IAttributeProto | undefined {
    return this.byName.get(name);
  }

  private get(name: string, type: number, what: string): IAttributeProto | undefined {
    const a = this.byName.get(name);
    if (a && a.type !== type && a.type !== 0) throw new KilnError(`attribute '${name}' must be ${what}`);
    return a;
  }

  private missing(name: string): never {
    throw new KilnError(`attribute '${name}' is required`);
  }

  int(name: string, fallback?: number): number {
    const a = this.get(name, AT.INT, 'an int');
    if (!a) return fallback ?? this.missing(name);
    return int64ToNumber(a.i, `attribute '${name}'`);
  }

  ints(name: string, fallback?: readonly number[]): number[] {
    const a = this.get(name, AT.INTS, 'a list of ints');
    if (!a) return fallback ? [...fallback] : this.missing(name);
    return (a.ints ?? []).map((v) => int64ToNumber(v, `attribute '${name}'`));
  }

  float(name: string, fallback?: number): number {
    const a = this.get(name, AT.FLOAT, 'a float');
    if (!a) return fallback ?? this.missing(name);
    return a.f ?? 0;
  }

  floats(name: string, fallback?: readonly number[]): number[] {
    const a = this.get(name, AT.FLOATS, 'a list of floats');
    if (!a) return fallback ? [...fallback] : this.missing(name);
    return [...(a.floats ?? [])];
  }

  string(name: string, fallback?: string): string {
    const a = this.get(name, AT.STRING, 'a string');
    if (!a) return fallback ?? this.missing(name);
    return new TextDecoder().decode(a.s ?? new Uint8Array(0));
  }

  strings(name: string, fallback?: readonly string[]): string[] {
    const a = this.get(name, AT.STRINGS, 'a list of strings');
    if (!a) return fallback ? [...fallback] : this.missing(name);
    return (a.strings ?? []).map((s) => new TextDecoder().decode(s));
  }

  tensor(name: string): ITensorProto {
    const a = this.get(name, AT.TENSOR, 'a tensor');
    if (!a || !a.t) return this.missing(name);
    return a.t as ITensorProto;
  }

  graph(name: string): IGraphProto {
    const a = this.get(name, AT.GRAPH, 'a graph');
    if (!a || !a.g) return this.missing(name);
    return a.g as IGraphProto;
  }
}

/** Whether attributes hold a symbolic dim (a known value then still becomes a node: its size is known only at run time). */
function hasSymbol(attrs: IrAttrs): boolean {
  const deep = (v: unknown): boolean => isSym(v) || (Array.isArray(v) && v.some(deep));
  return Object.values(attrs).some(deep);
}

/** Shape-only rules for ops on known dims (symbolic shapes): what `emit` cannot evaluate with kernels. */
function foldDims(op: string, ins: readonly (Known | KnownDims)[], attrs: IrAttrs): KnownDims | Known | null {
  const list = (v: Known | KnownDims): Dim[] => (isKnownDims(v) ? [...v.dims] : Array.from(kilnData(v)));
  const rank = (v: Known | KnownDims) => v.shape.length;
  if (ins.some((v) => isKnown(v) && v.dtype !== 'int32' && v.dtype !== 'bool')) return null;
  const out = (dims: Dim[], scalar: boolean): KnownDims => ({ kind: 'dims', shape: scalar ? [] : [dims.length], dims });
  switch (op) {
    case 'concat':
      if (ins.some((v) => rank(v) !== 1)) return null;
      return out(ins.flatMap(list), false);
    case 'reshape': {
      const shape = attrs['shape'] as number[];
      const d = list(ins[0]!);
      if (shape.length === 0 && d.length === 1) return out(d, true);
      if (shape.length === 1 && shape[0] === d.length) return out(d, false);
      return null;
    }
    case 'indexSelect': {
      const d = list(ins[0]!), idx = list(ins[1]!);
      if (rank(ins[0]!) !== 1 || idx.some(isSym)) return null;
      return out(idx.map((i) => d[i as number]!), false);
    }
    case 'slice': {
      if (rank(ins[0]!) !== 1) return null;
      const d = list(ins[0]!);
      const [s, e, st] = [(attrs['starts'] as number[])[0]!, (attrs['ends'] as number[])[0]!, (attrs['steps'] as number[])[0]!];
      const r: Dim[] = [];
      for (let i = s; st > 0 ? i < e : i > e; i += st) r.push(d[i]!);
      return out(r, false);
    }
    case 'cast':
      return attrs['dtype'] === 'int32' ? { ...(ins[0] as KnownDims) } : null;
    case 'add':
    case 'sub':
    case 'mul':
    case 'div': {
      const [a, b] = [list(ins[0]!), list(ins[1]!)];
      const n = Math.max(a.length, b.length);
      if ((a.length !== n && a.length !== 1) || (b.length !== n && b.length !== 1)) return null;
      const r: Dim[] = [];
      for (let i = 0; i < n; i++) {
        const x = a[a.length === 1 ? 0 : i]!, y = b[b.length === 1 ? 0 : i]!;
        if (op === 'add') r.push(dimAdd(x, y));
        else if (op === 'sub') r.push(dimSub(x, y));
        else if (op === 'mul') r.push(dimMul(x, y));
        else r.push(dimDivExact(x, y));
      }
      return out(r, rank(ins[0]!) === 0 && rank(ins[1]!) === 0);
    }
    default:
      return null;
  }
}

class NodeContext implements OpContext {
  readonly attrs: Attrs;

  constructor(private readonly imp: GraphImporter, readonly node: INodeProto, private readonly scope: Scope) {
    this.attrs = new Attrs(node);
  }

  get opset(): number {
    return this.imp.settings.opset;
  }

  get graph(): Graph {
    return this.scope.graph;
  }

  get outputs(): string[] {
    return this.node.output ?? [];
  }

  get inputCount(): number {
    return (this.node.input ?? []).length;
  }

  optional(i: number): OnnxValue | null {
    const name = (this.node.input ?? [])[i];
    if (!name) return null;
    const v = this.scope.get(name);
    if (!v) throw new KilnError(`input ${i} '${name}' is not defined (no input, initializer or earlier node output has that name)`);
    return v;
  }

  input(i: number): OnnxValue {
    const v = this.optional(i);
    if (!v) throw new KilnError(`input ${i} is required`);
    return v;
  }

  type(v: OnnxValue): ValueType {
    if (isKnown(v)) return { dtype: v.dtype, shape: v.shape };
    if (isKnownDims(v)) return { dtype: 'int32', shape: v.shape };
    return v.type;
  }

  shape(v: OnnxValue): readonly Dim[] {
    return this.type(v).shape;
  }

  concreteShape(v: OnnxValue, why: string): number[] {
    const s = this.shape(v);
    if (s.some(isSym)) throw new NeedsConcreteShapes(`${why} needs concrete sizes, the input has shape [${s.map(formatDim).join(', ')}]`);
    return s as number[];
  }

  values(v: OnnxValue): number[] | null {
    if (isKnown(v)) return Array.from(v.data);
    if (isKnownDims(v) && !v.dims.some(isSym)) return v.dims as number[];
    return null;
  }

  dims(v: OnnxValue): Dim[] | null {
    if (isKnownDims(v)) return [...v.dims];
    if (isKnown(v)) return Array.from(v.data);
    return null;
  }

  constInts(i: number, what: string): number[] {
    const v = this.input(i);
    const vals = this.values(v);
    if (vals) return vals.map((x) => (Number.isFinite(x) ? Math.trunc(x) : x));
    if (isKnownDims(v)) throw new NeedsConcreteShapes(`${what} (input ${i}) depends on symbolic sizes`);
    throw new KilnError(`${what} (input ${i}) must be known when the model is imported (a constant, or computed from shapes), but it is computed at run time`);
  }

  constant(dtype: DType, shape: readonly number[], data: ArrayLike<number>): Known {
    const arr = dtype === 'float32' ? Float32Array.from(data) : dtype === 'float64' ? Float64Array.from(data) : dtype === 'int32' ? Float64Array.from(data) : Uint8Array.from(data);
    return known(dtype, shape, arr);
  }

  scalar(value: number, dtype: DType): Known {
    return this.constant(dtype, [], [value]);
  }

  materialize(v: OnnxValue): Value {
    return this.imp.materializeIn(v, this.scope.graph);
  }

  emit1(op: string, inputs: readonly OnnxValue[], attrs: IrAttrs = {}): OnnxValue {
    return this.emit(op, inputs, attrs)[0]!;
  }

  emit(op: string, inputs: readonly OnnxValue[], attrs: IrAttrs = {}): OnnxValue[] {
    const def = getOp(op);
    if (!def) throw new KilnError(`internal: no Kiln op '${op}'`);
    if (inputs.every(isKnown) && !hasSymbol(attrs)) {
      const ins = inputs.map((k) => ({ type: { dtype: k.dtype, shape: k.shape as number[] }, data: kilnData(k) }));
      const types = def.infer(ins.map((i) => i.type), attrs as never);
      const datas = evaluator()(op, ins, attrs as never);
      return types.map((t, i) => known(t.dtype, t.shape, datas[i]!));
    }
    if (inputs.every((v) => isKnown(v) || isKnownDims(v))) {
      const folded = foldDims(op, inputs as (Known | KnownDims)[], attrs);
      if (folded) return [folded];
    }
    const values = inputs.map((v) => this.materialize(v));
    const types = inferNode(op, values.map((v) => v.type), attrs);
    return this.scope.graph.addNode(op, values, attrs, types, describe(this.node)).outputs;
  }

  subgraph(g: IGraphProto, parent: Graph, inputs: readonly ValueType[]): Graph {
    return this.imp.subgraph(g, parent, inputs, this.scope);
  }

  inline(g: IGraphProto, inputs: readonly OnnxValue[] = []): OnnxValue[] {
    return this.imp.inline(g, this.scope, inputs);
  }

  fail(message: string): never {
    throw new KilnError(message);
  }
}
