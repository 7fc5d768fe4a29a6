// Per-layer gradient norms after backward(), with exploding/vanishing flags.
import type { Module } from '../nn/index.js';

/** Options of `gradientNorms`. */
export interface GradientNormOptions {
  /** A norm above this is flagged exploding. Default 1e3. */
  exploding?: number;
  /** A norm below this is flagged vanishing. Default 1e-7. */
  vanishing?: number;
  /** `'layer'` (default): one norm per module over its own parameters; `'parameter'`: one per parameter. */
  by?: 'layer' | 'parameter';
}

/** What `gradientNorms` returns. */
export interface GradientNorms {
  /** Name (module path, or parameter name with `by: 'parameter'`; '' for the model's own parameters) → L2 norm of the gradients. */
  readonly norms: ReadonlyMap<string, number>;
  /** L2 norm over every gradient (what `clipGradNorm` compares with its maximum). */
  readonly total: number;
  /** Names whose norm is above `exploding`, or not finite. */
  readonly exploding: readonly string[];
  /** Names whose norm is below `vanishing`. */
  readonly vanishing: readonly string[];
  /** Parameters that require grad but have no `.grad` (not reached by the last backward). */
  readonly missing: readonly string[];
  /** One line per name: norm and flag. */
  toString(): string;
}

/**
 * L2 norms of the gradients of `model`'s parameters, per layer (the module that owns
 * them) or per parameter, after `loss.backward()`, flagging exploding (> `exploding`,
 * or NaN/∞) and vanishing (< `vanishing`) ones. Sums of squares accumulate in float64 on the host.
 *
 * @example
 * ```ts
 * const model = new kiln.nn.Sequential(new kiln.nn.Linear(4, 8), new kiln.nn.Tanh(), new kiln.nn.Linear(8, 1));
 * model.forward(kiln.randn([16, 4])).square().mean().backward();
 * const g = kiln.diagnostics.gradientNorms(model);
 * g.norms.get('0');   // ‖∂L/∂W₀‖ and ‖∂L/∂b₀‖ together
 * g.exploding;        // [] when healthy
 * console.log(g.toString());
 * ```
 */
export function gradientNorms(model: Module, options: GradientNormOptions = {}): GradientNorms {
  const hi = options.exploding ?? 1e3;
  const lo = options.vanishing ?? 1e-7;
  const byLayer = (options.by ?? 'layer') === 'layer';
  const squares = new Map<string, number>();
  const missing: string[] = [];
  let total = 0;
  for (const [name, p] of model.namedParameters()) {
    const key = byLayer ? name.slice(0, Math.max(0, name.lastIndexOf('.'))) : name;
    if (!p.grad) {
      if (p.requiresGrad) missing.push(name);
      continue;
    }
    const data = p.grad.dataSync();
    let s = 0;
    for (let i = 0; i < data.length; i++) s += data[i]! * data[i]!;
    squares.set(key, (squares.get(key) ?? 0) + s);
    total += s;
  }
  const norms = new Map([...squares].map(([k, s]) => [k, Math.sqrt(s)] as const));
  const exploding = [...norms].filter(([, n]) => !Number.isFinite(n) || n > hi).map(([k]) => k);
  const vanishing = [...norms].filter(([, n]) => n < lo).map(([k]) => k);
  return {
    norms, total: Math.sqrt(total), exploding, vanishing, missing,
    toString() {
      const label = (k: string) => k || '(model)';
      const w = Math.max(4, ...[...norms.keys()].map((k) => label(k).length));
      const lines = [...norms].map(([k, n]) => `${label(k).padEnd(w)}  ${n.toExponential(3).padStart(10)}${exploding.includes(k) ? '  exploding' : vanishing.includes(k) ? '  vanishing' : ''}`);
      lines.push(`${'total'.padEnd(w)}  ${Math.sqrt(total).toExponential(3).padStart(10)}`);
      if (missing.length) lines.push(`no gradient: ${missing.join(', ')}`);
      return lines.join('\n');
    },
  };
}
