/**
 * `linear`: the fully connected layer as one op, y = x·Wᵀ + b (PyTorch `F.linear`,
 * ONNX `Gemm` with transB = 1). One node instead of transpose → matmul → add, so passes
 * (bias/activation fusion, BN folding) and ONNX export see the layer whole, and a
 * backend can run it on a weight it keeps in its own layout (XNNPACK wants Wᵀ packed;
 * the wasm kernel keeps that once per weight version).
 */
import { dimEquals, formatDim, isFloat, KilnError, registerOp, symbolicInfer, type Dim, type IrAttrs, type ValueType } from '../ir/index.js';
import { applyFusedActivation, checkFusedActivation, fusedActivationGrad } from './fusedActivation.js';
import type { AnyTensor } from './tensorLike.js';

const shapeText = (shape: readonly Dim[]): string => `[${shape.map(formatDim).join(', ')}]`;

/** Over dims (a symbolic batch, sequence or feature count), so inferNode is exact for it. */
function linearInfer([x, w, b]: readonly ValueType[], attrs: IrAttrs): ValueType[] {
  checkFusedActivation(attrs);
  const dtype = x!.dtype;
  if (!isFloat(dtype)) throw new KilnError(`linear needs floating-point inputs, got ${dtype}`);
  for (const t of [w, b]) if (t && t.dtype !== dtype) throw new KilnError(`linear inputs must share one dtype, got ${dtype} and ${t.dtype}`);
  if (w!.shape.length !== 2) throw new KilnError(`weight must be 2-D [out, in], got shape ${shapeText(w!.shape)}`);
  const [out, inF] = w!.shape as [Dim, Dim];
  if (x!.shape.length === 0 || !dimEquals(x!.shape[x!.shape.length - 1]!, inF)) {
    throw new KilnError(`input ${shapeText(x!.shape)} does not end in the weight's ${formatDim(inF)} input features (weight ${shapeText(w!.shape)})`);
  }
  if (b && (b.shape.length !== 1 || !dimEquals(b.shape[0]!, out))) throw new KilnError(`bias must have shape [${formatDim(out)}], got ${shapeText(b.shape)}`);
  return [{ shape: [...x!.shape.slice(0, -1), out], dtype }];
}

/** `t` as a matrix of its rows ([..., n] → [rows, n]); 2-D tensors as they are. */
function rows(t: AnyTensor): AnyTensor {
  if (t.rank === 2) return t;
  let r = 1;
  for (let i = 0; i < t.rank - 1; i++) r *= t.shape[i]!;
  return t.reshape([r, t.shape[t.rank - 1]!]);
}

/** linear(x[..., in], w[out, in], b?[out]) → [..., out]. */
export const linear = registerOp<AnyTensor>({
  name: 'linear',
  arity: [2, 3],
  doc: 'x·Wᵀ + b: input [..., in], weight [out, in], optional bias [out] (PyTorch F.linear, ONNX Gemm transB=1); attrs activation and its params when one is fused in at O2.',
  ...symbolicInfer(linearInfer),
  decompose: ([x, w, b], attrs) => {
    const y = x!.matmul(w!.transpose());
    return [applyFusedActivation(b ? y.add(b) : y, attrs)];
  },
  // dx = dy·W, dW = dyᵀ·x over all rows, db = Σ dy over rows (dy taken back through a
  // fused activation first, from the output).
  grad: ({ inputs: [x, w, b], outputs: [y], dys: [dyOut], attrs, needs }) => {
    const dy = fusedActivationGrad(y!, dyOut!, attrs);
    const dy2 = needs[1] || (b && needs[2]) ? rows(dy!) : null;
    return [
      needs[0] ? dy!.matmul(w!) : null,
      needs[1] ? dy2!.transpose().matmul(rows(x!)) : null,
      b && needs[2] ? dy2!.sum(0) : null,
    ];
  },
});
