// Loading tfjs-backend-wasm's module in browsers and web workers (see `loadWasmModule`):
// the Emscripten factories are bundled with Kiln (imported below, so every bundler sees
// them), the `.wasm` files are fetched from next to Kiln's module by default (the literal
// `new URL('./….wasm', import.meta.url)` that Vite, webpack and Parcel turn into an
// emitted asset; with esbuild, whose output keeps it as is, that is next to the bundle)
// or from `wasmPath`. Threads use browser workers and shared memory, which browsers give
// only to cross-origin isolated pages (COOP + COEP headers).
import { KilnError } from '../../ir/index.js';
import { WASM_FILES, type NativeOutput, type NativeOutputHooks, type WasmModule } from './wasmModule.js';

/** The threaded build's extras: its heap (created in JS, not exported) and its pthread workers. */
interface ThreadedWasmModule extends WasmModule {
  wasmMemory: WebAssembly.Memory;
  PThread: { unusedWorkers: Worker[]; runningWorkers: Worker[]; terminateAllThreads(): void };
  _init_with_threads_count(threads: number): void;
  _get_threads_count(): number;
}

type Imports = { env: Record<string, unknown> } & WebAssembly.Imports;
type Receive = (instance: WebAssembly.Instance, module: WebAssembly.Module) => void;

interface FactoryOptions extends NativeOutput {
  locateFile: (file: string) => string;
  instantiateWasm: (imports: Imports, receive: Receive) => object;
  mainScriptUrlOrBlob?: Blob;
}

/** Loads the single-threaded SIMD build (threads = 1) or the threaded one, from `wasmPath` or next to Kiln. */
export async function loadBrowserWasm(threads: number, output: NativeOutputHooks, wasmPath: string | undefined): Promise<WasmModule> {
  if (threads > 1 && !(globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated) {
    throw new KilnError(
      `threads: ${threads} needs shared memory (SharedArrayBuffer), which browsers give only to cross-origin isolated pages: ` +
      'serve the page with the headers `Cross-Origin-Opener-Policy: same-origin` and `Cross-Origin-Embedder-Policy: require-corp` ' +
      '(or credentialless), or leave threads at 1',
      { op: 'init' },
    );
  }
  const file = threads === 1 ? WASM_FILES.simd : WASM_FILES.threadedSimd;
  const url = wasmUrl(file, wasmPath);
  // Fetched and compiled before the factory runs: a missing file is a clear error, not an Emscripten abort.
  const [compiled, factory] = await Promise.all([
    fetchWasm(url, file, wasmPath),
    threads === 1
      ? import('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-simd.js').then((m) => m.default)
      : import('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.js').then((m) => m.default as unknown as (o: object) => Promise<unknown>),
  ]);
  // The Emscripten post-script reads this global (its value is only used in Node).
  const g = globalThis as { WasmBackendModule?: object };
  g.WasmBackendModule ??= {};
  let failed: (e: unknown) => void = () => {};
  const failure = new Promise<never>((_, reject) => (failed = reject));
  const options: FactoryOptions = {
    ...output.hooks,
    locateFile: (f) => f,
    instantiateWasm: (imports, receive) => {
      // tfjs runs min(threads, logical cores / 2) threads; report enough cores for `threads`.
      if (threads > 1) imports.env['emscripten_num_logical_cores'] = () => 2 * threads;
      WebAssembly.instantiate(compiled, imports).then((instance) => receive(instance, compiled), failed);
      return {};
    },
  };
  if (threads > 1) {
    const { wasmWorkerContents } = await import('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd.worker.js');
    // Each pthread worker loads the factory from this blob (as tfjs does), then receives the compiled module and the shared heap.
    options.mainScriptUrlOrBlob = new Blob([`var WasmBackendModuleThreadedSimd = ${factory.toString()}`], { type: 'text/javascript' });
    // The worker's source was a template literal whose `\n` escapes became newlines: escape them back (as tfjs does).
    const workerUrl = URL.createObjectURL(new Blob([wasmWorkerContents.replace(/\n/g, '\\n')], { type: 'application/javascript' }));
    options.locateFile = (f) => (f.endsWith('.worker.js') ? workerUrl : f);
  }
  const mod = (await Promise.race([failure, factory(options)])) as WasmModule;
  output.bind(mod);
  if (threads === 1) {
    mod._init();
    return mod;
  }
  const tm = mod as ThreadedWasmModule;
  tm._init_with_threads_count(threads);
  const got = tm._get_threads_count();
  if (got !== threads) {
    tm.PThread.terminateAllThreads();
    throw new Error(`tfjs-backend-wasm started ${got} threads instead of ${threads}`);
  }
  // The pool took threads − 1 of the 8 workers the build started: end the idle ones.
  for (const w of tm.PThread.unusedWorkers) w.terminate();
  tm.PThread.unusedWorkers.length = 0;
  // This build imports its heap instead of exporting it; Kiln reads it as `asm.memory`.
  tm.asm = { ...tm.asm, memory: tm.wasmMemory };
  // Kiln's kernel threads (kernelPool.ts): a worker from a blob, as the pthreads are.
  tm.spawnWorker = (source) => new Worker(URL.createObjectURL(new Blob([source], { type: 'application/javascript' })));
  return tm;
}

/** The base URL relative paths resolve against: the page's (or worker's) location. */
function pageBase(): string | undefined {
  const g = globalThis as { document?: { baseURI?: string }; location?: { href?: string } };
  return g.document?.baseURI ?? g.location?.href;
}

/** Where `file` is: in the folder `wasmPath` names, or next to this module (its bundle). */
export function wasmUrl(file: string, wasmPath: string | undefined): URL {
  if (wasmPath !== undefined) {
    const folder = wasmPath.endsWith('/') ? wasmPath : `${wasmPath}/`;
    try {
      return new URL(file, new URL(folder, pageBase()));
    } catch {
      throw new KilnError(`wasmPath ${JSON.stringify(wasmPath)} is not a URL (nor a path relative to the page)`, { op: 'init' });
    }
  }
  try {
    // Literal URLs, one per file: bundlers only rewrite `new URL('<literal>', import.meta.url)`.
    return file === WASM_FILES.simd
      ? new URL('./tfjs-backend-wasm-simd.wasm', import.meta.url)
      : new URL('./tfjs-backend-wasm-threaded-simd.wasm', import.meta.url);
  } catch {
    // A classic-script bundle (iife) has no import.meta.url: next to the page.
    return new URL(file, pageBase());
  }
}

/** Fetches and compiles a `.wasm` file; a missing or broken one is a KilnError naming the URL and `wasmPath`. */
async function fetchWasm(url: URL, file: string, wasmPath: string | undefined): Promise<WebAssembly.Module> {
  const how =
    `Serve ${file} (Kiln ships it in dist/runtime/wasm/, tfjs-backend-wasm in wasm-out/) ` +
    (wasmPath === undefined ? 'next to your bundle' : `in ${wasmPath}`) +
    ", or tell Kiln which folder holds it: await kiln.init({ wasmPath: '/assets/kiln/' })";
  let response: Response;
  try {
    response = await fetch(url, { credentials: 'same-origin' });
  } catch (e) {
    throw new KilnError(`cannot load the WebAssembly file ${url.href} (${(e as Error).message}). ${how}`, { op: 'init' });
  }
  if (!response.ok) {
    throw new KilnError(`cannot load the WebAssembly file ${url.href} (HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}). ${how}`, { op: 'init' });
  }
  const bytes = await response.arrayBuffer();
  try {
    return await WebAssembly.compile(bytes);
  } catch (e) {
    throw new KilnError(`${url.href} is not the WebAssembly file Kiln needs (${(e as Error).message}): a server that answers every path with a page sends HTML here. ${how}`, { op: 'init' });
  }
}
