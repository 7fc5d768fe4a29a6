/**
 * Loads golden cases (test/golden/*.json, made by generate.py from PyTorch) and runs
 * them through Kiln. Tolerances (float32, from the eager-core issue):
 *   forward     |kiln − torch| ≤ 1e-5·√k·max(1, |torch|)   (k = elements summed per output, 1 for elementwise)
 *   gradients   |kiln − torch| ≤ 1e-4·√k·max(1, |torch|)
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as kiln from '../../src/index.js';

export interface GoldenTensor {
  shape: number[];
  dtype: 'float32' | 'int32' | 'bool';
  data: (number | null)[];
  grad?: boolean;
}

export interface GoldenCase {
  name: string;
  op: string;
  method: boolean;
  k: number;
  args: unknown[];
  inputs: GoldenTensor[];
  outputs: GoldenTensor[];
  w?: GoldenTensor[];
  grads?: GoldenTensor[];
}

const here = path.dirname(fileURLToPath(import.meta.url));

/** Every golden file: family name → cases. */
export function loadGoldens(): Map<string, GoldenCase[]> {
  const out = new Map<string, GoldenCase[]>();
  for (const f of readdirSync(here).filter((f) => f.endsWith('.json')).sort()) {
    const json = JSON.parse(readFileSync(path.join(here, f), 'utf8')) as { cases: GoldenCase[] };
    out.set(f.replace(/\.json$/, ''), json.cases);
  }
  return out;
}

export function toTensor(g: GoldenTensor, backend: kiln.BackendName, dtype?: kiln.DType): kiln.Tensor {
  return kiln.tensor(g.data.map((v) => v ?? NaN), { dtype: dtype ?? g.dtype, backend, shape: g.shape });
}

function resolve(arg: unknown, tensors: kiln.Tensor[]): unknown {
  if (Array.isArray(arg)) return arg.map((a) => resolve(a, tensors));
  if (arg && typeof arg === 'object') {
    const o = arg as Record<string, unknown>;
    if (typeof o['$t'] === 'number') return tensors[o['$t']];
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, resolve(v, tensors)]));
  }
  return arg;
}

/** Calls the case's Kiln function on `tensors`; always returns a list of outputs. */
export function callCase(c: GoldenCase, tensors: kiln.Tensor[]): kiln.Tensor[] {
  const args = resolve(c.args, tensors) as unknown[];
  let out: unknown;
  if (c.method) {
    const [self, ...rest] = args as [kiln.Tensor, ...unknown[]];
    const m = (self as unknown as Record<string, (...a: unknown[]) => unknown>)[c.op];
    if (typeof m !== 'function') throw new Error(`Tensor has no method ${c.op}`);
    out = m.apply(self, rest);
  } else {
    // A dotted name ('linalg.solve') is a function of a namespace of kiln.
    const f = c.op.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], kiln) as ((...a: unknown[]) => unknown) | undefined;
    if (typeof f !== 'function') throw new Error(`kiln has no function ${c.op}`);
    out = f(...args);
  }
  return Array.isArray(out) ? (out as kiln.Tensor[]) : [out as kiln.Tensor];
}

/** Describes the first mismatch between `actual` and golden `expected`, or returns null. */
export function mismatch(actual: kiln.Tensor, expected: GoldenTensor, rel: number): string | null {
  if (actual.shape.join(',') !== expected.shape.join(',')) return `shape [${actual.shape}] vs expected [${expected.shape}]`;
  const exp = expected.dtype;
  const act = actual.dtype === 'float64' ? 'float32' : actual.dtype;
  if (act !== exp) return `dtype ${actual.dtype} vs expected ${exp}`;
  const data = actual.dataSync();
  for (let i = 0; i < data.length; i++) {
    const e = expected.data[i];
    const a = data[i]!;
    if (e === null || e === undefined) {
      if (Number.isFinite(a)) return `element ${i}: ${a} vs expected non-finite`;
      continue;
    }
    const tol = exp === 'float32' ? rel * Math.max(1, Math.abs(e)) : 0;
    if (!(Math.abs(a - e) <= tol)) return `element ${i}: ${a} vs expected ${e} (tolerance ${tol.toExponential(1)})`;
  }
  return null;
}
