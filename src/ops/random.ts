// Random sampling as ops, so that a traced graph draws fresh numbers at every run
// instead of baking in the ones drawn while tracing. Each op takes the Philox key of
// its stream as an input: an int32 [4] tensor [seedLo, seedHi, offsetLo, offsetHi]
// (uint32 bit patterns), which eager code fills from the generator and a compiled
// graph receives as an input. Element i of the result depends only on
// (seed, offset + i), so every backend and the compiled graph give eager's numbers.
//
// They are marked `internalFor` the creation functions that use them: their values are
// random, so there are no PyTorch golden values to check them against (test/random.test.ts
// checks streams and moments instead).
import { formatDim, isFloat, isSym, KilnError, registerOp, symbolicInfer, type Dim, type DType, type IrAttrs, type ValueType } from '../ir/index.js';
import type { AnyTensor } from './tensorLike.js';

function checkKey(op: string, key: ValueType | undefined): void {
  if (!key || key.dtype !== 'int32' || key.shape.length !== 1 || key.shape[0] !== 4) {
    throw new KilnError(`the key input must be int32 [4] (seed lo/hi, offset lo/hi), got ${key ? `${key.dtype}[${key.shape.map(formatDim).join(', ')}]` : 'nothing'}`, { op });
  }
}

/** The sample's type from attrs shape (symbolic dims allowed: a mask per batch row) and dtype. */
function sampleType(op: string, attrs: IrAttrs): ValueType {
  const shape = attrs['shape'] as readonly Dim[];
  if (!Array.isArray(shape) || shape.some((d) => !isSym(d) && (!Number.isInteger(d) || (d as number) < 0))) throw new KilnError(`attr shape must hold non-negative integers, got ${String(shape)}`, { op });
  return { shape: [...shape], dtype: attrs['dtype'] as DType };
}

/** Uniform samples in [low, high) (attrs shape, dtype, low, high); input: the key. */
export const randomUniform = registerOp<AnyTensor>({
  name: 'randomUniform',
  arity: 1,
  internalFor: 'uniform',
  doc: 'Uniform samples in [low, high) from Philox4x32-10 (input: int32 [4] key; attrs shape, dtype, low, high).',
  ...symbolicInfer(([key], attrs) => {
    checkKey('randomUniform', key);
    return [sampleType('randomUniform', attrs)];
  }),
});

/** Normal samples (Box–Muller over Philox uniforms; attrs shape, dtype, mean, std). */
export const randomNormal = registerOp<AnyTensor>({
  name: 'randomNormal',
  arity: 1,
  internalFor: 'normal',
  doc: 'Normal samples by Box–Muller over Philox4x32-10 uniforms (input: key; attrs shape, dtype, mean, std).',
  ...symbolicInfer(([key], attrs) => {
    checkKey('randomNormal', key);
    return [sampleType('randomNormal', attrs)];
  }),
});

/** Integers uniform in [low, high) (attrs shape, dtype, low, high). */
export const randomInt = registerOp<AnyTensor>({
  name: 'randomInt',
  arity: 1,
  internalFor: 'randint',
  doc: 'Integers uniform in [low, high) by multiply-shift of Philox4x32-10 words (input: key; attrs shape, dtype, low, high).',
  ...symbolicInfer(([key], attrs) => {
    checkKey('randomInt', key);
    return [sampleType('randomInt', attrs)];
  }),
});

/** 1 where a uniform sample is below `probs`, else 0, in probs' dtype (inputs probs, key). */
export const bernoulli = registerOp<AnyTensor>({
  name: 'bernoulli',
  arity: 2,
  internalFor: 'bernoulli',
  doc: '0/1 samples: 1 with probability probs (inputs: probs, key); probs dtype.',
  ...symbolicInfer(([probs, key]) => {
    checkKey('bernoulli', key);
    if (!isFloat(probs!.dtype)) throw new KilnError(`probs must be floating point, got ${probs!.dtype}`, { op: 'bernoulli' });
    return [{ shape: probs!.shape, dtype: probs!.dtype }];
  }),
});

/** Elements a random op draws from its stream (Box–Muller uses whole pairs). */
export function drawsFor(op: 'uniform' | 'normal', numel: number): number {
  return op === 'normal' ? 2 * Math.ceil(numel / 2) : numel;
}

