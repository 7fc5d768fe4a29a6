import { mkdirSync, mkdtempSync, promises as fsp, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import * as kiln from '../../src/index.js';

const { nn } = kiln;

/** A small model whose weights are all `k` (so each saved copy is recognisable). */
class Net extends nn.Module {
  w = nn.parameter(kiln.zeros([64, 64]));
  b = nn.parameter(kiln.zeros([64]));
  step = nn.buffer(kiln.tensor([0], { dtype: 'int32' }));
  constructor(k = 0) {
    super();
    kiln.noGrad(() => {
      this.w.copy_(k);
      this.b.copy_(-k);
      this.step.copy_(k);
    });
  }
  forward(x: kiln.Tensor): kiln.Tensor {
    return x.matmul(this.w).add(this.b);
  }
}

/** The `k` a loaded Net was saved from, or NaN when its tensors disagree (a mixed file). */
function idOf(m: Net): number {
  const w = m.w.dataSync(), b = m.b.dataSync(), k = m.step.dataSync()[0]!;
  for (let i = 0; i < w.length; i++) if (w[i] !== k) return NaN;
  for (let i = 0; i < b.length; i++) if (b[i] !== -k) return NaN;
  return k;
}

beforeAll(async () => {
  await kiln.init();
});

afterEach(() => {
  vi.restoreAllMocks();
});

const errno = (code: string): NodeJS.ErrnoException => Object.assign(new Error(`${code}: simulated`), { code });

const dir = () => mkdtempSync(path.join(tmpdir(), 'kiln-ckpt-save-'));

async function kilnError(p: Promise<unknown>): Promise<kiln.KilnError> {
  const e = await p.then(() => undefined, (err: unknown) => err);
  expect(e).toBeInstanceOf(kiln.KilnError);
  return e as kiln.KilnError;
}

describe('checkpoint save: atomic and concurrent', () => {
  it('8 saves of different models to one path, with a reader in between: the file is always exactly one of them, no temp file left', async () => {
    const d = dir();
    const file = path.join(d, 'model.kiln');
    await nn.save(new Net(100), file);
    const models = Array.from({ length: 8 }, (_, i) => new Net(i + 1));
    const seen: number[] = [];
    const reader = (async () => {
      // Reads while the saves are in flight: each must be a complete, valid checkpoint.
      for (let r = 0; r < 6; r++) {
        const m = new Net();
        await nn.load(m, file);
        seen.push(idOf(m));
      }
    })();
    await Promise.all([...models.map((m) => nn.save(m, file)), reader]);
    for (const k of seen) expect([100, 1, 2, 3, 4, 5, 6, 7, 8]).toContain(k);
    const after = new Net();
    await nn.load(after, file);
    expect([1, 2, 3, 4, 5, 6, 7, 8]).toContain(idOf(after));
    expect(readdirSync(d)).toEqual(['model.kiln']);
  });

  it('repeated rounds of 3 simultaneous saves never lose the file', async () => {
    // The old temp name (pid + milliseconds) made saves started together share one temp
    // file: one rename moved a half-written file into place, the next found nothing.
    const d = dir();
    const file = path.join(d, 'm.kiln');
    const models = [new Net(1), new Net(2), new Net(3)];
    for (let round = 0; round < 5; round++) {
      await Promise.all(models.map((m) => nn.save(m, file)));
      const m = new Net();
      await nn.load(m, file);
      expect([1, 2, 3]).toContain(idOf(m));
    }
    expect(readdirSync(d)).toEqual(['m.kiln']);
  });

  it('the next save removes stale temp files of its own target (older than 10 minutes) and nothing else', async () => {
    const d = dir();
    const file = path.join(d, 'model.kiln');
    const old = (Date.now() - 60 * 60 * 1000) / 1000; // one hour ago, in seconds for utimes
    const staleNew = '.model.kiln.0b0f6a3e-5a86-4c56-9d7e-2a9c1f0d7e11.kiln-tmp';
    const staleLegacy = '.model.kiln.12345.1700000000000.tmp'; // left by an older Kiln
    const fresh = '.model.kiln.7d1c0e52-1f7b-4a57-8a3e-5f0c3c2b9a40.kiln-tmp'; // maybe a save in flight
    const otherTarget = '.other.kiln.3c6f4b1a-8e2d-4f7a-9b0c-1d2e3f4a5b6c.kiln-tmp';
    const unrelated = 'notes.txt';
    for (const name of [staleNew, staleLegacy, fresh, otherTarget, unrelated]) writeFileSync(path.join(d, name), 'partial');
    for (const name of [staleNew, staleLegacy, otherTarget, unrelated]) utimesSync(path.join(d, name), old, old);
    await nn.save(new Net(5), file);
    expect(readdirSync(d).sort()).toEqual([fresh, otherTarget, 'model.kiln', unrelated].sort());
    const m = new Net();
    await nn.load(m, file);
    expect(idOf(m)).toBe(5);
  });

  it('a failed save leaves the old file untouched and no temp file', async () => {
    const d = dir();
    const file = path.join(d, 'model.kiln');
    await nn.save(new Net(7), file);
    const before = readFileSync(file);
    // Metadata that cannot be serialised fails the save (a KilnError, before any write).
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const e = await kilnError(nn.save(new Net(8), file, { metadata: cyclic }));
    expect(e.message).toMatch(/metadata/);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(readdirSync(d)).toEqual(['model.kiln']);
  });
});

describe('checkpoint save: failures after the temp file exists', () => {
  it('a failing rename removes the temp file and leaves the old checkpoint', async () => {
    const d = dir();
    const file = path.join(d, 'model.kiln');
    await nn.save(new Net(7), file);
    const before = readFileSync(file);
    vi.spyOn(fsp, 'rename').mockRejectedValueOnce(errno('EIO'));
    const e = await kilnError(nn.save(new Net(8), file));
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/cannot write \(EIO\)/);
    expect(readFileSync(file).equals(before)).toBe(true);
    expect(readdirSync(d)).toEqual(['model.kiln']);
  });

  it('directory fsync: unsupported (EISDIR/EINVAL/EPERM, as on Windows) is ignored, other errors are KilnErrors', async () => {
    const d = dir();
    const file = path.join(d, 'model.kiln');
    const open = fsp.open.bind(fsp);
    let dirError = 'EPERM';
    vi.spyOn(fsp, 'open').mockImplementation(((p: string, flags?: string) => (p === d ? Promise.reject(errno(dirError)) : open(p, flags))) as typeof fsp.open);
    for (const code of ['EISDIR', 'EINVAL', 'EPERM']) {
      dirError = code;
      await nn.save(new Net(1), file);
    }
    dirError = 'EIO';
    const e = await kilnError(nn.save(new Net(2), file));
    expect(e.message).toMatch(/cannot sync directory .* \(EIO\).*in place/);
    vi.restoreAllMocks();
    const m = new Net();
    await nn.load(m, file);
    expect(idOf(m)).toBe(2); // the rename had happened: the new file is whole
    expect(readdirSync(d)).toEqual(['model.kiln']);
  });
});

describe('checkpoint save/load: file-system errors are KilnErrors naming the path', () => {
  it('save into a missing directory', async () => {
    const missing = path.join(dir(), 'no', 'such', 'dir');
    const file = path.join(missing, 'model.kiln');
    const e = await kilnError(nn.save(new Net(1), file));
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/does not exist/);
  });

  it('save and load on a directory path', async () => {
    const d = dir();
    const target = path.join(d, 'model.kiln');
    mkdirSync(target);
    const s = await kilnError(nn.save(new Net(1), target));
    expect(s.message).toContain(target);
    expect(s.message).toMatch(/is a directory/);
    const l = await kilnError(nn.load(new Net(), target));
    expect(l.message).toContain(target);
    expect(l.message).toMatch(/is a directory/);
    expect(readdirSync(d)).toEqual(['model.kiln']); // no temp file either
    expect(readdirSync(target)).toEqual([]);
  });

  it('save under a path whose parent is a file', async () => {
    const d = dir();
    writeFileSync(path.join(d, 'plain'), 'x');
    const file = path.join(d, 'plain', 'model.kiln');
    const e = await kilnError(nn.save(new Net(1), file));
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/not a directory/);
  });

  it('load of a missing file', async () => {
    const file = path.join(dir(), 'missing.kiln');
    const m = new Net(3);
    const e = await kilnError(nn.load(m, file));
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/cannot read \(ENOENT\): no such file/);
    expect(idOf(m)).toBe(3);
    await kilnError(nn.loadCheckpoint(file));
  });
});
