/**
 * The `kiln` command line: `export`, `inspect`, `run` and their `--help`. Most cases call
 * `main` in-process (fast); two spawn `node bin/kiln.mjs` to check the bin itself (it
 * loads Kiln's sources through tsx in a checkout). Exported files are checked by decoding
 * them and by running them in onnxruntime-node.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ort from 'onnxruntime-node';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import { main } from '../src/cli/main.js';

const dir = mkdtempSync(join(tmpdir(), 'kiln-cli-'));
const BIN = join(process.cwd(), 'bin', 'kiln.mjs');

beforeAll(async () => {
  await kiln.init();
});

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '', err = '';
  const code = await main(argv, { out: (t) => { out += t + '\n'; }, err: (t) => { err += t + '\n'; } });
  return { code, out, err };
}

const MLP_MODULE = `export default (kiln) => ({
  model: new kiln.nn.Sequential(new kiln.nn.Linear(4, 8), new kiln.nn.ReLU(), new kiln.nn.Linear(8, 3)),
  inputs: [['batch', 4]],
  outputNames: ['logits'],
});
`;

describe('kiln export / inspect (in-process)', () => {
  it('exports a module (default export: a function of kiln), prints the summary; ORT runs the file at batch 2', async () => {
    const mod = join(dir, 'mlp.mjs');
    writeFileSync(mod, MLP_MODULE);
    const file = join(dir, 'mlp.onnx');
    const r = await cli('export', mod, '--out', file, '--opset', '15');
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/wrote .*mlp\.onnx \(\d+ bytes, opset 15\)/);
    expect(r.out).toContain('x: FLOAT[batch, 4]');
    expect(r.out).toContain('logits: FLOAT[batch, 3]');
    expect(r.out).toContain('parameters: 67 (floating-point initializer elements; 4 initializers)'); // 4·8 + 8 + 8·3 + 3
    const session = await ort.InferenceSession.create(readFileSync(file));
    const y = await session.run({ x: new ort.Tensor('float32', new Float32Array(8).fill(0.5), [2, 4]) });
    expect(y['logits']!.dims).toEqual([2, 3]);
  });

  it('named exports model + inputs, and --name picks another export', async () => {
    const mod = join(dir, 'named.mjs');
    writeFileSync(mod, `export const model = (x) => x.relu();\nexport const inputs = [[3]];\nexport const other = { model: (x) => x.neg(), inputs: [[2, 'n']] };\n`);
    const a = await cli('export', mod, '--out', join(dir, 'relu.onnx'));
    expect(a.code).toBe(0);
    expect(a.out).toMatch(/Relu\s+1/);
    const b = await cli('export', mod, '--out', join(dir, 'neg.onnx'), '--name', 'other');
    expect(b.code).toBe(0);
    expect(b.out).toContain('FLOAT[2, n]');
    expect(b.out).toMatch(/Neg\s+1/);
  });

  it('inspect --json: IR version, opsets, inputs with dim_param, op histogram, parameters', async () => {
    const mod = join(dir, 'cnn.mjs');
    writeFileSync(mod, `export default (kiln) => ({ model: new kiln.nn.Sequential(new kiln.nn.Conv2d(1, 2, 3), new kiln.nn.ReLU(), new kiln.nn.Flatten(), new kiln.nn.Linear(2 * 3 * 3, 2)), inputs: [kiln.spec([kiln.dim('b'), 1, 5, 5])] });\n`);
    const file = join(dir, 'cnn.onnx');
    expect((await cli('export', mod, '--out', file)).code).toBe(0);
    const r = await cli('inspect', file, '--json');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.out);
    expect(s.irVersion).toBe(8);
    expect(s.opsets).toEqual([{ domain: 'ai.onnx', version: 17 }]);
    expect(s.inputs).toEqual([{ name: 'x', type: 'FLOAT', shape: ['b', 1, 5, 5] }]);
    expect(s.ops).toEqual({ Conv: 1, Relu: 1, Reshape: 1, Gemm: 1 });
    expect(s.parameters).toBe(2 * 9 + 2 + 18 * 2 + 2); // the Reshape's int64 shape is not a parameter
    expect(s.initializers).toBe(5);
    expect(s.producer).toBe('kiln 0.1.0');
  });

  it('--help for each command; usage mistakes exit 2, failures exit 1 with the KilnError message', async () => {
    for (const c of ['export', 'inspect', 'run']) {
      const r = await cli(c, '--help');
      expect(r.code).toBe(0);
      expect(r.out).toContain(`kiln ${c} <`);
    }
    expect((await cli('--help')).out).toContain('Commands:');
    const none = await cli();
    expect(none.code).toBe(2);
    const unknown = await cli('frobnicate');
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain("unknown command 'frobnicate'");
    const noOut = await cli('export', join(dir, 'mlp.mjs'));
    expect(noOut.code).toBe(2);
    expect(noOut.err).toContain('missing --out FILE');
    expect((await cli('export', 'model.py', '--out', 'x.onnx')).err).toContain('must be .mjs, .js or .ts');
    expect((await cli('inspect', 'a.onnx', '--bogus')).err).toContain('unknown option --bogus');
    const missing = await cli('inspect', join(dir, 'nope.onnx'));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/cannot read '.*nope\.onnx' \(ENOENT\)/);
    const junk = join(dir, 'junk.onnx');
    writeFileSync(junk, new Uint8Array([0xff, 0xff, 0xff, 0x07, 1, 2, 3]));
    const bad = await cli('inspect', junk);
    expect(bad.code).toBe(1);
    expect(bad.err).toContain('is not a valid ONNX protobuf');
    const empty = join(dir, 'empty.mjs');
    writeFileSync(empty, 'export const nothing = 1;\n');
    expect((await cli('export', empty, '--out', join(dir, 'e.onnx'))).err).toContain('has no default export (or named exports model and inputs)');
    const unexportable = join(dir, 'chol.mjs');
    writeFileSync(unexportable, 'export default (kiln) => ({ model: (x) => kiln.linalg.cholesky(x.matmul(x.transpose(0, 1)).add(kiln.eye(2))), inputs: [[2, 2]] });\n');
    const u = await cli('export', unexportable, '--out', join(dir, 'c.onnx'));
    expect(u.code).toBe(1);
    expect(u.err).toContain("op 'cholesky'");
  });

  it('run: imports and runs the model with random inputs (or says import is missing)', async () => {
    const file = join(dir, 'mlp.onnx');
    const inputs = join(dir, 'x.json');
    writeFileSync(inputs, JSON.stringify({ x: [[1, 2, 3, 4]] }));
    const r = await cli('run', file, '--input', inputs);
    if (typeof (kiln.onnx as Record<string, unknown>)['importModel'] !== 'function') {
      expect(r.code).toBe(1);
      expect(r.err).toContain('no kiln.onnx.importModel');
      return;
    }
    expect(r.err).toBe('');
    expect(r.out).toContain('x float32[1, 4]');
    expect(r.out).toMatch(/logits: float32\[1, 3\]/);
    expect(r.out).toMatch(/time: import [\d.]+ ms, first run/);
    const rand = await cli('run', file, '--dim', 'batch=3');
    expect(rand.out).toMatch(/logits: float32\[3, 3\]/);
  });
});

describe('bin/kiln.mjs (spawned)', () => {
  it('kiln --help and kiln export of a .ts module', () => {
    const help = spawnSync(process.execPath, [BIN, 'inspect', '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('kiln inspect <model.onnx>');
    const mod = join(dir, 'tiny.ts');
    writeFileSync(mod, `import type * as K from '${join(process.cwd(), 'src', 'index.js').replace(/\\/g, '/')}';\nexport default (kiln: typeof K) => ({ model: (x: K.Tensor) => x.tanh(), inputs: [['n', 3]] });\n`);
    const out = join(dir, 'tiny.onnx');
    const r = spawnSync(process.execPath, [BIN, 'export', mod, '--out', out], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/Tanh\s+1/);
    expect(readFileSync(out).length).toBeGreaterThan(0);
  }, 60_000);
});
