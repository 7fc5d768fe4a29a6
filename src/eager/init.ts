import { KilnError } from '../ir/index.js';
import type { Backend, BackendName } from '../runtime/backend.js';
import { ReferenceBackend } from '../runtime/reference/referenceBackend.js';
import { WasmBackend } from '../runtime/wasm/wasmBackend.js';
import { loadWasmModule, wasmThreads as loadedWasmThreads } from '../runtime/wasm/wasmModule.js';
import { createWebGpuBackend, type GpuLike, type WebGpuBackend } from '../runtime/webgpu/index.js';
import { loadNodeHost } from '../platform/index.js';
import { engine } from './engine.js';

export interface InitOptions {
  /** Default backend for new tensors: 'wasm' (default), 'reference' or 'webgpu'. */
  backend?: BackendName;
  /**
   * For `backend: 'webgpu'`: the WebGPU entry point to use (a `GPU` such as
   * `navigator.gpu`, or Dawn's `create([])` from npm `webgpu`). Default: `navigator.gpu`
   * in browsers, Dawn (the npm package `webgpu`, which must be installed) in Node.
   */
  gpu?: GpuLike;
  /**
   * Threads for the wasm backend's XNNPACK kernels (matmul, convolution, pooling): 1 loads
   * tfjs-backend-wasm's single-threaded SIMD build, n > 1 (at most 8) its threaded-SIMD
   * build with a pool of n threads (this one and n − 1 workers, which do not keep the
   * process alive). Kiln's own generated kernels stay on this thread. Measured on 2 cores,
   * 2 threads: see README "Threads". Default: the `KILN_THREADS` environment variable,
   * else 1. The wasm module is loaded once per process (per worker thread), by the first
   * `init`: a later `init` asking for another count throws a KilnError. In a browser,
   * n > 1 uses web workers and needs a cross-origin isolated page (COOP/COEP headers).
   */
  threads?: number;
  /**
   * Where the wasm backend's `.wasm` files are (`tfjs-backend-wasm-simd.wasm`, and
   * `tfjs-backend-wasm-threaded-simd.wasm` for threads): a folder, as a URL or a path
   * relative to the page in browsers (default: next to Kiln's module, i.e. next to your
   * bundle), or a directory path in Node (default: the installed tfjs-backend-wasm
   * package). A file that cannot be loaded throws a KilnError naming its URL.
   */
  wasmPath?: string | URL;
}

/**
 * Loads the backends and sets the default one. Call once before creating tensors;
 * calling again only changes the default (and loads the wasm backend if it is not yet).
 * `backend: 'reference'` loads no wasm: `t.to('wasm')` then needs `await kiln.init()`.
 *
 * @example
 * ```ts
 * await kiln.init();                          // wasm (XNNPACK SIMD kernels)
 * await kiln.init({ backend: 'reference' });  // plain TypeScript, float64 too
 * await kiln.init({ threads: 2 });            // wasm, XNNPACK kernels on 2 threads
 * await kiln.init({ wasmPath: '/assets/kiln/' }); // in a page: the folder holding the .wasm files
 * await kiln.init({ backend: 'webgpu' });     // GPU; read results with `await t.data()`
 * ```
 */
export async function init(options: InitOptions = {}): Promise<void> {
  const name = options.backend ?? 'wasm';
  if (!engine.backends.has('reference')) engine.backends.set('reference', asBackend(new ReferenceBackend()));
  // The reference backend needs no wasm (nothing is fetched in a page). Otherwise the wasm
  // module is loaded once; loading again returns it, or throws if `threads` asks for another count.
  if (name === 'webgpu') await initWebGpu(options.gpu);
  // Neither the reference nor the webgpu backend needs the wasm module unless asked for.
  if ((name !== 'reference' && name !== 'webgpu') || options.threads !== undefined || options.wasmPath !== undefined) {
    const wasmModule = await loadWasmModule({ threads: options.threads, wasmPath: options.wasmPath });
    if (!engine.backends.has('wasm')) engine.backends.set('wasm', asBackend(new WasmBackend(wasmModule)));
  } else {
    await loadNodeHost(); // files (checkpoints, datasets) in Node; nothing in browsers
  }
  const backend = engine.backends.get(name);
  if (!backend) throw new KilnError(`unknown backend '${name}': expected 'wasm', 'reference' or 'webgpu'`);
  engine.defaultBackend = backend;
}

/**
 * Creates the webgpu backend (once; again after its device was lost, or when a `gpu` is
 * injected). No adapter is a KilnError saying how to get one.
 */
async function initWebGpu(gpu: GpuLike | undefined): Promise<void> {
  const current = engine.backends.get('webgpu') as unknown as WebGpuBackend | undefined;
  if (current && !current.lost && (gpu === undefined || gpu === injectedGpu)) return;
  const backend = await createWebGpuBackend(gpu);
  if (current && !current.lost) current.destroy();
  injectedGpu = gpu;
  engine.backends.set('webgpu', asBackend(backend));
}

/** The `gpu` the current webgpu backend was made from (undefined: the default one). */
let injectedGpu: GpuLike | undefined;

/**
 * Threads the wasm backend's XNNPACK kernels run on (see `InitOptions.threads`), or null
 * before `init`.
 */
export function wasmThreads(): number | null {
  return loadedWasmThreads();
}

/** Name of the default backend, or null before `init`. */
export function getDefaultBackend(): BackendName | null {
  return engine.defaultBackend?.name ?? null;
}

/** Kernels only ever receive storages of their own backend (dispatch checks it), so the widening is safe. */
function asBackend<B>(b: B): Backend {
  return b as unknown as Backend;
}
