import { formatShape, isFloat, KilnError, sizeOf, userCallSite, type Attrs, type DType, type TypedArray } from '../ir/index.js';
import type { Axes, ReduceOptions, TensorLike } from '../ops/tensorLike.js';
import type { Backend, BackendName, Storage } from '../runtime/backend.js';
import { engine, getBackend } from './engine.js';
import type { GradNode } from './autograd.js';
import * as A from './autograd.js';
import * as E from './functional/elementwise.js';
import * as R from './functional/reduce.js';
import * as L from './functional/linalg.js';
import * as S from './functional/shape.js';
import * as N from './functional/nn.js';
import { applyOp } from './dispatch.js';
import { formatTensor } from './format.js';
import { toNested, type NestedArray } from './nested.js';

// Backstop only: frees storage of tensors the user forgot. Never relied on in loops
// (its callbacks cannot run inside synchronous code).
const finalizer = new FinalizationRegistry<{ storage: Storage; backend: Backend }>(({ storage, backend }) => {
  engine.liveTensors--; // the tensor is gone, as after dispose() (which unregisters it)
  if (--storage.refs === 0 && !isPending(storage)) backend.free(storage);
});

// Registering with the finalizer costs 0.5–0.8 µs a tensor in V8 (measured; more than a
// small op's kernel), and most tensors are disposed (by a scope, a compiled call's
// caller, the user) within the task that made them. So a new tensor waits here and is
// registered at the end of the task (a microtask) or when the list is full, whichever
// comes first, if it is still alive then; one disposed before never touches the registry.
const UNREGISTERED_MAX = 1024;
const unregistered: (Tensor | null)[] = new Array<Tensor | null>(UNREGISTERED_MAX).fill(null);
let unregisteredCount = 0;
let registrationQueued = false;
/** A tensor's index in `unregistered` while it waits there, else -1 (disposing it empties its entry, so nothing disposed is held). */
const WAITING_AT: unique symbol = Symbol('kiln.finalizerWait');
/** Set on a tensor once registered with the finalizer. */
const REGISTERED: unique symbol = Symbol('kiln.finalizerRegistered');

function awaitRegistration(t: Tensor): void {
  t[WAITING_AT] = unregisteredCount;
  unregistered[unregisteredCount++] = t;
  if (unregisteredCount === UNREGISTERED_MAX) registerWaiting();
  else if (!registrationQueued) {
    registrationQueued = true;
    queueMicrotask(registerWaiting);
  }
}

/** Registers the waiting tensors with the finalizer (with the storage each holds now). */
function registerWaiting(): void {
  registrationQueued = false;
  for (let i = 0; i < unregisteredCount; i++) {
    const t = unregistered[i];
    if (!t) continue;
    unregistered[i] = null;
    t[WAITING_AT] = -1;
    register(t);
  }
  unregisteredCount = 0;
}

function register(t: Tensor): void {
  finalizer.register(t, { storage: t.storage, backend: t.backend }, t);
  t[REGISTERED] = true;
}

/** Takes `t` out of the finalizer's care (it is disposed, or gets another storage); returns whether it was registered. */
function unregister(t: Tensor): boolean {
  const at = t[WAITING_AT];
  if (at >= 0) {
    unregistered[at] = null;
    t[WAITING_AT] = -1;
    return false;
  }
  if (!t[REGISTERED]) return false;
  finalizer.unregister(t);
  t[REGISTERED] = false;
  return true;
}

/**
 * @internal Storage of a tensor a trace has not computed (yet): `kiln.compile`'s
 * shape-only traces, and lazy tensors whose compiled segment has not run. Holds no
 * elements; a backend never sees it.
 */
export interface PendingStorage extends Storage {
  readonly pending: true;
}

/** @internal */
export function isPending(s: Storage): s is PendingStorage {
  return (s as Partial<PendingStorage>).pending === true;
}

/** @internal A tensor without elements (see `PendingStorage`); only a tracer makes these. */
export function pendingTensor(shape: readonly number[], dtype: DType, backend: Backend): Tensor {
  const storage: PendingStorage = { dtype, size: sizeOf(shape), refs: 1, version: 0, pending: true };
  return new Tensor(storage, shape, dtype, backend);
}

/** @internal Gives a pending tensor the elements its compiled segment computed (takes one ref of `storage`). */
export function materialize(t: Tensor, storage: Storage): void {
  (t as { storage: Storage }).storage = storage;
  // A registered one is registered again with the new storage; a waiting one will be, later.
  if (!t.disposed && t[WAITING_AT] < 0 && unregister(t)) register(t);
}

let nextTensorId = 0;

/** @internal How many tensors were ever made: a tracer tells tensors it saw made from older ones. */
export function tensorsCreated(): number {
  return nextTensorId;
}

/**
 * An n-dimensional array on one backend, with reverse-mode autograd.
 *
 * @example
 * ```ts
 * await kiln.init();
 * const x = kiln.tensor([[1, 2], [3, 4]], { requiresGrad: true });
 * const y = x.mul(x).sum();
 * y.backward();
 * console.log(x.grad!.toArray()); // [[2, 4], [6, 8]]
 * ```
 */
export class Tensor implements TensorLike<Tensor> {
  readonly id = nextTensorId++;
  /** Set by `dispose()`; using a disposed tensor throws. */
  disposed = false;
  #requiresGrad = false;
  /** Accumulated gradient (leaves that require grad, and tensors that called `retainGrad()`), filled by `backward()`. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, when recorded on the tape. */
  gradFn: GradNode | null = null;
  /** Which output of `gradFn` this tensor is. */
  outputIndex = 0;
  /** Survives `kiln.scope` exits (parameters, gradients, optimizer state). */
  keepAlive = false;
  /** @internal The finalizer backstop's bookkeeping (see `awaitRegistration`). */
  [WAITING_AT] = -1;
  /** @internal */
  [REGISTERED] = false;

  constructor(
    /** Elements on `backend`; shared with aliases (reshape). */
    readonly storage: Storage,
    readonly shape: readonly number[],
    readonly dtype: DType,
    readonly backend: Backend,
  ) {
    engine.liveTensors++;
    const scope = engine.scopes[engine.scopes.length - 1];
    if (scope) scope.push(this);
    awaitRegistration(this);
  }

  /**
   * Whether gradients flow to this tensor. Only floating-point tensors can require grad
   * (setting it on an int32 or bool tensor throws, as in PyTorch).
   */
  get requiresGrad(): boolean {
    return this.#requiresGrad;
  }

  set requiresGrad(value: boolean) {
    if (value && !isFloat(this.dtype)) throw notFloat(this, 'requiresGrad');
    this.#requiresGrad = value;
  }

  /**
   * Counts in-place writes to this tensor's elements (caches of derived values compare
   * it, and backward checks that tensors saved for a gradient kept theirs).
   */
  get version(): number {
    return this.storage.version;
  }

  get rank(): number {
    return this.shape.length;
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  /** Whether no op recorded this tensor (the user created it). */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  // ---- reading -------------------------------------------------------------------

  /** A copy of the elements, flat, in row-major order. */
  dataSync(): TypedArray {
    return this.readElements('dataSync()');
  }

  /**
   * A copy of the elements, once the backend computed them: the way to read a tensor on
   * the webgpu backend (its sync reads throw). Errors of the GPU work since the last read
   * (out of memory, a lost device) reject it.
   *
   * @example
   * ```ts
   * await kiln.init({ backend: 'webgpu' });
   * const y = kiln.tensor([1, 2, 3]).mul(2);
   * console.log(await y.data()); // Float32Array [2, 4, 6]
   * ```
   */
  async data(): Promise<TypedArray> {
    if (engine.tracer !== null) engine.tracer.read(this, 'data()');
    this.assertAlive('data');
    const b = this.backend;
    return b.readAsync ? b.readAsync(this.storage) : b.read(this.storage);
  }

  /** The single element of a one-element tensor, as a number (booleans as 0/1). */
  item(): number {
    if (this.size !== 1) throw new KilnError(`item() needs a tensor with one element, got shape [${this.shape.join(', ')}]`, { op: 'item' });
    return this.readElements('item()')[0]!;
  }

  /** Elements as nested arrays (a number for a scalar; booleans as true/false). */
  toArray(): NestedArray {
    return toNested(this.readElements('toArray()'), this.shape, this.dtype === 'bool');
  }

  /** Readable, PyTorch-style; large tensors are elided. */
  toString(): string {
    if (this.disposed) return 'tensor(<disposed>)';
    if (this.backend.readsAsyncOnly) throw syncReadError(this.backend.name, 'toString()');
    const tracer = engine.tracer;
    if (tracer === null) return formatTensor(this);
    tracer.read(this, 'toString()');
    engine.tracer = null; // formatting reads the elements once more: not a second break
    try {
      return formatTensor(this);
    } finally {
      engine.tracer = tracer;
    }
  }

  /**
   * Conversion to a primitive (`\`${x}\``, `x + ''`, `+x`, `x > 0`): a string as before, but
   * while `kiln.compile` traces, use as a number throws naming your line, since the
   * value would decide control flow the graph cannot see. (`if (x)` cannot be detected:
   * every object is truthy in JavaScript; compare `x.item()` instead.)
   */
  [Symbol.toPrimitive](hint: 'number' | 'string' | 'default'): string | number {
    if (hint !== 'string' && engine.tracer !== null) engine.tracer.coerce(this, hint);
    const text = this.toString();
    return hint === 'number' ? Number(text) : text;
  }

  private readElements(what: string): TypedArray {
    if (engine.tracer !== null) engine.tracer.read(this, what);
    this.assertAlive(what.slice(0, -2));
    if (this.backend.readsAsyncOnly) throw syncReadError(this.backend.name, what);
    return this.backend.read(this.storage);
  }

  // ---- memory --------------------------------------------------------------------

  /** Frees the elements now. Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    engine.liveTensors--;
    unregister(this);
    if (--this.storage.refs === 0 && !isPending(this.storage)) this.backend.free(this.storage);
  }

  /** Marks this tensor to survive enclosing `kiln.scope`s. Returns it. */
  keep(): this {
    this.keepAlive = true;
    return this;
  }

  /** @internal */
  assertAlive(op: string): void {
    if (this.disposed) throw new KilnError('tensor was disposed (by dispose() or at the end of a kiln.scope)', { op });
  }

  // ---- autograd ------------------------------------------------------------------

  /** Sets `requiresGrad` in place (floating-point leaves only). Such leaves survive scopes, like parameters. */
  requiresGrad_(requiresGrad = true): this {
    if (!this.isLeaf) throw new KilnError('requiresGrad_ only applies to leaf tensors; use detach() first', { op: 'requiresGrad_' });
    if (requiresGrad && !isFloat(this.dtype)) throw notFloat(this, 'requiresGrad_');
    this.requiresGrad = requiresGrad;
    if (requiresGrad) this.keepAlive = true;
    return this;
  }

  /**
   * Backpropagates from this tensor: fills `.grad` of every leaf that requires grad.
   * A non-scalar tensor needs `gradient` (the vector in the vector-Jacobian product: same
   * shape, dtype and backend as this tensor). Afterwards the tensors the graph saved are
   * released, and a second backward through the same ops throws, unless `retainGraph`.
   * `createGraph` records the backward pass so gradients can be differentiated again
   * (it implies `retainGraph`). A tensor the graph saved that was modified in place
   * before backward (e.g. `h.add_(1)` after `h.sin()`) makes it throw instead of
   * returning a wrong gradient.
   *
   * @example
   * ```ts
   * const x = kiln.tensor([1, 2], { requiresGrad: true });
   * const y = x.square().sum();
   * y.backward(undefined, { retainGraph: true });
   * y.backward();                   // x.grad: 2·(2x) = [4, 8]
   * ```
   */
  backward(gradient?: Tensor, options: A.BackwardOptions = {}): void {
    // Assigning .grad is a side effect no graph holds: inside kiln.compile it is a graph break.
    if (engine.tracer !== null) engine.tracer.read(this, 'backward()');
    A.backward(this, gradient, options);
  }

  /**
   * Makes `backward()` fill `.grad` of this non-leaf tensor too (PyTorch `retain_grad()`);
   * a no-op on leaves, which get `.grad` anyway. Optimizers with a tensor learning rate
   * call it on the parameters they rebind, so the next `backward()` gives them gradients.
   *
   * @example
   * ```ts
   * const x = kiln.tensor([1, 2], { requiresGrad: true });
   * const h = x.mul(3).retainGrad();
   * h.square().sum().backward();
   * h.grad!.toArray(); // 2h = [6, 12]
   * ```
   */
  retainGrad(): this {
    if (!this.requiresGrad) throw new KilnError("retainGrad() needs a tensor that requires grad (it is not on the tape)", { op: 'retainGrad' });
    const node = this.gradFn;
    if (node && !(node.retained ??= []).includes(this)) node.retained.push(this);
    return this;
  }

  /** Whether `backward()` fills `.grad` of this tensor although it is not a leaf (`retainGrad()`). */
  get retainsGrad(): boolean {
    return this.gradFn?.retained?.includes(this) ?? false;
  }

  /** A tensor sharing these elements, cut from the tape. */
  detach(): Tensor {
    this.assertAlive('detach');
    this.storage.refs++;
    const out = new Tensor(this.storage, this.shape, this.dtype, this.backend);
    if (engine.tracer !== null) engine.tracer.alias(this, out);
    return out;
  }

  /** Sets `.grad` to null (disposing it). */
  zeroGrad(): void {
    if (this.grad) {
      this.grad.keepAlive = false;
      this.grad.dispose();
    }
    this.grad = null;
  }

  /** A copy on another backend (`'reference'`, `'wasm'`), detached from the tape. */
  to(backend: BackendName): Tensor {
    if (engine.tracer !== null) engine.tracer.read(this, `to('${backend}')`);
    this.assertAlive('to');
    const target = getBackend(backend);
    if (this.backend.readsAsyncOnly && target !== this.backend) throw syncReadError(this.backend.name, `to('${backend}')`);
    if (this.dtype === 'float64' && !target.supportsFloat64) throw new KilnError(`float64 is supported on the reference backend only, not '${backend}'`, { op: 'to' });
    const storage = target.alloc(this.dtype, this.size);
    target.write(storage, this.backend.read(this.storage));
    return new Tensor(storage, this.shape, this.dtype, target);
  }

  /**
   * Writes `src`'s values into this tensor's elements (PyTorch `copy_`), broadcasting
   * `src` to this shape and casting to this dtype. Not recorded on the tape: on a leaf
   * that requires grad it must run inside `kiln.noGrad` (an optimizer step).
   *
   * @example
   * ```ts
   * kiln.noGrad(() => w.sub_(w.grad!.mul(0.1))); // SGD step
   * ```
   */
  copy_(src: Tensor | number): this {
    this.assertInPlaceAllowed('copy_');
    const value = typeof src === 'number' ? this.fullLike(src) : src.backend === this.backend ? src : src.to(this.backend.name);
    const fitted = value.dtype === this.dtype ? value.expand(this.shape) : value.cast(this.dtype).expand(this.shape);
    if (fitted.shape.length !== this.shape.length || fitted.shape.some((d, i) => d !== this.shape[i])) {
      throw new KilnError(`cannot copy a tensor of shape [${value.shape.join(', ')}] into shape [${this.shape.join(', ')}]`, { op: 'copy_', callSite: userCallSite() });
    }
    const traced = engine.tracer !== null && engine.tracer.copyInto(this, fitted);
    if (!traced && fitted.storage !== this.storage) this.backend.copy(fitted.storage, this.storage);
    if (fitted !== src) fitted.dispose();
    if (value !== src && value !== fitted) value.dispose();
    return this;
  }

  /** In place `this += other` (see `copy_` for the rules). */
  add_(other: Tensor | number): this { return this.inPlace('add_', () => this.add(other)); }
  /** In place `this -= other`. */
  sub_(other: Tensor | number): this { return this.inPlace('sub_', () => this.sub(other)); }
  /** In place `this *= other`. */
  mul_(other: Tensor | number): this { return this.inPlace('mul_', () => this.mul(other)); }
  /** In place `this /= other`. */
  div_(other: Tensor | number): this { return this.inPlace('div_', () => this.div(other)); }

  private inPlace(op: string, compute: () => Tensor): this {
    this.assertInPlaceAllowed(op);
    const result = compute();
    try {
      return this.copy_(result);
    } finally {
      result.dispose();
    }
  }

  private assertInPlaceAllowed(op: string): void {
    this.assertAlive(op);
    if (engine.gradEnabled && this.requiresGrad) {
      throw new KilnError('in-place update of a tensor that requires grad would not be differentiated: run it inside kiln.noGrad(() => ...)', { op, callSite: userCallSite() });
    }
  }

  /** A copy of this tensor (recorded on the tape). */
  clone(): Tensor {
    return applyOp('copy', [this], {})[0]!;
  }

  /** @inheritDoc */
  applyOp(name: string, others: readonly Tensor[], attrs: Attrs = {}): Tensor[] {
    return applyOp(name, [this, ...others], attrs);
  }

  // ---- elementwise ---------------------------------------------------------------
  neg(): Tensor { return E.neg(this); }
  abs(): Tensor { return E.abs(this); }
  exp(): Tensor { return E.exp(this); }
  log(): Tensor { return E.log(this); }
  log1p(): Tensor { return E.log1p(this); }
  sqrt(): Tensor { return E.sqrt(this); }
  rsqrt(): Tensor { return E.rsqrt(this); }
  square(): Tensor { return E.square(this); }
  reciprocal(): Tensor { return E.reciprocal(this); }
  sign(): Tensor { return E.sign(this); }
  sin(): Tensor { return E.sin(this); }
  cos(): Tensor { return E.cos(this); }
  sigmoid(): Tensor { return E.sigmoid(this); }
  tanh(): Tensor { return E.tanh(this); }
  relu(): Tensor { return E.relu(this); }
  leakyRelu(alpha?: number): Tensor { return E.leakyRelu(this, alpha); }
  elu(alpha?: number): Tensor { return E.elu(this, alpha); }
  softplus(options?: { beta?: number; threshold?: number }): Tensor { return E.softplus(this, options); }
  erf(): Tensor { return E.erf(this); }
  clip(min: number | null, max: number | null): Tensor { return E.clip(this, min, max); }

  add(other: Tensor | number): Tensor { return E.add(this, other); }
  sub(other: Tensor | number): Tensor { return E.sub(this, other); }
  mul(other: Tensor | number): Tensor { return E.mul(this, other); }
  div(other: Tensor | number): Tensor { return E.div(this, other); }
  pow(other: Tensor | number): Tensor { return E.pow(this, other); }
  maximum(other: Tensor | number): Tensor { return E.maximum(this, other); }
  minimum(other: Tensor | number): Tensor { return E.minimum(this, other); }
  equal(other: Tensor | number): Tensor { return E.equal(this, other); }
  notEqual(other: Tensor | number): Tensor { return E.notEqual(this, other); }
  less(other: Tensor | number): Tensor { return E.less(this, other); }
  lessEqual(other: Tensor | number): Tensor { return E.lessEqual(this, other); }
  greater(other: Tensor | number): Tensor { return E.greater(this, other); }
  greaterEqual(other: Tensor | number): Tensor { return E.greaterEqual(this, other); }
  logicalAnd(other: Tensor | number): Tensor { return E.logicalAnd(this, other); }
  logicalOr(other: Tensor | number): Tensor { return E.logicalOr(this, other); }
  logicalNot(): Tensor { return E.logicalNot(this); }
  where(cond: Tensor, other: Tensor | number): Tensor { return E.where(cond, this, other); }

  // ---- reductions ----------------------------------------------------------------
  sum(axis?: Axes | null, options?: ReduceOptions): Tensor { return R.sum(this, axis, options); }
  mean(axis?: Axes | null, options?: ReduceOptions): Tensor { return R.mean(this, axis, options); }
  max(axis?: Axes | null, options?: ReduceOptions): Tensor { return R.max(this, axis, options); }
  min(axis?: Axes | null, options?: ReduceOptions): Tensor { return R.min(this, axis, options); }
  prod(axis?: Axes | null, options?: ReduceOptions): Tensor { return R.prod(this, axis, options); }
  argmax(axis?: number | null, options?: ReduceOptions): Tensor { return R.argmax(this, axis, options); }
  argmin(axis?: number | null, options?: ReduceOptions): Tensor { return R.argmin(this, axis, options); }
  variance(axis?: Axes | null, options?: ReduceOptions & { unbiased?: boolean }): Tensor { return R.variance(this, axis, options); }
  logSumExp(axis?: Axes | null, options?: ReduceOptions): Tensor { return R.logSumExp(this, axis, options); }
  softmax(axis?: number): Tensor { return R.softmax(this, axis); }
  logSoftmax(axis?: number): Tensor { return R.logSoftmax(this, axis); }

  // ---- linear algebra ------------------------------------------------------------
  /** Matrix product (see `kiln.matmul`); `other` may be a nested array, made a tensor of this one's dtype. */
  matmul(other: Tensor | NestedArray): Tensor { return L.matmul(this, other); }
  transpose(dim0?: number, dim1?: number): Tensor { return L.transpose(this, dim0, dim1); }
  permute(...dims: number[]): Tensor { return L.permute(this, dims); }

  // ---- shape ---------------------------------------------------------------------
  reshape(...shape: number[] | [readonly number[]]): Tensor { return S.reshape(this, flatShapeArgs(shape)); }
  flatten(startDim?: number, endDim?: number): Tensor { return S.flatten(this, startDim, endDim); }
  squeeze(axis?: Axes): Tensor { return S.squeeze(this, axis); }
  unsqueeze(axis: number): Tensor { return S.unsqueeze(this, axis); }
  expand(...shape: number[] | [readonly number[]]): Tensor { return S.expand(this, flatShapeArgs(shape)); }
  broadcastTo(shape: readonly number[]): Tensor { return S.broadcastTo(this, shape); }
  slice(starts: readonly number[], ends: readonly number[], options?: { axes?: readonly number[]; steps?: readonly number[] }): Tensor {
    return S.slice(this, starts, ends, options);
  }
  split(splitSizeOrSections: number | readonly number[], axis?: number): Tensor[] { return S.split(this, splitSizeOrSections, axis); }
  pad(pads: readonly number[], options?: { mode?: 'constant' | 'reflect'; value?: number }): Tensor { return S.pad(this, pads, options); }
  gather(axis: number, index: Tensor): Tensor { return S.gather(this, axis, index); }
  indexSelect(axis: number, index: Tensor): Tensor { return S.indexSelect(this, axis, index); }
  oneHot(numClasses?: number): Tensor { return S.oneHot(this, numClasses); }
  scatterAdd(axis: number, index: Tensor, src: Tensor): Tensor { return S.scatterAdd(this, axis, index, src); }
  cast(dtype: DType): Tensor { return S.cast(this, dtype); }

  // ---- NN primitives (NCHW) -------------------------------------------------------
  conv2d(weight: Tensor, bias?: Tensor | null, options?: N.Conv2dOptions): Tensor { return N.conv2d(this, weight, bias, options); }
  convTranspose2d(weight: Tensor, bias?: Tensor | null, options?: N.ConvTranspose2dOptions): Tensor { return N.convTranspose2d(this, weight, bias, options); }
  maxPool2d(kernelSize: N.Pair, options?: N.Pool2dOptions): Tensor { return N.maxPool2d(this, kernelSize, options); }
  avgPool2d(kernelSize: N.Pair, options?: N.Pool2dOptions & { countIncludePad?: boolean }): Tensor { return N.avgPool2d(this, kernelSize, options); }
  dropout(p?: number, options?: { training?: boolean; seed?: number }): Tensor { return N.dropout(this, p, options); }

  // ---- creation helpers ----------------------------------------------------------
  zerosLike(): Tensor { return this.fullLike(0); }
  onesLike(): Tensor { return this.fullLike(1); }
  fullLike(value: number): Tensor { return E.fullOn(this.backend, this.shape, this.dtype, value); }
}

function notFloat(t: Tensor, op: string): KilnError {
  return new KilnError(`only tensors of a floating-point dtype can require gradients, got ${t.dtype}${formatShape(t.shape)} (cast it first: x.cast('float32'))`, { op, callSite: userCallSite() });
}

function flatShapeArgs(args: number[] | [readonly number[]]): readonly number[] {
  return args.length === 1 && Array.isArray(args[0]) ? (args[0] as readonly number[]) : (args as number[]);
}

/** A sync read (`dataSync()`, `item()`, `toArray()`, printing, `to()`) of a tensor on a backend that reads asynchronously only. */
function syncReadError(backend: string, what: string): KilnError {
  return new KilnError(
    `synchronous read of a ${backend} tensor: ${what} cannot wait for the GPU; use \`await t.data()\` ` +
      `(then e.g. kiln.tensor(values, t.shape) for a copy on another backend)`,
    { op: what.replace(/\(.*$/, ''), callSite: userCallSite() },
  );
}
