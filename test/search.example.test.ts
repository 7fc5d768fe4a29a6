/**
 * examples/search.mjs runs (against the sources, like test/readme.test.ts: its trial
 * module is copied too, so worker threads load Kiln's .ts sources through tsx) and prints
 * the results table and the best configuration.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(path.join(tmpdir(), 'kiln-search-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('examples/search.mjs', () => {
  it('searches on 2 worker threads and prints a table of the trials and the best configuration', () => {
    for (const f of ['search.mjs', 'searchTrial.mjs']) {
      const code = readFileSync(path.join(root, 'examples', f), 'utf8');
      writeFileSync(path.join(dir, f), code.replace(/from 'kiln'/g, `from ${JSON.stringify(path.join(root, 'src/index.ts'))}`));
    }
    const tsx = pathToFileURL(path.join(root, 'node_modules/tsx/dist/loader.mjs')).href;
    const out = execFileSync(process.execPath, ['--import', tsx, path.join(dir, 'search.mjs')], {
      cwd: root, encoding: 'utf8', env: { ...process.env, KILN_TRIALS: '2', KILN_THREADS: '' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^rank\s+id\s+score\s+lr\s+hidden\s+weightDecay\s+accuracy\s+ms\s+status$/);
    expect(lines.slice(1, 3).every((l) => / ok$/.test(l))).toBe(true);
    const best = /^best: lr \S+, hidden (\d+), weight decay \S+: val loss ([\d.]+), val accuracy ([\d.]+)%$/.exec(lines[3]!);
    expect(best).not.toBeNull();
    expect([16, 32, 64, 128]).toContain(Number(best![1]));
    expect(Number(best![3])).toBeGreaterThan(50); // 3 epochs on 2,000 digits: far above chance (10%)
  });
});
