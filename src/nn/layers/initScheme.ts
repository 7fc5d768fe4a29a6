// The `init` / `biasInit` options of layers: PyTorch's defaults, or a named scheme such
// as "Glorot/Xavier-uniform weights, zero biases".
import type { Tensor } from '../../eager/index.js';
import * as init from '../init.js';
import { layerError } from './common.js';

/**
 * Names of weight initializations a layer accepts as `init`:
 * - `'default'`: PyTorch's own for that layer (Linear/Conv: U(±1/√fanIn), Embedding: N(0, 1)).
 * - `'glorotUniform'` = `'xavierUniform'`: U(±√6/√(fanIn+fanOut)).
 * - `'glorotNormal'` = `'xavierNormal'`: N(0, 2/(fanIn+fanOut)).
 * - `'heUniform'` = `'kaimingUniform'`: U(±√(6/fanIn)) (ReLU gain).
 * - `'heNormal'` = `'kaimingNormal'`: N(0, 2/fanIn).
 * - `'lecunUniform'`: U(±√(3/fanIn)); `'lecunNormal'`: N(0, 1/fanIn).
 * - `'orthogonal'`: a (semi-)orthogonal matrix; `'zeros'`, `'ones'`.
 */
export type WeightInitName =
  | 'default'
  | 'glorotUniform' | 'glorotNormal' | 'xavierUniform' | 'xavierNormal'
  | 'heUniform' | 'heNormal' | 'kaimingUniform' | 'kaimingNormal'
  | 'lecunUniform' | 'lecunNormal' | 'orthogonal' | 'zeros' | 'ones';

/** A weight initialization: a scheme name or a function filling the weight in place (e.g. `(w) => kiln.nn.init.normal_(w, 0, 0.01)`). */
export type WeightInit = WeightInitName | ((weight: Tensor) => void);

/** Names of bias initializations: `'default'` (PyTorch's U(±1/√fanIn)), `'zeros'`, `'ones'`. */
export type BiasInitName = 'default' | 'zeros' | 'ones';

/** A bias initialization: a name, a constant, or a function filling the bias in place. */
export type BiasInit = BiasInitName | number | ((bias: Tensor) => void);

/** Initializes `weight` by `scheme`; `'default'` runs `torchDefault`. */
export function initWeight(layer: string, weight: Tensor, scheme: WeightInit | undefined, torchDefault: (w: Tensor) => void): void {
  if (scheme === undefined || scheme === 'default') return torchDefault(weight);
  if (typeof scheme === 'function') return scheme(weight);
  switch (scheme) {
    case 'glorotUniform': case 'xavierUniform': init.xavierUniform_(weight); return;
    case 'glorotNormal': case 'xavierNormal': init.xavierNormal_(weight); return;
    case 'heUniform': case 'kaimingUniform': init.kaimingUniform_(weight, { nonlinearity: 'relu' }); return;
    case 'heNormal': case 'kaimingNormal': init.kaimingNormal_(weight, { nonlinearity: 'relu' }); return;
    case 'lecunUniform': init.lecunUniform_(weight); return;
    case 'lecunNormal': init.lecunNormal_(weight); return;
    case 'orthogonal': init.orthogonal_(weight); return;
    case 'zeros': init.zeros_(weight); return;
    case 'ones': init.ones_(weight); return;
    default:
      throw layerError(layer, `unknown weight init '${String(scheme)}'; expected one of default, glorotUniform, glorotNormal, xavierUniform, xavierNormal, heUniform, heNormal, kaimingUniform, kaimingNormal, lecunUniform, lecunNormal, orthogonal, zeros, ones, or a function`);
  }
}

/** Initializes `bias` by `scheme`; `'default'` is PyTorch's U(±1/√fanIn) (0 when fanIn is 0). */
export function initBias(layer: string, bias: Tensor, scheme: BiasInit | undefined, fanIn: number): void {
  if (scheme === undefined || scheme === 'default') {
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    init.uniform_(bias, -bound, bound);
    return;
  }
  if (typeof scheme === 'function') return scheme(bias);
  if (typeof scheme === 'number') {
    init.constant_(bias, scheme);
    return;
  }
  switch (scheme) {
    case 'zeros': init.zeros_(bias); return;
    case 'ones': init.ones_(bias); return;
    default:
      throw layerError(layer, `unknown bias init '${String(scheme)}'; expected default, zeros, ones, a number or a function`);
  }
}

/** Options shared by layers with a weight and an optional bias (Linear, Conv2d, ConvTranspose2d). */
export interface WeightBiasOptions {
  /**
   * `false`: no bias. `true` (default): a bias initialized by `biasInit`. A bias-init
   * name (`'zeros'`, …) is shorthand for `{ bias: true, biasInit: name }`.
   */
  bias?: boolean | BiasInitName;
  /** Weight initialization (default: PyTorch's). */
  init?: WeightInit;
  /** Bias initialization (default: PyTorch's U(±1/√fanIn)). */
  biasInit?: BiasInit;
}

/** Resolves `bias`/`biasInit` into "is there a bias" and its scheme. */
export function resolveBias(layer: string, options: WeightBiasOptions): { hasBias: boolean; scheme: BiasInit | undefined } {
  const b = options.bias ?? true;
  if (typeof b === 'string') {
    if (options.biasInit !== undefined) throw layerError(layer, `give the bias initialization either as bias: '${b}' or as biasInit, not both`);
    return { hasBias: true, scheme: b };
  }
  if (typeof b !== 'boolean') throw layerError(layer, `bias must be a boolean or a bias-init name, got ${String(b)}`);
  return { hasBias: b, scheme: options.biasInit };
}

/** PyTorch's default weight init of Linear/Conv: kaiming_uniform(a=√5), i.e. U(±1/√fanIn). */
export function torchDefaultWeight(w: Tensor): void {
  init.kaimingUniform_(w, { a: Math.sqrt(5) });
}
