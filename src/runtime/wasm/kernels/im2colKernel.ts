import type { ConvGeom } from '../../reference/kernels/nn.js';
import { cat, I, kernelsOn, ModuleBuilder, T, type Code, type ValType } from '../wasmAssembler.js';

// ---- generated WebAssembly im2col --------------------------------------------------------
//
// conv2dFilterGrad multiplies im2col(x) with the output gradient on XNNPACK; im2col itself
// (the `im2col` of src/runtime/reference/kernels/nn.ts: row (c, i, j), column (oh, ow) =
// x[c, oh·sh + i·dh − pt, ow·sw + j·dw − pl], 0 in the padding) is pure data movement, so
// Kiln emits it. Per channel, the input is first copied into a zero-bordered plane of
// Hp × Wp (the border is zeroed once per call and never written again), so every tap row
// is OH plain strided copies with no bounds logic: stride 1 copies OW floats as v128s (the
// last OW mod 4 as one more, overlapping v128), stride 2 loads 8 floats and keeps the even
// lanes, other strides copy scalars. Without padding (and every tap inside the input) the
// taps read the input channel directly. Raw bits move (NaN payloads kept).
//
// Measured (AMD EPYC, V8; the demo CNN's filter gradients, 64 images of [1, 28, 28] and
// [32, 14, 14], 3×3 pad 1, 4.1 M column entries): the portable im2col on heap views took
// 0.85 + 8.7 ms, this kernel 0.09 + 0.66 ms (conv2dFilterGrad per training step ≈35 → ≈27
// ms). The padded-plane copy costs ≈1/9 of the writes and removes all per-run bounds work.
//
// Signature (i32; addresses and strides in bytes), one export per column stride kind
// (`s1`, `s2`, `sn`):
//   (src, srcImage, images, dst, dstRow, dstImage, C, planeBytes, direct, pad, padBytes,
//    rowBytes, copyRows, copyCols, copySrc, copyDst, srcRowBytes, kh, kw, tapRow, tapCol,
//    OH, OW, stepRow, colStep)
// For each of `images` (src += srcImage, dst += dstImage) and channel (src += planeBytes):
// the plane is the channel itself (`direct`) or `pad` after copying `copyRows` rows of
// `copyCols` floats from src + copySrc (rows srcRowBytes apart) to pad + copyDst (rows
// rowBytes apart); then tap (i, j) writes dst row r = (c·kh + i)·kw + j (rows dstRow
// apart): OH runs of OW floats read from plane + i·tapRow + j·tapCol + oh·stepRow, every
// colStep bytes.

const P = {
  src: 0, srcImage: 1, images: 2, dst: 3, dstRow: 4, dstImage: 5, C: 6, planeBytes: 7, direct: 8, pad: 9, padBytes: 10,
  rowBytes: 11, copyRows: 12, copyCols: 13, copySrc: 14, copyDst: 15, srcRowBytes: 16, kh: 17, kw: 18, tapRow: 19, tapCol: 20,
  OH: 21, OW: 22, stepRow: 23, colStep: 24,
} as const;
const NPARAMS = 25;

type StrideKind = 's1' | 's2' | 'sn';

function emitIm2col(m: ModuleBuilder, kind: StrideKind): void {
  const types: ValType[] = [];
  const local = (t: ValType): number => NPARAMS + types.push(t) - 1;
  const [srcImg, dstImg, cs, drow, c, plane, tapI, tapJ, i, j, o, p, q, n, sp, sq, tailIn, tailOut, nq] =
    Array.from({ length: 19 }, () => local(T.i32));
  const { get, set } = I;
  const k = I.i32;
  const add = (a: Code, b: Code): Code => cat(a, b, I.i32Add());
  const mul = (a: Code, b: Code): Code => cat(a, b, I.i32Mul());
  const copy4 = (dst: Code, src: Code): Code => cat(dst, src, I.f32Load(), I.f32Store());

  // `copyCols` floats from p to q (the interior of one padded row).
  const interiorRow = cat(
    get(P.copyCols), k(2), I.i32ShrU(), set(n),
    I.repeat(n, cat(get(q), get(p), I.v128Load(), I.v128Store(), I.bump(p, k(16)), I.bump(q, k(16)))),
    get(P.copyCols), k(3), I.i32And(), set(n),
    I.repeat(n, cat(copy4(get(q), get(p)), I.bump(p, k(4)), I.bump(q, k(4)))),
  );

  // One run: OW floats from sp (every colStep bytes) to sq (contiguous); p and q walk.
  const scalarRun = cat(
    get(P.OW), set(n),
    I.repeat(n, cat(copy4(get(q), get(p)), I.bump(p, P.colStep), I.bump(q, k(4)))),
  );
  let run: Code = scalarRun;
  if (kind !== 'sn') {
    const vecIn = (at: Code): Code => (kind === 's1'
      ? cat(at, I.v128Load())
      : cat(at, I.v128Load(), at, I.v128Load(16), I.i32x4Shuffle(0, 2, 4, 6)));
    const inStep = kind === 's1' ? 16 : 32;
    // Runs under 4 floats go by scalars.
    run = cat(get(P.OW), k(4), I.i32GeU(), I.ifElse(cat(
      get(nq), set(n),
      I.repeat(n, cat(get(q), vecIn(get(p)), I.v128Store(), I.bump(p, k(inStep)), I.bump(q, k(16)))),
      get(tailOut), I.if(cat(add(get(sq), get(tailOut)), vecIn(add(get(sp), get(tailIn))), I.v128Store())),
    ), scalarRun));
  }

  const body = cat(
    get(P.OW), k(2), I.i32ShrU(), set(nq),
    // The overlapping last v128 of a run: byte offsets of element OW − 4 (0: none needed).
    get(P.OW), k(3), I.i32And(), I.if(cat(
      mul(add(get(P.OW), k(-4)), k(4)), set(tailOut),
      mul(add(get(P.OW), k(-4)), get(P.colStep)), set(tailIn),
    )),
    get(P.direct), I.i32Eqz(), I.if(cat(get(P.pad), k(0), get(P.padBytes), I.memoryFill())),
    get(P.src), set(srcImg), get(P.dst), set(dstImg),
    I.repeat(P.images, cat(
      get(srcImg), set(cs), get(dstImg), set(drow), get(P.C), set(c),
      I.repeat(c, cat(
        get(P.direct), I.ifElse(cat(get(cs), set(plane)), cat(
          add(get(cs), get(P.copySrc)), set(sp), add(get(P.pad), get(P.copyDst)), set(sq),
          get(P.copyRows), set(o),
          I.repeat(o, cat(
            get(sp), set(p), get(sq), set(q), interiorRow,
            I.bump(sp, P.srcRowBytes), I.bump(sq, P.rowBytes),
          )),
          get(P.pad), set(plane),
        )),
        get(plane), set(tapI), get(P.kh), set(i),
        I.repeat(i, cat(
          get(tapI), set(tapJ), get(P.kw), set(j),
          I.repeat(j, cat(
            get(tapJ), set(sp), get(drow), set(sq), get(P.OH), set(o),
            I.repeat(o, cat(
              get(sp), set(p), get(sq), set(q), run,
              get(sp), get(P.stepRow), I.i32Add(), set(sp),
              get(sq), mul(get(P.OW), k(4)), I.i32Add(), set(sq),
            )),
            I.bump(drow, P.dstRow), I.bump(tapJ, P.tapCol),
          )),
          I.bump(tapI, P.tapRow),
        )),
        I.bump(cs, P.planeBytes),
      )),
      I.bump(srcImg, P.srcImage), I.bump(dstImg, P.dstImage),
    )),
  );
  m.func(kind, new Array<ValType>(NPARAMS).fill(T.i32), [], types, body);
}

/** The im2col module: `s1`, `s2` and `sn`. */
export function im2colModule(): Uint8Array<ArrayBuffer> {
  const m = new ModuleBuilder().importMemory();
  for (const kind of ['s1', 's2', 'sn'] as const) emitIm2col(m, kind);
  return m.bytes();
}

type Im2colFn = (...args: number[]) => void;
type Im2colKernels = Readonly<Record<StrideKind, Im2colFn>>;

function kernels(memory: WebAssembly.Memory): Im2colKernels {
  return kernelsOn<Im2colKernels>(memory, 'im2col', im2colModule);
}

/** The zero-bordered plane the taps read: [Hp, Wp], and whether the input itself serves. */
function paddedPlane(g: ConvGeom): { Hp: number; Wp: number; direct: boolean } {
  const Hp = (g.OH - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  const Wp = (g.OW - 1) * g.sw + (g.kw - 1) * g.dw + 1;
  // Stride-2 runs read one float past their last tap: it must stay inside the row.
  const direct = g.pt === 0 && g.pl === 0 && Hp <= g.H && (g.sw === 2 && g.OW >= 4 ? Wp < g.W : Wp <= g.W);
  return { Hp, Wp, direct };
}

/** Bytes of heap scratch `im2colOnHeap` needs for `g` (0 when it reads the input directly). */
export function im2colScratchBytes(g: ConvGeom): number {
  const { Hp, Wp, direct } = paddedPlane(g);
  return direct ? 0 : (Hp * Wp + 4) * 4; // + slack for the stride-2 over-read
}

/**
 * The portable `im2col` of float32 images on the heap, for `images` images at once: image
 * n's channels `g.C` start at byte `src + n·srcImage`; its row r (of g.C·kh·kw) is written
 * at byte `dst + r·dstRow + n·dstImage` (OH·OW floats). `scratch` is a heap buffer of
 * `im2colScratchBytes(g)` bytes (any address when that is 0).
 *
 * @example
 * // 8 images [3, 32, 32] → cols [27, 8·L] with L = OH·OW (images side by side)
 * im2colOnHeap(memory, x.ptr, 3 * 32 * 32 * 4, 8, g, cols.ptr, 8 * L * 4, L * 4, scratch.ptr);
 */
export function im2colOnHeap(memory: WebAssembly.Memory, src: number, srcImage: number, images: number, g: ConvGeom, dst: number, dstRow: number, dstImage: number, scratch: number): void {
  const { Hp, Wp, direct } = paddedPlane(g);
  const rowBytes = (direct ? g.W : Wp) * 4;
  // Interior of the padded plane: rows ph with 0 ≤ ph − pt < H, columns likewise.
  const ph0 = Math.max(0, g.pt), ph1 = Math.min(Hp, g.H + g.pt);
  const pw0 = Math.max(0, g.pl), pw1 = Math.min(Wp, g.W + g.pl);
  const rows = direct || ph1 <= ph0 || pw1 <= pw0 ? 0 : ph1 - ph0;
  const kind: StrideKind = g.sw === 1 ? 's1' : g.sw === 2 ? 's2' : 'sn';
  kernels(memory)[kind](
    src, srcImage, images, dst, dstRow, dstImage, g.C, g.H * g.W * 4, direct ? 1 : 0, scratch, direct ? 0 : Hp * Wp * 4,
    rowBytes, rows, pw1 - pw0, ((ph0 - g.pt) * g.W + (pw0 - g.pl)) * 4, (ph0 * Wp + pw0) * 4, g.W * 4, g.kh, g.kw, g.dh * rowBytes, g.dw * 4,
    g.OH, g.OW, g.sh * rowBytes, g.sw * 4,
  );
}
