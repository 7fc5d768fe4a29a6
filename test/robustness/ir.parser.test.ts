/**
 * Hardening of the IR text parser: hostile text fails with a `KilnError` naming
 * line:column, never a RangeError, a stack overflow or a multi-gigabyte allocation.
 * Covered: constants declared huge without data, deep nesting (100 000 attribute brackets
 * or parentheses, 20 000 If bodies, Loop bodies), dims past 2^53, `-0` dims, `__proto__` attribute keys,
 * and error messages that stay short on very long lines.
 */
import { describe, expect, it } from 'vitest';
import * as kiln from '../../src/index.js';
import { kilnError } from '../support/kilnError.js';

const { ir } = kiln;


describe('constants without data', () => {
  it('a huge declared shape throws a KilnError instead of allocating (or a RangeError)', () => {
    const before = process.memoryUsage().arrayBuffers;
    // 40 GB: used to throw RangeError (invalid typed array length).
    const e = kilnError(() => ir.parseGraph('graph() {\n  const %c: float32[100000, 100000]\n  return %c\n}'));
    expect(e.message).toMatch(/^graph text 2:9: constant %c: float32\[100000, 100000\] has no data, and a zero placeholder would take 40000000000 bytes \(more than maxPlaceholderBytes = 268435456\): pass its data in options\.constants\n/);
    // 1.6 GB: used to be allocated.
    kilnError(() => ir.parseGraph('graph() {\n  const %c: float32[20000, 20000]\n  return %c\n}'));
    // Inside a subgraph too.
    kilnError(() => ir.parseGraph('graph(%b: bool[]) {\n  If(%b) {\n    then() {\n      const %c: float64[1000000, 1000]\n      return\n    }\n    else() {\n      return\n    }\n  }\n  return\n}'));
    // Nothing big was allocated on the way (tolerance: 64 MiB of unrelated buffers).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 2 ** 20);
  });

  it('small placeholders are zeros; maxPlaceholderBytes moves the limit; data given is used', () => {
    const text = 'graph() {\n  const %c: int32[1000, 100]\n  return %c\n}';
    const zeros = ir.parseGraph(text).constants.get('c')!.data;
    expect(zeros).toBeInstanceOf(Int32Array);
    expect(zeros.length === 100_000 && zeros.every((v) => v === 0)).toBe(true);
    expect(kilnError(() => ir.parseGraph(text, { maxPlaceholderBytes: 399_999 })).message).toMatch(/would take 400000 bytes \(more than maxPlaceholderBytes = 399999\)/);
    expect(ir.parseGraph(text, { maxPlaceholderBytes: 400_000 }).constants.get('c')!.data).toHaveLength(100_000);
    const data = new Int32Array(100_000).fill(7);
    expect(ir.parseGraph(text, { maxPlaceholderBytes: 0, constants: new Map([['c', data]]) }).constants.get('c')!.data).toBe(data);
  });
});

describe('deep nesting', () => {
  const N = 100_000;

  it('100 000 nested brackets or parentheses in attributes: a KilnError with a short message', () => {
    for (const open of ['[', '(', '{']) {
      const text = `graph(%x: float32[2]) {\n  %y: float32[2] = relu(%x) {a=${open.repeat(N)}${open === '[' ? ']'.repeat(N) : ''}}\n  return %y\n}`;
      const e = kilnError(() => ir.parseGraph(text));
      expect(e.message).toMatch(/^graph text 2:3\d: /);
      // The quoted line is cut around the column.
      expect(e.message.length).toBeLessThan(500);
    }
  });

  it('20 000 nested If bodies: a KilnError at the level past MAX_NESTING, not a stack overflow', () => {
    // (20 000 levels overflowed the old recursive parser; more only costs tokenizing time.)
    let text = 'graph(%c: bool[]) {\n';
    for (let i = 0; i < 20_000; i++) text += 'If(%c) { then() {\n';
    const e = kilnError(() => ir.parseGraph(text));
    // Line 102 holds the 101st If: its then-branch is level 101.
    expect(e.message).toMatch(/^graph text 102:10: subgraphs nest deeper than 100 levels\n/);
  });

  it('deep Loop bodies too; MAX_NESTING levels parse and verify', () => {
    const nest = (depth: number): string => {
      let s = 'graph(%c: bool[]) {\n';
      for (let i = 0; i < depth; i++) s += `Loop() {hasMaxTripCount=false, hasCond=false} {\nbody(%i${i}: int32[], %c${i}: bool[]) {\n`;
      for (let i = depth - 1; i >= 0; i--) s += `return %c${i}\n}\n}\n`;
      return `${s}return\n}\n`;
    };
    const g = ir.parseGraph(nest(ir.MAX_NESTING));
    expect(ir.checkGraph(g)).toEqual([]);
    expect(kilnError(() => ir.parseGraph(nest(ir.MAX_NESTING + 1))).message).toMatch(/subgraphs nest deeper than 100 levels/);
  });
});

describe('numbers and keys', () => {
  it('dims past 2^53 - 1 are refused (they used to be rounded)', () => {
    expect(kilnError(() => ir.parseGraph('graph(%x: float32[9007199254740993]) {\n  return %x\n}')).message)
      .toMatch(/a dimension is a non-negative integer or a symbol, got 9007199254740992 \(above 2\^53 - 1\)/);
    expect(kilnError(() => ir.parseGraph('graph(%x: float32[1e400]) {\n  return %x\n}')).message).toMatch(/got Infinity/);
    expect(kilnError(() => ir.parseGraph('graph(%x: float32[1e300*n]) {\n  return %x\n}')).message).toMatch(/a symbolic dim's coefficient is an integer/);
    expect(kilnError(() => ir.parseGraph('graph(%x: float32[n+99999999999999999]) {\n  return %x\n}')).message).toMatch(/expected an integer offset/);
  });

  it('-0 as a dim reads as 0', () => {
    const g = ir.parseGraph('graph(%x: float32[-0, 3]) {\n  return %x\n}');
    expect(Object.is(g.inputs[0]!.type.shape[0], 0)).toBe(true);
  });

  it('an attribute named __proto__ is an attribute, not the prototype', () => {
    const text = 'graph(%x: float32[2]) {\n  %y: float32[2] = copy(%x) {__proto__=[1, 2], axis=0}\n  return %y\n}\n';
    const attrs = ir.parseGraph(text).nodes[0]!.attrs;
    expect(Object.keys(attrs)).toEqual(['__proto__', 'axis']);
    expect(Object.getPrototypeOf(attrs)).toBe(Object.prototype);
    expect(ir.printGraph(ir.parseGraph(text))).toBe(text);
  });
});
