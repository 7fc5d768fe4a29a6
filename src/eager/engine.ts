import { KilnError } from '../ir/index.js';
import type { Backend, BackendName } from '../runtime/backend.js';
import type { Tensor } from './tensor.js';

/** Process-wide eager state: backends, the default one, grad mode, open scopes. */
export const engine = {
  backends: new Map<BackendName, Backend>(),
  defaultBackend: null as Backend | null,
  gradEnabled: true,
  /** Tensors created inside each open `scope`, innermost last. */
  scopes: [] as Tensor[][],
  liveTensors: 0,
};

export function getBackend(name?: BackendName): Backend {
  const b = name ? engine.backends.get(name) : engine.defaultBackend;
  if (!b) {
    throw new KilnError(
      name && engine.defaultBackend
        ? `backend '${name}' is not initialized: call await kiln.init({ backend: '${name}' }) first`
        : 'Kiln is not initialized: call await kiln.init() before creating tensors',
    );
  }
  return b;
}
