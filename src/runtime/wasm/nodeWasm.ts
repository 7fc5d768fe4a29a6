// Loading tfjs-backend-wasm's module in Node (see `loadWasmModule`): from the package's
// folder through `createRequire`, its threaded build with the pthread worker as a real
// file in the temp folder. Node-only: reached through the Node host (`src/platform/node.ts`).
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { KilnError } from '../../ir/index.js';
import type { NativeOutput, NativeOutputHooks, WasmModule } from './wasmModule.js';

/**
 * Loads the single-threaded SIMD build (threads = 1) or the threaded-SIMD build, from the
 * package or from `wasmPath` (a folder, as a path or `file:` URL, holding the `.wasm` files).
 */
export async function loadNodeWasm(threads: number, output: NativeOutputHooks, wasmPath: string | undefined): Promise<WasmModule> {
  const wasmDir = wasmPath === undefined ? undefined : wasmPath.startsWith('file:') ? fileURLToPath(wasmPath) : wasmPath;
  const file = threads === 1 ? 'tfjs-backend-wasm-simd.wasm' : 'tfjs-backend-wasm-threaded-simd.wasm';
  if (wasmDir !== undefined && !existsSync(path.join(wasmDir, file))) {
    throw new KilnError(
      `cannot load the WebAssembly file ${path.join(wasmDir, file)}: no such file. wasmPath names the folder holding ${file} ` +
      `(Kiln ships it in dist/runtime/wasm/; tfjs-backend-wasm in wasm-out/); leave it out to use the installed package's`,
      { op: 'init' },
    );
  }
  return threads === 1 ? loadSingleThreaded(output, wasmDir) : loadThreaded(threads, output, wasmDir);
}

async function loadSingleThreaded(output: NativeOutputHooks, wasmDir: string | undefined): Promise<WasmModule> {
  const require = createRequire(import.meta.url);
  const factoryPath = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-simd.js');
  const dir = wasmDir ?? path.dirname(factoryPath);
  // The Emscripten post-script assigns into this global.
  const g = globalThis as { WasmBackendModule?: object };
  g.WasmBackendModule ??= {};
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
async function loadThreaded(threads: number, output: NativeOutputHooks, wasmDir: string | undefined): Promise<WasmModule> {
  const require = createRequire(import.meta.url);
  const factoryPath = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js');
  const dir = path.dirname(factoryPath);
  const wasmPath = path.join(wasmDir ?? dir, 'tfjs-backend-wasm-threaded-simd.wasm');
  const { wasmWorkerContents } = require(path.join(dir, 'tfjs-backend-wasm-threaded-simd.worker.js')) as { wasmWorkerContents: string };
  const workerPath = pthreadWorkerFile(wasmWorkerContents);
  const factory = require(factoryPath) as (opts: ThreadedFactoryOptions) => Promise<ThreadedWasmModule>;
  // The build assigns Node's Worker class to a global `Worker` and creates its 8 workers
  // through it while loading (the pool takes at most 7 of them); put back what was there.
  const globalWorker = Object.getOwnPropertyDescriptor(globalThis, 'Worker');
  let failed: (e: unknown) => void = () => {};
  const failure = new Promise<never>((_, reject) => (failed = reject));
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
  // Kiln's kernel threads: plain scripts, without the process's execArgv (see PthreadWorker),
  // unref'd like the pool's (they wait in Atomics.wait between jobs).
  mod.spawnWorker = (source) => {
    const w = new Worker(source, { eval: true, execArgv: [] });
    w.unref();
    return w;
  };
  return mod;
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
