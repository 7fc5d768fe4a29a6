// How a node carries an activation fused into it (conv2d, convTranspose2d, linear at O2):
// one attribute naming the activation op, and that op's own attributes next to it with
// an `activation` prefix. Ops (inference, decomposition, gradient), passes (fusion) and
// kernels all read it through these two functions, so the convention lives in one place.
import type { IrAttrs } from './graph.js';
import type { AttrValue, Attrs } from './opRegistry.js';

/** An activation applied to an op's output inside the op: the unary op and its attrs. */
export interface FusedActivation {
  /** The activation's op name (`relu`, `leakyRelu`, `clip`, `sigmoid`, `tanh`, `elu`). */
  readonly op: string;
  /** Its own attributes (`{ alpha }`, `{ min, max }`), as that op takes them. */
  readonly attrs: Attrs;
}

const PREFIX = 'activation';

/**
 * The activation fused into a node with attrs `attrs`, or null when there is none.
 *
 * @example
 * ```ts
 * fusedActivationOf({ group: 1, activation: 'leakyRelu', activationAlpha: 0.1 });
 * // { op: 'leakyRelu', attrs: { alpha: 0.1 } }
 * ```
 */
export function fusedActivationOf(attrs: IrAttrs): FusedActivation | null {
  const op = attrs[PREFIX];
  if (typeof op !== 'string') return null;
  const own: Record<string, AttrValue> = {};
  for (const [k, v] of Object.entries(attrs)) {
    if (k.length > PREFIX.length && k.startsWith(PREFIX) && v !== undefined) own[k[PREFIX.length]!.toLowerCase() + k.slice(PREFIX.length + 1)] = v as AttrValue;
  }
  return { op, attrs: own };
}

/**
 * `attrs` with activation `op` (attributes `opAttrs`) fused in, replacing any it had.
 *
 * @example
 * ```ts
 * withFusedActivation({ group: 1 }, 'clip', { min: 0, max: 6 });
 * // { group: 1, activation: 'clip', activationMin: 0, activationMax: 6 }
 * ```
 */
export function withFusedActivation(attrs: IrAttrs, op: string, opAttrs: Attrs): Record<string, IrAttrs[string]> {
  const out: Record<string, IrAttrs[string]> = {};
  for (const [k, v] of Object.entries(attrs)) if (!k.startsWith(PREFIX)) out[k] = v;
  out[PREFIX] = op;
  for (const [k, v] of Object.entries(opAttrs)) out[PREFIX + k[0]!.toUpperCase() + k.slice(1)] = v;
  return out;
}
