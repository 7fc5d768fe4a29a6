import { KilnError } from '../../ir/index.js';
import { env, loadNodeHost } from '../../platform/index.js';

/** The raw exports of tfjs-backend-wasm's Emscripten module that Kiln calls. */
export interface WasmModule {
  _init(): void;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  _register_tensor(id: number, size: number, ptr: number): void;
  _dispose_data(id: number): void;
  HEAPU8: Uint8Array;
  asm: { memory: WebAssembly.Memory };
  /**
   * The last failure a native kernel printed and returned from as if it had worked (an
   * XNNPACK operator it could not create, e.g. out of memory: its output is garbage), or
   * null. Set by `nativeOutput`; the backend checks and clears it around each kernel.
   */
  nativeFailure: string | null;
  /**
   * The threaded build's way to start a worker thread running `source` (a classic script:
   * CommonJS in Node, a plain worker in browsers), for Kiln's own kernel threads
   * (kernelPool.ts); absent in the single-threaded build.
   */
  spawnWorker?: (source: string) => KernelWorker;
  [name: `_${string}`]: (...args: number[]) => unknown;
}

/** The part of a worker thread (Node's or a browser's) Kiln's kernel pool uses. */
export interface KernelWorker {
  postMessage(message: unknown): void;
  terminate(): unknown;
}

/**
 * The most threads tfjs-backend-wasm runs: its build pre-creates 8 pthread workers and
 * `init_with_threads_count` caps its pool there.
 */
export const MAX_WASM_THREADS = 8;

/** The wasm files of tfjs-backend-wasm that Kiln loads: one per build. */
export const WASM_FILES = {
  /** The single-threaded SIMD build (`threads: 1`, the default). */
  simd: 'tfjs-backend-wasm-simd.wasm',
  /** The threaded SIMD build (`threads` > 1). */
  threadedSimd: 'tfjs-backend-wasm-threaded-simd.wasm',
} as const;

/** Where and how to load the module: `threads` (default `KILN_THREADS`, else 1) and `wasmPath`. */
export interface WasmLoadOptions {
  threads?: number | undefined;
  /** The folder (path or URL) that holds the `.wasm` files; default: next to Kiln (browsers) or the installed package (Node). */
  wasmPath?: string | URL | undefined;
}

let loading: Promise<WasmModule> | null = null;
let loadedThreads = 0;

/**
 * Loads tfjs-backend-wasm's SIMD module standalone (no tfjs-core engine), so Kiln owns
 * its heap: the single-threaded build for 1 thread, the threaded-SIMD build for more
 * (browser workers there, which need a cross-origin isolated page; worker threads in Node).
 * Loaded once per process, page or worker; `threads` defaults to the `KILN_THREADS`
 * environment variable (Node), else 1. Asking again for another count throws: the module,
 * its heap and the tensors on it are shared by everything in the process. In Node the
 * files come from the installed package (`./nodeWasm.ts`); elsewhere they are fetched from
 * next to Kiln's module, or from `wasmPath` (`./browserWasm.ts`).
 */
export function loadWasmModule(options: WasmLoadOptions | number = {}): Promise<WasmModule> {
  const { threads, wasmPath } = typeof options === 'number' ? { threads: options, wasmPath: undefined } : options;
  if (loading) {
    if (threads !== undefined && threads !== loadedThreads) {
      throw new KilnError(
        `the wasm backend is already loaded with ${plural(loadedThreads)}; it cannot switch to ${plural(threads)} ` +
        `(its module is loaded once per process): pass { threads } to the first kiln.init, or set KILN_THREADS`,
      );
    }
    return loading;
  }
  const n = threads ?? threadsFromEnv();
  checkThreads(n, 'threads');
  const path = wasmPath === undefined ? undefined : String(wasmPath);
  loadedThreads = n;
  const attempt = (async () => {
    const output = nativeOutput();
    const host = await loadNodeHost();
    if (host) return host.loadWasm(n, output, path);
    const { loadBrowserWasm } = await import('./browserWasm.js');
    return loadBrowserWasm(n, output, path);
  })();
  loading = attempt;
  // A failed load (a missing file, a page without isolation) may be retried with other options.
  attempt.catch(() => {
    if (loading === attempt) loading = null;
  });
  return attempt;
}

/** Threads of the loaded wasm module (1 = the single-threaded build), or null before loading. */
export function wasmThreads(): number | null {
  return loading ? loadedThreads : null;
}

function plural(n: number): string {
  return n === 1 ? '1 thread' : `${n} threads`;
}

function threadsFromEnv(): number {
  const raw = env('KILN_THREADS');
  if (raw === undefined || raw.trim() === '') return 1;
  const n = Number(raw);
  checkThreads(n, `KILN_THREADS=${raw}`);
  return n;
}

function checkThreads(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_WASM_THREADS) {
    throw new KilnError(`${what}: expected a whole number of threads from 1 to ${MAX_WASM_THREADS} (tfjs-backend-wasm's limit)`);
  }
}

/** Emscripten's hooks for what the module prints (stdout, stderr). */
export interface NativeOutput {
  print: (text: string) => void;
  printErr: (text: string) => void;
}

/** The hooks to pass to the Emscripten factory, and `bind` to call with the loaded module. */
export interface NativeOutputHooks {
  hooks: NativeOutput;
  bind(mod: WasmModule): void;
}

// What tfjs-backend-wasm prints when a kernel gives up but returns normally: an XNNPACK
// call's status ("XNN status for xnn_create_… is not successful. Got status 6") or an
// unsupported dtype ("… failed. Unknown dtype 3").
const NATIVE_FAILURE = /XNN status for \S+ is not successful|failed\. (Unknown|Unsupported) dtype/;

/**
 * Print hooks that record a native kernel's failure message in `nativeFailure` (instead of
 * printing it) and print everything else as Emscripten would. `bind` attaches the module.
 */
function nativeOutput(): NativeOutputHooks {
  let mod: WasmModule | null = null;
  const route = (fallback: (text: string) => void) => (text: string) => {
    if (mod && NATIVE_FAILURE.test(text)) mod.nativeFailure = text;
    else fallback(text);
  };
  return {
    hooks: { print: route((text) => console.log(text)), printErr: route((text) => console.warn(text)) },
    bind(m) {
      mod = m;
      m.nativeFailure = null;
    },
  };
}
