// Trials in Node worker threads (`kiln.search` with workers ≥ 1, or a trial module run
// in-process): Node-only, reached through the Node host (`src/platform/node.ts`).
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { KilnError } from '../eager/index.js';
import { errorMessage, toOutcome, type ResolvedModule, type TrialFunction, type TrialModule, type TrialOutcome, type TrialRunner, type TrialTask } from './trialRunner.js';

/** Resolves `{ module, export }`; a missing file is a KilnError now rather than N failed trials later. */
export function resolveTrialModule(trial: TrialModule, op: string): ResolvedModule {
  if (typeof trial.export !== 'string' || trial.export === '') throw new KilnError('trial.export must name the exported trial function', { op });
  const m = trial.module;
  let url: URL;
  if (m instanceof URL) url = m;
  else if (typeof m === 'string' && /^[a-z][a-z\d+.-]+:/i.test(m)) url = new URL(m); // file:, data:, … (not a drive letter)
  else if (typeof m === 'string' && m !== '') url = pathToFileURL(path.resolve(m));
  else throw new KilnError('trial.module must be a path or URL of a module', { op });
  const file = url.protocol === 'file:' ? fileURLToPath(url) : undefined;
  if (file !== undefined && !existsSync(file)) throw new KilnError(`trial module not found: ${file}`, { op });
  const typescript = /\.[cm]?tsx?$/i.test(file ?? url.pathname);
  return { url: url.href, ...(file !== undefined ? { file } : {}), typescript, exportName: trial.export };
}

/** Loads a trial module in this thread (`workers: 0` with `{ module, export }`). */
export async function importTrialFunction(mod: ResolvedModule, op: string): Promise<TrialFunction<unknown>> {
  let ns: Record<string, unknown>;
  try {
    ns = (await import(mod.url)) as Record<string, unknown>;
  } catch (e) {
    const hint = mod.typescript ? ' (a .ts module loads in-process only when Node runs with tsx, e.g. `node --import tsx`; or use workers ≥ 1)' : '';
    throw new KilnError(`cannot load trial module ${mod.file ?? mod.url}: ${errorMessage(e)}${hint}`, { op });
  }
  const fn = ns[mod.exportName];
  if (typeof fn !== 'function') throw new KilnError(noExportMessage(mod, Object.keys(ns)), { op });
  return fn as TrialFunction<unknown>;
}

function noExportMessage(mod: ResolvedModule, names: string[]): string {
  return `trial module ${mod.file ?? mod.url} has no exported function "${mod.exportName}" (exports: ${names.join(', ') || 'none'})`;
}

/** tsx's ESM API (its `register()`), as a file URL, resolved from the trial module, the working directory or Kiln. */
interface TsxEntry {
  api: string;
}

/** Whether this process runs under tsx (`node --import tsx`, the `tsx` command): then a .js trial may import .ts files too. */
export function underTsx(): boolean {
  return process.execArgv.some((a) => /(^|[\\/])tsx([\\/]|$)/.test(a));
}

function pickExport(entry: unknown): string | undefined {
  if (typeof entry === 'string') return entry;
  if (entry && typeof entry === 'object') {
    const e = entry as Record<string, unknown>;
    return pickExport(e.import) ?? pickExport(e.default);
  }
  return undefined;
}

export function findTsx(mod: ResolvedModule): TsxEntry | undefined {
  const bases = [mod.file, path.join(process.cwd(), 'index.js'), fileURLToPath(import.meta.url)].filter((b): b is string => b !== undefined);
  for (const base of bases) {
    try {
      const pkgFile = createRequire(base).resolve('tsx/package.json');
      const exports = (JSON.parse(readFileSync(pkgFile, 'utf8')) as { exports?: Record<string, unknown> }).exports ?? {};
      const api = pickExport(exports['./esm/api']);
      if (!api) continue;
      return { api: pathToFileURL(path.join(path.dirname(pkgFile), api)).href };
    } catch {
      // not resolvable from this base: try the next
    }
  }
  return undefined;
}

/**
 * The worker's program (an ES module, run from a `data:` URL so the same code serves
 * Kiln's sources and its build). It imports the trial module once, says `ready` (or
 * `loadError`), then runs one task per message. For TypeScript it first registers tsx's
 * ESM API in the worker: `--import tsx` in a worker's execArgv registers nothing on
 * Node 20 (tsx's entry registers its hooks on the main thread only there), and an import
 * that failed on a `.ts` file stays failed (Node caches it), so registering must come first.
 */
const WORKER_SOURCE = `
import { parentPort, workerData } from 'node:worker_threads';
const { url, exportName, tsxApi } = workerData;
const message = (e) => (e instanceof Error ? e.message : String(e));
let fn;
try {
  if (tsxApi) (await import(tsxApi)).register();
  const mod = await import(url);
  fn = mod[exportName];
  if (typeof fn !== 'function') {
    parentPort.postMessage({ type: 'loadError', error: 'no export', names: Object.keys(mod) });
    fn = undefined;
  }
} catch (e) {
  parentPort.postMessage({ type: 'loadError', error: message(e) });
}
const plain = (v) => {
  if (v === null || typeof v !== 'object') return typeof v === 'function' || typeof v === 'symbol' ? String(v) : v;
  const out = {};
  for (const [k, x] of Object.entries(v)) out[k] = x !== null && (typeof x === 'object' || typeof x === 'function' || typeof x === 'symbol') ? String(x) : x;
  return out;
};
if (fn) {
  parentPort.on('message', async (task) => {
    const t0 = performance.now();
    try {
      const value = await fn(task.config, { budget: task.budget, seed: task.seed, id: task.id });
      const ms = performance.now() - t0;
      try {
        parentPort.postMessage({ type: 'done', id: task.id, value, ms });
      } catch {
        parentPort.postMessage({ type: 'done', id: task.id, value: plain(value), ms });
      }
    } catch (e) {
      parentPort.postMessage({ type: 'failed', id: task.id, error: message(e), ms: performance.now() - t0 });
    }
  });
  parentPort.postMessage({ type: 'ready' });
}
`;
const WORKER_URL = new URL(`data:text/javascript,${encodeURIComponent(WORKER_SOURCE)}`);

type WorkerMessage =
  | { type: 'ready' }
  | { type: 'loadError'; error: string; names?: string[] }
  | { type: 'done'; id: number; value: unknown; ms: number }
  | { type: 'failed'; id: number; error: string; ms: number };

interface Slot {
  worker: Worker;
  ready: boolean;
  gone: boolean;
  task?: TrialTask;
  started: number;
  timer?: ReturnType<typeof setTimeout>;
}

/** Options of the worker pool. */
export interface WorkerPoolOptions {
  workers: number;
  /** Per-trial time limit in ms: the worker is terminated and replaced, the trial recorded as failed. */
  timeout?: number;
  /** Extra Node options for the workers. */
  execArgv?: readonly string[];
  /** Load the trial through tsx. Default: when the module is TypeScript or this process runs under tsx. */
  tsx?: boolean;
  op: string;
}

/**
 * Runs tasks on up to `workers` worker threads, one task per thread at a time; threads
 * stay up between `runAll` calls (successive halving's rungs) until `close()`. A trial
 * that throws is a failed outcome; a worker that dies (uncaught error, `process.exit`,
 * time limit) fails its trial and is replaced. Only setup failures (the module cannot
 * load, lacks the export, or a worker dies before it is ready) reject.
 */
export function workerPool(mod: ResolvedModule, options: WorkerPoolOptions): TrialRunner {
  const { op } = options;
  let tsx: TsxEntry | undefined;
  const wanted = options.tsx ?? (mod.typescript || underTsx());
  if (wanted) {
    tsx = findTsx(mod);
    if (!tsx && (mod.typescript || options.tsx)) {
      throw new KilnError(
        `trial module ${mod.file ?? mod.url}${mod.typescript ? ' is TypeScript: worker threads load it' : ': worker threads were asked to load it'} through tsx, but tsx cannot be resolved from the module, the working directory or Kiln. Install it (\`npm install -D tsx\`), compile the trial to .js/.mjs, or run it in-process with workers: 0 under tsx`,
        { op },
      );
    }
  }
  return new WorkerPool(mod, options, tsx);
}

/** The batch `runAll` is working on. */
interface Batch {
  tasks: readonly TrialTask[];
  index: Map<number, number>;
  queue: TrialTask[];
  outcomes: (TrialOutcome | undefined)[];
  finished: number;
  settled: boolean;
  onDone: (task: TrialTask, outcome: TrialOutcome) => void;
  resolve: (outcomes: TrialOutcome[]) => void;
  reject: (e: unknown) => void;
}

class WorkerPool implements TrialRunner {
  private readonly slots = new Set<Slot>();
  private readonly execArgv: string[];
  private spawned = 0;
  private batch: Batch | undefined;

  constructor(
    private readonly mod: ResolvedModule,
    private readonly options: WorkerPoolOptions,
    private readonly tsx: TsxEntry | undefined,
  ) {
    this.execArgv = [...(options.execArgv ?? [])];
  }

  runAll(tasks: readonly TrialTask[], onDone: (task: TrialTask, outcome: TrialOutcome) => void): Promise<TrialOutcome[]> {
    if (this.batch && !this.batch.settled) return Promise.reject(new KilnError('runAll is already running', { op: this.options.op }));
    return new Promise<TrialOutcome[]>((resolve, reject) => {
      const batch: Batch = {
        tasks, index: new Map(tasks.map((t, i) => [t.id, i])), queue: [...tasks],
        outcomes: new Array<TrialOutcome | undefined>(tasks.length), finished: 0, settled: false, onDone, resolve, reject,
      };
      this.batch = batch;
      if (tasks.length === 0) {
        batch.settled = true;
        resolve([]);
        return;
      }
      this.pump();
    });
  }

  async close(): Promise<void> {
    const all = [...this.slots];
    for (const s of all) this.stop(s);
    await Promise.all(all.map((s) => s.worker.terminate()));
  }

  private get where(): string {
    return this.mod.file ?? this.mod.url;
  }

  private fatal(message: string): void {
    const b = this.batch;
    for (const s of this.slots) this.stop(s);
    if (!b || b.settled) return;
    b.settled = true;
    b.reject(new KilnError(message, { op: this.options.op }));
  }

  private stop(s: Slot): void {
    s.gone = true;
    if (s.timer) clearTimeout(s.timer);
    s.timer = undefined;
    this.slots.delete(s);
    void s.worker.terminate();
  }

  private finish(s: Slot, outcome: TrialOutcome): void {
    const task = s.task;
    const b = this.batch;
    s.task = undefined;
    if (s.timer) clearTimeout(s.timer);
    s.timer = undefined;
    if (!task || !b || b.settled) return;
    b.outcomes[b.index.get(task.id)!] = outcome;
    b.finished++;
    try {
      b.onDone(task, outcome);
    } catch (e) {
      b.settled = true;
      for (const x of this.slots) this.stop(x);
      b.reject(e);
      return;
    }
    if (b.finished === b.tasks.length) {
      b.settled = true;
      b.resolve(b.outcomes as TrialOutcome[]);
    }
  }

  private died(s: Slot, why: string): void {
    if (s.gone) return;
    const { ready, task } = s;
    this.stop(s);
    if (!ready) return this.fatal(`a worker died while loading trial module ${this.where}: ${why}`);
    if (task) this.finish(s, { status: 'failed', error: `worker crashed: ${why}`, ms: performance.now() - s.started });
    this.pump();
  }

  private assign(s: Slot, task: TrialTask): void {
    s.task = task;
    s.started = performance.now();
    const limit = this.options.timeout;
    if (limit !== undefined) {
      s.timer = setTimeout(() => {
        if (s.task !== task) return;
        this.stop(s);
        this.finish(s, { status: 'failed', error: `timed out after ${limit} ms (worker terminated)`, ms: performance.now() - s.started });
        this.pump();
      }, limit);
    }
    s.worker.postMessage(task);
  }

  private spawn(): void {
    const worker = new Worker(WORKER_URL, {
      workerData: { url: this.mod.url, exportName: this.mod.exportName, tsxApi: this.tsx?.api },
      execArgv: this.execArgv,
      name: `kiln-search-${++this.spawned}`,
    });
    const s: Slot = { worker, ready: false, gone: false, started: 0 };
    this.slots.add(s);
    worker.on('message', (m: WorkerMessage) => {
      if (s.gone) return;
      if (m.type === 'ready') {
        s.ready = true;
        this.pump();
      } else if (m.type === 'loadError') {
        this.fatal(m.names ? noExportMessage(this.mod, m.names) : `cannot load trial module ${this.where} in a worker: ${m.error}`);
      } else if (s.task && m.id === s.task.id) {
        this.finish(s, m.type === 'done' ? toOutcome(m.value, m.ms) : { status: 'failed', error: m.error, ms: m.ms });
        this.pump();
      }
    });
    worker.on('error', (e: unknown) => this.died(s, errorMessage(e)));
    worker.on('exit', (code: number) => this.died(s, `the worker exited with code ${code}`));
  }

  private pump(): void {
    const b = this.batch;
    if (!b || b.settled) return;
    for (const s of this.slots) {
      if (b.queue.length === 0) break;
      if (s.ready && !s.task && !s.gone) this.assign(s, b.queue.shift()!);
    }
    let starting = 0;
    for (const s of this.slots) if (!s.ready) starting++;
    while (b.queue.length > starting && this.slots.size < this.options.workers) {
      this.spawn();
      starting++;
    }
  }
}
