// Trials: what they are, how outcomes are judged, and the in-process runner. Worker threads
// (Node only) are in `./trialWorkers.ts`, reached through the Node host.
/** What a trial is told besides its configuration. */
export interface TrialContext {
  /** The budget to spend (epochs, steps, samples: the trial decides); a search's `budget`, or the rung's in successive halving. */
  budget: number;
  /** A seed for this configuration (the same at every budget), derived from the search's seed. */
  seed: number;
  /** The trial's id in the search (its row in `result.trials`). */
  id: number;
}

/** What a trial returns: a score, or an object with a score and extra values to report. */
export type TrialOutput = number | { score: number; [key: string]: unknown };

/** An in-process trial (only with `workers: 0`: functions cannot cross threads). */
export type TrialFunction<C> = (config: C, context: TrialContext) => TrialOutput | Promise<TrialOutput>;

/**
 * A trial that worker threads can load: a module (a path, relative to the working
 * directory, or a `file:` URL; `.ts` needs `tsx` installed) and the name of its exported
 * trial function.
 */
export interface TrialModule {
  module: string | URL;
  export: string;
}

/** A unit of work: one configuration at one budget. */
export interface TrialTask {
  id: number;
  config: unknown;
  budget: number;
  seed: number;
}

/** How a task ended. */
export type TrialOutcome =
  | { status: 'ok'; score: number; extra?: Record<string, unknown>; ms: number }
  | { status: 'failed'; error: string; ms: number };

/** Runs tasks, some at a time, reporting each as it finishes; rejects only on setup failure. */
export interface TrialRunner {
  /** Runs every task; `onDone` sees each outcome as it finishes. Resolves with the outcomes in task order. */
  runAll(tasks: readonly TrialTask[], onDone: (task: TrialTask, outcome: TrialOutcome) => void): Promise<TrialOutcome[]>;
  /** Releases threads (idempotent). */
  close(): Promise<void>;
}

export const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e));

/** Turns what a trial returned into an outcome (the same rule in-process and from workers). */
export function toOutcome(value: unknown, ms: number): TrialOutcome {
  let score: unknown = value;
  let extra: Record<string, unknown> | undefined;
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && 'score' in value) {
    const { score: s, ...rest } = value as { score: unknown };
    score = s;
    if (Object.keys(rest).length > 0) extra = rest;
  }
  if (typeof score !== 'number') {
    const shown = typeof value === 'object' && value !== null ? `an object${'score' in value ? ` whose score is ${typeof score}` : ' without a score'}` : typeof value;
    return { status: 'failed', error: `the trial returned ${shown}: expected a number or { score: number, ... }`, ms };
  }
  if (Number.isNaN(score)) return { status: 'failed', error: 'the score is NaN', ms };
  return extra ? { status: 'ok', score, extra, ms } : { status: 'ok', score, ms };
}

/** Runs an in-process trial function serially (`workers: 0`). */
export function serialRunner<C>(fn: TrialFunction<C>): TrialRunner {
  return {
    async runAll(tasks, onDone) {
      const outcomes: TrialOutcome[] = [];
      for (const task of tasks) {
        const t0 = performance.now();
        let outcome: TrialOutcome;
        try {
          const value = await fn(task.config as C, { budget: task.budget, seed: task.seed, id: task.id });
          outcome = toOutcome(value, performance.now() - t0);
        } catch (e) {
          outcome = { status: 'failed', error: errorMessage(e), ms: performance.now() - t0 };
        }
        outcomes.push(outcome);
        onDone(task, outcome);
      }
      return outcomes;
    },
    async close() {},
  };
}

/** A trial module located: its URL, its file (if any) and whether it is TypeScript. */
export interface ResolvedModule {
  url: string;
  file?: string;
  typescript: boolean;
  exportName: string;
}

