import { opError } from '../dispatch.js';
import type { Tensor } from '../tensor.js';

// TODO(linalg): implemented by the linear-algebra work item.
const todo = (op: string): never => { throw opError(op, 'not implemented yet'); };

/** Matrix product with NumPy semantics (1-D, batched, broadcast). */
export function matmul(a: Tensor, b: Tensor): Tensor { return todo('matmul'); }
/** No arguments: reverse all axes; two: swap them. */
export function transpose(x: Tensor, dim0?: number, dim1?: number): Tensor { return todo('transpose'); }
export function permute(x: Tensor, dims: readonly number[]): Tensor { return todo('permute'); }
