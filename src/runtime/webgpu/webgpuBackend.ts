import { KilnError, type DType, type TypedArray } from '../../ir/index.js';
import { KernelAllocations, outOfMemory, type Arena, type Backend, type Kernel } from '../backend.js';
import { BufferUsage, gpuBufferBytes, MapMode, type GpuStorage } from './gpuStorage.js';
import { webGpuKernelFactories } from './kernelRegistry.js';
import './kernels/index.js';

/** One compute dispatch for `WebGpuBackend.dispatch`. */
export interface WebGpuDispatch {
  /** Identifies `code` (and nothing else): the pipeline is created once per key. */
  readonly key: string;
  /** WGSL with entry point `main`; group 0 binds `buffers` then the uniforms (see `dispatch`). */
  readonly code: string;
  readonly buffers: readonly GPUBuffer[];
  /** Bytes of a uniform struct (padded to 16 bytes by the backend); bound after the buffers. */
  readonly uniforms?: ArrayBufferView;
  /** Workgroup counts; each at most `limits.maxComputeWorkgroupsPerDimension`. */
  readonly workgroups: readonly [number, number?, number?];
}

/** Why a webgpu tensor cannot be read synchronously, for every sync read path. */
export const SYNC_READ_MESSAGE = 'synchronous read of a webgpu tensor: use `await t.data()` (the GPU answers asynchronously)';

/** Uniform bytes of the dispatches recorded since the last submit, uploaded once per submit. */
const UNIFORM_ARENA_BYTES = 1 << 16;
/** Freed buffers kept for reuse (by byte size), at most this many bytes in all. */
const POOL_LIMIT_BYTES = 256 << 20;

class WebGpuStorage implements GpuStorage {
  refs = 1;
  version = 0;
  /** Set by `free`: a second free (a kernel's guard after the dispatcher's) must not pool the buffer twice. */
  freed = false;
  /**
   * The elements as last written from the host (small storages only), while `version` is
   * still `hostVersion`: what lets a synchronous read of a literal (a scalar a traced
   * function adds) succeed. Results of kernels have none.
   */
  host: TypedArray | null = null;
  hostVersion = -1;
  constructor(readonly dtype: DType, readonly size: number, readonly buffer: GPUBuffer) {}
}

/**
 * An execution plan's arena on the GPU: one buffer per block offset of the memory plan,
 * sized for the largest value placed there (values at one offset never live at once, so
 * they share it). Separate buffers rather than offsets into one: no binding-offset
 * alignment, and a dispatch never binds one buffer twice.
 */
interface WebGpuArena extends Arena {
  readonly blocks: Map<number, { buffer: GPUBuffer }>;
}

/** A storage viewing one block of a `WebGpuArena` (its buffer may grow while the plan is prepared). */
class ArenaViewStorage implements GpuStorage {
  refs = 1;
  version = 0;
  constructor(readonly dtype: DType, readonly size: number, private readonly block: { buffer: GPUBuffer }) {}
  get buffer(): GPUBuffer {
    return this.block.buffer;
  }
}

/** Storages of at most this many elements keep a host copy of what was written (see `WebGpuStorage.host`). */
const HOST_COPY_MAX = 4096;

/**
 * The WebGPU backend: every dtype stored as 4-byte elements in GPU buffers, kernels as WGSL
 * compute shaders. Kernels record dispatches into one pending command encoder that is
 * submitted when results are needed (`readAsync`, `write`) or on `flush`, so an eager
 * sequence of ops costs one submit per read. Reads are asynchronous only: `read` throws.
 *
 * Errors from the GPU (validation, out of memory, internal) are caught with error scopes
 * around every batch and thrown by the next `readAsync` as KilnErrors; a lost device makes
 * every later call throw, and a pending read rejects instead of hanging.
 */
export class WebGpuBackend implements Backend<GpuStorage> {
  readonly name = 'webgpu' as const;
  readonly supportsFloat64 = false;
  /** Sync reads throw (see `SYNC_READ_MESSAGE`): callers must use `readAsync`. */
  readonly readsAsyncOnly = true;
  readonly kernels = new Map<string, Kernel<GpuStorage>>();
  readonly stats = { submits: 0, pipelines: 0 };
  readonly limits: GPUSupportedLimits;

  private live = 0;
  private storages = 0;
  private readonly inflight = new KernelAllocations<GpuStorage>((s) => this.free(s));
  private readonly pipelines = new Map<string, GPUComputePipeline>();
  private readonly pool = new Map<number, GPUBuffer[]>();
  private pooledBytes = 0;
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** Buffers to destroy once the pending encoder (which may use them) is submitted. */
  private destroyAfterSubmit: GPUBuffer[] = [];
  private readonly uniformArena: GPUBuffer;
  private readonly uniformBytes = new Uint8Array(UNIFORM_ARENA_BYTES);
  private uniformUsed = 0;
  private readonly uniformAlign: number;
  /** The first GPU error of the batches submitted since the last check (null: none). */
  private errors: Promise<GPUError | null> = Promise.resolve(null);
  private lostInfo: GPUDeviceLostInfo | null = null;
  private readonly lostPromise: Promise<GPUDeviceLostInfo>;

  /**
   * @param device a device requested with the adapter's limits (see `./device.ts`).
   * @param describe a short name of the adapter for messages.
   */
  constructor(readonly device: GPUDevice, readonly describe = 'a WebGPU device') {
    this.limits = device.limits;
    this.uniformAlign = Math.max(16, device.limits.minUniformBufferOffsetAlignment);
    this.lostPromise = device.lost.then((info) => (this.lostInfo = info));
    this.openErrorScopes();
    this.uniformArena = device.createBuffer({ size: UNIFORM_ARENA_BYTES, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
    // Guarded: a kernel that throws frees what it allocated (see KernelAllocations).
    for (const [name, factory] of webGpuKernelFactories) this.kernels.set(name, this.inflight.guard(factory(this)));
  }

  /** Whether the device was lost (destroyed, driver reset): the backend is then unusable. */
  get lost(): boolean {
    return this.lostInfo !== null;
  }

  // ---- storages ----------------------------------------------------------------------

  /** A storage of `size` elements; its contents are unspecified (buffers are pooled): write every element. */
  alloc(dtype: DType, size: number): GpuStorage {
    this.checkAlive('alloc');
    if (dtype === 'float64') throw new KilnError("float64 is supported on the reference backend only, not 'webgpu' (cast to float32)");
    const bytes = gpuBufferBytes(size);
    const max = Math.min(this.limits.maxBufferSize, this.limits.maxStorageBufferBindingSize);
    if (bytes > max) {
      throw outOfMemory('webgpu', dtype, size, `larger than the device's largest storage buffer, ${max.toLocaleString('en-US')} bytes`, { bytes: this.live, storages: this.storages });
    }
    const s = new WebGpuStorage(dtype, size, this.takeBuffer(bytes));
    this.live += bytes;
    this.storages++;
    this.inflight.note(s);
    return s;
  }

  free(storage: GpuStorage): void {
    storage.refs = 0;
    if (storage instanceof ArenaViewStorage) return; // the arena's
    const s = storage as WebGpuStorage;
    if (s.freed) return;
    s.freed = true;
    const bytes = storage.buffer.size;
    this.live -= bytes;
    this.storages--;
    if (this.pooledBytes + bytes <= POOL_LIMIT_BYTES) {
      // Reuse is safe without a submit: later commands of the pending encoder run after
      // the ones that read it, and `write` submits first (queue writes run before it).
      let list = this.pool.get(bytes);
      if (!list) this.pool.set(bytes, (list = []));
      list.push(storage.buffer);
      this.pooledBytes += bytes;
    } else if (this.encoder) {
      this.destroyAfterSubmit.push(storage.buffer);
    } else {
      storage.buffer.destroy();
    }
  }

  liveBytes(): number {
    return this.live;
  }

  allocArena(bytes: number): WebGpuArena {
    this.checkAlive('compiled run');
    return { bytes, blocks: new Map() };
  }

  arenaView(arena: WebGpuArena, byteOffset: number, dtype: DType, size: number): GpuStorage {
    const need = gpuBufferBytes(size);
    let block = arena.blocks.get(byteOffset);
    if (!block || block.buffer.size < need) {
      if (block) this.retire(block.buffer);
      const buffer = this.device.createBuffer({ size: need, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST });
      if (block) block.buffer = buffer;
      else arena.blocks.set(byteOffset, (block = { buffer }));
    }
    return new ArenaViewStorage(dtype, size, block);
  }

  freeArenaView(view: GpuStorage): void {
    view.refs = 0;
  }

  freeArena(arena: WebGpuArena): void {
    for (const block of arena.blocks.values()) this.retire(block.buffer);
    arena.blocks.clear();
  }

  /** Destroys `buffer` once the work recorded so far (which may use it) is submitted. */
  private retire(buffer: GPUBuffer): void {
    if (this.encoder) this.destroyAfterSubmit.push(buffer);
    else buffer.destroy();
  }

  // ---- transfers ---------------------------------------------------------------------

  /**
   * Throws: a GPU buffer can only be read asynchronously (`readAsync`, i.e. `await
   * t.data()`), except a small storage whose elements were last written from the host
   * (a literal), which gives that copy.
   */
  read(storage: GpuStorage): TypedArray {
    const s = storage as WebGpuStorage;
    if (s.host && s.hostVersion === s.version) return s.host.slice();
    throw new KilnError(SYNC_READ_MESSAGE);
  }

  /** The elements, after every recorded dispatch ran; GPU errors since the last read reject it. */
  async readAsync(storage: GpuStorage): Promise<TypedArray> {
    this.checkAlive('data()');
    const bytes = gpuBufferBytes(storage.size);
    const staging = this.device.createBuffer({ size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
    this.endPass();
    this.encoderNow().copyBufferToBuffer(storage.buffer, 0, staging, 0, bytes);
    this.flush();
    try {
      await this.untilLost(staging.mapAsync(MapMode.READ), 'reading a tensor');
      await this.throwGpuErrors();
      const raw = staging.getMappedRange(0, bytes);
      const out = hostArray(storage.dtype, storage.size, raw);
      staging.unmap();
      return out;
    } finally {
      staging.destroy();
    }
  }

  write(storage: GpuStorage, data: TypedArray): void {
    this.checkAlive('write');
    // Queue writes run before command buffers submitted later: submit what reads the old contents first.
    this.flush();
    const src = gpuArray(storage.dtype, data);
    this.device.queue.writeBuffer(storage.buffer, 0, src.buffer, src.byteOffset, storage.size * 4);
    storage.version++;
    const s = storage as WebGpuStorage;
    s.host = storage.size <= HOST_COPY_MAX ? data.slice() : null;
    s.hostVersion = storage.version;
  }

  fill(storage: GpuStorage, value: number): void {
    const bits = new Uint32Array(4);
    if (storage.dtype === 'float32') new Float32Array(bits.buffer)[0] = value;
    else if (storage.dtype === 'int32') new Int32Array(bits.buffer)[0] = value;
    else bits[0] = value ? 1 : 0;
    bits[1] = storage.size;
    if (storage.size > 0) {
      this.dispatch({ key: 'kiln.fill', code: FILL_WGSL, buffers: [storage.buffer], uniforms: bits, workgroups: this.grid(storage.size, 256) });
    }
    storage.version++;
    const s = storage as WebGpuStorage;
    s.host = storage.size <= HOST_COPY_MAX ? hostArray(storage.dtype, storage.size, new Uint32Array(storage.size).fill(bits[0]!).buffer) : null;
    s.hostVersion = storage.version;
  }

  copy(src: GpuStorage, dst: GpuStorage): void {
    this.checkAlive('copy');
    if (src.size > 0) {
      this.endPass();
      this.encoderNow().copyBufferToBuffer(src.buffer, 0, dst.buffer, 0, src.size * 4);
    }
    dst.version++;
  }

  // ---- dispatch ----------------------------------------------------------------------

  /**
   * Records one compute dispatch into the pending command encoder (no submit). The
   * pipeline is created once per `key` (layout 'auto', entry point 'main'). Group 0 binds
   * `buffers[i]` at binding i (declare each `var<storage, read>` or `var<storage,
   * read_write>`; every binding must be used by the shader, since the 'auto' layout drops
   * unused ones), then, when `uniforms` is given, a uniform buffer at binding `buffers.length`.
   *
   * @example
   * ```ts
   * backend.dispatch({ key: 'scale', code: SCALE_WGSL, buffers: [x.buffer, y.buffer],
   *   uniforms: new Float32Array([2, n, 0, 0]), workgroups: backend.grid(n, 64) });
   * ```
   */
  dispatch(d: WebGpuDispatch): void {
    this.checkAlive(d.key);
    const pipeline = this.pipeline(d.key, d.code);
    const entries: GPUBindGroupEntry[] = d.buffers.map((buffer, i) => ({ binding: i, resource: { buffer } }));
    if (d.uniforms) {
      const size = Math.ceil(d.uniforms.byteLength / 16) * 16;
      if (size > UNIFORM_ARENA_BYTES) throw new KilnError(`uniforms of ${d.key} are ${size} bytes, more than ${UNIFORM_ARENA_BYTES}`);
      if (this.uniformUsed + size > UNIFORM_ARENA_BYTES) this.flush();
      const offset = this.uniformUsed;
      this.uniformBytes.set(new Uint8Array(d.uniforms.buffer, d.uniforms.byteOffset, d.uniforms.byteLength), offset);
      this.uniformBytes.fill(0, offset + d.uniforms.byteLength, offset + size);
      this.uniformUsed = Math.ceil((offset + size) / this.uniformAlign) * this.uniformAlign;
      entries.push({ binding: d.buffers.length, resource: { buffer: this.uniformArena, offset, size } });
    }
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const pass = (this.pass ??= this.encoderNow().beginComputePass());
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y = 1, z = 1] = d.workgroups;
    pass.dispatchWorkgroups(x, y, z);
  }

  /**
   * Workgroup counts covering `n` invocations of a 1-D kernel with `workgroupSize`
   * threads: `[x, y]` with x ≤ `maxComputeWorkgroupsPerDimension`. The shader computes its
   * index as `gid.x + gid.y · x · workgroupSize` (see `num_workgroups`) and skips ≥ n.
   */
  grid(n: number, workgroupSize: number): [number, number] {
    const groups = Math.max(1, Math.ceil(n / workgroupSize));
    const max = this.limits.maxComputeWorkgroupsPerDimension;
    if (groups <= max) return [groups, 1];
    const y = Math.ceil(groups / max);
    return [Math.ceil(groups / y), y];
  }

  /** Submits the pending encoder (no-op when nothing is recorded). */
  flush(): void {
    if (!this.encoder) return;
    this.endPass();
    if (this.uniformUsed > 0) {
      this.device.queue.writeBuffer(this.uniformArena, 0, this.uniformBytes.buffer, 0, this.uniformUsed);
      this.uniformUsed = 0;
    }
    const commands = this.encoder.finish();
    this.encoder = null;
    this.device.queue.submit([commands]);
    this.stats.submits++;
    for (const b of this.destroyAfterSubmit) b.destroy();
    this.destroyAfterSubmit = [];
    this.closeErrorScopes();
    this.openErrorScopes();
  }

  /** Waits for the submitted work; throws the first GPU error since the last check. */
  async sync(): Promise<void> {
    this.flush();
    await this.untilLost(this.device.queue.onSubmittedWorkDone(), 'waiting for the GPU');
    await this.throwGpuErrors();
  }

  /** Submits pending work and destroys the device (every tensor on it is gone). */
  destroy(): void {
    if (this.lost) return;
    this.flush();
    this.device.destroy();
  }

  // ---- internals ---------------------------------------------------------------------

  private takeBuffer(bytes: number): GPUBuffer {
    const list = this.pool.get(bytes);
    const reused = list?.pop();
    if (reused) {
      this.pooledBytes -= bytes;
      return reused;
    }
    return this.device.createBuffer({ size: bytes, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST });
  }

  private pipeline(key: string, code: string): GPUComputePipeline {
    let p = this.pipelines.get(key);
    if (p) return p;
    // Shader errors surface as a validation error of this batch; the scope below names the kernel.
    this.device.pushErrorScope('validation');
    const module = this.device.createShaderModule({ code, label: key });
    p = this.device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' }, label: key });
    const failed = this.device.popErrorScope().then((e) => (e ? new WgslError(key, e.message, code) : null), () => null);
    this.errors = firstError(this.errors, failed);
    this.pipelines.set(key, p);
    this.stats.pipelines++;
    return p;
  }

  private encoderNow(): GPUCommandEncoder {
    return (this.encoder ??= this.device.createCommandEncoder());
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private openErrorScopes(): void {
    this.device.pushErrorScope('internal');
    this.device.pushErrorScope('out-of-memory');
    this.device.pushErrorScope('validation');
  }

  private closeErrorScopes(): void {
    // A lost device rejects the pops: its loss is reported by every later call instead.
    const validation = this.device.popErrorScope().catch(() => null);
    const oom = this.device.popErrorScope().catch(() => null);
    const internal = this.device.popErrorScope().catch(() => null);
    this.errors = firstError(this.errors, oom, validation, internal);
  }

  private async throwGpuErrors(): Promise<void> {
    const e = await this.errors;
    this.errors = Promise.resolve(null);
    if (!e) return;
    if (e instanceof WgslError) throw new KilnError(`the WGSL kernel '${e.key}' failed to compile (a bug in Kiln's webgpu kernels): ${e.message}`);
    const kind = e.constructor?.name === 'GPUOutOfMemoryError' || /out of memory/i.test(e.message) ? 'out of memory on the GPU' : 'GPU error';
    throw new KilnError(`${kind} in work submitted since the last read (results since then are invalid): ${e.message.trim()}`);
  }

  private checkAlive(what: string): void {
    if (this.lostInfo) throw lostError(this.lostInfo, what);
  }

  /** `p`, or a KilnError as soon as the device is lost (a lost device never resolves some promises). */
  private untilLost<T>(p: Promise<T>, what: string): Promise<T> {
    return Promise.race([
      p.catch((e: unknown) => {
        if (this.lostInfo) throw lostError(this.lostInfo, what);
        throw e instanceof Error ? new KilnError(`${what} on the GPU failed: ${e.name}${e.message ? `: ${e.message}` : ''}`) : e;
      }),
      this.lostPromise.then((info) => {
        throw lostError(info, what);
      }),
    ]);
  }
}

/** A shader that failed to compile: the scope of its creation names it. */
class WgslError {
  constructor(readonly key: string, readonly message: string, readonly code: string) {}
}

function firstError(...ps: Promise<GPUError | WgslError | null>[]): Promise<GPUError | null> {
  return Promise.all(ps).then((es) => (es.find((e) => e !== null) ?? null) as GPUError | null);
}

function lostError(info: GPUDeviceLostInfo, what: string): KilnError {
  const why = info.reason === 'destroyed' ? 'it was destroyed' : `the driver reported: ${info.message || 'no reason given'}`;
  return new KilnError(`the WebGPU device was lost (${why}) while ${what}: its tensors are gone; call \`await kiln.init({ backend: 'webgpu' })\` for a new device`);
}

/** Host elements of the GPU's 4-byte words: bool u32 → Uint8Array, others as they are. */
function hostArray(dtype: DType, size: number, raw: ArrayBuffer): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(raw, 0, size).slice();
    case 'int32': return new Int32Array(raw, 0, size).slice();
    case 'bool': return Uint8Array.from(new Uint32Array(raw, 0, size));
    default: throw new KilnError(`the webgpu backend has no ${dtype} storage`);
  }
}

/** GPU words of host elements (bool → u32 0/1; int64-like inputs are already int32 here). */
function gpuArray(dtype: DType, data: TypedArray): Float32Array | Int32Array | Uint32Array {
  switch (dtype) {
    case 'float32': return data instanceof Float32Array ? data : Float32Array.from(data as ArrayLike<number>);
    case 'int32': return data instanceof Int32Array ? data : Int32Array.from(data as ArrayLike<number>);
    case 'bool': return Uint32Array.from(data as ArrayLike<number>, (v) => (v ? 1 : 0));
    default: throw new KilnError(`the webgpu backend has no ${dtype} storage`);
  }
}

const FILL_WGSL = /* wgsl */ `
struct Params { value: u32, n: u32 }
@group(0) @binding(0) var<storage, read_write> y: array<u32>;
@group(0) @binding(1) var<uniform> p: Params;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nw: vec3u) {
  let i = gid.x + gid.y * nw.x * 256u;
  if (i < p.n) { y[i] = p.value; }
}`;
