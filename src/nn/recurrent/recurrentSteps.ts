// One time step of each recurrent cell, given the input projection of that step
// (`x·W_ihᵀ + b_ih`, computed for all steps at once by the caller) and the transposed
// hidden-to-hidden weight. Gates are computed by one matmul, then split.
import type { Tensor } from '../../eager/index.js';

/** Which recurrence a layer runs. */
export type RecurrentMode = 'rnnTanh' | 'rnnRelu' | 'lstm' | 'gru';

/** Number of gate blocks stacked in the weights (PyTorch order: LSTM i,f,g,o; GRU r,z,n). */
export function gateCount(mode: RecurrentMode): number {
  return mode === 'lstm' ? 4 : mode === 'gru' ? 3 : 1;
}

/**
 * Whether `b_hh` can be folded into the precomputed input projection. Not for GRU:
 * its candidate gate multiplies `W_hn·h + b_hn` by `r`.
 */
export function foldsHiddenBias(mode: RecurrentMode): boolean {
  return mode !== 'gru';
}

/**
 * Advances the state one step. `xp` is `[batch, gates·hidden]`; `state` is `[h]` or,
 * for LSTM, `[h, c]` (each `[batch, hidden]`); `wHhT` is `W_hhᵀ` `[hidden, gates·hidden]`;
 * `bHh` is only passed for GRU (other modes fold it into `xp`). Returns the new state.
 */
export function recurrentStep(mode: RecurrentMode, xp: Tensor, state: readonly Tensor[], wHhT: Tensor, bHh: Tensor | null): Tensor[] {
  const h = state[0]!;
  switch (mode) {
    case 'rnnTanh':
      return [xp.add(h.matmul(wHhT)).tanh()];
    case 'rnnRelu':
      return [xp.add(h.matmul(wHhT)).relu()];
    case 'lstm': {
      const hidden = h.shape[h.rank - 1]!;
      const [i, f, g, o] = xp.add(h.matmul(wHhT)).split(hidden, -1) as [Tensor, Tensor, Tensor, Tensor];
      const c = f.sigmoid().mul(state[1]!).add(i.sigmoid().mul(g.tanh()));
      return [o.sigmoid().mul(c.tanh()), c];
    }
    case 'gru': {
      const hidden = h.shape[h.rank - 1]!;
      let hp = h.matmul(wHhT);
      if (bHh) hp = hp.add(bHh);
      const [xr, xz, xn] = xp.split(hidden, -1) as [Tensor, Tensor, Tensor];
      const [hr, hz, hn] = hp.split(hidden, -1) as [Tensor, Tensor, Tensor];
      const r = xr.add(hr).sigmoid();
      const z = xz.add(hz).sigmoid();
      const n = xn.add(r.mul(hn)).tanh();
      // (1 − z)·n + z·h, written with one multiply by z.
      return [n.add(z.mul(h.sub(n)))];
    }
  }
}
