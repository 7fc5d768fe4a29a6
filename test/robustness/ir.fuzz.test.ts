/**
 * A seeded, bounded fuzz test of the IR text form: printed graphs of real models (an MLP
 * and a small CNN traced by `kiln.compile`) and hand-written texts with control flow,
 * inline constants and symbolic dims are mutated token by token (deleted, duplicated,
 * swapped, numbers made huge/negative/fractional, truncated, nested deeply, ops, attributes
 * and dtypes replaced). Every mutant either fails to parse with a `KilnError`, or parses
 * and gets verifier issues (never an exception), or verifies cleanly and then prints,
 * parses back and prints to the same text. A subset of the clean ones with small shapes
 * also runs through the interpreter, where again only `KilnError`s may come out.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as kiln from '../../src/index.js';
import { interpretEager } from '../../src/compiled/index.js';
import { rng } from '../support/kernelChecks.js';

const { ir, nn } = kiln;

/** Mutants per seed text; with 5 texts this is 3000 mutants (about 2-4 s here). */
const MUTANTS_PER_TEXT = 600;

const CONTROL_FLOW = `graph(%x: float32[n], %trips: int32[]) {
  const %yes: bool[] = [1]
  const %one: float32[] = [1]
  %p: float32[], %cum: float32[steps] = Loop(%trips, %yes, %one) {   # loop.ts:2:3
    body(%i: int32[], %c: bool[], %acc: float32[]) {
      const %limit: float32[] = [100]
      %xi1: float32[1] = indexSelect(%x, %i) {axis=0}
      %xi: float32[] = reshape(%xi1) {shape=[]}
      %small: bool[] = less(%acc, %limit)
      %next: float32[] = If(%small) {
        then() {
          %m: float32[] = mul(%acc, %xi)
          return %m
        }
        else() {
          return %acc
        }
      }
      return %c, %next, %next
    }
  }
  %a: float32[n-1], %b: float32[1] = split(%x) {axis=0, sizes=[n-1, 1]}
  return %p, %cum, %a, %b
}
`;

const SHAPES = `graph(%x: float32[batch, 2, 3], %idx: int32[4]) {
  const %w: float32[3, 2] = [0.5, -1, 2, 0.25, -0, 3]
  const %k: int32[2] = [1, 0]
  %t: float32[batch, 3, 2] = transpose(%x) {perm=[0, 2, 1]}
  %m: float32[batch, 2, 2] = matmul(%x, %w)
  %r: float32[4*batch] = reshape(%m) {shape=[4*batch]}
  %r2: float32[batch, 4] = reshape(%r) {shape=[batch, 4]}
  %s: float32[batch, 1] = sum(%r2) {axes=[1], keepDims=true}
  %c: float32[batch, 8] = concat(%r2, %r2) {axis=1}
  %sl: float32[batch, 3] = slice(%c) {starts=[0, 1], ends=[batch, 7], steps=[1, 2]}
  %p: float32[batch, 5] = pad(%sl) {pads=[0, 1, 0, 1], mode="constant", value=0}
  %gi: int32[batch, 4] = expand(%idx) {shape=[batch, 4]}
  %g: float32[batch, 4] = gather(%p, %gi) {axis=1}
  %sm: float32[batch, 5] = softmax(%p) {axis=1}
  %am: int32[batch] = argmax(%sm) {axis=1, keepDims=false}
  %oh: int32[batch, 5] = oneHot(%am) {numClasses=5}
  %cl: float32[batch, 5] = clip(%sm) {min=null, max=0.5}
  %ct: float64[batch, 5] = cast(%cl) {dtype="float64"}
  return %t, %s, %g, %oh, %ct, %k
}
`;

let corpus: string[] = [];

beforeAll(async () => {
  await kiln.init();
  kiln.manualSeed(0);
  const mlp = new nn.Sequential(new nn.Linear(6, 5), new nn.ReLU(), new nn.Linear(5, 3)).eval();
  const cnn = new nn.Sequential(
    new nn.Conv2d(1, 2, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2),
    new nn.Conv2d(2, 2, 3), new nn.AvgPool2d(2), new nn.Flatten(), new nn.Linear(2, 3),
  ).eval();
  const fastMlp = kiln.compile(mlp, { inputs: [kiln.spec([kiln.dim('batch'), 6])] });
  fastMlp.run(kiln.randn([2, 6]));
  const fastCnn = kiln.compile(cnn, { inputs: [kiln.spec([kiln.dim('n'), 1, 8, 8])] });
  fastCnn.run(kiln.randn([2, 1, 8, 8]));
  // The MLP with its weights inline (data parses too), the CNN with declared constants.
  corpus = [ir.printGraph(fastMlp.graph, { constants: 'inline' }), fastCnn.graph.toString(), CONTROL_FLOW, SHAPES];
  // The texts themselves are valid: the fuzzer starts from well-formed graphs.
  for (const t of corpus) expect(ir.checkGraph(ir.parseGraph(t)).map((i) => i.message), t).toEqual([]);
});

// ---- mutations -------------------------------------------------------------------------

const TOKEN = /%"(?:[^"\\\n]|\\.)*"|%[A-Za-z0-9_.$]+|"(?:[^"\\\n]|\\.)*"|#[^\n]*|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|[A-Za-z_][A-Za-z0-9_.]*|\s+|[^]/g;
const NUMBERS = ['0', '-1', '-0', '1.5', '1e9', '100000', '4294967296', '2147483648', '9007199254740993', '1e300', '1e400', 'nan', 'inf', '-inf', '-7', '3'];
const ATTR_VALUES = ['"x"', '[1]', '[[1]]', '[]', 'true', 'null', 'batch', '-5', '0.5', '[batch, -1]', '[[0, 1], [2]]', '"reflect"', 'nan'];
const DTYPES = ['float32', 'float64', 'int32', 'bool', 'int64', 'float16'];
const OPS = [...ir.listOps().map((d) => d.name), 'If', 'Loop', 'frobnicate', 'constructor', '__proto__', 'toString', 'hasOwnProperty'];

function mutate(text: string, r: () => number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  let toks: string[] = text.match(TOKEN) ?? [];
  const solid = () => {
    const idx = toks.map((t, i) => (/^\s+$/.test(t) ? -1 : i)).filter((i) => i >= 0);
    return pick(idx);
  };
  const rounds = 1 + Math.floor(r() * 3);
  for (let k = 0; k < rounds; k++) {
    const i = solid();
    const t = toks[i]!;
    switch (Math.floor(r() * 12)) {
      case 0: toks.splice(i, 1); break; // delete
      case 1: toks.splice(i, 0, t); break; // duplicate
      case 2: { // swap with a nearby token
        const j = Math.min(toks.length - 1, Math.max(0, i + Math.floor(r() * 9) - 4));
        [toks[i], toks[j]] = [toks[j]!, t];
        break;
      }
      case 3: case 4: { // a number made huge, negative, fractional, not a number
        const nums = toks.map((x, n) => (/^\d/.test(x) ? n : -1)).filter((n) => n >= 0);
        if (nums.length) toks[pick(nums)] = pick(NUMBERS);
        break;
      }
      case 5: toks = toks.slice(0, Math.floor(r() * toks.length)); break; // truncate
      case 6: { // deep or shallow nesting
        const depth = pick([3, 50, 150, 2000]);
        const open = pick(['[', '{', '(', 'If(%x) { then() {\n', '{ then() { ']);
        toks.splice(i, 0, open.repeat(depth), r() < 0.5 ? pick([']', '}', ')']).repeat(depth) : '');
        break;
      }
      case 7: { // another op
        const ops = toks.map((x, n) => (toks[n + 1] === '(' && /^[A-Za-z]/.test(x) && x !== 'graph' && x !== 'then' && x !== 'else' && x !== 'body' ? n : -1)).filter((n) => n >= 0);
        if (ops.length) toks[pick(ops)] = pick(OPS);
        break;
      }
      case 8: { // an attribute value of another kind
        const eqs = toks.map((x, n) => (x === '=' && /^[A-Za-z]/.test(toks[n - 1] ?? '') ? n : -1)).filter((n) => n >= 0);
        if (eqs.length) {
          const at = pick(eqs) + 1;
          let end = at;
          if (toks[at] === '[') { // the whole array
            let depth = 0;
            do { if (toks[end] === '[') depth++; else if (toks[end] === ']') depth--; end++; } while (depth > 0 && end < toks.length);
          } else end = at + 1;
          toks.splice(at, end - at, pick(ATTR_VALUES));
        }
        break;
      }
      case 9: { // another dtype
        const ds = toks.map((x, n) => (DTYPES.includes(x) ? n : -1)).filter((n) => n >= 0);
        if (ds.length) toks[pick(ds)] = pick(DTYPES);
        break;
      }
      case 10: { // another value name
        const vs = toks.map((x, n) => (x.startsWith('%') ? n : -1)).filter((n) => n >= 0);
        if (vs.length) toks[pick(vs)] = toks[pick(vs)]!;
        break;
      }
      default: { // an extra operand or attribute
        const opens = toks.map((x, n) => (x === '(' || x === '{' ? n : -1)).filter((n) => n >= 0);
        if (opens.length) {
          const at = pick(opens);
          toks.splice(at + 1, 0, toks[at] === '(' ? '%x, ' : `${pick(['axis', 'perm', 'shape', 'keepDims', 'alpha'])}=${pick(ATTR_VALUES)}, `);
        }
      }
    }
  }
  return toks.join('');
}

/** The first few values of every shape are small enough to run (batch-like symbols = 2). */
function smallEnough(g: kiln.ir.Graph): boolean {
  let ok = true;
  const visit = (h: kiln.ir.Graph) => {
    const check = (v: kiln.ir.Value) => {
      let n = 1;
      for (const d of v.type.shape) n *= typeof d === 'number' ? d : d.coef * 2 + d.offset;
      if (!(n <= 4096)) ok = false;
    };
    h.inputs.forEach(check);
    for (const c of h.constants.values()) check(c.value);
    for (const node of h.nodes) {
      node.outputs.forEach(check);
      node.subgraphs.forEach(visit);
    }
  };
  visit(g);
  return ok;
}

describe('IR text fuzzing', () => {
  it('every mutant fails with a KilnError or verifier issues, or round-trips exactly', () => {
    const stats = { parseErrors: 0, issues: 0, clean: 0, ran: 0 };
    // One example per kind of failure (what failed, the exception's type and first line).
    const failures = new Map<string, string>();
    const fail = (what: string, text: string, e: unknown) => {
      const head = e instanceof Error ? `${e.name}: ${e.message.split('\n')[0]!.slice(0, 200)}` : String(e).split('\n')[0]!.slice(0, 200);
      const key = `${what}: ${head}`;
      if (!failures.has(key) && failures.size < 20) failures.set(key, `${key}\n${e instanceof Error ? e.message.slice(0, 600) : String(e).slice(0, 600)}\n--- text ---\n${text.slice(0, 1200)}`);
    };
    corpus.forEach((seedText, s) => {
      const r = rng(1000 + s);
      for (let m = 0; m < MUTANTS_PER_TEXT; m++) {
        const text = mutate(seedText, r);
        let g: kiln.ir.Graph;
        try {
          g = ir.parseGraph(text, { maxPlaceholderBytes: 1 << 20 });
        } catch (e) {
          if (e instanceof kiln.KilnError) stats.parseErrors++;
          else fail('parse threw', text, e);
          continue;
        }
        let issues: kiln.ir.GraphIssue[];
        try {
          issues = ir.checkGraph(g);
        } catch (e) {
          fail('checkGraph threw', text, e);
          continue;
        }
        if (issues.length) {
          stats.issues++;
          try {
            ir.verifyGraph(g);
            fail('verifyGraph passed a graph with issues', text, issues[0]!.message);
          } catch (e) {
            if (!(e instanceof kiln.KilnError)) fail('verifyGraph threw', text, e);
          }
          continue;
        }
        stats.clean++;
        try {
          const printed = ir.printGraph(g, { constants: 'inline' });
          const back = ir.parseGraph(printed);
          const again = ir.printGraph(back, { constants: 'inline' });
          if (again !== printed) fail('print → parse → print differs', text, `${printed}\n=== vs ===\n${again}`);
          if (ir.checkGraph(back).length) fail('the re-parsed graph has issues', text, ir.checkGraph(back)[0]!.message);
        } catch (e) {
          fail('round trip threw', text, e);
          continue;
        }
        // Running: only graphs whose values are small (batch-like symbols = 2).
        if (!smallEnough(g)) continue;
        try {
          kiln.scope(() => {
            const inputs = g.inputs.map((v) => {
              const shape = v.type.shape.map((d) => (typeof d === 'number' ? d : d.coef * 2 + d.offset));
              return v.type.dtype === 'int32' || v.type.dtype === 'bool'
                ? kiln.zeros(shape, { dtype: v.type.dtype })
                : kiln.randn(shape, { seed: m, dtype: v.type.dtype }).to(v.type.dtype === 'float64' ? 'reference' : 'wasm');
            });
            interpretEager(g, inputs);
          });
          stats.ran++;
        } catch (e) {
          if (!(e instanceof kiln.KilnError)) fail('interpreting threw', text, e);
        }
      }
    });
    expect([...failures.keys()], [...failures.values()].join('\n\n')).toEqual([]);
    // The fuzzer reached every outcome (so it tests something).
    expect(stats.parseErrors).toBeGreaterThan(100);
    expect(stats.issues).toBeGreaterThan(100);
    expect(stats.clean).toBeGreaterThan(50);
    expect(stats.ran).toBeGreaterThan(10);
  });
});
