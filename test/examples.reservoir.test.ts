/**
 * examples/reservoir.mjs runs (against the sources, at its small KILN_RESERVOIR_QUICK
 * sizes) and its numbers mean something: the echo-state network's one-step-ahead
 * Mackey-Glass NRMSE is far below what the readout reaches without a working reservoir
 * (0.14 when the states carry nothing, 0.02 without their recurrence), and the extreme
 * learning machine classifies digits far above chance.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(path.join(tmpdir(), 'kiln-reservoir-example-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('examples/reservoir.mjs', () => {
  it('prints an ESN NRMSE below 0.01 and an ELM accuracy above 80%', () => {
    const code = readFileSync(path.join(root, 'examples/reservoir.mjs'), 'utf8')
      .replace(/from 'kiln'/g, `from ${JSON.stringify(path.join(root, 'src/index.ts'))}`);
    const file = path.join(dir, 'reservoir.mjs');
    writeFileSync(file, code);
    const tsx = pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href;
    const out = execFileSync(process.execPath, ['--import', tsx, file], {
      cwd: dir, encoding: 'utf8', env: { ...process.env, KILN_RESERVOIR_QUICK: '1', KILN_THREADS: '' },
    });
    const nrmse = Number(/one-step-ahead prediction.*: NRMSE ([\d.e-]+) on (\d+) held-out steps/.exec(out)?.[1]);
    const accuracy = Number(/ELM with \d+ hidden units: test accuracy ([\d.]+)%/.exec(out)?.[1]);
    expect(nrmse, out).toBeGreaterThan(0);
    expect(nrmse, out).toBeLessThan(0.01);
    expect(accuracy, out).toBeGreaterThan(80);
  });
});
