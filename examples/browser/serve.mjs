// A static file server on 127.0.0.1 for the browser example (module scripts do not load
// from file://). Paths under /isolated/ are the same files served with the COOP/COEP
// headers that make a page cross-origin isolated, which `kiln.init({ threads })` needs.
//   node examples/browser/serve.mjs [folder] [--port 8080]
import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.map': 'application/json',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.onnx': 'application/octet-stream',
};

/**
 * Serves `root` on 127.0.0.1 (`port` 0: any free port). Resolves to `{ url, close }`;
 * `url` ends with '/', and `${url}isolated/` serves the same files cross-origin isolated.
 */
export function serve(root, { port = 0 } = {}) {
  const base = path.resolve(root);
  const server = http.createServer((req, res) => {
    let pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    const isolated = pathname === '/isolated' || pathname.startsWith('/isolated/');
    if (isolated) pathname = pathname.slice('/isolated'.length) || '/';
    if (pathname.endsWith('/')) pathname += 'index.html';
    const file = path.join(base, pathname);
    const headers = isolated
      ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp', 'Cross-Origin-Resource-Policy': 'same-origin' }
      : {};
    let size = -1;
    try {
      if (file.startsWith(base + path.sep) && statSync(file).isFile()) size = statSync(file).size;
    } catch {
      // missing: 404 below
    }
    if (size < 0) {
      res.writeHead(404, { 'Content-Type': 'text/plain', ...headers }).end(`not found: ${pathname}\n`);
      return;
    }
    res.writeHead(200, { 'Content-Type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'Content-Length': size, 'Cache-Control': 'no-store', ...headers });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      const { port: actual } = server.address();
      resolve({ url: `http://127.0.0.1:${actual}/`, close: () => new Promise((r) => server.close(() => r())) });
    });
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const portAt = args.indexOf('--port');
  const port = portAt >= 0 ? Number(args[portAt + 1]) : 8080;
  const folder = args.find((a, i) => !a.startsWith('--') && args[i - 1] !== '--port') ?? path.join(path.dirname(fileURLToPath(import.meta.url)), 'dist');
  const { url } = await serve(folder, { port });
  console.log(`serving ${folder}\n  ${url}                       single-threaded\n  ${url}isolated/?threads=2     cross-origin isolated, 2 threads\n  ${url}?backend=reference      the reference backend (no wasm)`);
}
