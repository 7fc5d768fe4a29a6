/** Tokens of the graph text form (see `parser.ts`). */
import { KilnError } from './errors.js';

export type TokenKind = 'value' | 'ident' | 'number' | 'string' | 'punct' | 'comment' | 'eof';

export interface Token {
  readonly kind: TokenKind;
  /** Value names without `%` (unquoted), identifiers, number/punctuation text, string contents, comment text after `#` (trimmed). */
  readonly text: string;
  readonly line: number;
  readonly col: number;
}

const PUNCT = new Set(['(', ')', '{', '}', '[', ']', ',', ':', '=', '*', '+', '-']);
const NUMBER = /\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?/y;
const IDENT = /[A-Za-z_][A-Za-z0-9_.]*/y;
const BARE_NAME = /[A-Za-z0-9_.$]+/y;
const STRING = /"(?:[^"\\\n]|\\.)*"/y;

/** Characters of the quoted line shown on each side of the column (long lines are cut around it). */
const QUOTE_WINDOW = 100;

/** A parse error pointing at `line:col`, quoting the line with a caret under the column. */
export function syntaxError(source: string, line: number, col: number, message: string): KilnError {
  let text = source.split('\n', line)[line - 1] ?? '';
  let caret = Math.max(0, col - 1);
  if (text.length > 2 * QUOTE_WINDOW) {
    const from = Math.max(0, caret - QUOTE_WINDOW);
    const to = Math.min(text.length, caret + QUOTE_WINDOW);
    text = `${from > 0 ? '…' : ''}${text.slice(from, to)}${to < text.length ? '…' : ''}`;
    caret = caret - from + (from > 0 ? 1 : 0);
  }
  return new KilnError(`graph text ${line}:${col}: ${message}\n    ${text}\n    ${' '.repeat(caret)}^`);
}

export function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0, line = 1, lineStart = 0;
  const at = (re: RegExp): string | null => {
    re.lastIndex = i;
    const m = re.exec(source);
    return m ? m[0] : null;
  };
  const jsonString = (raw: string, col: number): string => {
    try {
      return JSON.parse(raw) as string;
    } catch {
      throw syntaxError(source, line, col, `bad string literal ${raw}`);
    }
  };
  // One closure for the whole text, not one per token (texts may hold millions of tokens).
  let col = 1;
  const push = (kind: TokenKind, text: string, length: number) => {
    tokens.push({ kind, text, line, col });
    i += length;
  };
  while (i < source.length) {
    const ch = source[i]!;
    col = i - lineStart + 1;
    if (ch === '\n') {
      i++;
      line++;
      lineStart = i;
      continue;
    }
    if (ch === ' ' || ch === '\t' || ch === '\r') {
      i++;
      continue;
    }
    if (ch === '#') {
      let end = source.indexOf('\n', i);
      if (end < 0) end = source.length;
      push('comment', source.slice(i + 1, end).trim(), end - i);
    } else if (ch === '%') {
      i++;
      const quoted = source[i] === '"' ? at(STRING) : null;
      const bare = quoted === null ? at(BARE_NAME) : null;
      if (quoted === null && bare === null) throw syntaxError(source, line, col, "expected a value name after '%'");
      i--;
      if (quoted !== null) push('value', jsonString(quoted, col), quoted.length + 1);
      else push('value', bare!, bare!.length + 1);
    } else if (ch === '"') {
      const s = at(STRING);
      if (s === null) throw syntaxError(source, line, col, 'unterminated string');
      push('string', jsonString(s, col), s.length);
    } else if (PUNCT.has(ch)) {
      push('punct', ch, 1);
    } else {
      const n = at(NUMBER);
      if (n !== null) push('number', n, n.length);
      else {
        const id = at(IDENT);
        if (id === null) throw syntaxError(source, line, col, `unexpected character '${ch}'`);
        push('ident', id, id.length);
      }
    }
  }
  tokens.push({ kind: 'eof', text: 'end of text', line, col: i - lineStart + 1 });
  return tokens;
}
