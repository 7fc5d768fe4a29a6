import type { Tensor } from './tensor.js';

const EDGE = 3;
const THRESHOLD = 1000;

/** PyTorch-like printing: `tensor([[1., 2.], [3., 4.]], requiresGrad=true)`; elided past 1000 elements. */
export function formatTensor(t: Tensor): string {
  const data = t.dataSync();
  const shape = t.shape;
  const elide = t.size > THRESHOLD;
  const isFloat = t.dtype === 'float32' || t.dtype === 'float64';
  let useExp = false;
  let decimals = 0;
  if (isFloat) {
    let maxAbs = 0, minAbs = Infinity, allInt = true;
    for (let i = 0; i < data.length; i++) {
      const v = Math.abs(data[i]!);
      if (!Number.isFinite(v)) continue;
      if (v > maxAbs) maxAbs = v;
      if (v > 0 && v < minAbs) minAbs = v;
      if (!Number.isInteger(data[i]!)) allInt = false;
    }
    useExp = maxAbs >= 1e8 || (minAbs < 1e-4 && !allInt) || (maxAbs / minAbs > 1e3 && !allInt && minAbs < 1e-2);
    decimals = allInt ? 0 : 4;
  }
  const fmt = (v: number): string => {
    if (t.dtype === 'bool') return v ? 'true' : 'false';
    if (!isFloat) return String(v);
    if (Number.isNaN(v)) return 'nan';
    if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
    if (useExp) return v.toExponential(4);
    return decimals === 0 ? `${v.toFixed(0)}.` : v.toFixed(decimals);
  };
  const strs: string[] = [];
  for (let i = 0; i < data.length; i++) strs.push(fmt(data[i]!));
  const width = strs.reduce((w, s) => Math.max(w, s.length), 0);
  const strides: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = acc;
    acc *= shape[i]!;
  }
  const indent = 'tensor('.length;
  const render = (dim: number, offset: number): string => {
    if (dim === shape.length) return strs[offset]!.padStart(width);
    const n = shape[dim]!;
    const idx: (number | null)[] = [];
    if (elide && n > 2 * EDGE) {
      for (let i = 0; i < EDGE; i++) idx.push(i);
      idx.push(null);
      for (let i = n - EDGE; i < n; i++) idx.push(i);
    } else {
      for (let i = 0; i < n; i++) idx.push(i);
    }
    const parts = idx.map((i) => (i === null ? '...' : render(dim + 1, offset + i * strides[dim]!)));
    const last = dim === shape.length - 1;
    const sep = last ? ', ' : ',' + '\n'.repeat(shape.length - dim - 1) + ' '.repeat(indent + dim + 1);
    return `[${parts.join(sep)}]`;
  };
  const body = shape.length === 0 ? fmt(data[0]!) : render(0, 0);
  const extras: string[] = [];
  if (t.size === 0) extras.push(`size=[${shape.join(', ')}]`);
  if (t.dtype !== 'float32') extras.push(`dtype=${t.dtype}`);
  if (t.backend.name !== 'wasm') extras.push(`backend=${t.backend.name}`);
  if (t.requiresGrad) extras.push(t.gradFn ? `gradFn=${t.gradFn.def.name}` : 'requiresGrad=true');
  return `tensor(${body}${extras.length ? ', ' + extras.join(', ') : ''})`;
}
