/**
 * The OPL lexer: turns schema text into tokens with 1-based positions. It never throws; problems it cannot
 * tokenize past (an unclosed block comment, an unterminated string) become diagnostics.
 */
import type { Diagnostic, SourcePosition } from "../ir.js";

/** What a token is. Keywords (`class`, `this`, …) are plain identifiers; the parser decides by value. */
export type TokenKind = "ident" | "string" | "number" | "punct" | "eof";

/** One token of OPL source. */
export interface Token {
  readonly kind: TokenKind;
  /** The identifier or punctuation text, or the decoded content of a string literal. */
  readonly value: string;
  /** The source text as written (a string literal keeps its quotes). */
  readonly text: string;
  /** Position of the first character. */
  readonly start: SourcePosition;
  /** Position of the last character (for `eof`: the same as `start`). */
  readonly end: SourcePosition;
  /** Index of this token in the token list, so the parser can resynchronise from it. */
  readonly index: number;
  /** True when no earlier token sits on the same line: entry starts are found by this during recovery. */
  readonly lineStart: boolean;
}

/** The tokens of a text (always ending in one `eof` token) and the lexical errors found. */
export interface LexResult {
  readonly tokens: readonly Token[];
  readonly diagnostics: readonly Diagnostic[];
}

// Longest first, so `===` wins over `==` and `=>` over `=`. `>>` is deliberately absent: it closes two
// type-argument lists in `Array<SubjectSet<G, "r">>`.
const multiCharPunct = ["===", "!==", "=>", "==", "!=", "||", "&&"];

const identStart = /[\p{L}_$]/u;
const identPart = /[\p{L}\p{N}_$]/u;
const digit = /[0-9]/;

const escapes: Record<string, string> = { n: "\n", t: "\t", r: "\r", "0": "\0" };

/** Tokenizes OPL source text. */
export function lexOpl(text: string): LexResult {
  const tokens: Token[] = [];
  const diagnostics: Diagnostic[] = [];
  let offset = 0;
  let line = 1;
  let column = 1;
  let lastTokenLine = 0;

  const here = (): SourcePosition => ({ line, column });
  // Advances one UTF-16 unit, keeping line and column in step.
  const advance = (): void => {
    if (text[offset] === "\n") {
      line += 1;
      column = 1;
    } else {
      column += 1;
    }
    offset += 1;
  };
  const push = (kind: TokenKind, value: string, from: number, start: SourcePosition, end: SourcePosition): void => {
    tokens.push({
      kind,
      value,
      text: text.slice(from, offset),
      start,
      end,
      index: tokens.length,
      lineStart: start.line !== lastTokenLine,
    });
    lastTokenLine = start.line;
  };

  while (offset < text.length) {
    const ch = text[offset] ?? "";
    const from = offset;
    const start = here();

    if (/\s/.test(ch)) {
      advance();
      continue;
    }

    if (ch === "/" && text[offset + 1] === "/") {
      while (offset < text.length && text[offset] !== "\n") advance();
      continue;
    }

    if (ch === "/" && text[offset + 1] === "*") {
      const close = text.indexOf("*/", offset + 2);
      if (close < 0) {
        // Everything after an unclosed comment is comment text, so there is nothing left to tokenize.
        let last = start;
        while (offset < text.length) {
          last = here();
          advance();
        }
        diagnostics.push({
          severity: "error",
          message: 'unclosed block comment: "/*" has no matching "*/"',
          start,
          end: last,
          construct: "syntax",
        });
        break;
      }
      while (offset < close + 2) advance();
      continue;
    }

    if (ch === '"' || ch === "'") {
      let value = "";
      let last = start;
      advance();
      let closed = false;
      while (offset < text.length) {
        const c = text[offset] ?? "";
        if (c === "\n") break;
        last = here();
        advance();
        if (c === ch) {
          closed = true;
          break;
        }
        if (c === "\\" && offset < text.length && text[offset] !== "\n") {
          const e = text[offset] ?? "";
          last = here();
          advance();
          value += escapes[e] ?? e;
          continue;
        }
        value += c;
      }
      if (!closed) {
        diagnostics.push({
          severity: "error",
          message: `unterminated string literal: missing closing ${ch}`,
          start,
          end: last,
          construct: "syntax",
        });
      }
      push("string", value, from, start, last);
      continue;
    }

    if (identStart.test(ch)) {
      let last = start;
      while (offset < text.length && identPart.test(text[offset] ?? "")) {
        last = here();
        advance();
      }
      push("ident", text.slice(from, offset), from, start, last);
      continue;
    }

    if (digit.test(ch)) {
      let last = start;
      while (offset < text.length && /[0-9A-Za-z_.]/.test(text[offset] ?? "")) {
        last = here();
        advance();
      }
      push("number", text.slice(from, offset), from, start, last);
      continue;
    }

    const multi = multiCharPunct.find((p) => text.startsWith(p, offset));
    const punct = multi ?? ch;
    let last = start;
    for (let k = 0; k < punct.length; k++) {
      last = here();
      advance();
    }
    push("punct", punct, from, start, last);
  }

  const eofPos = here();
  tokens.push({
    kind: "eof",
    value: "",
    text: "",
    start: eofPos,
    end: eofPos,
    index: tokens.length,
    lineStart: eofPos.line !== lastTokenLine,
  });
  return { tokens, diagnostics };
}

/** Describes a token for an error message: `"{"`, `string "x"`, `end of input`. */
export function describeToken(token: Token): string {
  switch (token.kind) {
    case "eof":
      return "end of input";
    case "string":
      return `string ${JSON.stringify(token.value)}`;
    default:
      return JSON.stringify(token.text);
  }
}
