// The `kiln` command line (bin/kiln.mjs loads Kiln and calls `main`): export a model
// module to ONNX, inspect an ONNX file, run one. Node-only (files, process); nothing in
// src/index.ts reaches it.
import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as kiln from '../index.node.js';
import { formatSummary, summarizeModel, type ModelSummary } from './inspect.js';

/** Where the CLI writes (the process's streams, or a test's). */
export interface CliIO {
  out(text: string): void;
  err(text: string): void;
}

const MAIN_HELP = `kiln <command> [options]

Commands:
  export <module.mjs|.js|.ts> --out model.onnx   export a model module to ONNX
  inspect <model.onnx>                          inputs, outputs, opset, op histogram, parameter count
  run <model.onnx> [--input x.json]             run a model (random inputs by default)

kiln <command> --help shows a command's options.`;

const EXPORT_HELP = `kiln export <module.mjs|.js|.ts> --out model.onnx [--opset 13-18] [--name exportName]

Exports the model a module describes to ONNX (IR version 8, opset 17 by default).
The module's default export (or the export --name picks) is an object, or a function
of the CLI's kiln (sync or async) that returns one:
  export default (kiln) => ({
    model: new kiln.nn.Sequential(new kiln.nn.Linear(4, 8), new kiln.nn.ReLU()),
    inputs: [kiln.spec([kiln.dim('batch'), 4])],   // or [['batch', 4]]: names are dynamic dims
    outputNames: ['logits'],                        // optional; also inputNames, opset, example
  });
Named exports \`model\` and \`inputs\` work too. A function receiving kiln uses the CLI's own
Kiln, so its modules and tensors are the ones the exporter knows.
.ts modules need tsx installed (npm i -D tsx); .mjs/.js need nothing.

Options:
  --out FILE     where to write the .onnx file (required)
  --opset N      ONNX opset, 13 to 18 (default 17; the module's own opset otherwise)
  --name NAME    the module export to use instead of the default export`;

const INSPECT_HELP = `kiln inspect <model.onnx> [--json]

Prints the IR version, opsets, producer, graph inputs and outputs (symbolic dims by name),
the parameter count (elements in initializers) and the op histogram (subgraphs included).

Options:
  --json         print the summary as JSON`;

const RUN_HELP = `kiln run <model.onnx> [--input x.json] [--dim name=size ...] [--seed N] [--backend wasm|reference]

Imports the model with kiln.onnx.importModel, runs it once and prints each output
(shape, dtype, the first values, min/max/mean) and the time taken (first run, which
compiles, and a second run).

Options:
  --input FILE   JSON inputs: an array (in input order) or an object by input name; each
                 a nested array, or { "data": [...], "shape": [...], "dtype": "float32" }.
                 Default: standard normal floats (seeded), zeros for integers, false for bool.
  --dim N=S      size S for symbolic dim N in random inputs (default 1); repeatable
  --seed N       seed of the random inputs (default 0)
  --backend B    wasm (default) or reference`;

/** A usage mistake: printed with the command's help, exit code 2. */
class UsageError extends Error {}

interface Args {
  readonly positional: string[];
  readonly options: Map<string, string[]>;
}

function parseArgs(argv: readonly string[], flags: readonly string[], known: readonly string[]): Args {
  const positional: string[] = [];
  const options = new Map<string, string[]>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const key = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (!known.includes(key)) throw new UsageError(`unknown option --${key}`);
      let value: string;
      if (eq > 0) value = a.slice(eq + 1);
      else if (flags.includes(key)) value = 'true';
      else {
        const next = argv[++i];
        if (next === undefined) throw new UsageError(`--${key} needs a value`);
        value = next;
      }
      options.set(key, [...(options.get(key) ?? []), value]);
    } else positional.push(a);
  }
  return { positional, options };
}

function one(args: Args, key: string): string | undefined {
  const v = args.options.get(key);
  return v ? v[v.length - 1] : undefined;
}

/**
 * Runs the CLI on `argv` (without `node` and the script); returns the exit code: 0 done,
 * 1 failed (a KilnError's message, or the error), 2 usage mistake.
 */
export async function main(argv: readonly string[], io: CliIO): Promise<number> {
  const [command, ...rest] = argv;
  const help = { export: EXPORT_HELP, inspect: INSPECT_HELP, run: RUN_HELP } as Record<string, string>;
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    io.out(MAIN_HELP);
    return command ? 0 : 2;
  }
  const text = help[command];
  if (!text) {
    io.err(`kiln: unknown command '${command}'\n\n${MAIN_HELP}`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    io.out(text);
    return 0;
  }
  try {
    if (command === 'export') await exportCommand(rest, io);
    else if (command === 'inspect') await inspectCommand(rest, io);
    else await runCommand(rest, io);
    return 0;
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`kiln ${command}: ${e.message}\n\n${text}`);
      return 2;
    }
    io.err(`kiln ${command}: ${e instanceof kiln.KilnError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return 1;
  }
}

// ---- export --------------------------------------------------------------------------

/** What a model module describes. */
interface ModelModule {
  readonly model: kiln.nn.Module | ((...xs: kiln.Tensor[]) => unknown);
  readonly inputs: readonly (kiln.InputSpec | readonly (number | string)[])[];
  readonly inputNames?: readonly string[];
  readonly outputNames?: readonly string[];
  readonly opset?: number;
  readonly example?: readonly kiln.Tensor[];
}

async function importUserModule(file: string): Promise<Record<string, unknown>> {
  const path = resolve(file);
  const ext = extname(path);
  if (!['.mjs', '.js', '.ts', '.mts'].includes(ext)) throw new UsageError(`the model module must be .mjs, .js or .ts, got '${file}'`);
  try {
    await readFile(path);
  } catch {
    throw new kiln.KilnError(`cannot read the model module '${file}'`);
  }
  if (ext === '.ts' || ext === '.mts') {
    let tsImport: (specifier: string, parent: string) => Promise<unknown>;
    try {
      ({ tsImport } = (await import('tsx/esm/api' as string)) as { tsImport: typeof tsImport });
    } catch {
      throw new kiln.KilnError(`'${file}' is TypeScript, which needs tsx installed (npm i -D tsx); or write the module as .mjs`);
    }
    return (await tsImport(pathToFileURL(path).href, import.meta.url)) as Record<string, unknown>;
  }
  return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
}

function toSpec(s: ModelModule['inputs'][number], i: number): kiln.InputSpec {
  if (Array.isArray(s)) return kiln.spec(s.map((d) => (typeof d === 'string' ? kiln.dim(d) : d)));
  if (s && typeof s === 'object' && Array.isArray((s as kiln.InputSpec).shape)) return s as kiln.InputSpec;
  throw new kiln.KilnError(`inputs[${i}] must be a kiln.spec(...) or an array of sizes and dim names`);
}

async function exportCommand(argv: readonly string[], io: CliIO): Promise<void> {
  const args = parseArgs(argv, [], ['out', 'opset', 'name']);
  const [file, extra] = args.positional;
  if (!file) throw new UsageError('missing the model module');
  if (extra) throw new UsageError(`unexpected argument '${extra}'`);
  const out = one(args, 'out');
  if (!out) throw new UsageError('missing --out FILE');
  const opsetText = one(args, 'opset');
  const opset = opsetText === undefined ? undefined : Number(opsetText);
  if (opsetText !== undefined && !Number.isInteger(opset)) throw new UsageError(`--opset must be an integer, got '${opsetText}'`);
  await kiln.init();
  const mod = await importUserModule(file);
  const name = one(args, 'name');
  let described: unknown = name ? mod[name] : mod['default'] ?? (mod['model'] ? { model: mod['model'], inputs: mod['inputs'], outputNames: mod['outputNames'], inputNames: mod['inputNames'] } : undefined);
  if (described === undefined) throw new kiln.KilnError(`'${file}' has no ${name ? `export '${name}'` : 'default export (or named exports model and inputs)'}; see kiln export --help`);
  // A CommonJS-compiled module (a .ts outside a "type": "module" package) nests its default export.
  while (described && typeof described === 'object' && !('model' in described) && 'default' in described) described = (described as { default: unknown }).default;
  if (typeof described === 'function' && !(described instanceof kiln.nn.Module)) described = await (described as (k: typeof kiln) => unknown)(kiln);
  const d = described as Partial<ModelModule>;
  if (!d || typeof d !== 'object' || !d.model) throw new kiln.KilnError(`'${file}' must describe { model, inputs } (see kiln export --help)`);
  if (!Array.isArray(d.inputs)) throw new kiln.KilnError(`'${file}': inputs must be an array with one spec per model input`);
  const started = performance.now();
  const result = await kiln.onnx.exportModel(d.model, out, {
    inputs: d.inputs.map(toSpec),
    ...(d.inputNames ? { inputNames: d.inputNames } : {}),
    ...(d.outputNames ? { outputNames: d.outputNames } : {}),
    ...(d.example ? { example: d.example } : {}),
    opset: opset ?? d.opset ?? 17,
  });
  const ms = performance.now() - started;
  io.out(`wrote ${out} (${result.bytes.length.toLocaleString('en-US')} bytes, opset ${result.opset}) in ${ms.toFixed(0)} ms`);
  io.out(formatSummary(summarizeModel(result.bytes, out), out));
}

// ---- inspect -------------------------------------------------------------------------

async function readModel(file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(file));
  } catch (e) {
    throw new kiln.KilnError(`cannot read '${file}' (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

async function inspectCommand(argv: readonly string[], io: CliIO): Promise<void> {
  const args = parseArgs(argv, ['json'], ['json']);
  const [file, extra] = args.positional;
  if (!file) throw new UsageError('missing the .onnx file');
  if (extra) throw new UsageError(`unexpected argument '${extra}'`);
  const summary = summarizeModel(await readModel(file), file);
  io.out(one(args, 'json') ? JSON.stringify(summary, null, 2) : formatSummary(summary, file));
}

// ---- run -----------------------------------------------------------------------------

type Nested = number | boolean | Nested[];

function nestedShape(v: Nested): number[] {
  const shape: number[] = [];
  let cur: Nested = v;
  while (Array.isArray(cur)) {
    shape.push(cur.length);
    cur = cur[0] as Nested;
  }
  return shape;
}

function flatten(v: Nested[]): number[] {
  const out: number[] = [];
  const walk = (x: Nested): void => { if (Array.isArray(x)) x.forEach(walk); else out.push(Number(x)); };
  v.forEach(walk);
  return out;
}

function kilnDType(onnxType: string): kiln.DType {
  if (onnxType === 'FLOAT' || onnxType === 'FLOAT16') return 'float32';
  if (onnxType === 'DOUBLE') return 'float64';
  if (onnxType === 'BOOL') return 'bool';
  return 'int32';
}

function inputTensor(value: unknown, want: ModelSummary['inputs'][number], where: string): kiln.Tensor {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const v = value as { data?: unknown; shape?: unknown; dtype?: unknown };
    if (!Array.isArray(v.data)) throw new kiln.KilnError(`${where}: an object input needs "data" (an array)`);
    const dtype = (typeof v.dtype === 'string' ? v.dtype : kilnDType(want.type)) as kiln.DType;
    const shape = Array.isArray(v.shape) ? (v.shape as number[]) : nestedShape(v.data as Nested);
    return kiln.tensor(flatten(v.data as Nested[]), { shape, dtype });
  }
  if (typeof value === 'number' || Array.isArray(value)) return kiln.tensor(value as number, { dtype: kilnDType(want.type) });
  throw new kiln.KilnError(`${where}: expected a nested array or { data, shape, dtype }`);
}

function randomInput(t: ModelSummary['inputs'][number], dims: ReadonlyMap<string, number>, seed: number): kiln.Tensor {
  const shape = t.shape.map((d) => (typeof d === 'number' ? d : dims.get(d) ?? 1));
  const dtype = kilnDType(t.type);
  if (dtype === 'float32' || dtype === 'float64') return kiln.randn(shape, { dtype, seed });
  return kiln.zeros(shape, { dtype });
}

function describeOutput(name: string, t: kiln.Tensor): string {
  const data = Array.from(t.dataSync() as ArrayLike<number>);
  const shown = data.slice(0, 20).map((x) => (Number.isInteger(x) ? String(x) : x.toPrecision(6))).join(', ');
  let min = Infinity, max = -Infinity, sum = 0;
  for (const x of data) { min = Math.min(min, x); max = Math.max(max, x); sum += x; }
  const stats = data.length ? `  min ${min.toPrecision(6)}  max ${max.toPrecision(6)}  mean ${(sum / data.length).toPrecision(6)}` : '';
  return `  ${name}: ${t.dtype}[${t.shape.join(', ')}]${stats}\n    [${shown}${data.length > 20 ? `, … ${data.length - 20} more` : ''}]`;
}

async function runCommand(argv: readonly string[], io: CliIO): Promise<void> {
  const args = parseArgs(argv, [], ['input', 'dim', 'seed', 'backend']);
  const [file, extra] = args.positional;
  if (!file) throw new UsageError('missing the .onnx file');
  if (extra) throw new UsageError(`unexpected argument '${extra}'`);
  const dims = new Map<string, number>();
  for (const d of args.options.get('dim') ?? []) {
    const m = /^([A-Za-z_][\w.:-]*)=(\d+)$/.exec(d);
    if (!m) throw new UsageError(`--dim expects name=size, got '${d}'`);
    dims.set(m[1]!, Number(m[2]));
  }
  const seed = Number(one(args, 'seed') ?? 0);
  if (!Number.isInteger(seed)) throw new UsageError('--seed must be an integer');
  const backend = one(args, 'backend') ?? 'wasm';
  if (backend !== 'wasm' && backend !== 'reference') throw new UsageError(`--backend must be wasm or reference, got '${backend}'`);
  const importModel = (kiln.onnx as unknown as { importModel?: (src: Uint8Array, o?: { target?: string }) => Promise<{ run(...xs: kiln.Tensor[]): unknown }> }).importModel;
  if (typeof importModel !== 'function') throw new kiln.KilnError('this build of Kiln has no kiln.onnx.importModel (ONNX import), which running a model needs');
  await kiln.init({ backend });
  const bytes = await readModel(file);
  const summary = summarizeModel(bytes, file);
  let inputs: kiln.Tensor[];
  const inputFile = one(args, 'input');
  if (inputFile) {
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(await readModel(inputFile)));
    } catch (e) {
      throw e instanceof kiln.KilnError ? e : new kiln.KilnError(`'${inputFile}' is not valid JSON (${(e as Error).message})`);
    }
    if (Array.isArray(json)) {
      if (json.length !== summary.inputs.length) throw new kiln.KilnError(`'${inputFile}' has ${json.length} inputs; the model takes ${summary.inputs.length} (${summary.inputs.map((t) => t.name).join(', ')})`);
      inputs = summary.inputs.map((t, i) => inputTensor(json[i], t, `${inputFile}[${i}]`));
    } else if (json && typeof json === 'object') {
      const obj = json as Record<string, unknown>;
      inputs = summary.inputs.map((t) => {
        if (!(t.name in obj)) throw new kiln.KilnError(`'${inputFile}' has no input '${t.name}' (the model takes ${summary.inputs.map((x) => x.name).join(', ')})`);
        return inputTensor(obj[t.name], t, `${inputFile}.${t.name}`);
      });
    } else throw new kiln.KilnError(`'${inputFile}' must hold an array or an object of inputs`);
  } else {
    inputs = summary.inputs.map((t, i) => randomInput(t, dims, seed + i));
  }
  const t0 = performance.now();
  const model = await importModel(bytes, { target: backend });
  const t1 = performance.now();
  const first = await model.run(...inputs);
  const t2 = performance.now();
  const second = await model.run(...inputs);
  const t3 = performance.now();
  const outs = Array.isArray(second) ? (second as kiln.Tensor[]) : [second as kiln.Tensor];
  io.out(`${file}: ${inputs.map((x, i) => `${summary.inputs[i]!.name} ${x.dtype}[${x.shape.join(', ')}]`).join(', ')}`);
  io.out(`outputs:`);
  outs.forEach((t, i) => io.out(describeOutput(summary.outputs[i]?.name ?? `output${i}`, t)));
  io.out(`time: import ${(t1 - t0).toFixed(1)} ms, first run ${(t2 - t1).toFixed(1)} ms, second run ${(t3 - t2).toFixed(2)} ms`);
  void first;
}
