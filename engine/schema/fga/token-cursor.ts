/**
 * A cursor over the token list plus the small helpers every part of the FGA parser shares: positions,
 * token descriptions for messages, and the exception used to abandon a statement on a syntax error.
 */
import type { SourcePosition } from "../ir.js";
import type { Token } from "./lexer.js";

/** Thrown inside a statement on a syntax error; the statement loop turns it into a diagnostic and resyncs. */
export class FgaSyntaxError extends Error {
  constructor(
    message: string,
    readonly start: Token,
    readonly end: Token = start,
    readonly construct: string = "syntax",
  ) {
    super(message);
    this.name = "FgaSyntaxError";
  }
}

/** The 1-based start position of a token. */
export function posOf(tok: Token): SourcePosition {
  return { line: tok.line, column: tok.column };
}

/** The 1-based position of a token's last character (its start when it is empty). */
export function endOf(tok: Token): SourcePosition {
  return { line: tok.line, column: tok.column + Math.max(tok.text.length, 1) - 1 };
}

/** How a token is named in a message: `` `x` ``, "the end of the line" or "the end of the input". */
export function describe(tok: Token): string {
  if (tok.kind === "newline") return "the end of the line";
  if (tok.kind === "eof") return "the end of the input";
  return `\`${tok.text}\``;
}

/** Forward-only access to a token list that always ends with `eof`. */
export class TokenCursor {
  private index = 0;

  constructor(private readonly tokens: readonly Token[]) {}

  /** The token `ahead` places after the current one; `eof` past the end. */
  peek(ahead = 0): Token {
    const last = this.tokens[this.tokens.length - 1] as Token;
    return this.tokens[Math.min(this.index + ahead, this.tokens.length - 1)] ?? last;
  }

  /** Returns the current token and moves past it (never past `eof`). */
  next(): Token {
    const tok = this.peek();
    if (tok.kind !== "eof") this.index++;
    return tok;
  }

  /** True when the current token is the first of its line. */
  atLineStart(): boolean {
    if (this.index === 0) return true;
    return this.tokens[this.index - 1]?.kind === "newline";
  }

  /** Moves past blank lines. */
  skipNewlines(): void {
    while (this.peek().kind === "newline") this.next();
  }

  /** Moves to the start of the next line (past its `newline`), or to `eof`. */
  skipLine(): void {
    while (this.peek().kind !== "newline" && this.peek().kind !== "eof") this.next();
    if (this.peek().kind === "newline") this.next();
  }
}
