/**
 * A Kiln contender in a worker thread, with its own wasm module: Kiln loads that module
 * once per process (per thread), so a run with another thread count needs a thread of
 * its own. `run()` stays synchronous for the harness: it wakes the worker through a
 * SharedArrayBuffer and blocks in Atomics.wait until the step is done, so the worker's
 * rounds interleave with the in-process contenders like any other row.
 *
 * The same file is the worker's entry: it builds the named step, then loops on the flag.
 */
import { writeSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Contender } from './harness.js';
import type { KilnStepName } from './kilnSteps.js';

interface Job { step: KilnStepName; threads: number; flags: SharedArrayBuffer }

// flags[0]: 1 = run one step, 2 = exit (set by the main thread, cleared by the worker).
// flags[1]: 1 = step done, 2 = step failed (set by the worker, cleared by the main thread).
const CMD = 0, DONE = 1;
const STEP_TIMEOUT_MS = 120_000;
const WARMUP_MS = 1000;

export interface WorkerContender extends Contender {
  /** Ends the worker (and its wasm module's pthreads). */
  close(): Promise<void>;
}

/** A contender running `step` in a worker whose Kiln uses `threads` wasm threads. */
export async function kilnWorkerContender(name: string, step: KilnStepName, threads: number): Promise<WorkerContender> {
  const flags = new Int32Array(new SharedArrayBuffer(8));
  // The benches run under `--import tsx`, whose hooks do not reach a worker on Node 20
  // (tsx issue #354): the worker registers them itself, then imports this file.
  const entry = `import('tsx/esm/api').then((tsx) => tsx.register()).then(() => import(${JSON.stringify(import.meta.url)}))`;
  const worker = new Worker(entry, { eval: true, workerData: { step, threads, flags: flags.buffer } satisfies Job });
  await new Promise<void>((resolve, reject) => {
    worker.once('message', (m: { ready?: boolean; error?: string }) => (m.ready ? resolve() : reject(new Error(`kiln worker (${step}, ${threads} threads): ${m.error}`))));
    worker.once('error', reject);
  });
  return {
    name,
    run: () => {
      Atomics.store(flags, DONE, 0);
      Atomics.store(flags, CMD, 1);
      Atomics.notify(flags, CMD);
      if (Atomics.wait(flags, DONE, 0, STEP_TIMEOUT_MS) === 'timed-out') throw new Error(`kiln worker (${step}): step timed out`);
      if (Atomics.load(flags, DONE) === 2) throw new Error(`kiln worker (${step}): step failed (its error is on stderr)`);
    },
    close: async () => {
      Atomics.store(flags, CMD, 2);
      Atomics.notify(flags, CMD);
      await worker.terminate();
    },
  };
}

async function serve(job: Job): Promise<void> {
  const kiln = await import('../src/index.js');
  const { KILN_STEPS } = await import('./kilnSteps.js');
  await kiln.init({ backend: 'wasm', threads: job.threads });
  const step = KILN_STEPS[job.step]();
  // A fresh isolate: warm it (JIT, wasm tier-up, heap growth) beyond the harness's few
  // warm-up calls, which an in-process contender shares with the code run before it.
  for (const t0 = performance.now(); performance.now() - t0 < WARMUP_MS;) step();
  const flags = new Int32Array(job.flags);
  parentPort!.postMessage({ ready: true });
  for (;;) {
    Atomics.wait(flags, CMD, 0);
    const cmd = Atomics.exchange(flags, CMD, 0);
    if (cmd === 2) return;
    let ok = true;
    try {
      step();
    } catch (e) {
      ok = false;
      // This thread's console goes through the main thread, which is blocked right now.
      writeSync(2, `kiln worker (${job.step}): ${(e as Error).stack ?? String(e)}\n`);
    }
    Atomics.store(flags, DONE, ok ? 1 : 2);
    Atomics.notify(flags, DONE);
  }
}

if (!isMainThread && (workerData as Partial<Job> | null)?.flags) {
  serve(workerData as Job).catch((e: unknown) => parentPort!.postMessage({ error: (e as Error).stack ?? String(e) }));
}
