import { bytesPerElement, stridesOf, type Attrs, type DType, type TensorType } from '../../../ir/index.js';
import { oneOutput, type KernelInput } from '../../backend.js';
import { checkClasses, checkIndices, coalesceBox, sliceGeometry } from '../../reference/kernels/shape.js';
import { registerNativeKernels, type NativeKernelFactory } from '../nativeKernels.js';
import type { WasmBackend, WasmStorage } from '../wasmBackend.js';
import { CPP_DTYPE, fallbackOf } from './elementwise.js';
import { I, kernelsOn, ModuleBuilder, T, type Code, type ValType } from '../wasmAssembler.js';

// ---- a tiny wasm module of copy loops on the shared heap ---------------------------
//
// Shape ops are memory moves. From JS each contiguous run costs a `subarray` view plus a
// `set` (≈0.1–0.2 µs of overhead per run) and a strided element loop is several ns per
// element; tfjs's own Slice/Concat/Cast are such JS loops, and its StridedSlice, Gather
// and Tile kernels measured 30–400× slower than a plain copy here. So Kiln assembles a
// few loops itself (bulk-memory `memory.copy`, saturating truncation) into a module that
// imports tfjs's heap, and calls them with byte addresses: zero copies, no views.

interface FnDef { name: string; params: number; locals: number; body: Code }

const { get, bump, repeat } = I;
const k = I.i32;

/** Element-wise loop `dst[i] = f(src[i])` over (dst 0, src 1, n 2) with fixed byte steps. */
const mapLoop = (name: string, ds: number, ss: number, expr: Code): FnDef => ({
  name, params: 3, locals: 0,
  body: repeat(2, [...get(0), ...get(1), ...expr, ...bump(0, k(ds)), ...bump(1, k(ss))]),
});

const FNS: FnDef[] = [
  // copyRows(dst, src, rows, bytes, dstStride, srcStride): `rows` memcpys of `bytes`.
  { name: 'copyRows', params: 6, locals: 0, body: repeat(2, [...get(0), ...get(1), ...get(3), ...I.memoryCopy(), ...bump(0, 4), ...bump(1, 5)]) },
  // copy32/copy8(dst, src, n, dstStep, srcStep): strided elements (a step of 0 broadcasts).
  { name: 'copy32', params: 5, locals: 0, body: repeat(2, [...get(0), ...get(1), ...I.i32Load(), ...I.i32Store(), ...bump(0, 3), ...bump(1, 4)]) },
  { name: 'copy8', params: 5, locals: 0, body: repeat(2, [...get(0), ...get(1), ...I.i32Load8U(), ...I.i32Store8(), ...bump(0, 3), ...bump(1, 4)]) },
  // zero(dst, bytes)
  { name: 'zero', params: 2, locals: 0, body: [...get(0), ...k(0), ...get(1), ...I.memoryFill()] },
  // selectRows(dst, src, idx, m, bytes): row j of dst = row idx[j] of src.
  { name: 'selectRows', params: 5, locals: 0, body: repeat(3, [
    ...get(0), ...get(1), ...get(2), ...I.i32Load(), ...get(4), ...I.i32Mul(), ...I.i32Add(), ...get(4), ...I.memoryCopy(),
    ...bump(0, 4), ...bump(2, k(4)),
  ]) },
  // addRows32(dst, src, idx, m, n): float32 row idx[j] of dst += row j of src (n elements).
  { name: 'addRows32', params: 5, locals: 2, body: repeat(3, [
    ...get(0), ...get(2), ...I.i32Load(), ...get(4), ...I.i32Mul(), ...k(4), ...I.i32Mul(), ...I.i32Add(), ...I.set(5),
    ...get(4), ...I.set(6),
    ...repeat(6, [...get(5), ...get(5), ...I.f32Load(), ...get(1), ...I.f32Load(), ...I.f32Add(), ...I.f32Store(), ...bump(5, k(4)), ...bump(1, k(4))]),
    ...bump(2, k(4)),
  ]) },
  mapLoop('f32ToI32', 4, 4, [...I.f32Load(), ...I.i32TruncSatF32S(), ...I.i32Store()]),
  mapLoop('i32ToF32', 4, 4, [...I.i32Load(), ...I.f32ConvertI32S(), ...I.f32Store()]),
  mapLoop('f32ToBool', 1, 4, [...I.f32Load(), ...I.f32(0), ...I.f32Ne(), ...I.i32Store8()]),
  mapLoop('i32ToBool', 1, 4, [...I.i32Load(), ...k(0), ...I.i32Ne(), ...I.i32Store8()]),
  mapLoop('boolToF32', 4, 1, [...I.i32Load8U(), ...I.f32ConvertI32U(), ...I.f32Store()]),
  mapLoop('boolToI32', 4, 1, [...I.i32Load8U(), ...I.i32Store()]),
];

function assemble(): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder().importMemory();
  for (const f of FNS) m.func(f.name, new Array<ValType>(f.params).fill(T.i32), [], new Array<ValType>(f.locals).fill(T.i32), f.body);
  return m.bytes();
}

/** The copy loops, bound to one backend's heap. Addresses and sizes are in bytes. */
export interface HeapCopier {
  copyRows(dst: number, src: number, rows: number, bytes: number, dstStride: number, srcStride: number): void;
  copy32(dst: number, src: number, n: number, dstStep: number, srcStep: number): void;
  copy8(dst: number, src: number, n: number, dstStep: number, srcStep: number): void;
  zero(dst: number, bytes: number): void;
  selectRows(dst: number, src: number, idx: number, m: number, bytes: number): void;
  addRows32(dst: number, src: number, idx: number, m: number, n: number): void;
  f32ToI32(dst: number, src: number, n: number): void;
  i32ToF32(dst: number, src: number, n: number): void;
  f32ToBool(dst: number, src: number, n: number): void;
  i32ToBool(dst: number, src: number, n: number): void;
  boolToF32(dst: number, src: number, n: number): void;
  boolToI32(dst: number, src: number, n: number): void;
}

/** The copy loops on `backend`'s heap (instantiated once per heap; the module is ~1 KB). */
export function heapCopier(backend: WasmBackend): HeapCopier {
  return kernelsOn<HeapCopier>(backend.memory, 'heapCopier', assemble);
}

/**
 * Copies a box of `shape` elements of `esz` bytes from byte address `src` (element strides
 * `sStr`) to `dst` (strides `dStr`). Size-1 dims are dropped and dims contiguous in both
 * are merged, so the common cases are one `copyRows` call (whole rows) or one strided
 * loop per row; JS only walks the dims outside those two.
 */
export function copyBoxOnHeap(
  cp: HeapCopier, esz: number,
  src: number, sStr: readonly number[],
  dst: number, dStr: readonly number[],
  shape: readonly number[],
): void {
  const box = heapBox(sStr, dStr, shape);
  if (box) copyHeapBox(cp, esz, src, dst, box);
}

/** A box as `copyHeapBox` walks it (see `coalesceBox`; never rank 0), with the odometer of its outer dims. */
interface HeapBox {
  readonly n: readonly number[];
  readonly ss: readonly number[];
  readonly ds: readonly number[];
  readonly ctr: number[];
}

/** The box `shape` with strides `sStr` / `dStr` coalesced; null when it is empty. */
function heapBox(sStr: readonly number[], dStr: readonly number[], shape: readonly number[]): HeapBox | null {
  const box = coalesceBox(sStr, dStr, shape);
  if (!box) return null;
  const { n, ss, ds } = box;
  if (n.length === 0) { n.push(1); ss.push(1); ds.push(1); }
  return { n, ss, ds, ctr: new Array<number>(n.length).fill(0) };
}

/** Copies `box` from byte address `src` to `dst` (JS allocates nothing: the box may be reused). */
function copyHeapBox(cp: HeapCopier, esz: number, src: number, dst: number, box: HeapBox): void {
  const { n, ss, ds, ctr } = box;
  // Innermost contiguous: rows of n[0] elements, dim 1 handled by copyRows. Otherwise
  // a strided element loop per row.
  const rowsMode = ss[0] === 1 && ds[0] === 1;
  const first = rowsMode ? 2 : 1;
  const r = n.length;
  let outer = 1;
  for (let j = first; j < r; j++) outer *= n[j]!;
  ctr.fill(0);
  let s = src, d = dst;
  const copy = esz === 4 ? cp.copy32 : cp.copy8;
  for (let o = 0; o < outer; o++) {
    if (rowsMode) {
      if (r === 1) cp.copyRows(d, s, 1, n[0]! * esz, 0, 0);
      else cp.copyRows(d, s, n[1]!, n[0]! * esz, ds[1]! * esz, ss[1]! * esz);
    } else copy(d, s, n[0]!, ds[0]! * esz, ss[0]! * esz);
    for (let j = first; j < r; j++) {
      s += ss[j]! * esz; d += ds[j]! * esz;
      if (++ctr[j]! < n[j]!) break;
      s -= ss[j]! * n[j]! * esz; d -= ds[j]! * n[j]! * esz;
      ctr[j] = 0;
    }
  }
}

/** Writes the element of `esz` bytes at byte `src` into `count` elements from byte `dst` (its bits exactly: NaN payloads kept). */
function fillOnHeap(backend: WasmBackend, esz: number, src: number, dst: number, count: number): void {
  const { i32, u8 } = backend.heap();
  if (esz === 4) i32.fill(i32[src >>> 2]!, dst >>> 2, (dst >>> 2) + count);
  else u8.fill(u8[src]!, dst, dst + count);
}

/**
 * expand's box (input strides 0 on broadcast dims) by attrs object, for the shapes it was
 * made for: a plan's step keeps its attrs and shape arrays, so its calls allocate nothing.
 */
const expandBoxes = new WeakMap<Attrs, { readonly xShape: readonly number[]; readonly outShape: readonly number[]; readonly box: HeapBox | null }>();

function expandBox(attrs: Attrs, xShape: readonly number[], outShape: readonly number[]): HeapBox | null {
  const hit = expandBoxes.get(attrs);
  if (hit && hit.xShape === xShape && hit.outShape === outShape) return hit.box;
  const r = outShape.length, lead = r - xShape.length;
  const st = new Array<number>(r).fill(0);
  let acc = 1;
  for (let i = xShape.length - 1; i >= 0; i--) {
    st[lead + i] = xShape[i] === 1 ? 0 : acc;
    acc *= xShape[i]!;
  }
  // Broadcast outer dims repeat whole rows: copyRows with a source stride of 0.
  const box = heapBox(st, stridesOf(outShape), outShape);
  expandBoxes.set(attrs, { xShape, outShape, box });
  return box;
}

// ---- kernels ---------------------------------------------------------------------

function sizeOfShape(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A kernel on heap addresses; float64 never reaches the wasm backend. */
function heapKernel(body: (cp: HeapCopier, backend: WasmBackend, inputs: readonly KernelInput<WasmStorage>[], attrs: Record<string, unknown>, outs: WasmStorage[], outTypes: readonly TensorType[]) => void): NativeKernelFactory {
  return (backend) => {
    const cp = heapCopier(backend);
    return (inputs, attrs, outTypes, given) => {
      // Every output caller-given: no array per call; else only the returned array (no closure).
      const outs = allGiven(given, outTypes.length) ? (given as WasmStorage[]) : outputsOf(backend, outTypes, given);
      body(cp, backend, inputs, attrs, outs, outTypes);
      return outs;
    };
  };
}

/** Each output: the caller-given storage, else a fresh one. */
function outputsOf(backend: WasmBackend, outTypes: readonly TensorType[], given: readonly (WasmStorage | undefined)[] | undefined): WasmStorage[] {
  const outs = new Array<WasmStorage>(outTypes.length);
  for (let k = 0; k < outTypes.length; k++) outs[k] = given?.[k] ?? backend.alloc(outTypes[k]!.dtype, sizeOfShape(outTypes[k]!.shape));
  return outs;
}

/** Whether `given` holds a caller-given storage for each of `count` outputs. */
function allGiven(given: readonly (WasmStorage | undefined)[] | undefined, count: number): boolean {
  if (!given || given.length !== count) return false;
  for (let k = 0; k < count; k++) if (given[k] === undefined) return false;
  return true;
}

const esz = (dtype: DType): number => bytesPerElement(dtype);

/** Elements before `axis` (the product of the dims). */
function outerOf(shape: readonly number[], axis: number): number {
  let outer = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i]!;
  return outer;
}

/** Elements after `axis`. */
function innerOf(shape: readonly number[], axis: number): number {
  let inner = 1;
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i]!;
  return inner;
}

/** Index values as a heap view, for validation before any output is allocated. */
function indexView(backend: WasmBackend, index: KernelInput<WasmStorage>): Int32Array {
  return backend.view(index.storage) as Int32Array;
}

/** Validates indices first (so a bad index throws before outputs are allocated), then runs `k`. */
function validated(check: (backend: WasmBackend, inputs: readonly KernelInput<WasmStorage>[], attrs: Record<string, unknown>) => void, make: NativeKernelFactory): NativeKernelFactory {
  return (backend, name) => {
    const k = make(backend, name);
    return (inputs, attrs, outTypes, outs) => {
      check(backend, inputs, attrs);
      return k(inputs, attrs, outTypes, outs);
    };
  };
}

const checkAxisIndex = (inputSize: (inputs: readonly KernelInput<WasmStorage>[], axis: number, attrs: Record<string, unknown>) => number) =>
  (backend: WasmBackend, inputs: readonly KernelInput<WasmStorage>[], attrs: Record<string, unknown>): void => {
    const axis = attrs['axis'] as number;
    checkIndices(indexView(backend, inputs[1]!), inputSize(inputs, axis, attrs), axis);
  };

/** Pads through tfjs's PadV2 / MirrorPad (XNNPACK-backed, ≈2–4× faster than a JS loop). */
const pad: NativeKernelFactory = (backend, name) => {
  const fallback = fallbackOf(backend, name);
  const m = backend.module;
  return (inputs, attrs, outTypes, outs) => {
    const x = inputs[0]!;
    const r = x.shape.length;
    // Tiny pads: the native call's setup costs more than the JS loop.
    if (x.dtype === 'bool' || r === 0 || x.storage.size === 0 || x.storage.size < 64) return fallback(inputs, attrs, outTypes, outs);
    const pads = attrs['pads'] as number[];
    const out = outs?.[0] ?? backend.alloc(x.dtype, sizeOfShape(outTypes[0]!.shape));
    const shapeP = backend.shapePtr(x.shape, 0);
    const pre = backend.shapePtr(pads.slice(0, r), 1);
    const post = backend.shapePtr(pads.slice(r), 2);
    if (attrs['mode'] === 'reflect') m._MirrorPad(x.storage.id, shapeP, r, CPP_DTYPE[x.dtype], pre, post, 0, out.id);
    else m._PadV2(x.storage.id, shapeP, r, CPP_DTYPE[x.dtype], pre, post, attrs['value'] as number, out.id);
    return oneOutput(out, outs);
  };
};

/** tfjs's OneHot after validating the classes (it would write all-zero rows for bad ones). */
const oneHot: NativeKernelFactory = (backend) => {
  const m = backend.module;
  return (inputs, attrs, outTypes, outs) => {
    const x = inputs[0]!;
    const n = attrs['numClasses'] as number;
    checkClasses(backend.view(x.storage), n);
    const out = outs?.[0] ?? backend.alloc('int32', sizeOfShape(outTypes[0]!.shape));
    if (x.storage.size > 0 && n > 0) m._OneHot(x.storage.id, n, 1, 0, out.id);
    return oneOutput(out, outs);
  };
};

const CASTS: Partial<Record<`${DType}>${DType}`, keyof HeapCopier>> = {
  'float32>int32': 'f32ToI32', 'int32>float32': 'i32ToF32', 'float32>bool': 'f32ToBool',
  'int32>bool': 'i32ToBool', 'bool>float32': 'boolToF32', 'bool>int32': 'boolToI32',
};

/** Widening casts V8's TypedArray.set vectorizes: faster than a scalar wasm loop beyond tiny sizes. */
const SET_IS_FASTER = new Set<string>(['int32>float32', 'bool>float32', 'bool>int32']);

const kernels: Record<string, NativeKernelFactory> = {
  slice: heapKernel((cp, _b, inputs, attrs, outs, types) => {
    const x = inputs[0]!, out = outs[0]!, outShape = types[0]!.shape;
    const e = esz(x.dtype);
    const { off, str } = sliceGeometry(x.shape, attrs['starts'] as number[], attrs['steps'] as number[]);
    copyBoxOnHeap(cp, e, x.storage.ptr + off * e, str, out.ptr, stridesOf(outShape), outShape);
  }),
  sliceGrad: heapKernel((cp, _b, inputs, attrs, outs, types) => {
    const dy = inputs[0]!, out = outs[0]!, outShape = types[0]!.shape;
    const e = esz(dy.dtype);
    cp.zero(out.ptr, out.size * e);
    const { off, str } = sliceGeometry(outShape, attrs['starts'] as number[], attrs['steps'] as number[]);
    copyBoxOnHeap(cp, e, dy.storage.ptr, stridesOf(dy.shape), out.ptr + off * e, str, dy.shape);
  }),
  // concat/split: each input is `outer` rows of one contiguous run: one copyRows call each.
  concat: heapKernel((cp, _b, inputs, attrs, outs, types) => {
    const axis = attrs['axis'] as number;
    const out = outs[0]!, outShape = types[0]!.shape;
    const e = esz(out.dtype);
    const outer = outerOf(outShape, axis), inner = innerOf(outShape, axis);
    const rowOut = outShape[axis]! * inner * e;
    let col = 0;
    for (let i = 0; i < inputs.length; i++) {
      const x = inputs[i]!;
      const run = x.shape[axis]! * inner * e;
      if (run > 0) cp.copyRows(out.ptr + col, x.storage.ptr, outer, run, rowOut, run);
      col += run;
    }
  }),
  split: heapKernel((cp, _b, inputs, attrs, outs, types) => {
    const axis = attrs['axis'] as number;
    const x = inputs[0]!;
    const e = esz(x.dtype);
    const outer = outerOf(x.shape, axis), inner = innerOf(x.shape, axis);
    const rowIn = x.shape[axis]! * inner * e;
    let col = 0;
    for (let i = 0; i < outs.length; i++) {
      const run = types[i]!.shape[axis]! * inner * e;
      if (run > 0) cp.copyRows(outs[i]!.ptr, x.storage.ptr + col, outer, run, run, rowIn);
      col += run;
    }
  }),
  expand: (backend, name) => {
    const fallback = fallbackOf(backend, name);
    const cp = heapCopier(backend);
    return (inputs, attrs, outTypes, outs) => {
      const x = inputs[0]!;
      const outShape = outTypes[0]!.shape;
      const r = outShape.length;
      // Broadcasting the innermost dim fills rows with one value: TypedArray.fill is a
      // vectorized memset, faster than a scalar wasm loop. One value (an RNN's zero state)
      // fills the whole output here; other row fills take the portable kernel.
      const xLast = x.shape.length > 0 ? x.shape[x.shape.length - 1]! : 1;
      const fill = r > 0 && outShape[r - 1]! > 1 && xLast === 1;
      if (fill && x.storage.size !== 1) return fallback(inputs, attrs, outTypes, outs);
      const out = outs?.[0] ?? backend.alloc(x.dtype, sizeOfShape(outShape));
      if (fill) {
        fillOnHeap(backend, esz(x.dtype), x.storage.ptr, out.ptr, sizeOfShape(outShape));
        return oneOutput(out, outs);
      }
      const box = expandBox(attrs, x.shape, outShape);
      if (box) copyHeapBox(cp, esz(x.dtype), x.storage.ptr, out.ptr, box);
      return oneOutput(out, outs);
    };
  },
  indexSelect: validated(checkAxisIndex((inputs, axis) => inputs[0]!.shape[axis]!), heapKernel((cp, _b, [x, index], attrs, [out]) => {
    const axis = attrs['axis'] as number;
    const e = esz(x!.dtype);
    const outer = outerOf(x!.shape, axis), inner = innerOf(x!.shape, axis);
    const d = x!.shape[axis]!, m = index!.storage.size, row = inner * e;
    if (row === 0 || m === 0) return;
    for (let o = 0; o < outer; o++) cp.selectRows(out!.ptr + o * m * row, x!.storage.ptr + o * d * row, index!.storage.ptr, m, row);
  })),
  indexSelectGrad: validated(checkAxisIndex((_inputs, _axis, attrs) => attrs['size'] as number), (backend, name) => {
    const fallback = fallbackOf(backend, name);
    const cp = heapCopier(backend);
    return (inputs, attrs, outTypes, outs) => {
      const [dy, index] = inputs;
      if (dy!.dtype !== 'float32') return fallback(inputs, attrs, outTypes, outs);
      const axis = attrs['axis'] as number;
      const shape = outTypes[0]!.shape;
      const out = outs?.[0] ?? backend.alloc('float32', sizeOfShape(shape));
      cp.zero(out.ptr, out.size * 4);
      const outer = outerOf(shape, axis), inner = innerOf(shape, axis);
      const d = shape[axis]!, m = index!.storage.size;
      if (inner > 0 && m > 0) {
        for (let o = 0; o < outer; o++) cp.addRows32(out.ptr + o * d * inner * 4, dy!.storage.ptr + o * m * inner * 4, index!.storage.ptr, m, inner);
      }
      return oneOutput(out, outs);
    };
  }),
  // Validate before allocating; the portable kernels then run (no tfjs kernel fits torch.gather).
  gather: validated(checkAxisIndex((inputs, axis) => inputs[0]!.shape[axis]!), (backend, name) => fallbackOf(backend, name)),
  scatterAdd: validated(checkAxisIndex((inputs, axis) => inputs[0]!.shape[axis]!), (backend, name) => fallbackOf(backend, name)),
  pad,
  oneHot,
  cast: (backend, name) => {
    const fallback = fallbackOf(backend, name);
    const cp = heapCopier(backend);
    return (inputs, attrs, outTypes, outs) => {
      const x = inputs[0]!;
      const to = outTypes[0]!.dtype;
      const key = `${x.dtype}>${to}` as const;
      const fn = CASTS[key];
      if (!fn || (x.storage.size >= 256 && SET_IS_FASTER.has(key))) return fallback(inputs, attrs, outTypes, outs);
      const out = outs?.[0] ?? backend.alloc(to, x.storage.size);
      (cp[fn] as (d: number, s: number, n: number) => void)(out.ptr, x.storage.ptr, x.storage.size);
      return oneOutput(out, outs);
    };
  },
};

registerNativeKernels(kernels);
