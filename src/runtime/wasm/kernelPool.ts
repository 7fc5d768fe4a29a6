import { KilnError } from '../../ir/index.js';
import { compileForMemory, kernelsOn } from './wasmAssembler.js';
import type { KernelWorker, WasmModule } from './wasmModule.js';

// ---- Kiln's own threads for its generated kernels (the threaded build) ----------------------
//
// tfjs's pthread pool runs XNNPACK's C code only; Kiln's generated kernels (the GEMM tiles,
// the gate kernels) are modules of their own. On the threaded build (a shared heap) a kernel
// can split its rows: `threads − 1` helper workers each instantiate the same generated
// modules on the shared heap and run the calls the calling thread queues for them, while
// the calling thread runs its own share. Each row is computed by the same function on the
// same values, so the results are the single-threaded bits.
//
// A job is a few calls (a function index and up to ARGS i32 arguments each) written into
// the helper's SharedArrayBuffer. Between `begin` and `end` (a kernel's burst of jobs: the
// steps of a recurrence come every few tens of µs) the helpers spin on their flags; outside
// a burst they linger (spin) for LINGER_MS, then sleep in Atomics.wait, so they never hold
// a core for long (measured: a helper that slept between steps made the split step no
// faster; one spinning all the time halved XNNPACK's threaded GEMM). The calling thread spins until its helpers are done (a browser's main
// thread may not block). A helper still starting (or one that could not start) has its
// calls run by the calling thread: nothing waits on a worker's start-up.

/** Most i32 arguments of one call. */
const ARGS = 13;
/** Most calls per job. */
export const MAX_POOL_CALLS = 8;
const CALL = 1 + ARGS;
/** flags: [state, ready, burst, calls, (fn, args…) × MAX_POOL_CALLS]. */
const STATE = 0, READY = 1, BURST = 2, COUNT = 3, FIRST = 4;
const IDLE = 0, POSTED = 1, DONE = 2, EXIT = 3, RUNNING = 4;
/** Spins the calling thread waits for a helper to take its job before taking it back: ≈ 2–10 µs. */
const CLAIM_SPINS = 4000;
/**
 * How long a helper keeps spinning after a burst before it sleeps (ms): back-to-back
 * kernel calls then find it awake. A sleeping helper, woken, may wait for the OS to move
 * it off the busy calling thread's core (measured: milliseconds, every job meanwhile taken
 * back), so waking it at every call would cost more than the split gains.
 */
const LINGER_MS = 0.5;
/** A helper that has not finished in this long is taken for dead. */
const STUCK_MS = 10_000;

/** A generated module the pool instantiates on every thread, and the functions it exports that calls may name. */
export interface PoolModule {
  readonly key: string;
  readonly generate: () => Uint8Array<ArrayBuffer>;
  readonly functions: readonly string[];
}

// The helper's script: a classic script for Node's `eval` workers and browsers' blob workers.
const HELPER_SOURCE = `
const start = ({ memory, modules, flags }) => {
  const fns = [];
  for (const { module, functions } of modules) {
    const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
    for (const name of functions) fns.push(exports[name]);
  }
  const f = new Int32Array(flags);
  Atomics.store(f, ${READY}, 1);
  for (;;) {
    let s = Atomics.load(f, ${STATE}), spins = 0, idleSince = 0;
    while (s !== ${POSTED} && s !== ${EXIT}) {
      if (Atomics.load(f, ${BURST}) === 1) idleSince = 0;
      else if ((++spins & 255) === 0) {
        const now = performance.now();
        if (idleSince === 0) idleSince = now;
        else if (now - idleSince > ${LINGER_MS}) { Atomics.wait(f, ${STATE}, s); idleSince = 0; }
      }
      s = Atomics.load(f, ${STATE});
    }
    if (s === ${EXIT}) return;
    // Claim the job (the calling thread takes back one not claimed in time).
    if (Atomics.compareExchange(f, ${STATE}, ${POSTED}, ${RUNNING}) !== ${POSTED}) continue;
    const n = f[${COUNT}];
    for (let c = 0, p = ${FIRST}; c < n; c++, p += ${CALL}) {
      fns[f[p]](f[p + 1], f[p + 2], f[p + 3], f[p + 4], f[p + 5], f[p + 6], f[p + 7], f[p + 8], f[p + 9], f[p + 10], f[p + 11], f[p + 12], f[p + 13]);
    }
    Atomics.store(f, ${STATE}, ${DONE});
  }
};
if (typeof require === 'function') require('worker_threads').parentPort.once('message', start);
else self.onmessage = (e) => start(e.data);
`;

type Fn = (...args: number[]) => void;

/**
 * Helper threads for generated kernels on a shared heap. Per helper: `queue` calls, `start`
 * them, run the calling thread's share, then `finish` (every started helper). Allocates
 * nothing per job.
 *
 * @example
 * ```ts
 * const pool = KernelPool.on(module, threads, [{ key: 'gemm', generate, functions: ['gemm_2x16'] }]);
 * if (pool) {
 *   pool.begin();
 *   try {
 *     pool.queue(0, pool.fn('gemm', 'gemm_2x16'), a + half * lda, lda, …); // rows half… on helper 0
 *     pool.start(0);
 *     gemm(a, lda, …);                                                     // rows 0…half here
 *     pool.finish(0);
 *   } finally {
 *     pool.end();
 *   }
 * }
 * ```
 */
export class KernelPool {
  private readonly flags: Int32Array[];
  private readonly workers: KernelWorker[];
  /** The same functions on the calling thread (a helper not started yet runs here). */
  private readonly local: Fn[] = [];
  private readonly index = new Map<string, number>();
  /** Helpers whose calls ran here (not ready): finish() has nothing to wait for. */
  private readonly ranHere: boolean[];
  /**
   * Jobs posted to the helpers, run here because their helper was not ready yet, and taken
   * back because their helper did not claim them in time (diagnostics, tests).
   */
  readonly jobs = { helpers: 0, here: 0, takenBack: 0 };

  private constructor(module: WasmModule, readonly helpers: number, private readonly modules: readonly PoolModule[]) {
    const memory = module.asm.memory;
    const compiled = modules.map((m) => ({ module: compileForMemory(memory, m.key, m.generate), functions: m.functions }));
    for (const m of modules) {
      const exports = kernelsOn<Record<string, Fn>>(memory, m.key, m.generate);
      for (const name of m.functions) {
        this.index.set(`${m.key}:${name}`, this.local.length);
        this.local.push(exports[name]!);
      }
    }
    this.flags = Array.from({ length: helpers }, () => new Int32Array(new SharedArrayBuffer(4 * (FIRST + MAX_POOL_CALLS * CALL))));
    this.ranHere = new Array<boolean>(helpers).fill(false);
    this.workers = this.flags.map((flags) => {
      const w = module.spawnWorker!(HELPER_SOURCE);
      w.postMessage({ memory, modules: compiled, flags: flags.buffer });
      return w;
    });
  }

  /**
   * The pool of a threaded build's heap (`threads − 1` helpers) for `modules`, made on first
   * use; null on one thread or where workers cannot be made. Every user passes the same
   * modules (the helpers instantiate them once).
   */
  static on(module: WasmModule, threads: number, modules: readonly PoolModule[]): KernelPool | null {
    if (threads < 2 || !module.spawnWorker) return null;
    const memory = module.asm.memory;
    let pool = pools.get(memory);
    if (pool === undefined) {
      try {
        pool = new KernelPool(module, threads - 1, modules);
      } catch {
        pool = null;
      }
      pools.set(memory, pool);
    }
    if (pool && pool.modules !== modules) throw new Error('KernelPool.on: every user must pass the same module list');
    return pool;
  }

  /** The pool made for this module's heap, if one was (diagnostics, tests). */
  static made(module: WasmModule): KernelPool | null {
    return pools.get(module.asm.memory) ?? null;
  }

  /** The index of function `name` of module `key`, for `queue`. */
  fn(key: string, name: string): number {
    const i = this.index.get(`${key}:${name}`);
    if (i === undefined) throw new Error(`KernelPool: no function ${key}:${name}`);
    return i;
  }

  /**
   * Helpers spin between jobs until `end` (call both around a kernel's jobs, `end` in a
   * `finally`); a sleeping helper is woken now, so it is up by the first job.
   */
  begin(): void {
    for (const f of this.flags) {
      Atomics.store(f, BURST, 1);
      Atomics.notify(f, STATE);
    }
  }

  /** Helpers sleep between jobs again. */
  end(): void {
    for (const f of this.flags) Atomics.store(f, BURST, 0);
  }

  /** Adds the call `fn(args)` to helper `h`'s next job (at most MAX_POOL_CALLS per job; unused args 0). */
  queue(h: number, fn: number, a0: number, a1 = 0, a2 = 0, a3 = 0, a4 = 0, a5 = 0, a6 = 0, a7 = 0, a8 = 0, a9 = 0, a10 = 0, a11 = 0, a12 = 0): void {
    const f = this.flags[h]!;
    const n = f[COUNT]!;
    if (n >= MAX_POOL_CALLS) throw new Error(`KernelPool: more than ${MAX_POOL_CALLS} calls in one job`);
    const p = FIRST + n * CALL;
    f[p] = fn;
    f[p + 1] = a0; f[p + 2] = a1; f[p + 3] = a2; f[p + 4] = a3; f[p + 5] = a4; f[p + 6] = a5; f[p + 7] = a6;
    f[p + 8] = a7; f[p + 9] = a8; f[p + 10] = a9; f[p + 11] = a10; f[p + 12] = a11; f[p + 13] = a12;
    f[COUNT] = n + 1;
  }

  /** Starts helper `h` on its queued calls; runs them here if it is not ready yet. */
  start(h: number): void {
    const f = this.flags[h]!;
    if (Atomics.load(f, READY) !== 1) {
      this.runHere(f);
      this.ranHere[h] = true;
      this.jobs.here++;
      return;
    }
    this.jobs.helpers++;
    Atomics.store(f, STATE, POSTED);
    Atomics.notify(f, STATE);
  }

  /**
   * Waits until helper `h`'s job is done. A job its helper has not claimed soon (a helper
   * the OS has descheduled, or one still waking) is taken back and run here: a step then
   * costs what it costs on one thread, not a time slice.
   */
  finish(h: number): void {
    const f = this.flags[h]!;
    if (this.ranHere[h]) {
      this.ranHere[h] = false;
      return;
    }
    let spins = 0, since = 0;
    while (Atomics.load(f, STATE) === POSTED) {
      if (++spins < CLAIM_SPINS) continue;
      if (Atomics.compareExchange(f, STATE, POSTED, IDLE) === POSTED) {
        this.runHere(f);
        this.jobs.takenBack++;
        return;
      }
    }
    spins = 0;
    while (Atomics.load(f, STATE) !== DONE) {
      if (++spins === 1 << 16) {
        spins = 0;
        const now = performance.now();
        if (since === 0) since = now;
        else if (now - since > STUCK_MS) throw new KilnError(`a kernel thread has not answered in ${STUCK_MS / 1000} s`);
      }
    }
    f[STATE] = IDLE;
    f[COUNT] = 0;
  }

  /** Runs a job's calls on this thread and clears it. */
  private runHere(f: Int32Array): void {
    for (let c = 0, p = FIRST; c < f[COUNT]!; c++, p += CALL) {
      this.local[f[p]!]!(f[p + 1]!, f[p + 2]!, f[p + 3]!, f[p + 4]!, f[p + 5]!, f[p + 6]!, f[p + 7]!, f[p + 8]!, f[p + 9]!, f[p + 10]!, f[p + 11]!, f[p + 12]!, f[p + 13]!);
    }
    f[COUNT] = 0;
  }

  /** Ends the helpers (the pool is unusable after). */
  close(): void {
    for (let h = 0; h < this.helpers; h++) {
      Atomics.store(this.flags[h]!, STATE, EXIT);
      Atomics.notify(this.flags[h]!, STATE);
      void this.workers[h]!.terminate();
    }
  }
}

const pools = new WeakMap<WebAssembly.Memory, KernelPool | null>();
