// Algebraic simplification: identities that hold bit for bit, as rewrite rules.
import { dimEquals, isFloat, typesEqual, type Dim, type Value } from '../ir/index.js';
import type { Pass } from './pass.js';
import { P, rule, rewrite, type Match, type Rule } from './pattern.js';

/** `m.value(name)` when it has the type of the value it replaces (a broadcast or promotion changes it), else null. */
function keep(m: Match, name: string): Value | null {
  const v = m.value(name);
  return typesEqual(v.type, m.root.outputs[0]!.type) ? v : null;
}

function perm(m: Match, name: string): number[] {
  return m.node(name).attrs['perm'] as number[];
}

function sameDims(a: readonly Dim[], b: readonly Dim[]): boolean {
  return a.length === b.length && a.every((d, i) => dimEquals(d, b[i]!));
}

/**
 * Every rule keeps results identical, NaN, ±Infinity and the sign of zero included:
 * x + (−0) is x for every x, but x + (+0) turns −0 into +0, so only the former goes
 * (x − (+0) is x too). Transposes of constants go to constant folding.
 */
export const ALGEBRAIC_RULES: readonly Rule[] = [
  rule('x·1 → x', P.commutative('mul', [P.any('x'), P.scalar(1)]), (m) => keep(m, 'x')),
  rule('x/1 → x', P.op('div', [P.any('x'), P.scalar(1)]), (m) => keep(m, 'x')),
  rule('x^1 → x', P.op('pow', [P.any('x'), P.scalar(1)]), (m) => keep(m, 'x')),
  rule('x+(−0) → x', P.commutative('add', [P.any('x'), P.exactly(-0)]), (m) => keep(m, 'x')),
  rule('x+0 → x (integers)', P.commutative('add', [P.any('x'), P.scalar(0)]), (m) => (isFloat(m.value('x').type.dtype) ? null : keep(m, 'x'))),
  rule('x−(+0) → x', P.op('sub', [P.any('x'), P.exactly(0)]), (m) => keep(m, 'x')),
  rule('−(−x) → x', P.op('neg', [P.op('neg', [P.any('x')])]), (m) => keep(m, 'x')),
  rule('transpose identity → x', P.op('transpose', [P.any('x')], { name: 't' }), (m) => (perm(m, 't').every((p, i) => p === i) ? keep(m, 'x') : null)),
  rule('transpose∘transpose → one transpose', P.op('transpose', [P.op('transpose', [P.any('x')], { name: 'inner' })], { name: 'outer' }), (m, b) => {
    const inner = perm(m, 'inner'), outer = perm(m, 'outer');
    const composed = outer.map((p) => inner[p]!);
    if (composed.every((p, i) => p === i)) return keep(m, 'x');
    return b.op('transpose', [m.value('x')], { perm: composed }, m.root.outputs[0]!.type);
  }),
  // Moving only axes of size 1 keeps the elements' row-major order (eager does this too;
  // tracing records the transpose because a size 1 there may be a symbol here).
  rule('transpose of size-1 axes → reshape', P.op('transpose', [P.any('x')], { name: 't' }), (m, b) => {
    const shape = m.value('x').type.shape;
    const moved = perm(m, 't').filter((p) => shape[p] !== 1);
    if (!moved.every((p, i) => i === 0 || p > moved[i - 1]!)) return null;
    const out = m.root.outputs[0]!.type;
    return b.op('reshape', [m.value('x')], { shape: [...out.shape] }, out);
  }),
  rule('reshape∘reshape → one reshape', P.op('reshape', [P.op('reshape', [P.any('x')])], { name: 'outer' }), (m, b) =>
    sameDims(m.value('x').type.shape, m.root.outputs[0]!.type.shape) ? keep(m, 'x') : b.op('reshape', [m.value('x')], m.node('outer').attrs, m.root.outputs[0]!.type)),
  rule('reshape to its own shape → x', P.op('reshape', [P.any('x')]), (m) => (sameDims(m.value('x').type.shape, m.root.outputs[0]!.type.shape) ? keep(m, 'x') : null)),
  rule('expand to its own shape → x', P.op('expand', [P.any('x')]), (m) => (sameDims(m.value('x').type.shape, m.root.outputs[0]!.type.shape) ? keep(m, 'x') : null)),
  rule('cast to its own dtype → x', P.op('cast', [P.any('x')]), (m) => keep(m, 'x')),
];

export const algebraicSimplification: Pass = {
  name: 'algebraic',
  level: 'O1',
  description: 'x·1, x/1, x+(−0), x−0, −(−x), transpose and reshape chains, no-op reshape/expand/cast',
  run: (g, ctx) => rewrite(g, ALGEBRAIC_RULES, ctx),
};
