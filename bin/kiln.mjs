#!/usr/bin/env node
// The `kiln` command (package.json "bin"): `kiln export`, `kiln inspect`, `kiln run`.
// The commands live in src/cli/main.ts. An installed package runs the built dist/; a
// source checkout (tsx installed, src/ present) runs the TypeScript sources through tsx,
// so the CLI never runs a stale build. KILN_CLI=dist or KILN_CLI=src forces one.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

async function loadCli() {
  const want = process.env.KILN_CLI;
  const hasSrc = existsSync(join(root, 'src', 'cli', 'main.ts'));
  const hasDist = existsSync(join(root, 'dist', 'cli', 'main.js'));
  if (want !== 'dist' && hasSrc) {
    try {
      const { register } = await import('tsx/esm/api');
      register();
      return await import(pathToFileURL(join(root, 'src', 'cli', 'main.ts')).href);
    } catch (e) {
      if (want === 'src' || !hasDist) throw e;
    }
  }
  if (!hasDist) throw new Error('kiln: neither dist/ (npm run build) nor tsx with src/ is available');
  return import(pathToFileURL(join(root, 'dist', 'cli', 'main.js')).href);
}

const { main } = await loadCli();
const code = await main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text + '\n'),
  err: (text) => process.stderr.write(text + '\n'),
});
process.exitCode = code;
