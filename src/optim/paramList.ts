import { KilnError, Tensor } from '../eager/index.js';

/** `params` as an array of tensors (one tensor, an array or any iterable such as a generator). */
export function paramList(op: string, params: Tensor | Iterable<Tensor>): Tensor[] {
  if (params instanceof Tensor) return [params];
  if (params === null || typeof params !== 'object' || !(Symbol.iterator in params)) {
    throw new KilnError(`expected a Tensor or a list of Tensors, got ${params === null ? 'null' : typeof params}`, { op });
  }
  const list = [...params];
  list.forEach((p, i) => {
    if (!(p instanceof Tensor)) throw new KilnError(`element ${i} of params is not a Tensor (${p === null ? 'null' : typeof p})`, { op });
  });
  return list;
}
