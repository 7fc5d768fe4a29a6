/**
 * Contenders in a worker thread, with their own wasm modules: Kiln (and onnxruntime-web)
 * load their module once per process (per thread) with a fixed thread count, so a run with
 * another thread count needs a thread of its own. `run()` stays synchronous for the
 * harness: it wakes the worker through a SharedArrayBuffer and blocks in Atomics.wait until
 * the step is done, so the worker's rounds interleave with the in-process contenders like
 * any other row (each call pays one cross-thread wake-up, ~10 µs).
 *
 * A worker serves a set of named steps built once by a factory (`StepSource`: a module URL
 * and the name of its export, since closures cannot cross threads); a step may be async
 * (the worker awaits it) and may report its outputs, so a bench can cross-check them
 * before timing. The same file is the worker's entry: it builds the steps, then loops on
 * the flags.
 */
import { writeSync } from 'node:fs';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import type { Contender } from './harness.js';
import type { KilnStepName } from './kilnSteps.js';

/** One step a worker serves. */
export interface WorkerStep {
  /** The operation to time (awaited when it returns a promise). */
  run: () => void | Promise<void>;
  /** Its current outputs, flattened (for cross-checks; not timed). */
  output?: () => Float32Array[] | Promise<Float32Array[]>;
}

/**
 * A module export, `(threads, payload) => Promise<Record<string, WorkerStep>>`, that the
 * worker calls once: it initialises its runtime with `threads` and builds every step.
 * `payload` is structured-cloned from the main thread (weights, inputs, model bytes).
 */
export interface StepSource { module: string; factory: string }

type StepFactory = (threads: number, payload: unknown) => Promise<Record<string, WorkerStep>>;

interface Job { source: StepSource; threads: number; payload: unknown; flags: SharedArrayBuffer; warmupMs: number }

// flags[CMD]: 1 = run step flags[STEP], 3 = post step flags[STEP]'s outputs, 2 = exit (set by the main thread, cleared by the worker).
// flags[DONE]: 1 = step done, 2 = step failed (set by the worker, cleared by the main thread).
const CMD = 0, DONE = 1, STEP = 2;
const RUN = 1, EXIT = 2, OUTPUT = 3;
const STEP_TIMEOUT_MS = 120_000;
/** A worker's young generation (MiB), as a main thread's rather than a worker's default. */
const WORKER_YOUNG_GENERATION_MB = 64;

export interface WorkerContender extends Contender {
  /** Ends the worker (and its wasm module's pthreads). */
  close(): Promise<void>;
}

/** A running worker and the steps it serves. */
export interface WorkerSteps {
  /** The step names the factory built, in its order. */
  readonly steps: readonly string[];
  /** A harness contender named `name` that runs `step` in the worker. */
  contender(name: string, step: string): Contender;
  /** The step's outputs, computed in the worker now. */
  output(step: string): Promise<Float32Array[]>;
  /** Ends the worker (and its wasm modules' pthreads). */
  close(): Promise<void>;
}

/**
 * Starts a worker that builds `source`'s steps with `threads` threads and warms each one
 * for `warmupMs` (a fresh isolate needs more warm-up than the harness's few calls: JIT,
 * wasm tier-up, heap growth).
 */
export async function startWorkerSteps(label: string, source: StepSource, threads: number, payload: unknown = null, warmupMs = 1000): Promise<WorkerSteps> {
  const flags = new Int32Array(new SharedArrayBuffer(12));
  // The benches run under `--import tsx`, whose hooks do not reach a worker on Node 20
  // (tsx issue #354): the worker registers them itself, then imports this file.
  const entry = `import('tsx/esm/api').then((tsx) => tsx.register()).then(() => import(${JSON.stringify(import.meta.url)}))`;
  // A worker's default young generation is smaller than a main thread's: there, scavenges
  // every few calls slowed the 2-thread rows (Kiln compiled, LSTM batch 16 on 2 threads:
  // 1.6 ms in a main thread, 3.2 ms in a default worker, 1.7 ms with this limit).
  const resourceLimits = { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB };
  const worker = new Worker(entry, { eval: true, resourceLimits, workerData: { source, threads, payload, flags: flags.buffer, warmupMs } satisfies Job });
  const steps = await new Promise<string[]>((resolve, reject) => {
    worker.once('message', (m: { ready?: string[]; error?: string }) => (m.ready ? resolve(m.ready) : reject(new Error(`${label} worker (${threads} threads): ${m.error}`))));
    worker.once('error', reject);
  });
  const indexOf = (step: string): number => {
    const i = steps.indexOf(step);
    if (i < 0) throw new Error(`${label} worker: no step ${step} (it has ${steps.join(', ')})`);
    return i;
  };
  return {
    steps,
    contender: (name, step) => {
      const index = indexOf(step);
      return {
        name,
        run: () => {
          Atomics.store(flags, STEP, index);
          Atomics.store(flags, DONE, 0);
          Atomics.store(flags, CMD, RUN);
          Atomics.notify(flags, CMD);
          if (Atomics.wait(flags, DONE, 0, STEP_TIMEOUT_MS) === 'timed-out') throw new Error(`${label} worker (${step}): step timed out`);
          if (Atomics.load(flags, DONE) === 2) throw new Error(`${label} worker (${step}): step failed (its error is on stderr)`);
        },
      };
    },
    output: (step) => {
      const index = indexOf(step);
      const reply = new Promise<Float32Array[]>((resolve, reject) => {
        worker.once('message', (m: { output?: Float32Array[]; error?: string }) => (m.output ? resolve(m.output) : reject(new Error(`${label} worker (${step}): ${m.error}`))));
      });
      Atomics.store(flags, STEP, index);
      Atomics.store(flags, CMD, OUTPUT);
      Atomics.notify(flags, CMD);
      return reply;
    },
    close: async () => {
      Atomics.store(flags, CMD, EXIT);
      Atomics.notify(flags, CMD);
      await worker.terminate();
    },
  };
}

/** A contender running Kiln's `step` (kilnSteps.ts) in a worker whose Kiln uses `threads` wasm threads. */
export async function kilnWorkerContender(name: string, step: KilnStepName, threads: number): Promise<WorkerContender> {
  const host = await startWorkerSteps('kiln', { module: import.meta.url, factory: 'kilnNamedSteps' }, threads, step);
  return { ...host.contender(name, step), close: host.close };
}

/** Worker factory of `kilnWorkerContender`: Kiln on wasm with `threads`, one step of kilnSteps.ts. */
export async function kilnNamedSteps(threads: number, step: unknown): Promise<Record<string, WorkerStep>> {
  const kiln = await import('../src/index.js');
  const { KILN_STEPS } = await import('./kilnSteps.js');
  await kiln.init({ backend: 'wasm', threads });
  return { [step as string]: { run: KILN_STEPS[step as KilnStepName]() } };
}

async function serve(job: Job): Promise<void> {
  const factory = (await import(job.source.module) as Record<string, StepFactory>)[job.source.factory];
  if (typeof factory !== 'function') throw new Error(`${job.source.module} has no export ${job.source.factory}`);
  const built = await factory(job.threads, job.payload);
  const steps = Object.values(built);
  for (const step of steps) {
    try {
      for (const t0 = performance.now(); performance.now() - t0 < job.warmupMs;) {
        const p = step.run();
        if (p) await p;
      }
    } catch {
      // A step that fails reports its error when it is run or asked for its outputs; the others still serve.
    }
  }
  const flags = new Int32Array(job.flags);
  parentPort!.postMessage({ ready: Object.keys(built) });
  for (;;) {
    Atomics.wait(flags, CMD, 0);
    const cmd = Atomics.exchange(flags, CMD, 0);
    if (cmd === EXIT) return;
    const name = Object.keys(built)[Atomics.load(flags, STEP)]!;
    const step = built[name]!;
    if (cmd === OUTPUT) {
      try {
        parentPort!.postMessage({ output: step.output ? await step.output() : [] });
      } catch (e) {
        parentPort!.postMessage({ error: (e as Error).stack ?? String(e) });
      }
      continue;
    }
    let ok = true;
    try {
      // An async step (onnxruntime-web) runs on this thread's event loop; a sync one
      // returns undefined and the loop never yields, as before.
      const p = step.run();
      if (p) await p;
    } catch (e) {
      ok = false;
      // This thread's console goes through the main thread, which is blocked right now.
      writeSync(2, `worker step ${name}: ${(e as Error).stack ?? String(e)}\n`);
    }
    Atomics.store(flags, DONE, ok ? 1 : 2);
    Atomics.notify(flags, DONE);
  }
}

if (!isMainThread && (workerData as Partial<Job> | null)?.flags) {
  serve(workerData as Job).catch((e: unknown) => parentPort!.postMessage({ error: (e as Error).stack ?? String(e) }));
}
