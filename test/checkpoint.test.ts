import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../src/index.js';
import * as nn from '../src/nn/index.js';

class Tiny extends nn.Module {
  w = nn.parameter(kiln.randn([3, 4], { seed: 1 }));
  b = nn.parameter(kiln.randn([4], { seed: 2 }));
  count = nn.buffer(kiln.tensor([7], { dtype: 'int32' }));
  forward(x: kiln.Tensor): kiln.Tensor {
    return x.mul(this.b);
  }
}

class Other extends nn.Module {
  w = nn.parameter(kiln.zeros([2, 2]));
  forward(x: kiln.Tensor): kiln.Tensor {
    return x;
  }
}

beforeAll(async () => {
  await kiln.init();
});

const dir = () => mkdtempSync(path.join(tmpdir(), 'kiln-ckpt-'));

describe('checkpoints', () => {
  it('round-trips parameters, buffers and metadata, in place', async () => {
    const file = path.join(dir(), 'tiny.kiln');
    const a = new Tiny();
    await nn.save(a, file, { metadata: { epoch: 3, note: 'best' } });
    const b = new Tiny();
    kiln.noGrad(() => b.w.mul_(0));
    const wBefore = b.w;
    const meta = await nn.load(b, file);
    expect(meta).toEqual({ epoch: 3, note: 'best' });
    expect(b.w).toBe(wBefore); // same tensor object: optimizers keep working
    expect(b.w.toArray()).toEqual(a.w.toArray());
    expect(b.b.toArray()).toEqual(a.b.toArray());
    expect(b.count.toArray()).toEqual([7]);
    expect(readdirSync(path.dirname(file))).toEqual(['tiny.kiln']); // no temp file left behind
  });

  it('a corrupt or truncated file gives a clear error and changes nothing', async () => {
    const d = dir();
    const file = path.join(d, 'tiny.kiln');
    await nn.save(new Tiny(), file);
    const bytes = readFileSync(file);
    const flipped = Buffer.from(bytes);
    flipped[flipped.length - 40]! ^= 0xff;
    writeFileSync(path.join(d, 'flipped.kiln'), flipped);
    writeFileSync(path.join(d, 'short.kiln'), bytes.subarray(0, bytes.length - 10));
    writeFileSync(path.join(d, 'junk.kiln'), 'hello');
    const target = new Tiny();
    kiln.noGrad(() => target.w.copy_(0));
    await expect(nn.load(target, path.join(d, 'flipped.kiln'))).rejects.toThrow(/checksum mismatch: the file is truncated or corrupt/);
    await expect(nn.load(target, path.join(d, 'short.kiln'))).rejects.toThrow(/checksum mismatch/);
    await expect(nn.load(target, path.join(d, 'junk.kiln'))).rejects.toThrow(/not a Kiln checkpoint/);
    await expect(nn.load(target, path.join(d, 'missing.kiln'))).rejects.toThrow(/cannot read \(ENOENT\)/);
    expect(target.w.toArray()).toEqual(kiln.zeros([3, 4]).toArray());
  });

  it('a checkpoint of another model is rejected before anything is written', async () => {
    const file = path.join(dir(), 'other.kiln');
    await nn.save(new Other(), file);
    const target = new Tiny();
    const before = target.w.toArray();
    await expect(nn.load(target, file)).rejects.toThrow(/missing w|shape \[2, 2\] does not match \[3, 4\]/);
    expect(target.w.toArray()).toEqual(before);
  });
});
