// Kiln op → ONNX nodes, one entry per Kiln op name. The table lives here rather than in
// each op's definition (src/ops) because ops must not depend on ONNX or protobuf code
// and an op's ONNX form depends on the opset (axes as attribute or input, LayerNormalization
// only from 17): a mapping is a function of the export context, which only src/onnx has.
// `test/onnx.export.test.ts` checks each mapping against ONNX Runtime.
//
// An op absent from this table (random draws, gradient helpers, linear algebra solvers)
// fails the export with a KilnError naming the op and the user's line.
import { isSym, promoteTypes, type Dim, type DType, type Node, type SymDim, type TypedArray, type Value } from '../ir/index.js';
import { ExportContext, type OnnxAttr } from './exportContext.js';

/** Writes the ONNX nodes of the context's current Kiln node. */
export type OpExporter = (ctx: ExportContext, node: Node) => void;

const dtypeOf = (node: Node, i: number): DType => node.inputs[i]!.type.dtype;
const outDType = (node: Node, i = 0): DType => node.outputs[i]!.type.dtype;
const attr = <T>(node: Node, key: string): T => node.attrs[key] as unknown as T;

/** Input `i` cast to the output's dtype (Kiln promotes mixed dtypes; ONNX requires equal ones). */
function inAs(ctx: ExportContext, node: Node, i: number, dtype: DType = outDType(node)): string {
  return ctx.cast(ctx.in(i), dtypeOf(node, i), dtype);
}

function unary(op: string, attrs: (node: Node) => Record<string, OnnxAttr> = () => ({})): OpExporter {
  return (ctx, node) => { ctx.emit(op, [inAs(ctx, node, 0)], [ctx.out(0)], attrs(node)); };
}

function binary(op: string): OpExporter {
  return (ctx, node) => { ctx.emit(op, [inAs(ctx, node, 0), inAs(ctx, node, 1)], [ctx.out(0)]); };
}

/** Comparisons: both operands in their promoted dtype, bool out (`not` for notEqual). */
function compare(op: string, negate = false): OpExporter {
  return (ctx, node) => {
    const t = promoteTypes(dtypeOf(node, 0), dtypeOf(node, 1));
    const ins = [ctx.cast(ctx.in(0), dtypeOf(node, 0), t), ctx.cast(ctx.in(1), dtypeOf(node, 1), t)];
    if (!negate) ctx.emit(op, ins, [ctx.out(0)]);
    else ctx.emit('Not', ctx.emit(op, ins), [ctx.out(0)]);
  };
}

function logical(op: string): OpExporter {
  return (ctx, node) => { ctx.emit(op, node.inputs.map((_, i) => ctx.cast(ctx.in(i), dtypeOf(node, i), 'bool')), [ctx.out(0)]); };
}

/** Reductions: axes as an input for ReduceSum (13+) and every Reduce* at 18+, else an attribute. */
function reduce(op: string): OpExporter {
  return (ctx, node) => {
    const axes = attr<number[]>(node, 'axes');
    const keepdims: OnnxAttr = { i: attr<boolean>(node, 'keepDims') ? 1 : 0 };
    // bool reduces as int32 in Kiln (a count).
    const x = inAs(ctx, node, 0);
    reduceInto(ctx, op, x, axes, keepdims, ctx.out(0));
  };
}

function reduceInto(ctx: ExportContext, op: string, x: string, axes: readonly number[], keepdims: OnnxAttr, out: string): void {
  if (axes.length === 0) { ctx.emit('Identity', [x], [out]); return; }
  if (op === 'ReduceSum' || ctx.opset >= 18) ctx.emit(op, [x, ctx.int64(axes, [axes.length], 'axes')], [out], { keepdims });
  else ctx.emit(op, [x], [out], { keepdims, axes: { ints: axes } });
}

/** The 2-D geometry attrs of conv and pooling ops (Kiln pads are [top, left, bottom, right], ONNX's order too). */
function geometry(node: Node, withDilations = true): Record<string, OnnxAttr> {
  const out: Record<string, OnnxAttr> = {
    strides: { ints: attr<number[]>(node, 'strides') },
    pads: { ints: attr<number[]>(node, 'pads') },
  };
  if (withDilations && node.attrs['dilations'] !== undefined) out['dilations'] = { ints: attr<number[]>(node, 'dilations') };
  return out;
}

function noFusedActivation(ctx: ExportContext, node: Node): void {
  const a = node.attrs['activation'];
  if (a !== undefined && a !== null && a !== 'none') throw ctx.fail(`a fused activation (${String(a)}) is a Kiln kernel detail; export at optimize 'O1'`);
}

/** `Reshape(x, dims)`: one symbolic dim becomes -1 (ONNX infers it); more are computed from the inputs' shapes. */
function reshapeTo(ctx: ExportContext, x: string, dims: readonly Dim[], out?: string): string {
  const syms = dims.filter((d) => isSym(d)).length;
  const target = syms === 1 ? ctx.int64(dims.map((d) => (isSym(d) ? -1 : d)), [dims.length], 'shape') : ctx.shapeTensor(dims);
  // allowzero (14+): a 0 in the target means size 0, not "copy the input's dim".
  const attrs: Record<string, OnnxAttr> = dims.some((d) => d === 0) && ctx.opset >= 14 ? { allowzero: { i: 1 } } : {};
  return ctx.emit('Reshape', [x, target], out ? [out] : 1, attrs)[0]!;
}

const INT64_MAX = Number.MAX_SAFE_INTEGER; // ONNX clamps ends to the dim: any large value means "to the end"
const INT64_MIN = -Number.MAX_SAFE_INTEGER;

/** A slice bound relative to the axis size `d` when symbolic (ONNX reads negatives from the end). */
function sliceBound(ctx: ExportContext, b: Dim, d: Dim, isEnd: boolean, step: number): number {
  if (typeof b === 'number') {
    if (isEnd && step < 0 && b === -1) return INT64_MIN; // through index 0
    if (isEnd && typeof d === 'number' && b >= d) return INT64_MAX;
    return b;
  }
  const rel = typeof d !== 'number' && d.sym === b.sym && d.coef === b.coef ? b.offset - d.offset : null;
  if (rel === null) throw ctx.fail(`slice bound ${JSON.stringify(b)} is not the axis size plus a constant`);
  if (rel === 0 && isEnd) return INT64_MAX;
  return rel;
}

/**
 * One recurrent op (PyTorch's flat weights, gates i,f,g,o / r,z,n) as one ONNX LSTM/GRU/RNN
 * per layer: gate blocks reordered (ONNX LSTM i,o,f,c; GRU z,r,h), both directions stacked,
 * biases concatenated [Wb, Rb], batch-first input transposed, and each layer's
 * Y [T, D, B, H] reshaped to [T, B, D·H] for the next.
 */
function recurrent(kind: 'lstm' | 'gru' | 'rnn'): OpExporter {
  const onnxOp = kind === 'lstm' ? 'LSTM' : kind === 'gru' ? 'GRU' : 'RNN';
  const order = kind === 'lstm' ? [0, 3, 1, 2] : kind === 'gru' ? [1, 0, 2] : [0];
  const G = order.length;
  return (ctx, node) => {
    const H = attr<number>(node, 'hiddenSize'), L = attr<number>(node, 'numLayers');
    const D = attr<boolean>(node, 'bidirectional') ? 2 : 1;
    const batchFirst = attr<boolean>(node, 'batchFirst');
    const hasBiases = attr<boolean>(node, 'hasBiases');
    const states = kind === 'lstm' ? 2 : 1;
    const perSlot = hasBiases ? 4 : 2;
    const weights = 1 + states;
    const lengthsAt = weights + L * D * perSlot;
    const dtype = outDType(node);
    const seqLens = node.inputs.length > lengthsAt ? ctx.in(lengthsAt) : '';
    const reorder = (src: TypedArray, cols: number): TypedArray => {
      const dst = new (src.constructor as { new (n: number): TypedArray })(src.length);
      order.forEach((from, to) => dst.set(src.subarray(from * H * cols, (from + 1) * H * cols), to * H * cols));
      return dst;
    };
    const weight = (i: number): TypedArray => {
      const data = ctx.constantData(node.inputs[i]!);
      if (!data) throw ctx.fail(`recurrent weights must be constants (parameters) to be reordered into ONNX's gate order; input ${i} is computed`);
      return data;
    };
    let x = ctx.in(0);
    if (batchFirst) x = ctx.emit('Transpose', [x], 1, { perm: { ints: [1, 0, 2] } })[0]!;
    const hN: string[] = [], cN: string[] = [];
    for (let l = 0; l < L; l++) {
      const inSize = node.inputs[weights + l * D * perSlot]!.type.shape[1] as number;
      const W: TypedArray[] = [], R: TypedArray[] = [], B: TypedArray[] = [];
      for (let d = 0; d < D; d++) {
        const base = weights + (l * D + d) * perSlot;
        W.push(reorder(weight(base), inSize));
        R.push(reorder(weight(base + 1), H));
        if (hasBiases) B.push(reorder(weight(base + 2), 1), reorder(weight(base + 3), 1));
      }
      const cat = (parts: TypedArray[]): TypedArray => {
        const out = new (parts[0]!.constructor as { new (n: number): TypedArray })(parts.reduce((a, p) => a + p.length, 0));
        let o = 0;
        for (const p of parts) { out.set(p, o); o += p.length; }
        return out;
      };
      const w = ctx.tensor(`${onnxOp}_W_l${l}`, dtype, [D, G * H, inSize], cat(W));
      const r = ctx.tensor(`${onnxOp}_R_l${l}`, dtype, [D, G * H, H], cat(R));
      const b = hasBiases ? ctx.tensor(`${onnxOp}_B_l${l}`, dtype, [D, 2 * G * H], cat(B)) : '';
      // A zero initial state (what a layer called without one traces: expand of a 0) is
      // ONNX's default: left out, so the graph needs no shape arithmetic for it.
      const slice = (i: number): string => {
        if (isZeros(ctx, node.inputs[i]!)) return '';
        const state = ctx.in(i);
        return L === 1 ? state : ctx.emit('Slice', [state, ctx.int64([l * D]), ctx.int64([(l + 1) * D]), ctx.int64([0])])[0]!;
      };
      const h0 = slice(1);
      const c0 = kind === 'lstm' ? slice(2) : '';
      const attrs: Record<string, OnnxAttr> = { hidden_size: { i: H }, direction: { s: D === 2 ? 'bidirectional' : 'forward' } };
      if (kind === 'gru') attrs['linear_before_reset'] = { i: 1 }; // PyTorch applies r to (W_hn h + b_hn)
      if (kind === 'rnn') attrs['activations'] = { strings: [attr<string>(node, 'nonlinearity') === 'relu' ? 'Relu' : 'Tanh'] };
      const ins = [x, w, r, b, seqLens, h0, ...(kind === 'lstm' ? [c0] : [])];
      const outs = ctx.emit(onnxOp, ins, kind === 'lstm' ? 3 : 2, attrs);
      hN.push(outs[1]!);
      if (kind === 'lstm') cN.push(outs[2]!);
      // Y [T, D, B, H] → [T, B, D, H] → [T, B, D·H] (0 copies a dim: T and B stay symbolic).
      const y = ctx.emit('Transpose', [outs[0]!], 1, { perm: { ints: [0, 2, 1, 3] } })[0]!;
      x = ctx.emit('Reshape', [y, ctx.int64([0, 0, D * H])])[0]!;
    }
    if (batchFirst) ctx.emit('Transpose', [x], [ctx.out(0)], { perm: { ints: [1, 0, 2] } });
    else ctx.emit('Identity', [x], [ctx.out(0)]);
    const join = (parts: string[], out: string): void => { ctx.emit(parts.length === 1 ? 'Identity' : 'Concat', parts, [out], parts.length === 1 ? {} : { axis: { i: 0 } }); };
    join(hN, ctx.out(1));
    if (kind === 'lstm') join(cN, ctx.out(2));
  };
}

/** Whether `v` is all zeros for sure: a zero constant, or an `expand` of one. */
function isZeros(ctx: ExportContext, v: Value): boolean {
  const src = v.producer?.op === 'expand' ? v.producer.inputs[0]! : v.producer ? null : v;
  const data = src ? ctx.constantData(src) : null;
  return data !== null && data.every((x) => x === 0);
}

/** LayerNormalization (17+) or its decomposition: (x − mean) / √(var + eps) · w + b over the axes from `axis`. */
const layerNorm: OpExporter = (ctx, node) => {
  const axis = attr<number>(node, 'axis'), eps = attr<number>(node, 'eps');
  const x = node.inputs[0]!;
  const rank = x.type.shape.length;
  const dtype = outDType(node);
  const hasW = node.inputs.length > 1, hasB = node.inputs.length > 2;
  if (ctx.opset >= 17) {
    let w = hasW ? ctx.in(1) : '';
    if (!hasW) {
      const shape = x.type.shape.slice(axis);
      if (shape.some((d) => typeof d !== 'number')) throw ctx.fail('layerNorm without weight over a symbolic axis');
      const n = (shape as number[]).reduce((a, b) => a * b, 1);
      const ones = dtype === 'float64' ? new Float64Array(n).fill(1) : new Float32Array(n).fill(1);
      w = ctx.tensor('ln_scale', dtype, shape as number[], ones);
    }
    ctx.emit('LayerNormalization', [ctx.in(0), w, hasB ? ctx.in(2) : ''], [ctx.out(0)], { axis: { i: axis }, epsilon: { f: eps } });
    return;
  }
  const axes = Array.from({ length: rank - axis }, (_, i) => axis + i);
  const keep: OnnxAttr = { i: 1 };
  const mean = ctx.fresh('ln_mean');
  reduceInto(ctx, 'ReduceMean', ctx.in(0), axes, keep, mean);
  const d = ctx.emit('Sub', [ctx.in(0), mean])[0]!;
  const variance = ctx.fresh('ln_var');
  reduceInto(ctx, 'ReduceMean', ctx.emit('Mul', [d, d])[0]!, axes, keep, variance);
  const denom = ctx.emit('Sqrt', ctx.emit('Add', [variance, ctx.scalar(eps, dtype, 'eps')]))[0]!;
  let y = ctx.emit('Div', [d, denom], hasW || hasB ? 1 : [ctx.out(0)])[0]!;
  if (hasW) y = ctx.emit('Mul', [y, ctx.in(1)], hasB ? 1 : [ctx.out(0)])[0]!;
  if (hasB) ctx.emit('Add', [y, ctx.in(2)], [ctx.out(0)]);
};

const batchNorm: OpExporter = (ctx, node) => {
  // Kiln: x, mean, var, weight?, bias?  ONNX: X, scale, B, input_mean, input_var.
  const c = node.inputs[1]!.type.shape[0];
  if (typeof c !== 'number') throw ctx.fail('the channel count must be static');
  const dtype = outDType(node);
  const filled = (v: number, hint: string): string => ctx.tensor(hint, dtype, [c], dtype === 'float64' ? new Float64Array(c).fill(v) : new Float32Array(c).fill(v));
  const scale = node.inputs.length > 3 ? ctx.in(3) : filled(1, 'bn_scale');
  const bias = node.inputs.length > 4 ? ctx.in(4) : filled(0, 'bn_bias');
  ctx.emit('BatchNormalization', [ctx.in(0), scale, bias, ctx.in(1), ctx.in(2)], [ctx.out(0)], { epsilon: { f: attr<number>(node, 'eps') } });
};

const linear: OpExporter = (ctx, node) => {
  noFusedActivation(ctx, node);
  const x = node.inputs[0]!;
  const bias = node.inputs.length > 2 ? ctx.in(2) : '';
  if (x.type.shape.length === 2) {
    ctx.emit('Gemm', [ctx.in(0), ctx.in(1), bias], [ctx.out(0)], { transB: { i: 1 } });
    return;
  }
  // Gemm is 2-D only: MatMul against Wᵀ (broadcast over the leading dims), then the bias.
  const wt = ctx.emit('Transpose', [ctx.in(1)], 1, { perm: { ints: [1, 0] } })[0]!;
  const y = ctx.emit('MatMul', [ctx.in(0), wt], bias ? 1 : [ctx.out(0)])[0]!;
  if (bias) ctx.emit('Add', [y, bias], [ctx.out(0)]);
};

const softplus: OpExporter = (ctx, node) => {
  // log(1 + e^(βx)) / β, and x itself where βx > threshold (PyTorch's form).
  const beta = attr<number>(node, 'beta'), threshold = attr<number>(node, 'threshold');
  const dtype = outDType(node);
  const x = inAs(ctx, node, 0);
  const bx = beta === 1 ? x : ctx.emit('Mul', [x, ctx.scalar(beta, dtype)])[0]!;
  let sp = ctx.emit('Softplus', [bx])[0]!;
  if (beta !== 1) sp = ctx.emit('Div', [sp, ctx.scalar(beta, dtype)])[0]!;
  const big = ctx.emit('Greater', [bx, ctx.scalar(threshold, dtype)])[0]!;
  ctx.emit('Where', [big, x, sp], [ctx.out(0)]);
};

const clip: OpExporter = (ctx, node) => {
  const dtype = outDType(node);
  const lo = attr<number | null>(node, 'min'), hi = attr<number | null>(node, 'max');
  ctx.emit('Clip', [inAs(ctx, node, 0), lo === null ? '' : ctx.scalar(lo, dtype, 'min'), hi === null ? '' : ctx.scalar(hi, dtype, 'max')], [ctx.out(0)]);
};

const argReduce = (op: string): OpExporter => (ctx, node) => {
  const axis = attr<number | null>(node, 'axis');
  const keep = attr<boolean>(node, 'keepDims');
  let x = ctx.in(0);
  const shape = node.inputs[0]!.type.shape;
  if (axis === null) x = ctx.emit('Reshape', [x, ctx.int64([-1])])[0]!;
  const idx = ctx.emit(op, [x], 1, { axis: { i: axis ?? 0 }, keepdims: { i: keep ? 1 : 0 } })[0]!;
  // Flattened with keepDims: Kiln keeps every axis as 1.
  const shaped = axis === null && keep ? ctx.emit('Reshape', [idx, ctx.int64(shape.map(() => 1))])[0]! : idx;
  ctx.emit('Cast', [shaped], [ctx.out(0)], { to: { i: 6 } }); // ONNX ArgMax gives int64; Kiln int32
};

const elementCount: OpExporter = (ctx, node) => {
  const shape = node.inputs[0]!.type.shape;
  const axes = attr<number[]>(node, 'axes');
  const dims = axes.map((a) => shape[a]!);
  const dtype = attr<DType>(node, 'dtype');
  if (dims.every((d) => typeof d === 'number')) {
    const n = (dims as number[]).reduce((a, b) => a * b, 1);
    ctx.emit('Identity', [ctx.scalar(n, dtype, 'count')], [ctx.out(0)]);
    return;
  }
  const prod = ctx.emit('ReduceProd', [ctx.shapeTensor(dims)], 1, { keepdims: { i: 0 } })[0]!;
  ctx.emit('Cast', [prod], [ctx.out(0)], { to: { i: onnxDType(dtype) } });
};

function onnxDType(dtype: DType): number {
  return dtype === 'float32' ? 1 : dtype === 'float64' ? 11 : dtype === 'int32' ? 6 : 9;
}

/** The Kiln ops that export, by name. */
export const ONNX_EXPORTERS: Readonly<Record<string, OpExporter>> = {
  // elementwise
  neg: unary('Neg'),
  abs: unary('Abs'),
  exp: unary('Exp'),
  log: unary('Log'),
  log1p: (ctx, node) => { ctx.emit('Log', ctx.emit('Add', [inAs(ctx, node, 0), ctx.scalar(1, outDType(node))]), [ctx.out(0)]); },
  sqrt: unary('Sqrt'),
  rsqrt: (ctx, node) => { ctx.emit('Reciprocal', ctx.emit('Sqrt', [inAs(ctx, node, 0)]), [ctx.out(0)]); },
  square: (ctx, node) => { const x = inAs(ctx, node, 0); ctx.emit('Mul', [x, x], [ctx.out(0)]); },
  reciprocal: unary('Reciprocal'),
  sign: unary('Sign'),
  sin: unary('Sin'),
  cos: unary('Cos'),
  sigmoid: unary('Sigmoid'),
  tanh: unary('Tanh'),
  relu: unary('Relu'),
  leakyRelu: unary('LeakyRelu', (n) => ({ alpha: { f: attr<number>(n, 'alpha') } })),
  elu: unary('Elu', (n) => ({ alpha: { f: attr<number>(n, 'alpha') } })),
  softplus,
  erf: unary('Erf'),
  clip,
  copy: unary('Identity'),
  add: binary('Add'),
  sub: binary('Sub'),
  mul: binary('Mul'),
  div: binary('Div'),
  pow: binary('Pow'),
  maximum: binary('Max'),
  minimum: binary('Min'),
  equal: compare('Equal'),
  notEqual: compare('Equal', true),
  less: compare('Less'),
  lessEqual: compare('LessOrEqual'),
  greater: compare('Greater'),
  greaterEqual: compare('GreaterOrEqual'),
  logicalAnd: logical('And'),
  logicalOr: logical('Or'),
  logicalNot: logical('Not'),
  where: (ctx, node) => { ctx.emit('Where', [ctx.cast(ctx.in(0), dtypeOf(node, 0), 'bool'), inAs(ctx, node, 1), inAs(ctx, node, 2)], [ctx.out(0)]); },
  cast: (ctx, node) => { ctx.emit('Cast', [ctx.in(0)], [ctx.out(0)], { to: { i: onnxDType(outDType(node)) } }); },
  // linear algebra and layers
  matmul: binary('MatMul'),
  transpose: (ctx, node) => { ctx.emit('Transpose', [ctx.in(0)], [ctx.out(0)], { perm: { ints: attr<number[]>(node, 'perm') } }); },
  linear,
  conv2d: (ctx, node) => {
    noFusedActivation(ctx, node);
    const w = node.inputs[1]!.type.shape as number[];
    ctx.emit('Conv', [ctx.in(0), ctx.in(1), node.inputs.length > 2 ? ctx.in(2) : ''], [ctx.out(0)], { ...geometry(node), group: { i: attr<number>(node, 'group') }, kernel_shape: { ints: w.slice(2) } });
  },
  convTranspose2d: (ctx, node) => {
    noFusedActivation(ctx, node);
    const w = node.inputs[1]!.type.shape as number[];
    const attrs: Record<string, OnnxAttr> = { ...geometry(node), group: { i: attr<number>(node, 'group') }, kernel_shape: { ints: w.slice(2) } };
    const op = node.attrs['outputPadding'] as number[] | undefined;
    if (op && op.some((p) => p !== 0)) attrs['output_padding'] = { ints: op };
    ctx.emit('ConvTranspose', [ctx.in(0), ctx.in(1), node.inputs.length > 2 ? ctx.in(2) : ''], [ctx.out(0)], attrs);
  },
  maxPool2d: (ctx, node) => { ctx.emit('MaxPool', [ctx.in(0)], [ctx.out(0)], { ...geometry(node, false), kernel_shape: { ints: attr<number[]>(node, 'kernelShape') } }); },
  avgPool2d: (ctx, node) => {
    ctx.emit('AveragePool', [ctx.in(0)], [ctx.out(0)], { ...geometry(node, false), kernel_shape: { ints: attr<number[]>(node, 'kernelShape') }, count_include_pad: { i: attr<boolean>(node, 'countIncludePad') ? 1 : 0 } });
  },
  batchNorm,
  layerNorm,
  softmax: (ctx, node) => { ctx.emit('Softmax', [ctx.in(0)], [ctx.out(0)], { axis: { i: attr<number>(node, 'axis') } }); },
  logSoftmax: (ctx, node) => { ctx.emit('LogSoftmax', [ctx.in(0)], [ctx.out(0)], { axis: { i: attr<number>(node, 'axis') } }); },
  lstm: recurrent('lstm'),
  gru: recurrent('gru'),
  rnn: recurrent('rnn'),
  // reductions
  sum: reduce('ReduceSum'),
  max: reduce('ReduceMax'),
  min: reduce('ReduceMin'),
  prod: reduce('ReduceProd'),
  logSumExp: reduce('ReduceLogSumExp'),
  argmax: argReduce('ArgMax'),
  argmin: argReduce('ArgMin'),
  elementCount,
  // shapes
  reshape: (ctx, node) => { reshapeTo(ctx, ctx.in(0), attr<Dim[]>(node, 'shape'), ctx.out(0)); },
  expand: (ctx, node) => {
    const shape = attr<Dim[]>(node, 'shape');
    const inShape = node.inputs[0]!.type.shape;
    // A symbolic target dim the input already has (right-aligned) can be 1: Expand broadcasts.
    const dims = shape.map((d, i) => {
      if (!isSym(d)) return d;
      const j = i - (shape.length - inShape.length);
      const have = j >= 0 ? inShape[j] : undefined;
      return have !== undefined && isSym(have) && have.sym === d.sym && have.coef === d.coef && have.offset === d.offset ? 1 : d;
    });
    ctx.emit('Expand', [ctx.in(0), ctx.shapeTensor(dims)], [ctx.out(0)]);
  },
  slice: (ctx, node) => {
    const shape = node.inputs[0]!.type.shape;
    const starts = attr<Dim[]>(node, 'starts'), ends = attr<Dim[]>(node, 'ends'), steps = attr<number[]>(node, 'steps');
    const axes: number[] = [], s: number[] = [], e: number[] = [], st: number[] = [];
    shape.forEach((d, i) => {
      const full = steps[i] === 1 && starts[i] === 0 && (ends[i] === d || (isSym(ends[i]) && isSym(d) && (ends[i] as SymDim).sym === d.sym && (ends[i] as SymDim).coef === d.coef && (ends[i] as SymDim).offset === d.offset));
      if (full) return;
      axes.push(i);
      s.push(sliceBound(ctx, starts[i]!, d, false, steps[i]!));
      e.push(sliceBound(ctx, ends[i]!, d, true, steps[i]!));
      st.push(steps[i]!);
    });
    if (!axes.length) { ctx.emit('Identity', [ctx.in(0)], [ctx.out(0)]); return; }
    ctx.emit('Slice', [ctx.in(0), ctx.int64(s, [s.length], 'starts'), ctx.int64(e, [e.length], 'ends'), ctx.int64(axes, [axes.length], 'axes'), ctx.int64(st, [st.length], 'steps')], [ctx.out(0)]);
  },
  concat: (ctx, node) => { ctx.emit('Concat', node.inputs.map((_, i) => inAs(ctx, node, i)), [ctx.out(0)], { axis: { i: attr<number>(node, 'axis') } }); },
  split: (ctx, node) => {
    const sizes = attr<Dim[]>(node, 'sizes');
    if (sizes.some((d) => typeof d !== 'number')) throw ctx.fail('split sizes must be static');
    ctx.emit('Split', [ctx.in(0), ctx.int64(sizes as number[], [sizes.length], 'split')], node.outputs.map((_, i) => ctx.out(i)), { axis: { i: attr<number>(node, 'axis') } });
  },
  pad: (ctx, node) => {
    const mode = attr<string>(node, 'mode');
    const pads = attr<number[]>(node, 'pads');
    const value = mode === 'constant' ? ctx.scalar(attr<number>(node, 'value') ?? 0, outDType(node), 'pad_value') : '';
    ctx.emit('Pad', [ctx.in(0), ctx.int64(pads, [pads.length], 'pads'), value], [ctx.out(0)], { mode: { s: mode } });
  },
  gather: (ctx, node) => { ctx.emit('GatherElements', [ctx.in(0), ctx.in(1)], [ctx.out(0)], { axis: { i: attr<number>(node, 'axis') } }); },
  indexSelect: (ctx, node) => { ctx.emit('Gather', [ctx.in(0), ctx.in(1)], [ctx.out(0)], { axis: { i: attr<number>(node, 'axis') } }); },
  scatterAdd: (ctx, node) => {
    if (ctx.opset < 16) throw ctx.fail('ScatterElements with reduction=add needs opset 16 or later');
    ctx.emit('ScatterElements', [ctx.in(0), ctx.in(1), ctx.in(2)], [ctx.out(0)], { axis: { i: attr<number>(node, 'axis') }, reduction: { s: 'add' } });
  },
  oneHot: (ctx, node) => {
    // int64 indices, depth and values: the type combination every runtime implements; then Kiln's int32.
    const idx = ctx.emit('Cast', [ctx.in(0)], 1, { to: { i: 7 } })[0]!;
    const hot = ctx.emit('OneHot', [idx, ctx.int64([attr<number>(node, 'numClasses')], [], 'depth'), ctx.int64([0, 1], [2], 'onehot_values')], 1, { axis: { i: -1 } })[0]!;
    ctx.emit('Cast', [hot], [ctx.out(0)], { to: { i: 6 } });
  },
  tril: (ctx, node) => { ctx.emit('Trilu', [ctx.in(0), ctx.int64([attr<number>(node, 'diagonal')], [], 'k')], [ctx.out(0)], { upper: { i: 0 } }); },
  triu: (ctx, node) => { ctx.emit('Trilu', [ctx.in(0), ctx.int64([attr<number>(node, 'diagonal')], [], 'k')], [ctx.out(0)], { upper: { i: 1 } }); },
};
