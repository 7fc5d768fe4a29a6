// Dropout removal, for graphs whose dropout masks are identities at inference.
import type { Pass } from './pass.js';
import { P, rewrite, rule, type Match, type Rule } from './pattern.js';
import { typesEqual, type Value } from '../ir/index.js';

function keep(m: Match): Value | null {
  const x = m.value('x');
  return typesEqual(x.type, m.root.outputs[0]!.type) ? x : null;
}

/** Dropout as traced: x · (bernoulli(keep, key) · 1/keep), or x · bernoulli(keep, key). */
const DROPOUT_RULES: readonly Rule[] = [
  rule('x·(mask·scale) → x', P.commutative('mul', [P.any('x'), P.commutative('mul', [P.op('bernoulli'), P.fixed()])]), keep),
  rule('x·mask → x', P.commutative('mul', [P.any('x'), P.op('bernoulli')]), keep),
];

/**
 * Removes dropout masks where the context says they are identities
 * (`dropoutIsIdentity`: graphs meant for inference that recorded dropout anyway). Kiln's
 * layers in eval mode record no dropout at all, and dropout that ran while tracing is part
 * of what eager computes, so compiled code keeps it by default.
 */
export const dropoutRemoval: Pass = {
  name: 'dropout',
  level: 'O1',
  description: 'removes dropout masks in graphs marked for inference',
  run: (g, ctx) => (ctx.mode === 'inference' && ctx.dropoutIsIdentity === true ? rewrite(g, DROPOUT_RULES, ctx) : false),
};
