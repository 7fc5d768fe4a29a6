// `kiln.onnx.exportModel`: trace (kiln.compile's tracer, symbolic probes and the O1 pass
// pipeline, via compiledSource/traceOptimized), then write each IR node as ONNX nodes
// (exportOps.ts) into a ModelProto: weights as initializers, symbolic dims as dim_param,
// the user's source line as each node's doc_string.
import { IF_OP, isSym, KilnError, LOOP_OP, loopInputs, userCallSite, type Graph, type SymDim, type Value } from '../ir/index.js';
import { compiledSource, traceOptimized, type CompiledModel, type TracedGraph } from '../compiled/compile.js';
import { isSymbolicDim, type InputSpec } from '../compiled/spec.js';
import { Module } from '../nn/module.js';
import { randn, zeros, full } from '../eager/creation.js';
import type { Tensor } from '../eager/tensor.js';
import { loadNodeHost, requireNode } from '../platform/index.js';
import { ExportContext, valueInfo } from './exportContext.js';
import { ONNX_EXPORTERS } from './exportOps.js';
import { encodeModel, IR_VERSION, OnnxDataType, onnxDataTypeOf, type IGraphProto, type IModelProto, type INodeProto, type ITensorProto } from './proto.js';

/** Opsets `exportModel` writes. */
export const EXPORT_OPSETS = { min: 13, max: 18, default: 17 } as const;

/** Kiln's version, written as the model's producer_version. */
export const KILN_VERSION = '0.1.0';

/** Options of `kiln.onnx.exportModel`. */
export interface ExportOptions {
  /**
   * One spec per input (`kiln.spec([kiln.dim('batch'), 784])`); `kiln.dim` sizes become
   * ONNX `dim_param`s. Optional for a compiled model (its own specs are used).
   */
  readonly inputs?: readonly InputSpec[];
  /** Names of the graph inputs (default: the forward function's parameter names). */
  readonly inputNames?: readonly string[];
  /** Names of the graph outputs (default `output`, or `output0`, `output1`, …). */
  readonly outputNames?: readonly string[];
  /** ONNX opset, 13–18 (default 17). */
  readonly opset?: number;
  /**
   * Tensors to trace with (default: standard normal floats, zero ints, true bools, size 2
   * for each `kiln.dim`). Pass real ones when the code needs meaningful values.
   */
  readonly example?: readonly Tensor[];
  /** The model's doc_string. */
  readonly docString?: string;
}

/** What `exportModel` wrote. */
export interface ExportResult {
  /** The encoded ModelProto (also written to the path, when one was given). */
  readonly bytes: Uint8Array;
  readonly opset: number;
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  /** ONNX node count per op type (the main graph and its branches). */
  readonly opHistogram: Readonly<Record<string, number>>;
}

const SYM_EXAMPLE_SIZE = 2;

/**
 * Exports a model, a function or a compiled model to ONNX (IR version 8, opset 17 by
 * default, 13–18 selectable). The code is traced as `kiln.compile` traces it and
 * optimized at O1 (dead code, constant folding, BatchNorm folded into a preceding conv),
 * so high-level ops stay whole: `linear` → Gemm, `conv2d` → Conv, `lstm`/`gru`/`rnn` →
 * ONNX LSTM/GRU/RNN (gate order converted; the sequence length stays dynamic),
 * `kiln.cond` → If. A module is exported in eval mode (dropout off, running statistics)
 * and put back in its own mode after. `path` null: only the bytes are returned (the
 * only way in a browser). An op without an ONNX form raises a KilnError naming it and
 * the user's line.
 *
 * @example
 * ```ts
 * const model = new kiln.nn.Sequential(new kiln.nn.Linear(4, 8), new kiln.nn.ReLU(), new kiln.nn.Linear(8, 2));
 * await kiln.onnx.exportModel(model, 'mlp.onnx', { inputs: [kiln.spec([kiln.dim('batch'), 4])], outputNames: ['logits'] });
 * const { bytes } = await kiln.onnx.exportModel(model, null, { inputs: [kiln.spec([kiln.dim('batch'), 4])] });
 * ```
 */
export async function exportModel(model: Module | ((...inputs: Tensor[]) => unknown) | CompiledModel, path: string | null, options: ExportOptions = {}): Promise<ExportResult> {
  const callSite = userCallSite();
  const fail = (msg: string) => new KilnError(msg, { op: 'onnx.exportModel', ...(callSite ? { callSite } : {}) });
  const opset = options.opset ?? EXPORT_OPSETS.default;
  if (!Number.isInteger(opset) || opset < EXPORT_OPSETS.min || opset > EXPORT_OPSETS.max) throw fail(`opset must be an integer from ${EXPORT_OPSETS.min} to ${EXPORT_OPSETS.max}, got ${String(opset)}`);
  if (path !== null && typeof path !== 'string') throw fail(`path must be a file path or null, got ${typeof path}`);

  const compiled = compiledSource(model);
  const specs = options.inputs ?? compiled?.specs;
  if (!specs || !Array.isArray(specs)) throw fail('options.inputs must list one kiln.spec(...) per input');
  if (!compiled && !(model instanceof Module) && typeof model !== 'function') throw fail(`expected an nn.Module, a function or a kiln.compile result, got ${model === null ? 'null' : typeof model}`);
  const module = compiled ? compiled.module : model instanceof Module ? model : null;

  const example = options.example ?? specs.map(exampleInput);
  if (example.length !== specs.length) throw fail(`options.example has ${example.length} tensors for ${specs.length} input specs`);
  const flags = module ? [...module.namedModules()].map(([, m]) => m.training) : null;
  let traced: TracedGraph;
  try {
    module?.eval();
    traced = compiled
      ? compiled.trace(example, 'O1')
      : traceOptimized(model as Module, { inputs: specs, optimize: 'O1', fullGraph: true }, example);
  } finally {
    if (module && flags) [...module.namedModules()].forEach(([, m], i) => { m.training = flags[i]!; });
    if (!options.example) for (const t of example) t.dispose();
  }
  disposeResult(traced.result);

  for (const [name, { reason }] of traced.pinned) throw fail(`dim '${name}' cannot stay dynamic in the ONNX graph: ${reason}. Use a fixed size in its spec, or change the code so it does not depend on the size`);
  const graph = traced.graph;
  if (traced.trace.feeds.some((f) => f.kind !== 'input')) throw fail('the traced code draws random numbers or reads state as inputs (random ops, training mode): ONNX export needs a deterministic inference graph');
  const inputNames = options.inputNames ?? graph.inputs.map((v) => v.name);
  if (inputNames.length !== graph.inputs.length) throw fail(`inputNames has ${inputNames.length} names for ${graph.inputs.length} inputs`);
  const outputNames = options.outputNames ?? (graph.outputs.length === 1 ? ['output'] : graph.outputs.map((_, i) => `output${i}`));
  if (outputNames.length !== graph.outputs.length) throw fail(`outputNames has ${outputNames.length} names for ${graph.outputs.length} outputs`);
  const unique = new Set([...inputNames, ...outputNames]);
  if (unique.size !== inputNames.length + outputNames.length) throw fail('input and output names must be unique');

  const modelProto = toModelProto(graph, opset, inputNames, outputNames, options.docString);
  const bytes = encodeModel(modelProto);
  if (path !== null) {
    await loadNodeHost();
    const host = requireNode('onnx.exportModel', `writing ${path}`, 'pass null as the path and store the returned bytes yourself');
    await host.writeFileAtomic(path, bytes, 'onnx.exportModel', callSite);
  }
  return { bytes, opset, inputNames, outputNames, opHistogram: histogram(modelProto.graph!) };
}

function exampleInput(s: InputSpec): Tensor {
  const shape = s.shape.map((d) => (isSymbolicDim(d) ? SYM_EXAMPLE_SIZE : d));
  if (s.dtype === 'float32' || s.dtype === 'float64') return randn(shape, { dtype: s.dtype, seed: 0 });
  if (s.dtype === 'bool') return full(shape, 1, { dtype: 'bool' });
  return zeros(shape, { dtype: s.dtype });
}

function disposeResult(r: unknown): void {
  if (r && typeof r === 'object') {
    if (typeof (r as Tensor).dispose === 'function' && 'storage' in (r as object)) (r as Tensor).dispose();
    else if (Array.isArray(r)) r.forEach(disposeResult);
  }
}

/** The Kiln graph as a ModelProto (exported for tests and the CLI). */
export function toModelProto(graph: Graph, opset: number, inputNames: readonly string[], outputNames: readonly string[], docString?: string): IModelProto {
  // Graph inputs keep their Kiln value names inside; the ONNX names are the user's.
  const symbolSources = new Map<string, { input: string; axis: number; dim: SymDim }>();
  graph.inputs.forEach((v, i) => v.type.shape.forEach((d, axis) => {
    if (isSym(d) && !symbolSources.has(d.sym)) symbolSources.set(d.sym, { input: inputNames[i]!, axis, dim: d });
  }));
  const ctx = new ExportContext(opset, graph, symbolSources);
  graph.inputs.forEach((v, i) => ctx.rename(v, inputNames[i]!));
  // An output produced by a node takes the output's name; inputs, constants and repeats
  // are copied out through Identity.
  const identities: [Value, string][] = [];
  const named = new Set<Value>();
  graph.outputs.forEach((v, i) => {
    if (v.producer && !named.has(v)) {
      ctx.rename(v, outputNames[i]!);
      named.add(v);
    } else identities.push([v, outputNames[i]!]);
  });
  writeNodes(ctx, graph);
  ctx.node = null;
  for (const [v, name] of identities) ctx.emit('Identity', [ctx.name(v)], [name]);
  const { nodes, initializers } = pruneUnused(ctx.nodes, ctx.initializers, outputNames);
  const g: IGraphProto = {
    name: 'kiln',
    node: nodes,
    initializer: initializers,
    input: graph.inputs.map((v, i) => valueInfo(inputNames[i]!, v.type)),
    output: graph.outputs.map((v, i) => valueInfo(outputNames[i]!, v.type)),
  };
  return {
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: opset }],
    producerName: 'kiln',
    producerVersion: KILN_VERSION,
    ...(docString ? { docString } : {}),
    graph: g,
  };
}

/** Writes `g`'s nodes into the context's current node list. */
function writeNodes(ctx: ExportContext, g: Graph): void {
  for (const node of g.nodes) {
    ctx.node = node;
    if (node.op === IF_OP) {
      writeIf(ctx, node.subgraphs[0]!, node.subgraphs[1]!);
      continue;
    }
    if (node.op === LOOP_OP) {
      writeLoop(ctx, node.subgraphs[0]!);
      continue;
    }
    const write = ONNX_EXPORTERS[node.op];
    if (!write) throw ctx.fail('it has no ONNX form in Kiln\'s exporter (see README "ONNX" for the supported ops)');
    write(ctx, node);
  }
}

/** An If node: each branch becomes a GraphProto whose outputs are fresh names (Identity of what it returns). */
function writeIf(ctx: ExportContext, thenG: Graph, elseG: Graph): void {
  const node = ctx.node!;
  const cond = ctx.in(0);
  const branch = (g: Graph, label: string): IGraphProto => {
    const outs: string[] = [];
    const nodes = ctx.inSubgraph(() => {
      writeNodes(ctx, g);
      ctx.node = node;
      for (const v of g.outputs) outs.push(ctx.emit('Identity', [ctx.name(v)], [ctx.fresh(`${label}_out`)])[0]!);
    });
    // Branch outputs carry the element type only: their sizes follow the outer graph's.
    return { name: label, node: nodes, output: g.outputs.map((v, i) => valueInfo(outs[i]!, v.type, false)) };
  };
  const thenBranch = branch(thenG, 'then');
  const elseBranch = branch(elseG, 'else');
  ctx.node = node;
  ctx.emit('If', [cond], node.outputs.map((_, i) => ctx.out(i)), { then_branch: { g: thenBranch }, else_branch: { g: elseBranch } });
}

/**
 * A Loop node (ONNX semantics already): the trip count and the body's iteration number
 * are int64 in ONNX and int32 in Kiln, so both are cast; everything else maps one to one.
 */
function writeLoop(ctx: ExportContext, body: Graph): void {
  const node = ctx.node!;
  const { maxTripCount, cond, carried } = loopInputs(node);
  const m = maxTripCount ? ctx.emit('Cast', [ctx.name(maxTripCount)], 1, { to: { i: OnnxDataType.INT64 } })[0]! : '';
  const [iteration, condIn, ...carriedIn] = body.inputs;
  if (!iteration || !condIn) throw ctx.fail('the Loop body must take (iteration, cond, carried…)');
  const iterName = ctx.fresh('loop_iter');
  const outs: string[] = [];
  const nodes = ctx.inSubgraph(() => {
    ctx.node = node;
    ctx.emit('Cast', [iterName], [ctx.name(iteration)], { to: { i: onnxDataTypeOf(iteration.type.dtype) } });
    writeNodes(ctx, body);
    ctx.node = node;
    for (const v of body.outputs) outs.push(ctx.emit('Identity', [ctx.name(v)], [ctx.fresh('body_out')])[0]!);
  });
  const graph: IGraphProto = {
    name: 'body',
    node: nodes,
    input: [
      { name: iterName, type: { tensorType: { elemType: OnnxDataType.INT64, shape: { dim: [] } } } },
      valueInfo(ctx.name(condIn), condIn.type),
      ...carriedIn.map((v) => valueInfo(ctx.name(v), v.type)),
    ],
    output: body.outputs.map((v, i) => valueInfo(outs[i]!, v.type, i <= carried.length)),
  };
  ctx.node = node;
  ctx.emit('Loop', [m, cond ? ctx.name(cond) : '', ...carried.map((v) => ctx.name(v))], node.outputs.map((_, i) => ctx.out(i)), { body: { g: graph } });
}

/**
 * Drops nodes whose outputs nothing reads (a mapping that made a value redundant, such as
 * the zero initial state of a recurrent op) and initializers no node reads.
 */
function pruneUnused(nodes: readonly INodeProto[], initializers: readonly ITensorProto[], outputs: readonly string[]): { nodes: INodeProto[]; initializers: ITensorProto[] } {
  const reads = (list: readonly INodeProto[], into: Map<string, number>, delta: number): void => {
    for (const n of list) {
      for (const i of n.input ?? []) if (i) into.set(i, (into.get(i) ?? 0) + delta);
      for (const a of n.attribute ?? []) if (a.g) reads(a.g.node ?? [], into, delta);
    }
  };
  const uses = new Map<string, number>();
  reads(nodes, uses, 1);
  for (const o of outputs) uses.set(o, (uses.get(o) ?? 0) + 1);
  const kept = [...nodes];
  for (let k = kept.length - 1; k >= 0; k--) {
    const n = kept[k]!;
    if ((n.output ?? []).every((o) => !uses.get(o))) {
      reads([n], uses, -1);
      kept.splice(k, 1);
    }
  }
  return { nodes: kept, initializers: initializers.filter((t) => uses.get(t.name ?? '')) };
}

function histogram(g: IGraphProto): Record<string, number> {
  const out: Record<string, number> = {};
  const visit = (gr: IGraphProto): void => {
    for (const n of gr.node ?? []) {
      out[n.opType!] = (out[n.opType!] ?? 0) + 1;
      for (const a of n.attribute ?? []) if (a.g) visit(a.g);
    }
  };
  visit(g);
  return out;
}
