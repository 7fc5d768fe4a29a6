import { KilnError } from '../ir/index.js';
import type { Backend, BackendName } from '../runtime/backend.js';
import { ReferenceBackend } from '../runtime/reference/referenceBackend.js';
import { WasmBackend } from '../runtime/wasm/wasmBackend.js';
import { loadWasmModule } from '../runtime/wasm/wasmModule.js';
import { engine } from './engine.js';

export interface InitOptions {
  /** Default backend for new tensors: 'wasm' (default) or 'reference'. */
  backend?: BackendName;
}

/**
 * Loads the backends and sets the default one. Call once before creating tensors;
 * calling again only changes the default.
 *
 * @example
 * ```ts
 * await kiln.init();                          // wasm (XNNPACK SIMD kernels)
 * await kiln.init({ backend: 'reference' });  // plain TypeScript, float64 too
 * ```
 */
export async function init(options: InitOptions = {}): Promise<void> {
  const name = options.backend ?? 'wasm';
  if (!engine.backends.has('reference')) engine.backends.set('reference', asBackend(new ReferenceBackend()));
  // The wasm backend is always loaded (≈10 ms): `t.to('wasm')` must work after any init.
  if (!engine.backends.has('wasm')) engine.backends.set('wasm', asBackend(new WasmBackend(await loadWasmModule())));
  const backend = engine.backends.get(name);
  if (!backend) throw new KilnError(`unknown backend '${name}': expected 'wasm' or 'reference'${name === 'webgpu' ? " ('webgpu' is not available yet)" : ''}`);
  engine.defaultBackend = backend;
}

/** Name of the default backend, or null before `init`. */
export function getDefaultBackend(): BackendName | null {
  return engine.defaultBackend?.name ?? null;
}

/** Kernels only ever receive storages of their own backend (dispatch checks it), so the widening is safe. */
function asBackend<B>(b: B): Backend {
  return b as unknown as Backend;
}
