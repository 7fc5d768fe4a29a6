import { arrayFor, isFloat, KilnError, sizeOf, userCallSite, type Attrs, type DType, type OpDef, type TypedArray } from '../ir/index.js';
import * as randomOps from '../ops/random.js';
import { drawsFor } from '../ops/random.js';
import { isAllocationFailure, type Backend, type BackendName } from '../runtime/backend.js';
import { engine, getBackend, type RandomKind } from './engine.js';
import { run1 } from './dispatch.js';
import { fromNested, type NestedArray } from './nested.js';
import { Tensor } from './tensor.js';
import { fullOn } from './functional/elementwise.js';

/** Options every creation function takes. */
export interface CreateOptions {
  dtype?: DType;
  /** Makes the tensor a leaf that requires grad (and survives scopes, like a parameter). */
  requiresGrad?: boolean;
  /** Backend to create on; default: the one `kiln.init` chose. */
  backend?: BackendName;
}

/** Options of random creation functions. */
export interface RandomOptions extends CreateOptions {
  /** Seed of this call's stream; default: the global generator (see `manualSeed`). */
  seed?: number;
}

function fail(op: string, message: string): never {
  throw new KilnError(message, { op, callSite: userCallSite() });
}

/** Wraps elements already laid out row-major into a new tensor. */
export function fromFlat(op: string, flat: ArrayLike<number>, shape: readonly number[], options: CreateOptions = {}): Tensor {
  checkShape(op, shape);
  const size = sizeOf(shape);
  if (flat.length !== size) fail(op, `${flat.length} values do not fill shape [${shape.join(', ')}] (${size} elements)`);
  if (options.dtype === 'int32' && !(flat instanceof Int32Array)) for (let i = 0; i < size; i++) checkInt32(op, flat[i]!);
  return generate(op, shape, options, (arr) => {
    if (arr instanceof Uint8Array) for (let i = 0; i < size; i++) arr[i] = flat[i] ? 1 : 0;
    else arr.set(flat);
  });
}

/**
 * Numbers stored as int32 truncate toward zero; one outside the int32 range (or NaN)
 * raises, as PyTorch does, instead of wrapping modulo 2³² as a typed-array store would.
 */
function checkInt32(op: string, v: number): void {
  if (!(v > -2147483649 && v < 2147483648)) fail(op, `value ${v} cannot be converted to int32 without overflow (int32 holds [-2147483648, 2147483647])`);
}

/**
 * A new tensor whose elements `fill` writes into a zeroed host array of its dtype. The
 * backend storage is allocated first, so a size it cannot hold fails as its
 * out-of-memory KilnError, naming `op`, before any host array of that size is made.
 */
function generate(op: string, shape: readonly number[], options: CreateOptions, fill: (arr: TypedArray) => void): Tensor {
  const dtype = options.dtype ?? 'float32';
  const backend = getBackend(options.backend);
  if (dtype === 'float64' && !backend.supportsFloat64) fail(op, `float64 is supported on the reference backend only, not '${backend.name}'`);
  const size = sizeOf(shape);
  const storage = named(op, () => backend.alloc(dtype, size));
  try {
    const arr = named(op, () => arrayFor(dtype, size));
    fill(arr);
    backend.write(storage, arr);
  } catch (e) {
    backend.free(storage);
    throw e;
  }
  return leaf(new Tensor(storage, [...shape], dtype, backend), options.requiresGrad);
}

function wrap(backend: Backend, arr: TypedArray, shape: readonly number[], dtype: DType, requiresGrad?: boolean): Tensor {
  const storage = backend.alloc(dtype, arr.length);
  backend.write(storage, arr);
  return leaf(new Tensor(storage, [...shape], dtype, backend), requiresGrad);
}

/**
 * Runs `fn`, giving a KilnError without an op (a backend's out of memory) the op's name
 * and the user's line; a JS array too large to make becomes the same KilnError.
 */
function named<T>(op: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof KilnError && e.op === undefined && !e.callSite) fail(op, e.message);
    if (isAllocationFailure(e)) fail(op, `out of memory: ${(e as Error).message}`);
    throw e;
  }
}

function leaf(t: Tensor, requiresGrad: boolean | undefined): Tensor {
  const dtype = t.dtype;
  if (requiresGrad) {
    if (dtype !== 'float32' && dtype !== 'float64') fail('tensor', `only floating-point tensors can require grad, got ${dtype}`);
    t.requiresGrad_(true);
  }
  return t;
}

function checkShape(op: string, shape: readonly number[]): void {
  if (!Array.isArray(shape)) fail(op, `shape must be an array of integers, got ${typeof shape}`);
  for (const d of shape) if (!Number.isInteger(d) || d < 0) fail(op, `shape must hold non-negative integers, got [${shape.join(', ')}]`);
}

/**
 * A tensor from (nested) arrays, a typed array or a number.
 *
 * @example
 * ```ts
 * const x = kiln.tensor([[1, 2], [3, 4]]);              // float32 [2, 2]
 * const i = kiln.tensor([0, 2, 1], { dtype: 'int32' });
 * const m = kiln.tensor([1, 2, 3, 4, 5, 6], { shape: [2, 3] }); // flat data, explicit shape
 * ```
 */
export function tensor(data: NestedArray | readonly NestedArray[] | ArrayLike<number>, options: CreateOptions & { shape?: readonly number[] } = {}): Tensor {
  if (ArrayBuffer.isView(data)) {
    // Typed arrays are already flat: skip the nested-array walk (it costs ~100 ns/element).
    const flat = data as unknown as ArrayLike<number>;
    const dtype = options.dtype ?? (data instanceof Int32Array ? 'int32' : 'float32');
    return fromFlat('tensor', flat, options.shape ?? [flat.length], { ...options, dtype });
  }
  let parsed: { shape: readonly number[]; flat: ArrayLike<number> };
  try {
    parsed = fromNested(data as NestedArray);
  } catch (e) {
    return fail('tensor', (e as Error).message);
  }
  if (options.shape) {
    if (parsed.shape.length > 1) fail('tensor', 'the shape option takes flat data, got nested arrays');
    parsed = { shape: options.shape, flat: parsed.flat };
  }
  let dtype = options.dtype;
  if (!dtype) dtype = typeof firstLeaf(data) === 'boolean' ? 'bool' : data instanceof Int32Array ? 'int32' : 'float32';
  return fromFlat('tensor', parsed.flat, parsed.shape, { ...options, dtype });
}

function firstLeaf(v: unknown): unknown {
  while (Array.isArray(v)) v = v[0];
  return v;
}

/** A tensor filled with `value`. */
export function full(shape: readonly number[], value: number, options: CreateOptions = {}): Tensor {
  return fullAs('full', shape, value, options);
}

function fullAs(op: string, shape: readonly number[], value: number, options: CreateOptions): Tensor {
  checkShape(op, shape);
  const dtype = options.dtype ?? 'float32';
  const backend = getBackend(options.backend);
  if (dtype === 'float64' && !backend.supportsFloat64) fail(op, `float64 is supported on the reference backend only, not '${backend.name}'`);
  if (dtype === 'int32') checkInt32(op, value);
  return leaf(named(op, () => fullOn(backend, [...shape], dtype, value)), options.requiresGrad);
}

export function zeros(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return fullAs('zeros', shape, 0, options);
}

export function ones(shape: readonly number[], options: CreateOptions = {}): Tensor {
  return fullAs('ones', shape, 1, options);
}

/** Values `start, start+step, …` below `end` (PyTorch `arange`; one argument means `[0, end)`). */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (![start, end, step].every(Number.isFinite)) fail('arange', `start, end and step must be finite numbers, got ${start}, ${end}, ${step}`);
  if (step === 0) fail('arange', 'step must be non-zero');
  const n = Math.max(0, Math.ceil((end - start) / step));
  const allInt = Number.isInteger(start) && Number.isInteger(end) && Number.isInteger(step);
  const dtype = options.dtype ?? (allInt ? 'int32' : 'float32');
  const last = start + (n - 1) * step;
  if (dtype === 'int32' && n > 0 && Math.max(Math.abs(start), Math.abs(last)) > 2147483647) {
    fail('arange', `values from ${start} to ${last} do not fit int32; pass { dtype: 'float32' } or 'float64'`);
  }
  return generate('arange', [n], { ...options, dtype }, elementwise((i) => start + i * step));
}

/** `steps` evenly spaced values from `start` to `end` inclusive. */
export function linspace(start: number, end: number, steps: number, options: CreateOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0) fail('linspace', `steps must be a non-negative integer, got ${steps}`);
  const step = steps > 1 ? (end - start) / (steps - 1) : 0;
  return generate('linspace', [steps], options, elementwise((i) => start + i * step));
}

/** Identity matrix `[n, m]` (m defaults to n). */
export function eye(n: number, m = n, options: CreateOptions = {}): Tensor {
  checkShape('eye', [n, m]);
  return generate('eye', [n, m], options, (arr) => {
    for (let i = 0; i < Math.min(n, m); i++) arr[i * m + i] = 1;
  });
}

/** A `generate` fill of element i = `valueAt(i)` (bool: nonzero is 1). */
function elementwise(valueAt: (i: number) => number): (arr: TypedArray) => void {
  return (arr) => {
    if (arr instanceof Uint8Array) for (let i = 0; i < arr.length; i++) arr[i] = valueAt(i) ? 1 : 0;
    else for (let i = 0; i < arr.length; i++) arr[i] = valueAt(i);
  };
}

// ---- randomness -----------------------------------------------------------------

const generator = { seed: 0x5eed, offset: 0 };

/** Seeds the global generator (used by random ops without an explicit `seed`). */
export function manualSeed(seed: number): void {
  if (!Number.isSafeInteger(seed) || seed < 0) fail('manualSeed', `seed must be a non-negative safe integer, got ${seed}`);
  generator.seed = seed;
  generator.offset = 0;
}

/** The (seed, offset) a random call of `count` numbers uses; advances the global stream. */
export function nextStream(count: number, seed?: number): { seed: number; offset: number } {
  if (seed !== undefined) {
    if (!Number.isSafeInteger(seed) || seed < 0) fail('random', `seed must be a non-negative safe integer, got ${seed}`);
    return { seed, offset: 0 };
  }
  const s = { seed: generator.seed, offset: generator.offset };
  generator.offset += Math.ceil(count / 4) * 4; // whole Philox blocks, like PyTorch
  return s;
}

/**
 * The Philox key of one random op as an int32 [4] tensor: [seedLo, seedHi, offsetLo,
 * offsetHi] (uint32 bit patterns). While `kiln.compile` traces, the tracer makes it, so
 * that a compiled graph draws from the global generator at every run.
 */
function randomKey(backend: Backend, numel: number, kind: RandomKind, seed: number | undefined): Tensor {
  if (engine.tracer !== null) return engine.tracer.randomKey(backend, numel, kind, seed);
  return keyTensor(backend, nextStream(drawsFor(kind, numel), seed));
}

/** @internal The key tensor of stream (seed, offset) on `backend`. */
export function keyTensor(backend: Backend, s: { seed: number; offset: number }): Tensor {
  const hi = (v: number) => Math.floor(v / 0x100000000);
  return wrap(backend, Int32Array.of(s.seed | 0, hi(s.seed) | 0, s.offset | 0, hi(s.offset) | 0), [4], 'int32');
}

/** Runs random op `def` on a fresh key: one op, so tracing records it instead of its numbers. */
function sample(op: string, def: OpDef, shape: readonly number[], kind: RandomKind, attrs: Attrs, options: RandomOptions, dtype: DType): Tensor {
  checkShape(op, shape);
  const backend = getBackend(options.backend);
  if (dtype === 'float64' && !backend.supportsFloat64) fail(op, `float64 is supported on the reference backend only, not '${backend.name}'`);
  if (options.seed !== undefined && (!Number.isSafeInteger(options.seed) || options.seed < 0)) fail(op, `seed must be a non-negative safe integer, got ${options.seed}`);
  const key = randomKey(backend, sizeOf(shape), kind, options.seed);
  let t: Tensor;
  try {
    t = run1(def, [key], { shape: [...shape], dtype, ...attrs });
  } finally {
    key.dispose(); // also when the op fails (out of memory): nothing left behind
  }
  if (options.requiresGrad) {
    if (dtype !== 'float32' && dtype !== 'float64') fail(op, `only floating-point tensors can require grad, got ${dtype}`);
    t.requiresGrad_(true);
  }
  return t;
}

/** Uniform samples in `[0, 1)` (Philox4x32-10; same seed → same numbers on every backend). */
export function rand(shape: readonly number[], options: RandomOptions = {}): Tensor {
  return uniform(shape, 0, 1, options);
}

/** Uniform samples in `[low, high)`. */
export function uniform(shape: readonly number[], low = 0, high = 1, options: RandomOptions = {}): Tensor {
  return sample('uniform', randomOps.randomUniform, shape, 'uniform', { low, high }, options, options.dtype ?? 'float32');
}

/** Standard normal samples (Box–Muller over Philox uniforms). */
export function randn(shape: readonly number[], options: RandomOptions = {}): Tensor {
  return normal(shape, 0, 1, options);
}

/** Normal samples with the given mean and standard deviation. */
export function normal(shape: readonly number[], mean = 0, std = 1, options: RandomOptions = {}): Tensor {
  return sample('normal', randomOps.randomNormal, shape, 'normal', { mean, std }, options, options.dtype ?? 'float32');
}

/** Integers uniform in `[low, high)`, int32 by default. */
export function randint(low: number, high: number, shape: readonly number[], options: RandomOptions = {}): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) fail('randint', `need integers low < high, got [${low}, ${high})`);
  return sample('randint', randomOps.randomInt, shape, 'uniform', { low, high }, options, options.dtype ?? 'int32');
}

/** 0/1 samples with probability `p` of 1, elementwise over `probs` (PyTorch `bernoulli`). */
export function bernoulli(probs: Tensor, options: { seed?: number } = {}): Tensor {
  if (!(probs instanceof Tensor)) fail('bernoulli', `expected a Tensor of probabilities, got ${probs === null ? 'null' : typeof probs}`);
  if (options.seed !== undefined && (!Number.isSafeInteger(options.seed) || options.seed < 0)) fail('bernoulli', `seed must be a non-negative safe integer, got ${options.seed}`);
  const p = isFloat(probs.dtype) ? probs : probs.cast('float32');
  const key = randomKey(probs.backend, probs.size, 'uniform', options.seed);
  let mask: Tensor;
  try {
    mask = run1(randomOps.bernoulli, [p, key], {});
  } catch (e) {
    if (p !== probs) p.dispose();
    throw e;
  } finally {
    key.dispose();
  }
  if (p !== probs) {
    p.dispose();
    const m = mask;
    mask = m.cast(probs.dtype);
    m.dispose();
  }
  return mask;
}
