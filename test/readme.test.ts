/**
 * The README's examples run, and what it shows them printing is what they print: the
 * eager example's last line, and the IR and `explain()` excerpts of "Eager and compiled"
 * (`examples/compile.mjs` is that example; it runs here against the sources).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const readme = readFileSync(path.join(root, 'README.md'), 'utf8');
const dir = mkdtempSync(path.join(tmpdir(), 'kiln-readme-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The fenced blocks of the README, in order, with their language tag. */
function blocks(): { lang: string; code: string }[] {
  const out: { lang: string; code: string }[] = [];
  const re = /^```(\w*)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(readme); m; m = re.exec(readme)) out.push({ lang: m[1]!, code: m[2]! });
  return out;
}

/**
 * Runs `code` (importing 'kiln', pointed at the sources) as `file` under a temp folder that
 * is also the working directory, so source locations print as `file` (the README's paths).
 */
function run(code: string, file: string): string {
  const src = code.replace(/from 'kiln'/g, `from ${JSON.stringify(path.join(root, 'src/index.ts'))}`);
  const full = path.join(dir, file);
  mkdirSync(path.dirname(full), { recursive: true });
  writeFileSync(full, src);
  const tsx = pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href;
  return execFileSync(process.execPath, ['--import', tsx, full], { cwd: dir, encoding: 'utf8', env: { ...process.env, KILN_THREADS: '' } });
}

describe('README examples', () => {
  it('the eager example runs and prints 12 for the second derivative of x³ at 2', () => {
    const eager = blocks().find((b) => b.lang === 'ts' && b.code.includes('kiln.grad((t: kiln.Tensor)'));
    expect(eager).toBeDefined();
    const lines = run(eager!.code, 'eager.mts').trim().split('\n');
    expect(lines.at(-1)).toBe('12');
  });

  it("'Eager and compiled': examples/compile.mjs prints the README's IR and explain() lines", () => {
    const out = run(readFileSync(path.join(root, 'examples/compile.mjs'), 'utf8'), 'examples/compile.mjs');
    const shown = blocks().filter((b) => b.lang === '');
    const graph = shown.find((b) => b.code.startsWith('graph(%x: float32[batch, 784])'));
    expect(graph).toBeDefined();
    expect(out).toContain(graph!.code);
    const explain = shown.find((b) => b.code.startsWith('entry 1: guard float32[batch, 4]'));
    expect(explain).toBeDefined();
    // Every line the README shows (it elides the segments with "…").
    for (const line of explain!.code.split('\n').filter((l) => l && !l.includes('…'))) expect(out).toContain(line);
  });
});
