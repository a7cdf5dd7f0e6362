/**
 * Tokenizer of the OpenFGA DSL. It never fails: characters it does not know become one-character `punct`
 * tokens, so the parser decides what is an error (and can skip condition bodies, whose CEL text we do not
 * parse, without a flood of lexer errors).
 */

/** The kinds of token the parser sees. `newline` ends every physical line; `eof` ends the input. */
export type TokenKind = "ident" | "number" | "punct" | "newline" | "eof";

/** One token with its 1-based position (column counts UTF-16 code units, as editors mostly do). */
export interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly line: number;
  readonly column: number;
}

const IDENT_START = /[A-Za-z_]/;
// OpenFGA's IDENTIFIER also allows `-` after the first character (OpenFGALexer.g4).
const IDENT_PART = /[A-Za-z0-9_-]/;
const DIGIT = /[0-9]/;
const NUMBER_PART = /[0-9.]/;

/**
 * Cuts a comment off a line, keeping columns intact. As OpenFGA does (`parseDSL` in the JS transformer), a
 * line whose first non-blank character is `#` is a comment, and otherwise a `#` preceded by white space starts
 * a trailing comment; a `#` glued to a word is the userset separator of `group#member`.
 */
export function stripComment(line: string): string {
  if (line.trimStart().startsWith("#")) return "";
  for (let i = 1; i < line.length; i++) {
    if (line[i] === "#" && (line[i - 1] === " " || line[i - 1] === "\t")) return line.slice(0, i);
  }
  return line;
}

/** Splits a DSL text into tokens, one `newline` token per physical line and a final `eof`. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  const lines = text.split(/\r\n|\n|\r/);
  lines.forEach((raw, index) => {
    const line = stripComment(raw);
    const lineNo = index + 1;
    let i = 0;
    while (i < line.length) {
      const ch = line[i] as string;
      if (ch === " " || ch === "\t" || ch === "\f" || ch === "\v") {
        i++;
        continue;
      }
      const start = i;
      let kind: TokenKind;
      if (IDENT_START.test(ch)) {
        kind = "ident";
        i++;
        while (i < line.length && IDENT_PART.test(line[i] as string)) i++;
      } else if (DIGIT.test(ch)) {
        kind = "number";
        i++;
        while (i < line.length && NUMBER_PART.test(line[i] as string)) i++;
      } else {
        kind = "punct";
        // Keep surrogate pairs together so a stray emoji is reported as one character.
        i += (line.codePointAt(i) ?? 0) > 0xffff ? 2 : 1;
      }
      tokens.push({ kind, text: line.slice(start, i), line: lineNo, column: start + 1 });
    }
    if (index < lines.length - 1) tokens.push({ kind: "newline", text: "", line: lineNo, column: line.length + 1 });
    else tokens.push({ kind: "eof", text: "", line: lineNo, column: line.length + 1 });
  });
  return tokens;
}
