import { KernelPool, MAX_POOL_CALLS, type PoolModule } from '../kernelPool.js';
import type { WasmBackend } from '../wasmBackend.js';
import { wasmThreads } from '../wasmModule.js';
import { rowBlock, tileFor } from './gemm.js';
import { GEMM_TILES, gemmFn, gemmKernels, gemmModuleSpec, gemmName } from './gemmKernel.js';
import { recurrentGatesModule, recurrentGatesOn } from './recurrentGatesKernel.js';

// ---- generated kernels split by rows over Kiln's kernel threads (kernelPool.ts) ------------
//
// On the threaded build, a kernel with enough rows gives each thread an even share of them
// (even, so the GEMM's 2-row tiles pair the same rows as on one thread): the calling thread
// runs the first share, the pool's helpers the others, each with the same generated
// functions. Row i is computed by the same code on the same values whatever the split, so
// the results are the one-thread kernels' bits. Used by the recurrent sequence kernels:
// their input projection and, per step, the W_hh product and the gates (measured, LSTM in
// 64, hidden 128, batch 16, 2 threads: a step 58 → 35 µs).

/** Rows each thread takes at least: with fewer, one thread runs the whole kernel. */
const MIN_ROWS_PER_THREAD = 4;

let modules: readonly PoolModule[] | null = null;
/** What the helpers run: the GEMM tiles and the gate kernels. */
function poolModules(): readonly PoolModule[] {
  return (modules ??= [
    { ...gemmModuleSpec(), functions: GEMM_TILES.map(gemmName) },
    { key: 'recurrentGates', generate: recurrentGatesModule, functions: ['lstm', 'gru', 'rnnTanh', 'rnnRelu'] },
  ]);
}

/**
 * The gate kernel of a step: lstm (i, f, g, o; state c), gru (r, z, n; state h) or the
 * Elman RNN's tanh|relu(xp + hp).
 */
export type GateKind = 'lstm' | 'gru' | 'rnnTanh' | 'rnnRelu';
export const GATES_OF: Readonly<Record<GateKind, number>> = { lstm: 4, gru: 3, rnnTanh: 1, rnnRelu: 1 };

type Fn = (...args: number[]) => void;

/**
 * Row shares of kernels over the pool. `RowSplit.of(backend, rows)` is null on one thread
 * or below 2 × MIN_ROWS_PER_THREAD rows. Bracket its calls with `begin`/`end` (helpers spin
 * in between). B operands are packed panels (`packedPanels` in gemm.ts).
 *
 * @example
 * ```ts
 * const split = RowSplit.of(backend, rows);
 * if (split) {
 *   split.begin();
 *   try { split.gemm(a, rows, k, packedPanels(backend, w, 'nk', k, n), n, bias, out); } finally { split.end(); }
 * }
 * ```
 */
export class RowSplit {
  private static readonly byBackend = new WeakMap<WasmBackend, RowSplit | null>();
  /** Threads sharing the rows (the calling one included). */
  private parts = 1;
  private readonly tiles: Fn[];
  private readonly poolTiles: number[];
  private readonly poolGates: Record<GateKind, number>;
  private readonly gates: ReturnType<typeof recurrentGatesOn>;

  private constructor(backend: WasmBackend, private readonly pool: KernelPool) {
    const gk = gemmKernels(backend.memory);
    this.tiles = GEMM_TILES.map((t) => gemmFn(gk, t) as Fn);
    this.poolTiles = GEMM_TILES.map((t) => pool.fn(gemmModuleSpec().key, gemmName(t)));
    this.gates = recurrentGatesOn(backend.memory);
    this.poolGates = { lstm: 0, gru: 0, rnnTanh: 0, rnnRelu: 0 };
    for (const k of Object.keys(GATES_OF) as GateKind[]) this.poolGates[k] = pool.fn('recurrentGates', k);
  }

  /** The splitter for `rows` rows on `backend`'s threads, or null (one thread, or too few rows). */
  static of(backend: WasmBackend, rows: number): RowSplit | null {
    const threads = wasmThreads() ?? 1;
    if (threads < 2 || rows < 2 * MIN_ROWS_PER_THREAD) return null;
    let split = RowSplit.byBackend.get(backend);
    if (split === undefined) {
      const pool = KernelPool.on(backend.module, threads, poolModules());
      split = pool ? new RowSplit(backend, pool) : null;
      RowSplit.byBackend.set(backend, split);
    }
    if (split) split.parts = Math.min(split.pool.helpers + 1, Math.floor(rows / MIN_ROWS_PER_THREAD));
    return split;
  }

  /** Helpers spin until `end` (call it in a `finally`). */
  begin(): void {
    this.pool.begin();
  }

  end(): void {
    this.pool.end();
  }

  /** Rows per share for `m` rows: even, so 2-row tiles pair rows as on one thread. */
  private per(m: number): number {
    return (Math.ceil(m / this.parts) + 1) & ~1;
  }

  /**
   * Whether `gemm` can split M rows of depth K: each share fits one job (≤ MAX_POOL_CALLS
   * tile calls of ≤ rowBlock(K) rows), and with a bias N is whole panels (no edge bias).
   */
  canGemm(m: number, k: number, n: number, bias: number): boolean {
    return (bias === 0 || n % 8 === 0) && Math.ceil(this.per(m) / rowBlock(k)) <= MAX_POOL_CALLS;
  }

  /**
   * Whether `step` can split B rows of hidden size H (a share is one tile call; with the
   * product's bias, its N = gates·H whole panels).
   */
  canStep(kind: GateKind, B: number, H: number, bias: number): boolean {
    return this.per(B) <= rowBlock(H) && (bias === 0 || (GATES_OF[kind] * H) % 8 === 0);
  }

  /** out[M×N] = A[M×K]·B (+ bias[N]) for B packed at `panels`, rows split; check `canGemm` first. */
  gemm(a: number, m: number, k: number, panels: number, n: number, bias: number, out: number): void {
    const per = this.per(m), block = rowBlock(k), edge = panels + (n >>> 3) * k * 32;
    for (let p = this.parts - 1; p >= 0; p--) {
      const r0 = p * per, rows = Math.min(per, m - r0);
      if (rows <= 0) continue;
      for (let b0 = 0; b0 < rows; b0 += block) {
        const mm = Math.min(block, rows - b0), t = GEMM_TILES.indexOf(tileFor(mm, n));
        const ai = a + (r0 + b0) * k * 4, oi = out + (r0 + b0) * n * 4;
        if (p > 0) this.pool.queue(p - 1, this.poolTiles[t]!, ai, k * 4, panels, 32, k * 32, edge, bias, 0, oi, n * 4, mm, n, k);
        else this.tiles[t]!(ai, k * 4, panels, 32, k * 32, edge, bias, 0, oi, n * 4, mm, n, k);
      }
      if (p > 0) this.pool.start(p - 1);
    }
    this.finish(m, per);
  }

  /**
   * One recurrent step over B rows, rows split (check `canStep` first): hp = h·W_hhᵀ (+ bias)
   * on the packed panels (K = H, N = gates·H), then the gates (recurrentGatesKernel.ts): lstm
   * from xp_t, hp and c (`state`) into h_t and c' (`stateOut`, which may be c); gru from
   * xp_t, hp and h into h_t (`state` = h, `stateOut` unused); rnn from xp_t and hp into h_t.
   */
  step(kind: GateKind, B: number, H: number, h: number, panels: number, bias: number, xpt: number, hp: number, state: number, ht: number, stateOut: number): void {
    const G = GATES_OF[kind] * H, per = this.per(B), edge = panels + (G >>> 3) * H * 32;
    const gates = this.gates;
    for (let p = this.parts - 1; p >= 0; p--) {
      const r0 = p * per, rows = Math.min(per, B - r0);
      if (rows <= 0) continue;
      const t = GEMM_TILES.indexOf(tileFor(rows, G));
      const a = h + r0 * H * 4, o = hp + r0 * G * 4, x = xpt + r0 * G * 4, s = r0 * H * 4;
      if (p > 0) {
        this.pool.queue(p - 1, this.poolTiles[t]!, a, H * 4, panels, 32, H * 32, edge, bias, 0, o, G * 4, rows, G, H);
        if (kind === 'lstm') this.pool.queue(p - 1, this.poolGates.lstm, x, o, state + s, ht + s, stateOut + s, rows, H);
        else if (kind === 'gru') this.pool.queue(p - 1, this.poolGates.gru, x, o, state + s, ht + s, rows, H);
        else this.pool.queue(p - 1, this.poolGates[kind], x, o, ht + s, rows, H);
        this.pool.start(p - 1);
      } else {
        this.tiles[t]!(a, H * 4, panels, 32, H * 32, edge, bias, 0, o, G * 4, rows, G, H);
        if (kind === 'lstm') gates.lstm(x, o, state + s, ht + s, stateOut + s, rows, H);
        else if (kind === 'gru') gates.gru(x, o, state + s, ht + s, rows, H);
        else gates[kind](x, o, ht + s, rows, H);
      }
    }
    this.finish(B, per);
  }

  private finish(m: number, per: number): void {
    for (let p = 1; p < this.parts; p++) if (p * per < m) this.pool.finish(p - 1);
  }
}
