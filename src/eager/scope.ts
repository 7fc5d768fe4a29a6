import { KilnError } from '../ir/index.js';
import { WasmBackend } from '../runtime/wasm/wasmBackend.js';
import { engine } from './engine.js';
import { Tensor } from './tensor.js';

/**
 * Runs `fn` and frees every tensor it created, except what it returns (tensors
 * anywhere inside arrays/objects), gradients, parameters (leaves that require grad)
 * and tensors marked with `keep()`. Synchronous: memory is freed when it returns.
 *
 * @example
 * ```ts
 * for (let step = 0; step < 1000; step++) {
 *   kiln.scope(() => {
 *     const loss = model(x).sub(y).square().mean();
 *     loss.backward();
 *     opt.step();
 *   }); // intermediates freed here
 * }
 * ```
 */
export function scope<R>(fn: () => R): R {
  const created: Tensor[] = [];
  engine.scopes.push(created);
  let result: R;
  try {
    result = fn();
  } catch (e) {
    engine.scopes.pop();
    release(created, new Set());
    throw e;
  }
  engine.scopes.pop();
  if (result instanceof Promise) {
    release(created, new Set());
    throw new KilnError('kiln.scope(fn) is synchronous: fn returned a Promise; await outside the scope');
  }
  const keep = new Set<Tensor>();
  collect(result, keep, 0);
  release(created, keep);
  return result;
}

function release(created: Tensor[], keep: Set<Tensor>): void {
  const parent = engine.scopes[engine.scopes.length - 1];
  for (const t of created) {
    if (t.disposed) continue;
    if (keep.has(t) || t.keepAlive) {
      parent?.push(t); // an enclosing scope decides its fate
    } else {
      t.dispose();
    }
  }
}

function collect(value: unknown, into: Set<Tensor>, depth: number): void {
  if (depth > 8 || value === null || typeof value !== 'object') return;
  if (value instanceof Tensor) {
    into.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collect(v, into, depth + 1);
  } else if (value instanceof Map) {
    for (const v of value.values()) collect(v, into, depth + 1);
  } else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collect(v, into, depth + 1);
  }
}

/** Marks `t` to survive enclosing scopes (e.g. optimizer state). */
export function keep<T extends Tensor>(t: T): T {
  return t.keep();
}

/**
 * Memory in use: live tensors (not yet disposed, freed by a scope or collected), the bytes
 * their storages hold per backend, and the size the wasm heap has grown to (it never
 * shrinks; 0 before the wasm backend is initialized). Exact: a failed op or allocation
 * leaves these as they were.
 */
export function memory(): { liveTensors: number; liveBytes: Record<string, number>; wasmHeapBytes: number } {
  const liveBytes: Record<string, number> = {};
  for (const [name, b] of engine.backends) liveBytes[name] = b.liveBytes();
  const wasm = engine.backends.get('wasm');
  const wasmHeapBytes = wasm instanceof WasmBackend ? wasm.memory.buffer.byteLength : 0;
  return { liveTensors: engine.liveTensors, liveBytes, wasmHeapBytes };
}
