/**
 * Channels-last (NHWC) forms of the convolution and pooling ops, for the O3 layout pass
 * (`passes/layout.ts`): on wasm, XNNPACK convolves NHWC with HWIO filters, so a region
 * of convs and pools kept in NHWC drops the two activation transposes each NCHW conv
 * makes, and a folded HWIO filter drops the per-call filter re-layout.
 *
 * Each is defined by its NCHW op, with the same attributes (fused activations included):
 *   conv2dNhwc(x[N,H,W,C], w[kH,kW,C/group,O], bias?[O]) = toNhwc(conv2d(toNchw(x), toOihw(w), bias))
 *   maxPool2dNhwc(x[N,H,W,C]) = toNhwc(maxPool2d(toNchw(x)))   (avgPool2dNhwc alike)
 * which is their decomposition, so a backend without an NHWC kernel runs exactly that.
 * They are compiler-internal and inference-only (no gradient): the layout pass does not
 * run on training graphs, where parameters are inputs and would be re-laid out per step.
 * Shape inference is the NCHW op's rule over dims, so symbolic dims are exact here as
 * there (the pass itself converts only ops whose height, width and channels are numbers).
 */
import { getOp, KilnError, registerOp, symbolicInfer, type Dim, type IrAttrs, type OpDef, type ValueType } from '../ir/index.js';
import type { AnyTensor } from './tensorLike.js';

/** NCHW → NHWC (activations). */
export const TO_NHWC: readonly number[] = [0, 2, 3, 1];
/** NHWC → NCHW (activations). */
export const TO_NCHW: readonly number[] = [0, 3, 1, 2];
/** OIHW → HWIO (conv filters). */
export const OIHW_TO_HWIO: readonly number[] = [2, 3, 1, 0];
/** HWIO → OIHW (conv filters). */
export const HWIO_TO_OIHW: readonly number[] = [3, 2, 0, 1];

/** `shape` permuted: out[i] = shape[perm[i]]. */
export function permuteShape<D>(shape: readonly D[], perm: readonly number[]): D[] {
  return perm.map((p) => shape[p]!);
}

function check4(op: string, t: ValueType, what: string): void {
  if (t.shape.length !== 4) throw new KilnError(`${op}: ${what} must be 4-D, got rank ${t.shape.length}`);
}

/**
 * Output types of an NHWC op by its NCHW op's rule over dims: inputs permuted to NCHW
 * (the filter to OIHW), the NCHW result permuted back. Symbolic dims are exact wherever
 * the NCHW rule's are (and refused where its are).
 */
function inferVia(op: string, nchw: string, filter: boolean) {
  return symbolicInfer((inputs: readonly ValueType[], attrs: IrAttrs): ValueType[] => {
    const [x, w, ...rest] = inputs;
    check4(op, x!, 'input');
    if (filter) check4(op, w!, 'weight');
    const ins: ValueType[] = [{ dtype: x!.dtype, shape: permuteShape(x!.shape, TO_NCHW) }];
    if (filter) ins.push({ dtype: w!.dtype, shape: permuteShape(w!.shape, HWIO_TO_OIHW) }, ...rest);
    const def = getOp(nchw) as OpDef | undefined;
    if (!def?.inferDims) throw new KilnError(`${op}: op ${nchw} is not registered with a shape rule over dims`);
    const [y] = def.inferDims(ins, attrs);
    const shape: Dim[] = permuteShape(y!.shape, TO_NHWC);
    return [{ dtype: y!.dtype, shape }];
  });
}

export const conv2dNhwc = registerOp<AnyTensor>({
  name: 'conv2dNhwc',
  arity: [2, 3],
  internalFor: 'conv2d',
  doc: 'conv2d channels-last: NHWC input, HWIO weight [kH, kW, C/group, O], optional bias [O] → NHWC; attrs as conv2d. Compiler-internal (O3 layout), inference-only (no gradient).',
  ...inferVia('conv2dNhwc', 'conv2d', true),
  decompose: ([x, w, b], attrs) => {
    const ins = [w!.permute(...HWIO_TO_OIHW), ...(b ? [b] : [])];
    return [x!.permute(...TO_NCHW).applyOp('conv2d', ins, attrs)[0]!.permute(...TO_NHWC)];
  },
});

function poolNhwc(name: string, nchw: string): OpDef<AnyTensor> {
  return registerOp<AnyTensor>({
    name,
    arity: 1,
    internalFor: nchw,
    doc: `${nchw} channels-last: NHWC input → NHWC output; attrs as ${nchw}. Compiler-internal (O3 layout), inference-only (no gradient).`,
    ...inferVia(name, nchw, false),
    decompose: ([x], attrs) => [x!.permute(...TO_NCHW).applyOp(nchw, [], attrs)[0]!.permute(...TO_NHWC)],
  });
}

export const maxPool2dNhwc = poolNhwc('maxPool2dNhwc', 'maxPool2d');
export const avgPool2dNhwc = poolNhwc('avgPool2dNhwc', 'avgPool2d');

/** The NHWC form of each NCHW op that has one. */
export const NHWC_FORM: Readonly<Record<string, string>> = { conv2d: 'conv2dNhwc', maxPool2d: 'maxPool2dNhwc', avgPool2d: 'avgPool2dNhwc' };
