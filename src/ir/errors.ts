/**
 * The one error type Kiln throws for user mistakes. The message names the op, the
 * shapes/dtypes involved and, when known, the user's call site (file:line).
 */
export class KilnError extends Error {
  override name = 'KilnError';
  /** The op the error belongs to, when there is one. */
  readonly op: string | undefined;
  /** `file:line:column` of the user's call that failed, when it could be found. */
  readonly callSite: string | undefined;

  constructor(message: string, options: { op?: string; callSite?: string } = {}) {
    const where = options.callSite ? `\n    at ${options.callSite}` : '';
    super(options.op ? `${options.op}: ${message}${where}` : `${message}${where}`);
    this.op = options.op;
    this.callSite = options.callSite;
  }
}

// Frames inside Kiln itself (source or built) and Node internals are skipped so the
// site named is the user's own line.
const INTERNAL = /[\\/](src|dist)[\\/](ir|ops|eager|runtime|nn|optim|data|passes|compiled|onnx|testing)[\\/]|[\\/](src|dist)[\\/]index\.[jt]s|node:internal|node_modules[\\/]|\(native\)/;

/**
 * The first stack frame outside Kiln, as `file:line:col`. Costs a stack capture:
 * call only when throwing or tracing, never on the eager hot path.
 */
export function userCallSite(): string | undefined {
  return captureCallSite()();
}

/**
 * Captures the stack now and finds the user's `file:line:col` in it only when the
 * returned function is called. Capturing costs a few microseconds, formatting several
 * times more: a recorder that needs the site only sometimes (a lazy segment that misses
 * its cache) captures always and formats on demand.
 */
export function captureCallSite(): () => string | undefined {
  // The user's frame can sit below more Kiln frames (gradient rules, tracers, hooks)
  // than V8 keeps by default (10).
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = Math.max(limit, 64);
  const error = new Error();
  Error.stackTraceLimit = limit;
  return () => siteIn(error.stack);
}

function siteIn(stack: string | undefined): string | undefined {
  if (!stack) return undefined;
  for (const line of stack.split('\n').slice(1)) {
    if (INTERNAL.test(line)) continue;
    const m = /\(?((?:file:\/\/)?[^\s()]+:\d+:\d+)\)?\s*$/.exec(line);
    if (m) return relativeToCwd(m[1]!.replace(/^file:\/\//, ''));
  }
  return undefined;
}

/** Paths under the working directory print relative to it (`src/train.ts:12:5`). */
function relativeToCwd(location: string): string {
  const cwd = typeof process !== 'undefined' && typeof process.cwd === 'function' ? process.cwd() : '';
  return cwd && location.startsWith(cwd + '/') ? location.slice(cwd.length + 1) : location;
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}
