import { fusedActivationOf, type Attrs, type DType, type TensorType } from '../../../ir/index.js';
import type { KernelInput } from '../../backend.js';
import type { WasmBackend, WasmStorage } from '../wasmBackend.js';
import { simdKernels, type SimdKernel } from './simdElementwise.js';

/**
 * The generated kernels' f32 params of the activations run in place (the same mapping
 * as their own kernels in elementwise.ts: a missing clip bound is ∓Infinity).
 */
const IN_PLACE: Readonly<Record<string, (a: Attrs) => number[]>> = {
  relu: () => [],
  leakyRelu: (a) => [a['alpha'] as number],
  clip: (a) => [(a['min'] as number | null) ?? -Infinity, (a['max'] as number | null) ?? Infinity],
};

/**
 * Applies the activation fused into a conv2d / convTranspose2d / linear (attr
 * `activation`) to its float32 output `out`, returning the result's storage. XNNPACK runs
 * without its clamp (which turns NaN into 0); relu, leakyRelu and clip then run in place
 * on the generated SIMD kernels their separate ops use (the same code, so the same bits,
 * NaN kept); any other activation runs the backend's own kernel for it (what the
 * separate op would run), into `out` itself where that kernel honours caller-given
 * outputs, else into a new storage (and `out` is freed unless it was `given` to the
 * calling kernel: then the executor copies the result into it).
 */
export function applyFusedActivationOnHeap(backend: WasmBackend, out: WasmStorage, attrs: Attrs, type: TensorType, given = false): WasmStorage {
  const act = parsedActivation(attrs);
  if (!act || out.size === 0) return out;
  if (act.params) {
    inPlaceKernel(backend, act)(out.ptr, out.ptr, 1, out.size, 0, act.params[0] ?? 0, act.params[1] ?? 0);
    return out;
  }
  const kernel = backend.kernels.get(act.op);
  if (!kernel) throw new Error(`no kernel for the fused activation ${act.op}`);
  // In place when the kernel honours caller-given outputs (a unary elementwise kernel
  // reads element i before writing it); `out` may be a plan's arena view. The call's
  // arrays are the parsed activation's own, refilled (no allocation per call).
  const c = (act.call ??= { input: { storage: out, shape: type.shape, dtype: type.dtype }, inputs: [], types: [], outs: [] });
  c.input.storage = out;
  c.input.shape = type.shape;
  c.input.dtype = type.dtype;
  c.inputs[0] = c.input;
  c.types[0] = type;
  c.outs[0] = out;
  const y = kernel(c.inputs, act.attrs, c.types, c.outs)[0]!;
  c.outs[0] = undefined; // hold no storage between calls
  if (y !== out && !given) backend.free(out);
  return y;
}

/** An activation as parsed from a node's attrs, with what running it in place needs. */
interface ParsedActivation {
  readonly op: string;
  readonly attrs: Attrs;
  /** The generated kernel's f32 params when it runs in place, else null. */
  readonly params: readonly number[] | null;
  memory: WebAssembly.Memory | null;
  kernel: SimdKernel | null;
  /** The arguments of a call to the activation's own kernel, reused. */
  call?: { input: { storage: WasmStorage; shape: readonly number[]; dtype: DType }; inputs: KernelInput<WasmStorage>[]; types: TensorType[]; outs: (WasmStorage | undefined)[] };
}

/** Parsed once per attrs object (a plan's node keeps its attrs): a kernel call allocates nothing. */
const parsed = new WeakMap<Attrs, ParsedActivation | null>();

function parsedActivation(attrs: Attrs): ParsedActivation | null {
  let p = parsed.get(attrs);
  if (p === undefined) {
    const act = fusedActivationOf(attrs);
    const params = act ? IN_PLACE[act.op] : undefined;
    p = act ? { op: act.op, attrs: act.attrs, params: params ? params(act.attrs) : null, memory: null, kernel: null } : null;
    parsed.set(attrs, p);
  }
  return p;
}

/** Whether the activation fused into `attrs` is ReLU (which the GEMM applies itself: gemmKernel.ts). */
export function fusesRelu(attrs: Attrs): boolean {
  return parsedActivation(attrs)?.op === 'relu';
}

function inPlaceKernel(backend: WasmBackend, act: ParsedActivation): SimdKernel {
  const memory = backend.memory;
  if (act.memory !== memory || !act.kernel) {
    act.kernel = simdKernels(memory, act.op)[act.op]!;
    act.memory = memory;
  }
  return act.kernel;
}
