import { createRequire } from 'node:module';
import path from 'node:path';

/** The raw exports of tfjs-backend-wasm's Emscripten module that Kiln calls. */
export interface WasmModule {
  _init(): void;
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  _register_tensor(id: number, size: number, ptr: number): void;
  _dispose_data(id: number): void;
  HEAPU8: Uint8Array;
  asm: { memory: WebAssembly.Memory };
  [name: `_${string}`]: (...args: number[]) => unknown;
}

let loading: Promise<WasmModule> | null = null;

/**
 * Loads tfjs-backend-wasm's SIMD module standalone (no tfjs-core engine), so Kiln owns
 * its heap. Loaded once per process.
 */
export function loadWasmModule(): Promise<WasmModule> {
  loading ??= (async () => {
    const require = createRequire(import.meta.url);
    const factoryPath = require.resolve('@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-simd.js');
    const dir = path.dirname(factoryPath);
    // The Emscripten post-script assigns into this global.
    const g = globalThis as { WasmBackendModule?: object };
    g.WasmBackendModule ??= {};
    const factory = require(factoryPath) as (opts: { locateFile: (f: string) => string }) => Promise<WasmModule>;
    const before = { ex: process.listeners('uncaughtException'), rej: process.listeners('unhandledRejection') };
    const mod = await factory({ locateFile: (f) => path.join(dir, f) });
    // Emscripten installs handlers that rethrow every uncaught error from inside its
    // minified source, so a user's stack trace would print the whole module. Remove them.
    for (const l of process.listeners('uncaughtException')) if (!before.ex.includes(l)) process.removeListener('uncaughtException', l);
    for (const l of process.listeners('unhandledRejection')) if (!before.rej.includes(l)) process.removeListener('unhandledRejection', l);
    mod._init();
    return mod;
  })();
  return loading;
}
