// Layout (O3): on a target that prefers channels-last (wasm: XNNPACK convolves NHWC with
// HWIO filters), conv / pool regions run in NHWC with one transpose at each boundary,
// instead of two activation transposes and a filter re-layout inside every conv.
import { dimEquals, getOp, type Dim, type Graph, type Value, type ValueType } from '../ir/index.js';
import { NHWC_FORM, OIHW_TO_HWIO, permuteShape, TO_NCHW, TO_NHWC } from '../ops/layout.js';
import { ALGEBRAIC_RULES } from './algebraic.js';
import { commonSubexpressionElimination } from './commonSubexpressions.js';
import { foldConstants } from './constantFolding.js';
import { eliminateDeadCode } from './deadCode.js';
import type { Pass } from './pass.js';
import { P, rewrite, rule, type Builder, type Match, type Pattern, type Rule } from './pattern.js';
import { constantOf } from './values.js';

/** Elementwise ops of one input: they commute with any transpose. */
const UNARY = [
  'neg', 'abs', 'exp', 'log', 'log1p', 'sqrt', 'rsqrt', 'square', 'reciprocal', 'sign', 'sin', 'cos',
  'sigmoid', 'tanh', 'relu', 'leakyRelu', 'elu', 'softplus', 'erf', 'clip', 'logicalNot', 'cast',
];
/** Elementwise ops of two inputs with broadcasting. */
const BINARY = ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum'];
/** conv2d attributes the NHWC kernels know (plus a fused activation's `activation…`). */
const CONV_ATTRS = new Set(['strides', 'pads', 'dilations', 'group']);

const samePerm = (p: unknown, want: readonly number[]): boolean => Array.isArray(p) && p.length === want.length && p.every((x, i) => x === want[i]);

/** `v` permuted: same dtype, shape[i] = v.shape[perm[i]]. */
function permutedType(t: ValueType, perm: readonly number[]): ValueType {
  return { dtype: t.dtype, shape: permuteShape(t.shape, perm) };
}

/** Whether `v` is read once, by a node (not a graph output). */
function readOnce(g: Graph, v: Value): boolean {
  return !g.outputs.includes(v) && g.uses(v).length === 1;
}

/** An NHWC → NCHW transpose of a 4-D value: binds its input as `name`, itself as `${name}T` (rules check it has no other reader). */
function toNchw(name: string): Pattern {
  return P.op('transpose', [P.any(name)], { name: `${name}T`, where: (n) => samePerm(n.attrs['perm'], TO_NCHW) && n.outputs[0]!.type.shape.length === 4 });
}

function transposeTo(b: Builder, v: Value, perm: readonly number[]): Value {
  return b.op('transpose', [v], { perm: [...perm] }, permutedType(v.type, perm));
}

/** An NHWC value back in NCHW (where a region ends, or until it sinks further). */
function backToNchw(b: Builder, nhwc: Value): Value {
  return transposeTo(b, nhwc, TO_NCHW);
}

/** Static (numeric) dims from `from` on. */
function staticFrom(t: ValueType, from: number): boolean {
  return t.shape.slice(from).every((d) => typeof d === 'number');
}

function isConstant(g: Graph, v: Value | undefined): boolean {
  return v !== undefined && constantOf(g, v) !== undefined;
}

/** A conv2d that runs faster in NHWC: float32, constant filter (it folds to HWIO), one group or depthwise, known attributes. */
function convToNhwc(m: Match, b: Builder): Value | null {
  const g = m.graph, node = m.root;
  const [x, w, bias] = node.inputs as [Value, Value, Value | undefined];
  const out = node.outputs[0]!;
  if (x.type.dtype !== 'float32' || x.type.shape.length !== 4 || !staticFrom(x.type, 1)) return null;
  if (!isConstant(g, w) || (bias && !isConstant(g, bias))) return null;
  if (Object.keys(node.attrs).some((k) => !CONV_ATTRS.has(k) && !k.startsWith('activation'))) return null;
  if ((node.attrs['pads'] as readonly number[]).some((p) => p < 0)) return null;
  const group = node.attrs['group'] as number, c = x.type.shape[1] as number;
  if (group !== 1 && !(group === c && w.type.shape[1] === 1)) return null;
  const xt = transposeTo(b, x, TO_NHWC);
  const wt = transposeTo(b, w, OIHW_TO_HWIO);
  const y = b.op(NHWC_FORM['conv2d']!, bias ? [xt, wt, bias] : [xt, wt], { ...node.attrs }, permutedType(out.type, TO_NHWC));
  return backToNchw(b, y);
}

/** A pool whose input comes out of an NHWC region: pooled there. */
function poolToNhwc(m: Match, b: Builder): Value | null {
  const t = m.value('xT'), y = m.value('x');
  if (y.type.dtype !== 'float32' || !staticFrom(y.type, 1) || !readOnce(m.graph, t)) return null;
  const node = m.root;
  const out = b.op(NHWC_FORM[node.op]!, [y], { ...node.attrs }, permutedType(node.outputs[0]!.type, TO_NHWC));
  return backToNchw(b, out);
}

function sinkUnary(m: Match, b: Builder): Value | null {
  if (!readOnce(m.graph, m.value('xT'))) return null;
  const y = m.value('x'), out = m.root.outputs[0]!;
  return backToNchw(b, b.op(m.root.op, [y], { ...m.root.attrs }, { dtype: out.type.dtype, shape: y.type.shape }));
}

function sinkBinaryBoth(m: Match, b: Builder): Value | null {
  const [ta, tb] = [m.value('aT'), m.value('bT')];
  if (ta === tb ? m.graph.uses(ta).length !== 2 || m.graph.outputs.includes(ta) : !readOnce(m.graph, ta) || !readOnce(m.graph, tb)) return null;
  const out = m.root.outputs[0]!;
  return backToNchw(b, b.op(m.root.op, [m.value('a'), m.value('b')], { ...m.root.attrs }, permutedType(out.type, TO_NHWC)));
}

/** Ones padded in front of `shape` up to rank 4. */
function rank4(shape: readonly Dim[]): Dim[] {
  return [...new Array<Dim>(4 - shape.length).fill(1), ...shape];
}

/**
 * `c` (broadcast against an NCHW value) as the operand to broadcast against its NHWC
 * form: a constant reshaped to rank 4 and transposed (constant folding makes it a
 * constant again, recomputed if it is a parameter's), or an expand of one, expanded to
 * the transposed shape. Null for anything else.
 */
function constantToNhwc(g: Graph, b: Builder, c: Value): Value | null {
  if (c.type.shape.length > 4) return null;
  const relayout = (k: Value): Value => {
    const k4 = k.type.shape.length === 4 ? k : b.op('reshape', [k], { shape: rank4(k.type.shape) }, { dtype: k.type.dtype, shape: rank4(k.type.shape) });
    return transposeTo(b, k4, TO_NHWC);
  };
  if (isConstant(g, c)) return relayout(c);
  const e = c.producer;
  if (e?.op === 'expand' && isConstant(g, e.inputs[0]) && e.inputs[0]!.type.shape.length <= 4) {
    const shape = permuteShape(rank4(e.attrs['shape'] as readonly Dim[]), TO_NHWC);
    return b.op('expand', [relayout(e.inputs[0]!)], { shape }, { dtype: c.type.dtype, shape });
  }
  return null;
}

/** binary(T(y), c) or binary(c, T(y)) for a constant c: computed on y with c re-laid out, when y is not broadcast up. */
function sinkBinaryConstant(side: 0 | 1) {
  return (m: Match, b: Builder): Value | null => {
    const t = m.value('xT'), y = m.value('x'), c = m.value('c');
    const out = m.root.outputs[0]!;
    if (!readOnce(m.graph, t) || out.type.shape.length !== 4 || out.type.shape.some((d, i) => !dimEquals(d, t.type.shape[i]!))) return null;
    const cn = constantToNhwc(m.graph, b, c);
    if (!cn) return null;
    const ins = side === 0 ? [y, cn] : [cn, y];
    return backToNchw(b, b.op(m.root.op, ins, { ...m.root.attrs }, permutedType(out.type, TO_NHWC)));
  };
}

/**
 * batchNorm (inference) of an NHWC region's value: its decomposition's arithmetic on the
 * NHWC value, (y − mean)·(rsqrt(var + eps)·weight) + bias, whose per-channel vectors [C]
 * broadcast along the last axis (the scale folds into a constant).
 */
function batchNormToNhwc(m: Match, b: Builder): Value | null {
  const g = m.graph, node = m.root;
  const [, mean, variance, w, bias] = node.inputs as [Value, Value, Value, Value | undefined, Value | undefined];
  const t = m.value('xT'), y = m.value('x');
  if (!readOnce(g, t) || !node.inputs.slice(1).every((v) => isConstant(g, v) && v.type.shape.length === 1)) return null;
  const vec = variance.type;
  if (vec.dtype !== 'float32') return null;
  // As the decomposition's variance.add(eps): eps as a float32 scalar.
  const eps = b.constant('eps', new Float32Array([node.attrs['eps'] as number]), { dtype: vec.dtype, shape: [] });
  let scale = b.op('rsqrt', [b.op('add', [variance, eps], {}, vec)], {}, vec);
  if (w) scale = b.op('mul', [scale, w], {}, vec);
  let out = b.op('mul', [b.op('sub', [y, mean], {}, y.type), scale], {}, y.type);
  if (bias) out = b.op('add', [out, bias], {}, y.type);
  return backToNchw(b, out);
}

const ALGEBRAIC_KEPT = ALGEBRAIC_RULES.filter((r) => /^(transpose|reshape)/.test(r.name));

/** A transpose that moves only size-1 axes keeps the elements in order: a reshape (no copy). */
const unitTranspose = rule('transpose of size-1 axes → reshape', P.op('transpose', [P.any('x')], { name: 't' }), (m, b) => {
  const x = m.value('x'), perm = m.node('t').attrs['perm'] as readonly number[];
  const kept = perm.filter((p) => x.type.shape[p] !== 1);
  if (!kept.every((p, i) => i === 0 || p > kept[i - 1]!)) return null;
  const out = m.root.outputs[0]!;
  return b.op('reshape', [x], { shape: [...out.type.shape] }, out.type);
});

function layoutRules(): Rule[] {
  const pools = ['maxPool2d', 'avgPool2d'].filter((op) => getOp(NHWC_FORM[op]!));
  const unary = UNARY.filter((op) => getOp(op));
  return [
    ...ALGEBRAIC_KEPT,
    rule('conv2d → NHWC', P.op('conv2d'), convToNhwc),
    rule('pool of NHWC → NHWC pool', P.op(pools, [toNchw('x')]), poolToNhwc),
    // batchNorm takes 3 to 5 inputs (weight and bias optional).
    ...[2, 3, 4].map((k) => rule('batchNorm of NHWC → NHWC arithmetic', P.op('batchNorm', [toNchw('x'), ...Array.from({ length: k }, () => P.any())]), batchNormToNhwc)),
    rule('unary(T(y)) → T(unary(y))', P.op(unary, [toNchw('x')]), sinkUnary),
    rule('binary(T(a), T(b)) → T(binary(a, b))', P.op(BINARY, [toNchw('a'), toNchw('b')]), sinkBinaryBoth),
    rule('binary(T(y), c) → T(binary(y, c′))', P.op(BINARY, [toNchw('x'), P.any('c')]), sinkBinaryConstant(0)),
    rule('binary(c, T(y)) → T(binary(c′, y))', P.op(BINARY, [P.any('c'), toNchw('x')]), sinkBinaryConstant(1)),
    unitTranspose,
  ];
}

/**
 * Rewrites a graph to run its convolution / pooling regions channels-last, where the
 * target prefers it (`ctx.target.preferredLayout === 'NHWC'`) and in inference only
 * (training graphs take parameters as inputs: a re-laid-out filter would be computed
 * per step, and the NHWC ops have no gradient):
 * 1. every float32 conv2d (one group or depthwise, constant filter) becomes
 *    transpose → conv2dNhwc(x, filterᴴᵂᴵᴼ) → transpose;
 * 2. NHWC → NCHW transposes sink through what does not care about the layout — unary
 *    elementwise ops, binary ones with a constant (re-laid out) or with another sinking
 *    transpose, batchNorm (as its per-channel arithmetic), max / avg pools (their NHWC
 *    forms) — until they meet the next conv's NCHW → NHWC transpose, and the pair
 *    cancels (transpose∘transpose, the algebraic rule);
 * 3. transposes that move only size-1 axes become reshapes; the filter transposes fold
 *    into constants (recomputed when the parameter changes), then CSE and dead code.
 * A region ends at anything else (e.g. the flatten before a Linear), with one transpose
 * back to NCHW there.
 *
 * @example
 * ```ts
 * // conv2d → relu → conv2d → flatten  becomes
 * // transpose → conv2dNhwc → relu → conv2dNhwc → transpose → flatten
 * layout.run(graph, { mode: 'inference', live, evaluate, target: { ...caps, preferredLayout: 'NHWC' } });
 * ```
 */
export function layoutToNhwc(g: Graph, ctx: Parameters<Pass['run']>[1]): boolean {
  if (ctx.target.preferredLayout !== 'NHWC' || ctx.mode !== 'inference') return false;
  if (!rewrite(g, layoutRules(), ctx)) return false;
  foldConstants(g, ctx);
  commonSubexpressionElimination.run(g, ctx);
  eliminateDeadCode(g);
  return true;
}

export const layout: Pass = {
  name: 'layout',
  level: 'O3',
  description: 'conv/pool regions run NHWC on targets preferring it (transposes at the region edges only, filters re-laid out once)',
  run: layoutToNhwc,
};
