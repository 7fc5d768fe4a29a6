import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { KilnError } from '../../ir/index.js';

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
  [name: `_${string}`]: (...args: number[]) => unknown;
}

/**
 * The most threads tfjs-backend-wasm runs: its build pre-creates 8 pthread workers and
 * `init_with_threads_count` caps its pool there.
 */
export const MAX_WASM_THREADS = 8;

let loading: Promise<WasmModule> | null = null;
let loadedThreads = 0;

/**
 * Loads tfjs-backend-wasm's SIMD module standalone (no tfjs-core engine), so Kiln owns
 * its heap: the single-threaded build for 1 thread, the threaded-SIMD build for more.
 * Loaded once per process (per worker thread); `threads` defaults to the `KILN_THREADS`
 * environment variable, else 1. Asking again for another count throws: the module, its
 * heap and the tensors on it are shared by everything in the process.
 */
export function loadWasmModule(threads?: number): Promise<WasmModule> {
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
  loadedThreads = n;
  loading = n === 1 ? loadSingleThreaded() : loadThreaded(n);
  return loading;
}

/** Threads of the loaded wasm module (1 = the single-threaded build), or null before loading. */
export function wasmThreads(): number | null {
  return loading ? loadedThreads : null;
}

function plural(n: number): string {
  return n === 1 ? '1 thread' : `${n} threads`;
}

function threadsFromEnv(): number {
  const raw = process.env['KILN_THREADS'];
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

async function loadSingleThreaded(): Promise<WasmModule> {
  const require = createRequire(import.meta.url);
  const factoryPath = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-simd.js');
  const dir = path.dirname(factoryPath);
  // The Emscripten post-script assigns into this global.
  const g = globalThis as { WasmBackendModule?: object };
  g.WasmBackendModule ??= {};
  const output = nativeOutput();
  const factory = require(factoryPath) as (opts: { locateFile: (f: string) => string } & NativeOutput) => Promise<WasmModule>;
  const mod = await withoutEmscriptenHandlers(() => factory({ locateFile: (f) => path.join(dir, f), ...output.hooks }));
  output.bind(mod);
  mod._init();
  return mod;
}

/** What the threaded build adds: its heap is created in JS (not exported) and its pthread workers. */
interface ThreadedWasmModule extends WasmModule {
  wasmMemory: WebAssembly.Memory;
  PThread: { unusedWorkers: Worker[]; runningWorkers: Worker[]; terminateAllThreads(): void };
  _init_with_threads_count(threads: number): void;
  _get_threads_count(): number;
}

interface ThreadedFactoryOptions extends NativeOutput {
  mainScriptUrlOrBlob: string;
  locateFile: (f: string) => string;
  instantiateWasm: (imports: { env: Record<string, unknown> } & WebAssembly.Imports, receive: (i: WebAssembly.Instance, m: WebAssembly.Module) => void) => object;
}

/**
 * The threaded-SIMD build, run the way tfjs cannot in Node: tfjs hands Emscripten its
 * pthread worker as a `blob:` URL (Node's Worker rejects it) and caps the pool at half the
 * logical cores (1 on a 2-core machine). Here the worker script is a real file, the main
 * script is the factory's own path, and the core count the build asks for is 2 × threads.
 * Measured on 2 cores, 2 threads: matmul 512³ 38 → 75 GFLOP/s; loading ≈250 ms (the build
 * starts 8 workers; the idle ones are ended below).
 */
async function loadThreaded(threads: number): Promise<WasmModule> {
  const require = createRequire(import.meta.url);
  const factoryPath = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const dir = path.dirname(factoryPath);
  const wasmPath = path.join(dir, 'tfjs-backend-wasm-threaded-simd.wasm');
  const { wasmWorkerContents } = require(path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  const workerPath = pthreadWorkerFile(wasmWorkerContents);
  const factory = require(factoryPath) as (opts: ThreadedFactoryOptions) => Promise<ThreadedWasmModule>;
  // The build assigns Node's Worker class to a global `Worker` and creates its 8 workers
  // through it while loading (the pool takes at most 7 of them); put back what was there.
  const globalWorker = Object.getOwnPropertyDescriptor(globalThis, 'Worker');
  let failed: (e: unknown) => void = () => {};
  const failure = new Promise<never>((_, reject) => (failed = reject));
  const output = nativeOutput();
  const mod = await withoutEmscriptenHandlers(() => Promise.race([failure, factory({
    ...output.hooks,
    mainScriptUrlOrBlob: factoryPath,
    locateFile: (f) => {
      if (!f.endsWith('.worker.js')) return path.join(dir, f);
      // Called right before each `new Worker(file)` (after the build has set the global).
      (globalThis as { Worker?: unknown }).Worker = PthreadWorker;
      return workerPath;
    },
    instantiateWasm: (imports, receive) => {
      // tfjs runs min(threads, logical cores / 2) threads; report enough cores for `threads`.
      imports.env['emscripten_num_logical_cores'] = () => 2 * threads;
      WebAssembly.instantiate(readFileSync(wasmPath), imports).then(({ instance, module }) => receive(instance, module), failed);
      return {};
    },
  })])).finally(() => {
    if (globalWorker) Object.defineProperty(globalThis, 'Worker', globalWorker);
    else delete (globalThis as { Worker?: unknown }).Worker;
  });
  output.bind(mod);
  mod._init_with_threads_count(threads);
  const got = mod._get_threads_count();
  if (got !== threads) {
    mod.PThread.terminateAllThreads();
    throw new Error(`tfjs-backend-wasm started ${got} threads instead of ${threads}`);
  }
  // pthreadpool took threads − 1 workers (the calling thread is the other one). End the
  // idle ones; unref the pool's, which sit in Atomics.wait between kernels, so they do not
  // keep the process alive (it ends them when it exits).
  for (const w of mod.PThread.unusedWorkers) void w.terminate();
  mod.PThread.unusedWorkers.length = 0;
  for (const w of mod.PThread.runningWorkers) w.unref();
  // This build imports its heap instead of exporting it; Kiln reads it as `asm.memory`.
  // Emscripten resolves exports through `asm` lazily, so the copy must keep them all.
  mod.asm = { ...mod.asm, memory: mod.wasmMemory };
  return mod;
}

/** Emscripten's hooks for what the module prints (stdout, stderr). */
interface NativeOutput {
  print: (text: string) => void;
  printErr: (text: string) => void;
}

// What tfjs-backend-wasm prints when a kernel gives up but returns normally: an XNNPACK
// call's status ("XNN status for xnn_create_… is not successful. Got status 6") or an
// unsupported dtype ("… failed. Unknown dtype 3").
const NATIVE_FAILURE = /XNN status for \S+ is not successful|failed\. (Unknown|Unsupported) dtype/;

/**
 * Print hooks that record a native kernel's failure message in `nativeFailure` (instead of
 * printing it) and print everything else as Emscripten would. `bind` attaches the module.
 */
function nativeOutput(): { hooks: NativeOutput; bind(mod: WasmModule): void } {
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

/**
 * Workers inherit the process's `execArgv` (`--import tsx` under vitest and the benches:
 * ≈50 ms more per worker, and the build starts 8; `--cpu-prof`: a profile per worker).
 * The pthread script is plain CommonJS and needs none of it.
 */
class PthreadWorker extends Worker {
  constructor(file: string) {
    super(file, { execArgv: [] });
  }
}

/**
 * The pthread worker script as a file: the package ships it only as a string (tfjs turns it
 * into a blob URL). Written once per content into the temp folder, atomically (another
 * process may be writing the same file).
 */
function pthreadWorkerFile(contents: string): string {
  // The string came from a template literal whose `\n` escapes became newlines; tfjs
  // escapes them back before making its blob, and so must we.
  const source = contents.replace(/\n/g, '\\n');
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const file = path.join(os.tmpdir(), `kiln-tfjs-pthread-worker-${hash}.cjs`);
  if (!existsSync(file)) {
    const tmp = `${file}.${process.pid}.tmp`;
    writeFileSync(tmp, source);
    renameSync(tmp, file);
  }
  return file;
}

/**
 * Emscripten installs handlers that rethrow every uncaught error from inside its minified
 * source, so a user's stack trace would print the whole module. Removes them.
 */
async function withoutEmscriptenHandlers<T>(load: () => Promise<T>): Promise<T> {
  const before = { ex: process.listeners('uncaughtException'), rej: process.listeners('unhandledRejection') };
  try {
    return await load();
  } finally {
    for (const l of process.listeners('uncaughtException')) if (!before.ex.includes(l)) process.removeListener('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection')) if (!before.rej.includes(l)) process.removeListener('unhandledRejection', l);
  }
}
