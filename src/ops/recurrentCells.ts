/**
 * The gate arithmetic of one recurrent step as one op, so a backend runs it as one pass
 * over the batch × hidden elements instead of a dozen elementwise ops (and a split):
 * what the whole-sequence ops' decompositions (`src/ops/recurrent.ts`) and the RNN
 * unrolling pass (`src/passes/rnnUnrolling.ts`) call once per step.
 *
 * Both take the step's input projection `xp` and hidden projection `hp` separately
 * (each [B, G·H], gate blocks in PyTorch's order), so the add joins the gate kernel:
 *  - `lstmGates(xp, hp, c) → (h', c')`, gates i, f, g, o of a = xp + hp:
 *    c' = σ(a_f)·c + σ(a_i)·tanh(a_g), h' = σ(a_o)·tanh(c');
 *  - `gruGates(xp, hp, h) → h'`, gates r, z, n (`hp` includes b_hh, which the candidate
 *    gate multiplies by r): r = σ(xr + hr), z = σ(xz + hz), n = tanh(xn + r·hn),
 *    h' = n + z·(h − n), i.e. (1 − z)·n + z·h.
 * The Elman RNN's step is add + tanh/relu, left as those primitives.
 *
 * Compiler-internal (`internalFor`): not public functions; golden cases reach them through
 * the lstm / gru ops. Gradients are closed forms (ordinary tensor code, so they can be
 * differentiated again).
 */
import { dimEquals, formatDim, isFloat, KilnError, registerOp, symbolicInfer, type Dim, type ValueType } from '../ir/index.js';
import type { AnyTensor } from './tensorLike.js';

function dimsText(shape: readonly Dim[]): string {
  return `[${shape.map(formatDim).join(', ')}]`;
}

/**
 * Checks `xp`, `hp` [B, G·H] and the state [B, H] of a gate op with `gates` blocks;
 * returns the state's type (the outputs' type).
 */
function checkGates(op: string, gates: number, [xp, hp, s]: readonly ValueType[]): ValueType {
  const dtype = xp!.dtype;
  if (!isFloat(dtype)) throw new KilnError(`${op} needs floating-point inputs, got ${dtype}`);
  for (const t of [hp!, s!]) if (t.dtype !== dtype) throw new KilnError(`${op} inputs must share one dtype, got ${dtype} and ${t.dtype}`);
  if (s!.shape.length !== 2) throw new KilnError(`${op}: the state must be 2-D [batch, hidden], got shape ${dimsText(s!.shape)}`);
  const [b, h] = s!.shape as [Dim, Dim];
  if (typeof h !== 'number') throw new KilnError(`${op}: the hidden size must be static, got ${dimsText(s!.shape)}`);
  for (const [t, name] of [[xp!, 'input projection'], [hp!, 'hidden projection']] as const) {
    if (t.shape.length !== 2 || !dimEquals(t.shape[0]!, b) || t.shape[1] !== gates * h) {
      throw new KilnError(`${op}: the ${name} must have shape ${dimsText([b, gates * h])} (${gates} gates of the state's ${h}), got ${dimsText(t.shape)}`);
    }
  }
  return { dtype, shape: [b, h] };
}

/** 1 − t. */
const oneMinus = (t: AnyTensor): AnyTensor => t.neg().add(1);
/** σ'(a) from σ(a) = s: s·(1 − s). */
const sigmoidSlope = (s: AnyTensor): AnyTensor => s.mul(oneMinus(s));
/** tanh'(a) from tanh(a) = t: 1 − t². */
const tanhSlope = (t: AnyTensor): AnyTensor => oneMinus(t.square());
/** Pieces joined along the last (gate) axis of [B, ·]. */
const joinGates = (ps: readonly AnyTensor[]): AnyTensor => ps[0]!.applyOp('concat', ps.slice(1), { axis: 1 })[0]!;

/** LSTM gates of xp + hp [B, 4H] (i, f, g, o) applied to the cell state c [B, H]: (h', c'). */
export const lstmGates = registerOp<AnyTensor>({
  name: 'lstmGates',
  arity: 3,
  internalFor: 'lstm',
  doc: 'One LSTM step\'s gates: xp, hp [B, 4H] (i, f, g, o), c [B, H] → h\' = σ(o)·tanh(c\'), c\' = σ(f)·c + σ(i)·tanh(g) with gates a = xp + hp.',
  ...symbolicInfer((inputs) => {
    const t = checkGates('lstmGates', 4, inputs);
    return [t, { ...t }];
  }),
  decompose: ([xp, hp, c]) => {
    const [i, f, g, o] = xp!.add(hp!).split(c!.shape[1]!, -1) as [AnyTensor, AnyTensor, AnyTensor, AnyTensor];
    const c2 = f.sigmoid().mul(c!).add(i.sigmoid().mul(g.tanh()));
    return [o.sigmoid().mul(c2.tanh()), c2];
  },
  // With tc = tanh(c'): dc' total = dc' + dh·σ(o)·(1 − tc²); da_i = dc'·tanh(g)·σ'(i),
  // da_f = dc'·c·σ'(f), da_g = dc'·σ(i)·(1 − tanh²(g)), da_o = dh·tc·σ'(o); dxp = dhp = da;
  // dc = dc'·σ(f).
  grad: ({ inputs: [xp, hp, c], outputs: [, c2], dys: [dh, dc2], needs }) => {
    const [ai, af, ag, ao] = xp!.add(hp!).split(c!.shape[1]!, -1) as [AnyTensor, AnyTensor, AnyTensor, AnyTensor];
    const i = ai.sigmoid(), f = af.sigmoid(), g = ag.tanh(), o = ao.sigmoid();
    const tc = c2!.tanh();
    const dc = dc2!.add(dh!.mul(o).mul(tanhSlope(tc)));
    const da = needs[0] || needs[1]
      ? joinGates([dc.mul(g).mul(sigmoidSlope(i)), dc.mul(c!).mul(sigmoidSlope(f)), dc.mul(i).mul(tanhSlope(g)), dh!.mul(tc).mul(sigmoidSlope(o))])
      : null;
    return [needs[0] ? da : null, needs[1] ? da : null, needs[2] ? dc.mul(f) : null];
  },
});

/** A GRU step's activated gates r, z, n and the hidden projection's n part hn (shared by the decomposition and the gradient). */
function gruParts(xp: AnyTensor, hp: AnyTensor, h: AnyTensor): { r: AnyTensor; z: AnyTensor; n: AnyTensor; hn: AnyTensor } {
  const H = h.shape[1]!;
  const [xr, xz, xn] = xp.split(H, -1) as [AnyTensor, AnyTensor, AnyTensor];
  const [hr, hz, hn] = hp.split(H, -1) as [AnyTensor, AnyTensor, AnyTensor];
  const r = xr.add(hr).sigmoid();
  return { r, z: xz.add(hz).sigmoid(), n: xn.add(r.mul(hn)).tanh(), hn };
}

/** GRU gates of xp, hp [B, 3H] (r, z, n; hp with b_hh) applied to the hidden state h [B, H]: h'. */
export const gruGates = registerOp<AnyTensor>({
  name: 'gruGates',
  arity: 3,
  internalFor: 'gru',
  doc: 'One GRU step\'s gates: xp, hp [B, 3H] (r, z, n; hp includes b_hh), h [B, H] → h\' = n + z·(h − n), r = σ(xr + hr), z = σ(xz + hz), n = tanh(xn + r·hn).',
  ...symbolicInfer((inputs) => [checkGates('gruGates', 3, inputs)]),
  decompose: ([xp, hp, h]) => {
    const { z, n } = gruParts(xp!, hp!, h!);
    return [n.add(z.mul(h!.sub(n)))];
  },
  // dn = dy·(1 − z), dz = dy·(h − n), dh = dy·z; da_n = dn·(1 − n²) (= dxn; dhn = da_n·r),
  // da_r = da_n·hn·σ'(r), da_z = dz·σ'(z).
  grad: ({ inputs: [xp, hp, h], dys: [dy], needs }) => {
    const { r, z, n, hn } = gruParts(xp!, hp!, h!);
    const dan = dy!.mul(oneMinus(z)).mul(tanhSlope(n));
    const dar = dan.mul(hn).mul(sigmoidSlope(r));
    const daz = dy!.mul(h!.sub(n)).mul(sigmoidSlope(z));
    return [
      needs[0] ? joinGates([dar, daz, dan]) : null,
      needs[1] ? joinGates([dar, daz, dan.mul(r)]) : null,
      needs[2] ? dy!.mul(z) : null,
    ];
  },
});
