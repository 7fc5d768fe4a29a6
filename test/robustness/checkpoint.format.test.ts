import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../../src/index.js';
import { rng } from '../support/kernelChecks.js';

const { nn } = kiln;

class Net extends nn.Module {
  w = nn.parameter(kiln.randn([3, 4], { seed: 1 }));
  b = nn.parameter(kiln.randn([4], { seed: 2 }));
  count = nn.buffer(kiln.tensor([7, -3, 5], { dtype: 'int32' }));
  mask = nn.buffer(kiln.tensor([true, false, true, true, false]));
  forward(x: kiln.Tensor): kiln.Tensor {
    return x.matmul(this.w).add(this.b);
  }
}

/** Every state tensor's values, flat (to compare a model before and after a load). */
function snapshot(m: kiln.nn.Module): number[][] {
  return [...m.stateDict().values()].map((t) => [...t.dataSync()]);
}

/*
 * The file layout, rebuilt here independently of src/nn/checkpoint.ts so tests can make
 * files whose checksum is right but whose contents are not:
 *   "KILNCKPT" | version u32 | header length u32 | header JSON | pad to 8 | data | SHA-256
 */
interface Parsed {
  version: number;
  headerText: string;
  /** Bytes between the header's end and the end of the body (padding + tensor data). */
  tail: Uint8Array;
}

function parse(bytes: Uint8Array): Parsed {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  const len = view.getUint32(12, true);
  return { version, headerText: new TextDecoder().decode(bytes.subarray(16, 16 + len)), tail: bytes.slice(16 + len, bytes.length - 32) };
}

/** Bytes of a file with the given parts and a correct checksum (header length from the text unless given). */
function build(p: Parsed, headerLength?: number): Buffer {
  const header = new TextEncoder().encode(p.headerText);
  const body = new Uint8Array(16 + header.length + p.tail.length);
  body.set(new TextEncoder().encode('KILNCKPT'), 0);
  const view = new DataView(body.buffer);
  view.setUint32(8, p.version, true);
  view.setUint32(12, headerLength ?? header.length, true);
  body.set(header, 16);
  body.set(p.tail, 16 + header.length);
  return withChecksum(body);
}

function withChecksum(body: Uint8Array): Buffer {
  return Buffer.concat([body, createHash('sha256').update(body).digest()]);
}

/** The same file with its header JSON replaced, realigning the data so offsets still hold. */
function withHeader(original: Parsed, edit: (h: Record<string, any>) => unknown): Buffer {
  const h = JSON.parse(original.headerText) as Record<string, any>;
  const out = edit(h);
  const text = typeof out === 'string' ? out : JSON.stringify(out === undefined ? h : out);
  return realigned(original, text);
}

function realigned(original: Parsed, text: string): Buffer {
  const oldPad = (8 - ((16 + new TextEncoder().encode(original.headerText).length) % 8)) % 8;
  const data = original.tail.subarray(oldPad);
  const newLen = new TextEncoder().encode(text).length;
  const pad = (8 - ((16 + newLen) % 8)) % 8;
  const tail = new Uint8Array(pad + data.length);
  tail.set(data, pad);
  return build({ version: original.version, headerText: text, tail });
}

beforeAll(async () => {
  await kiln.init();
});

const dir = () => mkdtempSync(path.join(tmpdir(), 'kiln-ckpt-fmt-'));

describe('checkpoint headers: a valid checksum does not make a valid checkpoint', () => {
  let good: Parsed;
  let d: string;
  beforeAll(async () => {
    d = dir();
    await nn.save(new Net(), path.join(d, 'good.kiln'), { metadata: { epoch: 2 } });
    good = parse(readFileSync(path.join(d, 'good.kiln')));
  });

  // Each case is a hand edit with the checksum recomputed; each must be a KilnError whose
  // message matches, and the model must be unchanged.
  const entry = (h: Record<string, any>, name: string): Record<string, any> => h.entries.find((e: { name: string }) => e.name === name);
  const cases: [string, (p: Parsed) => Buffer, RegExp][] = [
    ['header is not JSON', (p) => realigned(p, '{"format": "kiln-checkpoint", '), /header is not valid JSON/],
    ['header is not UTF-8', (p) => withChecksum(realigned(p, '"abc"').subarray(0, -32).fill(0xff, 17, 20)), /header is not valid UTF-8/],
    ['header length runs past the end', (p) => build(p, 1 << 30), /header length/],
    ['header is null', (p) => withHeader(p, () => 'null'), /header must be an object/],
    ['header is an array', (p) => withHeader(p, () => '[]'), /header must be an object/],
    ['wrong format tag', (p) => withHeader(p, (h) => { h.format = 'other'; }), /format/],
    ['header version differs from the file version', (p) => withHeader(p, (h) => { h.version = 2; }), /version/],
    ['unknown header field', (p) => withHeader(p, (h) => { h.extra = 1; }), /unknown header field 'extra'/],
    ['entries is not an array', (p) => withHeader(p, (h) => { h.entries = 5; }), /entries must be an array/],
    ['entry is null', (p) => withHeader(p, (h) => { h.entries[0] = null; }), /entry 0 must be an object/],
    ['metadata is a string', (p) => withHeader(p, (h) => { h.metadata = 'x'; }), /metadata must be an object/],
    ['metadata is missing', (p) => withHeader(p, (h) => { delete h.metadata; }), /missing header field 'metadata'/],
    ['entry name is missing', (p) => withHeader(p, (h) => { delete h.entries[0].name; }), /entry 0: missing field 'name'/],
    ['entry name is empty', (p) => withHeader(p, (h) => { h.entries[0].name = ''; }), /name must be a non-empty string/],
    ['duplicate entry names', (p) => withHeader(p, (h) => { h.entries[1].name = 'w'; }), /duplicate entry name 'w'/],
    ['unknown entry field', (p) => withHeader(p, (h) => { h.entries[0].strides = [4, 1]; }), /unknown field 'strides'/],
    ['unknown dtype', (p) => withHeader(p, (h) => { entry(h, 'w').dtype = 'float16'; }), /dtype 'float16' is not one of/],
    ['negative dimension', (p) => withHeader(p, (h) => { entry(h, 'w').shape = [-3, -4]; }), /shape must hold non-negative integers/],
    ['fractional dimension', (p) => withHeader(p, (h) => { entry(h, 'w').shape = [1.5, 8]; }), /shape must hold non-negative integers/],
    ['shape is a string', (p) => withHeader(p, (h) => { entry(h, 'w').shape = '[3,4]'; }), /shape must be an array/],
    ['huge shape', (p) => withHeader(p, (h) => { entry(h, 'w').shape = [2 ** 40, 2 ** 40]; }), /too many elements|does not match/],
    ['byte count does not match shape × dtype', (p) => withHeader(p, (h) => { entry(h, 'w').shape = [3, 5]; }), /60 bytes for shape \[3, 5\] float32, the header says 48/],
    ['byte count not a multiple of the element size', (p) => withHeader(p, (h) => { entry(h, 'w').bytes = 47; }), /bytes/],
    ['offset overlapping the previous entry', (p) => withHeader(p, (h) => { entry(h, 'b').offset = 0; }), /offset 0, expected 48/],
    ['offset past the end', (p) => withHeader(p, (h) => { entry(h, 'count').offset = 1e9; }), /offset 1000000000/],
    ['offset negative', (p) => withHeader(p, (h) => { entry(h, 'b').offset = -8; }), /offset -8/],
    ['offset not a number', (p) => withHeader(p, (h) => { entry(h, 'b').offset = '48'; }), /offset/],
    ['an entry removed (data left over)', (p) => withHeader(p, (h) => { h.entries.pop(); }), /data section is \d+ bytes, the header describes \d+/],
    ['extra bytes after the data', (p) => build({ ...p, tail: Uint8Array.from([...p.tail, 0, 0, 0, 0, 0, 0, 0, 0]) }), /data section/],
    ['non-zero padding', (p) => build({ ...p, tail: p.tail.map((v, i) => (i === p.tail.length - 1 ? 1 : v)) }), /padding/],
    ['bool value other than 0/1', (p) => build({ ...p, tail: p.tail.map((v, i) => (i === p.tail.length - 8 ? 2 : v)) }), /bool entry 'mask' holds 2/],
    ['dtype changed to one the model does not have', (p) => withHeader(p, (h) => { entry(h, 'b').dtype = 'int32'; }), /b: dtype int32 does not match the model's float32/],
    ['shape transposed (same bytes)', (p) => withHeader(p, (h) => { entry(h, 'w').shape = [4, 3]; }), /w: shape \[4, 3\] does not match \[3, 4\]/],
    ['entry renamed', (p) => withHeader(p, (h) => { entry(h, 'b').name = 'bias'; }), /missing b.*unexpected bias/],
    ['file version edited', (p) => build({ ...p, version: 2 }), /format version 2 is not supported/],
  ];

  it.each(cases)('%s', async (_what, make, pattern) => {
    const file = path.join(d, 'edited.kiln');
    writeFileSync(file, make(good));
    const m = new Net();
    kiln.noGrad(() => m.w.copy_(0.5));
    const before = snapshot(m);
    const live = kiln.memory().liveTensors;
    const e = await nn.load(m, file).then(() => undefined, (err: unknown) => err);
    expect(e).toBeInstanceOf(kiln.KilnError);
    expect((e as Error).message).toMatch(pattern);
    expect((e as Error).message).toContain(file);
    expect(snapshot(m)).toEqual(before);
    expect(kiln.memory().liveTensors).toBe(live); // nothing decoded was leaked
  });

  it('the helper itself round-trips: an unedited rebuild loads', async () => {
    const file = path.join(d, 'rebuilt.kiln');
    writeFileSync(file, withHeader(good, () => undefined));
    const m = new Net();
    kiln.noGrad(() => m.w.copy_(0));
    expect(await nn.load(m, file)).toEqual({ epoch: 2 });
    expect(snapshot(m)).toEqual(snapshot(new Net()));
  });
});

describe('checkpoint corruption fuzz (seeded, bounded)', () => {
  it('300 mutated files: each load either gives exactly the decoded checkpoint or a KilnError that changes nothing', async () => {
    const d = dir();
    const goodFile = path.join(d, 'good.kiln');
    await nn.save(new Net(), goodFile, { metadata: { epoch: 1, tag: 'fuzz' } });
    const good = new Uint8Array(readFileSync(goodFile));
    const parsed = parse(good);
    const body = good.subarray(0, good.length - 32);
    const rand = rng(20240607);
    const int = (n: number): number => Math.floor(rand() * n);
    const mutations: ((b: Uint8Array) => Uint8Array)[] = [
      // Raw damage (the checksum catches it unless it lands in the checksum itself).
      (b) => { const c = b.slice(); c[int(c.length)]! ^= 1 << int(8); return c; },
      (b) => b.slice(0, int(b.length)),
      (b) => Uint8Array.from([...b, ...Array.from({ length: 1 + int(16) }, () => int(256))]),
      (b) => Uint8Array.from({ length: int(256) }, () => int(256)),
      // Damage with the checksum recomputed (a hand edit, or a tool that re-signs files).
      () => { const c = body.slice(); c[int(c.length)]! ^= 1 << int(8); return withChecksum(c); },
      () => { const c = body.slice(); for (let k = 0; k < 4; k++) c[int(c.length)] = int(256); return withChecksum(c); },
      () => withChecksum(body.slice(0, int(body.length))),
      () => withChecksum(Uint8Array.from([...body, ...Array.from({ length: 1 + int(16) }, () => int(256))])),
      () => { // one character of the header JSON replaced
        const t = parsed.headerText;
        const i = int(t.length);
        return realigned(parsed, t.slice(0, i) + '{}[],:"0-9.aez '.charAt(int(15)) + t.slice(i + 1));
      },
      () => { // one number in the header replaced by another
        const nums = [...parsed.headerText.matchAll(/-?\d+(\.\d+)?(e[+-]?\d+)?/g)];
        const m = nums[int(nums.length)]!;
        const repl = String([0, 1, -1, 3, 4, 8, 47, 48, 2 ** 31, 1e300, 0.5][int(11)]);
        return realigned(parsed, parsed.headerText.slice(0, m.index) + repl + parsed.headerText.slice(m.index! + m[0].length));
      },
    ];
    let successes = 0, failures = 0;
    for (let c = 0; c < 300; c++) {
      const bytes = mutations[c % mutations.length]!(good);
      const file = path.join(d, 'fuzz.kiln');
      writeFileSync(file, bytes);
      const m = new Net();
      kiln.noGrad(() => m.w.copy_(0.25));
      const before = snapshot(m);
      let decoded: kiln.nn.Checkpoint | undefined;
      try {
        decoded = await nn.loadCheckpoint(file);
      } catch (e) {
        expect(e, `case ${c}`).toBeInstanceOf(kiln.KilnError);
      }
      try {
        await nn.load(m, file);
        successes++;
        // A successful load holds exactly what the file decodes to, tensor by tensor.
        expect(decoded, `case ${c}`).toBeDefined();
        for (const [name, t] of m.stateDict()) expect([...t.dataSync()], `case ${c} ${name}`).toEqual([...decoded!.state.get(name)!.dataSync()]);
      } catch (e) {
        failures++;
        if (!(e instanceof kiln.KilnError)) throw new Error(`case ${c}: ${String(e)}`);
        expect(snapshot(m), `case ${c}`).toEqual(before);
      }
      for (const t of decoded?.state.values() ?? []) t.dispose();
    }
    // The seeded stream hits both outcomes (e.g. a flip inside float data, re-signed, is a valid file).
    expect(failures).toBeGreaterThan(200);
    expect(successes).toBeGreaterThan(0);
  });
});
