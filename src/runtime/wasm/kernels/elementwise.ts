import type { DType } from '../../../ir/index.js';
import type { Kernel } from '../../backend.js';
import { registerNativeKernels, type NativeKernelFactory } from '../nativeKernels.js';
import type { WasmBackend, WasmStorage } from '../wasmBackend.js';

/** tfjs-backend-wasm's CppDType enum. */
export const CPP_DTYPE: Record<DType, number> = { float32: 0, int32: 1, bool: 2, float64: -1 };


/** The portable kernel this native one replaces, for the dtypes the native one lacks. */
export function fallbackOf(backend: WasmBackend, name: string): Kernel<WasmStorage> {
  const k = backend.kernels.get(name);
  if (!k) throw new Error(`no portable kernel for ${name}`);
  return k;
}

/** Unary tfjs kernel `fn(xId, dtype, outId)` (or `fn(xId, outId)`), float32 only. */
function unary(fnName: string, withDtype = true, accept: (attrs: Record<string, unknown>) => boolean = () => true): NativeKernelFactory {
  return (backend, name) => {
    const fallback = fallbackOf(backend, name);
    const fn = backend.module[`_${fnName}`];
    return (inputs, attrs, outTypes) => {
      const x = inputs[0]!;
      if (x.dtype !== 'float32' || !accept(attrs)) return fallback(inputs, attrs, outTypes);
      const out = backend.alloc('float32', x.storage.size);
      if (withDtype) fn(x.storage.id, 0, out.id);
      else fn(x.storage.id, out.id);
      return [out];
    };
  };
}

/** Binary tfjs kernel with NumPy broadcasting, for inputs of one dtype in `dtypes`. */
function binary(fnName: string, dtypes: readonly DType[] = ['float32', 'int32']): NativeKernelFactory {
  return (backend, name) => {
    const fallback = fallbackOf(backend, name);
    const fn = backend.module[`_${fnName}`];
    return (inputs, attrs, outTypes) => {
      const a = inputs[0]!, b = inputs[1]!;
      const ot = outTypes[0]!;
      if (a.dtype !== b.dtype || !dtypes.includes(a.dtype) || (ot.dtype !== a.dtype && ot.dtype !== 'bool')) return fallback(inputs, attrs, outTypes);
      let size = 1;
      for (const d of ot.shape) size *= d;
      const out = backend.alloc(ot.dtype, size);
      const ap = backend.shapePtr(a.shape, 0);
      const bp = backend.shapePtr(b.shape, 1);
      fn(a.storage.id, ap, a.shape.length, b.storage.id, bp, b.shape.length, CPP_DTYPE[a.dtype], out.id);
      return [out];
    };
  };
}

registerNativeKernels({
  neg: unary('Neg'),
  abs: unary('Abs'),
  exp: unary('Exp'),
  log: unary('Log'),
  log1p: unary('Log1p'),
  sqrt: unary('Sqrt'),
  rsqrt: unary('Rsqrt'),
  square: unary('Square'),
  sin: unary('Sin'),
  cos: unary('Cos'),
  sigmoid: unary('Sigmoid', false),
  tanh: unary('Tanh'),
  relu: unary('Relu'),
  elu: unary('Elu', true, (a) => a['alpha'] === 1),
  leakyRelu: (backend) => {
    const fallback = fallbackOf(backend, 'leakyRelu');
    const fn = backend.module._LeakyRelu;
    return (inputs, attrs, outTypes) => {
      const x = inputs[0]!;
      if (x.dtype !== 'float32') return fallback(inputs, attrs, outTypes);
      const out = backend.alloc('float32', x.storage.size);
      fn(x.storage.id, 0, attrs['alpha'] as number, out.id);
      return [out];
    };
  },
  clip: (backend) => {
    const fallback = fallbackOf(backend, 'clip');
    const fn = backend.module._ClipByValue;
    return (inputs, attrs, outTypes) => {
      const x = inputs[0]!;
      if (x.dtype !== 'float32' || attrs['min'] === null || attrs['max'] === null) return fallback(inputs, attrs, outTypes);
      const out = backend.alloc('float32', x.storage.size);
      fn(x.storage.id, attrs['min'] as number, attrs['max'] as number, out.id);
      return [out];
    };
  },
  add: binary('Add'),
  sub: binary('Sub'),
  mul: binary('Multiply'),
  div: binary('RealDiv', ['float32']),
  equal: binary('Equal'),
  notEqual: binary('NotEqual'),
  less: binary('Less'),
  lessEqual: binary('LessEqual'),
  greater: binary('Greater'),
  greaterEqual: binary('GreaterEqual'),
  logicalAnd: binary('LogicalAnd', ['bool']),
  logicalOr: binary('LogicalOr', ['bool']),
});
