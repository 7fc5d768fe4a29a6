import { opError } from '../dispatch.js';
import type { Tensor } from '../tensor.js';

// TODO(nn): implemented by the convolution/pooling work item.
const todo = (op: string): never => { throw opError(op, 'not implemented yet'); };

export type Pair = number | readonly [number, number];

export interface Conv2dOptions { stride?: Pair; padding?: Pair | 'same' | 'valid'; dilation?: Pair; groups?: number }
export interface ConvTranspose2dOptions { stride?: Pair; padding?: Pair; outputPadding?: Pair; dilation?: Pair; groups?: number }
export interface Pool2dOptions { stride?: Pair; padding?: Pair }

/** 2-D convolution, NCHW input, OIHW weight (PyTorch conv2d). */
export function conv2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options?: Conv2dOptions): Tensor { return todo('conv2d'); }
/** Transposed 2-D convolution, NCHW input, weight [inC, outC/groups, kH, kW]. */
export function convTranspose2d(x: Tensor, weight: Tensor, bias?: Tensor | null, options?: ConvTranspose2dOptions): Tensor { return todo('convTranspose2d'); }
export function maxPool2d(x: Tensor, kernelSize: Pair, options?: Pool2dOptions): Tensor { return todo('maxPool2d'); }
export function avgPool2d(x: Tensor, kernelSize: Pair, options?: Pool2dOptions & { countIncludePad?: boolean }): Tensor { return todo('avgPool2d'); }
/** Inverted dropout: zeroes with probability p, scales the rest by 1/(1−p); identity when not training. */
export function dropout(x: Tensor, p?: number, options?: { training?: boolean; seed?: number }): Tensor { return todo('dropout'); }
