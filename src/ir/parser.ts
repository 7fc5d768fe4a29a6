/**
 * Reads the text form written by `printGraph` back into a `Graph`.
 *
 * Grammar (`#` starts a comment; on a node's line it is the node's source location):
 * ```
 * graph      := 'graph' '(' params ')' '{' block '}'
 * block      := (constant | node)* 'return' [value (',' value)*]
 * constant   := 'const' value ':' type ['=' '[' number* ']']
 * node       := [value ':' type (',' value ':' type)* '='] op '(' [value (',' value)*] ')' [attrs] [subgraphs]
 * subgraphs  := '{' (label '(' params ')' '{' block '}')* '}'       e.g. then() {…} else() {…}
 * attrs      := '{' [key '=' attr (',' key '=' attr)*] '}'
 * attr       := number | inf | nan | true | false | null | "string" | dim | '[' [attr (',' attr)*] ']'
 * type       := dtype '[' [dim (',' dim)*] ']'                       e.g. float32[batch, 784]
 * dim        := integer | [integer '*'] symbol [('+' | '-') integer]  e.g. 2*batch+1
 * value      := '%' name | '%' "quoted name"
 * ```
 * Values are defined once (names are unique across the whole text, subgraphs included)
 * and before their use; a subgraph sees the values defined above its node in every
 * enclosing block. Subgraphs nest at most `MAX_NESTING` levels, attribute arrays two.
 */
import { sym, type Dim } from './dims.js';
import { arrayFor, bytesPerElement, sizeOf, type DType, type TypedArray } from './dtype.js';
import { KilnError } from './errors.js';
import { Graph, Node, Value, type IrAttrValue, type ValueType } from './graph.js';
import { subgraphLabels, IF_OP, LOOP_OP, MAX_NESTING } from './controlFlow.js';
import { syntaxError, tokenize, type Token } from './lexer.js';
import { RESERVED_WORDS } from './printer.js';

export interface ParseOptions {
  /**
   * Data of the constants the text declares without inline data, by name (subgraphs'
   * constants included). The arrays are used as they are (not copied).
   */
  constants?: ReadonlyMap<string, TypedArray>;
  /** What to do for a declared constant with no data: 'zeros' (default) fills a placeholder, 'error' throws. */
  missingConstants?: 'zeros' | 'error';
  /**
   * The largest zero placeholder made for a constant without data, in bytes (default
   * 256 MiB); a larger one throws a `KilnError` asking for the data instead, so a
   * declared `float32[100000, 100000]` never allocates 40 GB.
   */
  maxPlaceholderBytes?: number;
}

const DEFAULT_MAX_PLACEHOLDER_BYTES = 256 * 2 ** 20;

const DTYPES: ReadonlySet<string> = new Set(['float32', 'float64', 'int32', 'bool']);

/** A name lookup for one block: its own values, then the enclosing block's. */
class Scope {
  readonly values = new Map<string, Value>();
  constructor(readonly parent: Scope | null) {}
  lookup(name: string): Value | undefined {
    return this.values.get(name) ?? this.parent?.lookup(name);
  }
}

type AttrItem = IrAttrValue;

class Parser {
  private readonly tokens: Token[];
  private pos = 0;
  /** Where each value name was defined, for "defined twice" messages. */
  private readonly definedAt = new Map<string, Token>();

  constructor(private readonly source: string, private readonly options: ParseOptions) {
    this.tokens = tokenize(source);
  }

  // ---- tokens ----------------------------------------------------------------------

  private skipComments(): void {
    while (this.tokens[this.pos]!.kind === 'comment') this.pos++;
  }

  private peek(ahead = 0): Token {
    let p = this.pos, seen = -1;
    for (;;) {
      const t = this.tokens[p]!;
      if (t.kind !== 'comment' && ++seen === ahead) return t;
      if (t.kind === 'eof') return t;
      p++;
    }
  }

  private next(): Token {
    this.skipComments();
    const t = this.tokens[this.pos]!;
    if (t.kind !== 'eof') this.pos++;
    return t;
  }

  private is(text: string, ahead = 0): boolean {
    const t = this.peek(ahead);
    return (t.kind === 'punct' || t.kind === 'ident') && t.text === text;
  }

  private fail(t: Token, message: string): never {
    throw syntaxError(this.source, t.line, t.col, message);
  }

  private describe(t: Token): string {
    switch (t.kind) {
      case 'eof': return 'the end of the text';
      case 'value': return `'%${t.text}'`;
      case 'string': return `the string ${JSON.stringify(t.text)}`;
      default: return `'${t.text}'`;
    }
  }

  private expect(text: string, context: string): Token {
    const t = this.next();
    if ((t.kind === 'punct' || t.kind === 'ident') && t.text === text) return t;
    return this.fail(t, `expected '${text}' ${context}, found ${this.describe(t)}`);
  }

  /** The comment right after the last token, on its line: a node's source location. */
  private trailingComment(): string | undefined {
    const last = this.tokens[this.pos - 1]!;
    const t = this.tokens[this.pos]!;
    if (t.kind !== 'comment' || t.line !== last.line) return undefined;
    this.pos++;
    if (t.text.startsWith('"')) {
      try {
        return JSON.parse(t.text) as string;
      } catch {
        return this.fail(t, `bad quoted source location ${t.text}`);
      }
    }
    return t.text;
  }

  // ---- graph structure -------------------------------------------------------------

  parse(): Graph {
    this.expect('graph', 'at the start of the text');
    const g = new Graph();
    this.block(g, new Scope(null), 'graph', 0);
    const t = this.next();
    if (t.kind !== 'eof') this.fail(t, `expected the end of the text after the graph's closing '}', found ${this.describe(t)}`);
    return g;
  }

  /** `(params) { body }` of a graph or subgraph (the label is already read) at `depth` (0: the graph). */
  private block(g: Graph, scope: Scope, what: string, depth: number): void {
    this.expect('(', `to open the inputs of ${what}`);
    if (!this.is(')')) {
      do {
        const { value } = this.declare(g);
        scope.values.set(value.name, value);
        g.inputs.push(value);
      } while (this.comma());
    }
    this.expect(')', `to close the inputs of ${what}`);
    this.expect('{', `to open the body of ${what}`);
    for (;;) {
      const t = this.peek();
      if (t.kind === 'ident' && t.text === 'return') {
        this.next();
        const outs: Value[] = [];
        if (this.peek().kind === 'value') {
          do outs.push(this.use(scope, this.next())); while (this.comma());
        }
        g.outputs = outs;
        this.expect('}', `after the return of ${what}`);
        return;
      }
      if (t.kind === 'ident' && t.text === 'const') {
        this.next();
        this.constant(g, scope);
      } else if (t.kind === 'value' || t.kind === 'ident') {
        this.node(g, scope, depth);
      } else {
        this.fail(t, t.kind === 'punct' && t.text === '}' ? `${what} has no 'return' (write 'return' with no values for none)` : `expected a node, 'const' or 'return', found ${this.describe(t)}`);
      }
    }
  }

  private comma(): boolean {
    if (!this.is(',')) return false;
    this.next();
    return true;
  }

  /** `%name: type`, registered as a new value of `g` (not yet visible: the caller adds it to the scope). */
  private declare(g: Graph): { value: Value; token: Token } {
    const t = this.next();
    if (t.kind !== 'value') this.fail(t, `expected a value name (%name), found ${this.describe(t)}`);
    const prev = this.definedAt.get(t.text);
    if (prev || !g.reserveName(t.text)) {
      this.fail(t, `value %${t.text} is defined twice${prev ? ` (first at ${prev.line}:${prev.col})` : ''}: every value name is unique, subgraphs included`);
    }
    this.definedAt.set(t.text, t);
    this.expect(':', `after %${t.text}`);
    return { value: new Value(t.text, this.type()), token: t };
  }

  private use(scope: Scope, t: Token): Value {
    if (t.kind !== 'value') this.fail(t, `expected a value (%name), found ${this.describe(t)}`);
    const v = scope.lookup(t.text);
    if (v) return v;
    const at = this.definedAt.get(t.text);
    return this.fail(t, at
      ? `%${t.text} (defined at ${at.line}:${at.col}) is not visible here: values are used after their definition, in its block or one nested in it`
      : `%${t.text} is not defined`);
  }

  private constant(g: Graph, scope: Scope): void {
    const { value, token } = this.declare(g);
    let data: TypedArray | undefined;
    if (this.is('=')) {
      this.next();
      data = this.inlineData(value.type);
    }
    if (!data) data = this.suppliedData(value.name, value.type, token);
    g.constants.set(value.name, { value, data });
    scope.values.set(value.name, value);
  }

  private concreteShape(type: ValueType, t: Token, what: string): number[] {
    if (type.shape.some((d) => typeof d !== 'number')) this.fail(t, `${what} needs a concrete shape, got symbolic dims`);
    return type.shape as number[];
  }

  private inlineData(type: ValueType): TypedArray {
    const open = this.expect('[', 'to open the constant data');
    const size = sizeOf(this.concreteShape(type, open, 'inline constant data'));
    const values: number[] = [];
    if (!this.is(']')) {
      do values.push(this.number()); while (this.comma());
    }
    this.expect(']', 'to close the constant data');
    if (values.length !== size) this.fail(open, `${values.length} values do not fill ${type.dtype}[${type.shape.join(', ')}] (${size} elements)`);
    const arr = arrayFor(type.dtype, size);
    for (let i = 0; i < size; i++) arr[i] = values[i]!;
    return arr;
  }

  private suppliedData(name: string, type: ValueType, t: Token): TypedArray {
    const given = this.options.constants?.get(name);
    if (given) {
      const size = sizeOf(this.concreteShape(type, t, `constant %${name}`));
      const want = arrayFor(type.dtype, 0).constructor;
      if (given.constructor !== want) this.fail(t, `data for constant %${name} is a ${given.constructor.name}, but ${type.dtype} needs a ${want.name}`);
      if (given.length !== size) this.fail(t, `data for constant %${name} has ${given.length} elements, but its shape [${type.shape.join(', ')}] holds ${size}`);
      return given;
    }
    if (this.options.missingConstants === 'error') this.fail(t, `no data for constant %${name} (pass it in options.constants or print with { constants: 'inline' })`);
    const size = sizeOf(this.concreteShape(type, t, `constant %${name}`));
    const bytes = size * bytesPerElement(type.dtype);
    const limit = this.options.maxPlaceholderBytes ?? DEFAULT_MAX_PLACEHOLDER_BYTES;
    if (bytes > limit) {
      this.fail(t, `constant %${name}: ${type.dtype}[${type.shape.join(', ')}] has no data, and a zero placeholder would take ${bytes} bytes (more than maxPlaceholderBytes = ${limit}): pass its data in options.constants`);
    }
    return arrayFor(type.dtype, size);
  }

  private node(g: Graph, scope: Scope, depth: number): void {
    const outs: Value[] = [];
    if (this.peek().kind === 'value') {
      do outs.push(this.declare(g).value); while (this.comma());
      this.expect('=', 'between the outputs and the op');
    }
    const opTok = this.next();
    if (opTok.kind !== 'ident') this.fail(opTok, `expected an op name, found ${this.describe(opTok)}`);
    this.expect('(', `after the op name ${opTok.text}`);
    const inputs: Value[] = [];
    if (!this.is(')')) {
      do inputs.push(this.use(scope, this.next())); while (this.comma());
    }
    this.expect(')', `to close the inputs of ${opTok.text}`);
    let attrs: Record<string, IrAttrValue> = {};
    // '{' opens attributes when followed by '}' or `key =`, else the subgraph list.
    if (this.is('{') && (this.is('}', 1) || this.is('=', 2))) attrs = this.attrs();
    const subgraphs: Graph[] = [];
    let source: string | undefined;
    if (this.is('{')) {
      this.next();
      source = this.trailingComment();
      const labels: Token[] = [];
      while (!this.is('}')) {
        const label = this.next();
        if (label.kind !== 'ident') this.fail(label, `expected a subgraph label (then, else, body) or '}', found ${this.describe(label)}`);
        labels.push(label);
        // Checked before going in, so no text can run the parser (or later the verifier) out of stack.
        if (depth >= MAX_NESTING) this.fail(label, `subgraphs nest deeper than ${MAX_NESTING} levels`);
        const sub = new Graph(g);
        this.block(sub, new Scope(scope), `the ${label.text} subgraph of ${opTok.text}`, depth + 1);
        subgraphs.push(sub);
      }
      this.next();
      const want = subgraphLabels(opTok.text, subgraphs.length);
      if ((opTok.text === IF_OP || opTok.text === LOOP_OP) && (labels.some((l, i) => l.text !== want[i]) || subgraphs.length !== (opTok.text === IF_OP ? 2 : 1))) {
        this.fail(opTok, `${opTok.text} takes subgraphs ${opTok.text === IF_OP ? 'then, else' : 'body'} in that order, got ${labels.map((l) => l.text).join(', ') || 'none'}`);
      }
    } else {
      source = this.trailingComment();
    }
    g.nodes.push(new Node(opTok.text, inputs, outs, attrs, source, subgraphs));
    for (const v of outs) scope.values.set(v.name, v);
  }

  // ---- types and attributes --------------------------------------------------------

  private type(): ValueType {
    const t = this.next();
    if (t.kind !== 'ident' || !DTYPES.has(t.text)) this.fail(t, `expected a dtype (${[...DTYPES].join(', ')}), found ${this.describe(t)}`);
    this.expect('[', `after the dtype ${t.text}`);
    const shape: Dim[] = [];
    if (!this.is(']')) {
      do {
        const at = this.peek();
        const d = this.scalarOrDim();
        if (typeof d === 'number' && (!Number.isSafeInteger(d) || d < 0)) this.fail(at, `a dimension is a non-negative integer or a symbol, got ${d}${d > Number.MAX_SAFE_INTEGER ? ' (above 2^53 - 1)' : ''}`);
        shape.push(typeof d === 'number' ? d + 0 : d); // -0 reads as 0
      } while (this.comma());
    }
    this.expect(']', 'to close the shape');
    return { dtype: t.text as DType, shape };
  }

  /** A signed number: digits, `inf`, `nan`, with an optional leading '-'. */
  private number(): number {
    const neg = this.is('-');
    if (neg) this.next();
    const t = this.next();
    let v: number;
    if (t.kind === 'number') v = Number(t.text);
    else if (t.kind === 'ident' && t.text === 'inf') v = Infinity;
    else if (t.kind === 'ident' && t.text === 'nan') v = NaN;
    else return this.fail(t, `expected a number, found ${this.describe(t)}`);
    return neg ? -v : v;
  }

  private integer(): number {
    const t = this.peek();
    const v = this.number();
    if (!Number.isSafeInteger(v)) this.fail(t, `expected an integer (below 2^53 in size), found ${this.describe(t)}`);
    return v;
  }

  /** A number, or a symbolic dim `[coef '*'] symbol [± offset]`. */
  private scalarOrDim(): number | Dim {
    let coef = 1;
    const first = this.peek();
    if (first.kind !== 'ident' || RESERVED_WORDS.has(first.text)) {
      const n = this.number();
      if (!this.is('*')) return n;
      if (!Number.isSafeInteger(n)) this.fail(first, `a symbolic dim's coefficient is an integer (below 2^53 in size), got ${n}`);
      this.next();
      coef = n;
    }
    const name = this.next();
    if (name.kind !== 'ident' || RESERVED_WORDS.has(name.text) || name.text.includes('.')) this.fail(name, `expected a symbol name, found ${this.describe(name)}`);
    let offset = 0;
    if (this.is('+') || this.is('-')) {
      const sign = this.next().text === '-' ? -1 : 1;
      const t = this.next();
      if (t.kind !== 'number' || !/^\d+$/.test(t.text) || !Number.isSafeInteger(Number(t.text))) this.fail(t, `expected an integer offset (below 2^53) after ${name.text}, found ${this.describe(t)}`);
      offset = sign * Number(t.text);
    }
    return sym(name.text, coef, offset);
  }

  private attrs(): Record<string, IrAttrValue> {
    this.expect('{', 'to open the attributes');
    const out: Record<string, IrAttrValue> = {};
    if (!this.is('}')) {
      do {
        const k = this.next();
        if (k.kind !== 'ident' && k.kind !== 'string') this.fail(k, `expected an attribute name, found ${this.describe(k)}`);
        if (Object.prototype.hasOwnProperty.call(out, k.text)) this.fail(k, `attribute ${k.text} is given twice`);
        this.expect('=', `after the attribute name ${k.text}`);
        // An own property even for a key like `__proto__` (plain assignment would set the prototype).
        Object.defineProperty(out, k.text, { value: this.attrValue(0), enumerable: true, writable: true, configurable: true });
      } while (this.comma());
    }
    this.expect('}', 'to close the attributes');
    return out;
  }

  private attrValue(depth: number): AttrItem {
    const t = this.peek();
    if (t.kind === 'string') return this.next().text;
    if (t.kind === 'ident' && (t.text === 'true' || t.text === 'false')) return this.next().text === 'true';
    if (t.kind === 'ident' && t.text === 'null') return (this.next(), null);
    if (t.kind === 'punct' && t.text === '[') {
      if (depth === 2) this.fail(t, 'attribute arrays nest two levels deep at most');
      this.next();
      const items: AttrItem[] = [];
      if (!this.is(']')) {
        do {
          const at = this.peek();
          const item = this.attrValue(depth + 1);
          const ok = typeof item === 'number' || (typeof item === 'object' && item !== null);
          if (!ok) this.fail(at, 'attribute arrays hold numbers, symbolic dims or arrays of them');
          items.push(item);
        } while (this.comma());
      }
      this.expect(']', 'to close the array');
      const nested = items.filter((x) => Array.isArray(x)).length;
      if (nested !== 0 && nested !== items.length) this.fail(t, 'an attribute array holds either all arrays or no arrays');
      return items as IrAttrValue;
    }
    return this.scalarOrDim();
  }
}

/**
 * Parses the text form (as `printGraph` writes it) into a graph. Constants' data comes
 * from the text (`{ constants: 'inline' }` printing), from `options.constants`, or is a
 * zero-filled placeholder. Bad text throws a `KilnError` naming `line:column`.
 *
 * @example
 * ```ts
 * const g = parseGraph(`
 *   graph(%x: float32[batch, 4]) {
 *     const %w: float32[4, 2]
 *     %y: float32[batch, 2] = matmul(%x, %w)   # model.ts:3:14
 *     return %y
 *   }`, { constants: new Map([['w', new Float32Array(8)]]) });
 * graphsEqual(parseGraph(printGraph(g), { constants: constantData(g) }), g); // true
 * ```
 */
export function parseGraph(text: string, options: ParseOptions = {}): Graph {
  if (typeof text !== 'string') throw new KilnError(`parseGraph takes the graph text, got ${typeof text}`);
  return new Parser(text, options).parse();
}
