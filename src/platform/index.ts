// What Kiln needs from its host, in one place. Everything here runs in Node and in
// browsers (and workers): Node-only abilities (files, worker threads, the temp-folder
// pthread worker, Node's wasm loading) live in `./node.ts`, which imports `node:*`
// modules. The package's `node` entry imports it statically (so a Node bundle keeps it);
// anywhere else in Node (Kiln's own sources under vitest or tsx, a worker thread that
// imports them) `loadNodeHost()` imports it on first need. Browser bundles never see it:
// its specifier is not a literal, and it is only reached where `process.versions.node`
// exists.
import { KilnError } from '../ir/errors.js';
import type { NativeOutputHooks, WasmModule } from '../runtime/wasm/wasmModule.js';
import type * as TrialWorkers from '../search/trialWorkers.js';
import { sha256 as sha256Portable } from './sha256.js';

/** Where progress text goes: Node's `process.stderr`, or anything with `write`. */
export interface TextSink {
  write(text: string): unknown;
  /** A terminal that redraws a line in place on `\r` (progress bars); absent or false otherwise. */
  readonly isTTY?: boolean;
}

/** Node-only abilities (see the comment at the top). */
export interface NodeHost {
  /** Reads a whole file; failures are KilnErrors naming the path. */
  readFile(file: string, op: string, callSite: string | undefined): Promise<Uint8Array>;
  /** Replaces `file` with `bytes` atomically and durably; failures are KilnErrors naming the path. */
  writeFileAtomic(file: string, bytes: Uint8Array, op: string, callSite: string | undefined): Promise<void>;
  /** `fs.readFileSync` (throws Node's own errors). */
  readFileSync(file: string): Uint8Array;
  existsSync(file: string): boolean;
  joinPath(...parts: string[]): string;
  gunzipSync(bytes: Uint8Array): Uint8Array;
  /** The folder of an installed package (resolved from Kiln's own location). */
  packageDir(name: string): string;
  /** Loads tfjs-backend-wasm's module from the package (or from `wasmPath`, a folder). */
  loadWasm(threads: number, output: NativeOutputHooks, wasmPath: string | undefined): Promise<WasmModule>;
  availableParallelism(): number;
  readonly stderr: TextSink;
  /**
   * Node's WebGPU: Dawn from the npm package `webgpu` (`create([])`), made once and kept
   * reachable for the process's life (Dawn crashes the process when it is collected).
   * A KilnError saying to install it when the package is missing.
   */
  createGpu(): Promise<GPU>;
  /** Trials in worker threads (`kiln.search`). */
  readonly trials: typeof TrialWorkers;
  /**
   * A Node built-in module, e.g. `await host.builtin<typeof import('node:zlib')>('node:zlib')`:
   * for Node-only features elsewhere in Kiln. A literal `import('node:…')` anywhere a
   * browser bundle reaches breaks it (bundlers resolve literal dynamic imports too).
   */
  builtin<T>(name: `node:${string}`): Promise<T>;
}

let host: NodeHost | null = null;
let hostLoading: Promise<NodeHost | null> | null = null;

/** Whether this is Node (or a Node worker thread). */
export const isNode: boolean = (() => {
  const p = (globalThis as { process?: { versions?: { node?: unknown } } }).process;
  return typeof p?.versions?.node === 'string';
})();

/** Called by `./node.ts` when it is imported. */
export function registerNodeHost(h: NodeHost): void {
  host = h;
}

/** The Node host when it is loaded (always after `await kiln.init()` in Node), else null. */
export function nodeHost(): NodeHost | null {
  return host;
}

/** The Node host, loading it on first call in Node; null in browsers and workers of browsers. */
export function loadNodeHost(): Promise<NodeHost | null> {
  if (host) return Promise.resolve(host);
  if (!isNode) return Promise.resolve(null);
  // Not a literal: bundlers must not follow it (it names Node-only code).
  const specifier = ['.', 'node.js'].join('/');
  hostLoading ??= import(/* webpackIgnore: true */ /* @vite-ignore */ specifier).then(() => host);
  return hostLoading;
}

/**
 * A Node built-in module for Node-only code that browser bundles still reach (e.g. the
 * training report's writer), without a literal `import('node:…')`, which bundlers resolve
 * and fail on: `const zlib = await nodeBuiltin<typeof import('node:zlib')>('node:zlib')`.
 * A KilnError outside Node.
 */
export async function nodeBuiltin<T>(name: `node:${string}`): Promise<T> {
  const h = await loadNodeHost();
  if (!h) throw new KilnError(`${name} is a Node module: this needs Node, not a browser`);
  return h.builtin<T>(name);
}

/**
 * The Node host for an op that needs files or threads; a KilnError otherwise, saying what
 * to do instead in a browser (`browserHint`), or that `kiln.init` has not run yet in Node.
 */
export function requireNode(op: string, what: string, browserHint: string): NodeHost {
  if (host) return host;
  if (isNode) throw new KilnError(`${what} needs Node's file system, which Kiln loads in \`await kiln.init()\`: call it first`, { op });
  throw new KilnError(`${what} needs Node (a file system); in a browser, ${browserHint}`, { op });
}

/** An environment variable in Node; undefined in browsers. */
export function env(name: string): string | undefined {
  const p = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process;
  return p?.env?.[name];
}

/** A sink that hands each complete line (without its newline) to `fn`: no TTY, so no bars. */
export function lineSink(fn: (line: string) => void): TextSink {
  let pending = '';
  return {
    isTTY: false,
    write(text: string): boolean {
      const lines = (pending + text).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) fn(line);
      return true;
    },
  };
}

let consoleSink: TextSink | null = null;

/** `process.stderr` in Node; the console (whole lines, `console.log`) elsewhere. */
export function stderrSink(): TextSink {
  const p = (globalThis as { process?: { stderr?: TextSink } }).process;
  if (isNode && p?.stderr) return p.stderr;
  return (consoleSink ??= lineSink((line) => console.log(line)));
}

/** Resolves after pending I/O and timers had a turn: `setImmediate` in Node, a 0 ms timeout elsewhere. */
export function yieldToEventLoop(): Promise<void> {
  const g = globalThis as { setImmediate?: (fn: () => void) => unknown };
  return new Promise((resolve) => (typeof g.setImmediate === 'function' ? g.setImmediate(resolve) : setTimeout(resolve, 0)));
}

/**
 * SHA-256 of `bytes`: Web Crypto (`crypto.subtle`, in Node and in browsers' secure
 * contexts) or, where it is missing (a page served over plain http from another host),
 * a portable implementation that gives the same digest.
 */
export async function sha256(bytes: Uint8Array): Promise<Uint8Array> {
  const subtle = (globalThis as { crypto?: { subtle?: SubtleCrypto } }).crypto?.subtle;
  if (subtle) {
    // A copy when `bytes` is a view on a shared or larger buffer: digest reads the view only.
    const view = bytes.buffer instanceof ArrayBuffer ? (bytes as Uint8Array<ArrayBuffer>) : new Uint8Array(bytes);
    return new Uint8Array(await subtle.digest('SHA-256', view));
  }
  return sha256Portable(bytes);
}

/** Bytes a caller can hand Kiln: a byte array or buffer, a `Blob`/`File`, or a fetch `Response`. */
export type ByteSource = Uint8Array | ArrayBuffer | Blob | Response;

/** Whether `v` is a `ByteSource` (checked by shape, so it works across realms). */
export function isByteSource(v: unknown): v is ByteSource {
  if (v instanceof Uint8Array || v instanceof ArrayBuffer) return true;
  if (typeof v !== 'object' || v === null) return false;
  return typeof (v as Blob).arrayBuffer === 'function';
}

/** A short name of a byte source for messages: the URL of a response, a file's name, or its size. */
export function describeByteSource(source: ByteSource): string {
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) return `(${source.byteLength} bytes)`;
  const r = source as Partial<Response>;
  if (typeof r.url === 'string' && typeof r.status === 'number') return r.url || '(a fetch response)';
  const f = source as Partial<File>;
  if (typeof f.name === 'string' && f.name) return f.name;
  return `(a Blob of ${(source as Blob).size} bytes)`;
}

/** The bytes of a source; a failed `Response` (HTTP status ≥ 400) is a KilnError naming its URL. */
export async function readByteSource(source: ByteSource, op: string, what: string): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  const r = source as Partial<Response>;
  if (typeof r.status === 'number' && typeof r.ok === 'boolean' && !r.ok) {
    throw new KilnError(`${what}: fetching ${r.url || 'it'} failed with HTTP ${r.status}${r.statusText ? ` ${r.statusText}` : ''}`, { op });
  }
  return new Uint8Array(await (source as Blob).arrayBuffer());
}
