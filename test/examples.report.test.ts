/**
 * examples/report.mjs runs (against the sources, on a few hundred digits for one epoch)
 * and leaves report.html (every section filled: filters of the first Conv2d, a 10×10
 * confusion matrix) and report.png beside it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { decodePng } from './support/png.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(path.join(tmpdir(), 'kiln-report-example-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('examples/report.mjs', () => {
  it('writes report.html and report.png', () => {
    const code = readFileSync(path.join(root, 'examples/report.mjs'), 'utf8')
      .replace(/from 'kiln'/g, `from ${JSON.stringify(path.join(root, 'src/index.ts'))}`);
    const file = path.join(dir, 'report.mjs');
    writeFileSync(file, code);
    const tsx = pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href;
    const out = execFileSync(process.execPath, ['--import', tsx, file], {
      cwd: dir, encoding: 'utf8', env: { ...process.env, KILN_REPORT_TRAIN: '200', KILN_REPORT_VAL: '100', KILN_EPOCHS: '1', KILN_THREADS: '' },
    });
    expect(out).toMatch(/wrote report\.html and report\.png/);
    const html = readFileSync(path.join(dir, 'report.html'), 'utf8');
    const data = JSON.parse(/<script type="application\/json" id="kiln-report-data">([\s\S]*?)<\/script>/.exec(html)![1]!);
    expect(data.history.length).toBe(1);
    expect(data.filters).toMatchObject({ source: 'Conv2d', count: 8, height: 3, width: 3 });
    expect(data.confusion.matrix.flat().reduce((a: number, b: number) => a + b, 0)).toBe(100);
    expect(data.activations[0].layers.length).toBe(3);
    expect(decodePng(readFileSync(path.join(dir, 'report.png'))).width).toBe(1800);
  });
});
