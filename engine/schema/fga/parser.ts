/**
 * Statement-level parser of the OpenFGA DSL (schema 1.1): the `model` / `schema 1.1` header, `type` blocks,
 * `relations` sections and `define` lines. Indentation carries no meaning (OpenFGA's lexer folds it into its
 * NEWLINE token), so spaces and tabs are equally fine. On a syntax error the parser reports it and resyncs at
 * the next line starting with a statement keyword, so one pass reports several errors.
 */
import type { CompileResult, Diagnostic, RelationDef, TypeDef } from "../ir.js";
import { KEYWORDS, parseDefinition } from "./expression.js";
import { tokenize, type Token } from "./lexer.js";
import { FgaSyntaxError, TokenCursor, describe, endOf, posOf } from "./token-cursor.js";

/** Lines starting with one of these words begin a new statement; error recovery stops there. */
const RESYNC = new Set(["type", "relations", "define", "condition", "extend", "module"]);

/** OpenFGA rejects these as type and relation names (`validate-dsl.ts`, `Keyword.SELF`, `ReservedKeywords.THIS`). */
const RESERVED_NAMES = new Set(["self", "this"]);

/** The only schema version this front end understands. */
const SUPPORTED_SCHEMA = "1.1";

interface OpenType {
  readonly name: string;
  readonly nameTok: Token;
  readonly relations: Map<string, RelationDef>;
  relationsTok: Token | undefined;
  /** How many `define` lines the block had, parsed or not (an empty `relations` is an error). */
  defines: number;
}

/** Parses an OpenFGA DSL text into the IR; see `parseFga` in `index.ts`. */
export class FgaParser {
  private readonly cursor: TokenCursor;
  private readonly diagnostics: Diagnostic[] = [];
  private readonly types = new Map<string, TypeDef>();
  private current: OpenType | undefined;
  /** Inside an `extend type` block we already rejected: its lines are skipped quietly. */
  private skippingBlock = false;

  constructor(text: string) {
    this.cursor = new TokenCursor(tokenize(text));
  }

  /** Runs the parser once. */
  parse(): CompileResult {
    try {
      this.header();
    } catch (err) {
      if (!(err instanceof FgaSyntaxError)) throw err;
      this.report(err.construct, err.message, err.start, err.end);
      this.cursor.skipLine();
    }
    for (;;) {
      this.cursor.skipNewlines();
      const tok = this.cursor.peek();
      if (tok.kind === "eof") break;
      try {
        this.statement(tok);
      } catch (err) {
        if (!(err instanceof FgaSyntaxError)) throw err;
        this.report(err.construct, err.message, err.start, err.end);
        // A broken line inside a type block counts as its define, so the block is not also called empty.
        if (this.current !== undefined) this.current.defines++;
        this.recover();
      }
    }
    this.closeType();
    const failed = this.diagnostics.some((d) => d.severity === "error");
    return {
      schema: failed ? undefined : { language: "fga", types: this.types, bareSubjectIds: false },
      diagnostics: this.diagnostics,
    };
  }

  /** `model` NEWLINE `schema 1.1`, or a rejected `module` header. Throws only `FgaSyntaxError`. */
  private header(): void {
    this.cursor.skipNewlines();
    const first = this.cursor.peek();
    if (first.kind === "ident" && first.text === "module") {
      this.report("unsupported", "modular models (`module`) are not supported yet", first);
      this.cursor.skipLine();
      return;
    }
    if (first.kind !== "ident" || first.text !== "model") {
      this.report(
        "syntax",
        `expected the \`model\` header (\`model\`, then \`schema ${SUPPORTED_SCHEMA}\` on the next line), found ${describe(first)}`,
        first,
      );
      return;
    }
    this.cursor.next();
    const afterModel = this.cursor.peek();
    if (afterModel.kind !== "newline" && afterModel.kind !== "eof") {
      this.report("syntax", `expected a new line after \`model\` (\`schema ${SUPPORTED_SCHEMA}\` goes on its own line), found ${describe(afterModel)}`, afterModel);
      // `model schema 1.1` on one line: one error is enough, read the version from where it is.
      if (afterModel.kind !== "ident" || afterModel.text !== "schema") this.cursor.skipLine();
    } else {
      this.cursor.skipLine();
    }
    this.cursor.skipNewlines();
    const schema = this.cursor.peek();
    if (schema.kind !== "ident" || schema.text !== "schema") {
      this.report("syntax", `expected \`schema ${SUPPORTED_SCHEMA}\` after \`model\`, found ${describe(schema)}`, schema);
      if (schema.kind !== "eof" && !(schema.kind === "ident" && RESYNC.has(schema.text))) this.cursor.skipLine();
      return;
    }
    this.cursor.next();
    const version = this.cursor.peek();
    if (version.kind !== "number" || !/^\d+\.\d+$/.test(version.text)) {
      this.report("syntax", `expected a schema version such as \`${SUPPORTED_SCHEMA}\` after \`schema\`, found ${describe(version)}`, version);
    } else if (version.text !== SUPPORTED_SCHEMA) {
      this.report(
        "unsupported",
        `schema version ${version.text} is not supported; only \`schema ${SUPPORTED_SCHEMA}\` is (migrate the model to 1.1)`,
        version,
      );
    } else {
      this.cursor.next();
      this.expectEndOfLine("`schema 1.1`");
      return;
    }
    this.cursor.skipLine();
  }

  private statement(tok: Token): void {
    if (tok.kind !== "ident") {
      throw new FgaSyntaxError(`expected \`type\`, \`relations\`, \`define\` or \`condition\`, found ${describe(tok)}`, tok);
    }
    switch (tok.text) {
      case "type":
        return this.typeStatement();
      case "relations":
        return this.relationsStatement();
      case "define":
        return this.defineStatement();
      case "condition":
        return this.conditionStatement();
      case "extend":
        this.closeType();
        this.report("unsupported", "modular models (`extend type`) are not supported yet", tok, this.cursor.peek(1));
        this.skippingBlock = true;
        this.cursor.skipLine();
        return;
      case "module":
        this.report("unsupported", "modular models (`module`) are not supported yet", tok);
        this.cursor.skipLine();
        return;
      case "model":
      case "schema":
        throw new FgaSyntaxError(`unexpected \`${tok.text}\`: the \`model\` / \`schema\` header may only appear once, at the top`, tok);
      default:
        throw new FgaSyntaxError(
          `expected \`type\`, \`relations\`, \`define\` or \`condition\`, found ${describe(tok)}`,
          tok,
        );
    }
  }

  private typeStatement(): void {
    this.closeType();
    this.skippingBlock = false;
    const typeTok = this.cursor.next();
    let nameTok: Token;
    try {
      nameTok = this.expectName("type");
    } catch (err) {
      // Parse the block's defines against a throw-away type so they are checked without a cascade of
      // "define outside a type" errors.
      this.current = { name: "?", nameTok: typeTok, relations: new Map(), relationsTok: undefined, defines: 0 };
      throw err;
    }
    const duplicate = this.types.get(nameTok.text);
    if (duplicate !== undefined) {
      this.report(
        "duplicate_name",
        `type \`${nameTok.text}\` is already defined (at ${duplicate.pos.line}:${duplicate.pos.column})`,
        nameTok,
      );
    }
    this.current = { name: nameTok.text, nameTok, relations: new Map(), relationsTok: undefined, defines: 0 };
    if (duplicate === undefined) {
      // Registered now so later duplicates see it; the relations map is filled as defines arrive.
      this.types.set(nameTok.text, { name: nameTok.text, relations: this.current.relations, pos: posOf(nameTok) });
    }
    this.expectEndOfLine(`\`type ${nameTok.text}\``);
  }

  private relationsStatement(): void {
    const tok = this.cursor.next();
    if (this.skippingBlock) return this.cursor.skipLine();
    const current = this.current;
    if (current === undefined) throw new FgaSyntaxError("`relations` must follow a `type` line", tok);
    if (current.relationsTok !== undefined) {
      throw new FgaSyntaxError(`type \`${current.name}\` already has a \`relations\` section`, tok);
    }
    current.relationsTok = tok;
    this.expectEndOfLine("`relations`");
  }

  private defineStatement(): void {
    const defineTok = this.cursor.next();
    if (this.skippingBlock) return this.cursor.skipLine();
    const current = this.current;
    if (current === undefined) {
      throw new FgaSyntaxError("`define` must be inside a `type` block, after `relations`", defineTok);
    }
    current.defines++;
    if (current.relationsTok === undefined) {
      // Reported, but the definition is still parsed so its own errors show up in the same pass.
      this.report("syntax", `expected \`relations\` before the first \`define\` of type \`${current.name}\``, defineTok);
      current.relationsTok = defineTok; // report the missing keyword once per type
    }
    const nameTok = this.expectName("relation");
    const colon = this.cursor.peek();
    if (colon.kind !== "punct" || colon.text !== ":") {
      throw new FgaSyntaxError(`expected \`:\` after \`define ${nameTok.text}\`, found ${describe(colon)}`, colon);
    }
    this.cursor.next();
    const parsed = parseDefinition(this.cursor, nameTok.text);
    for (const p of parsed.problems) this.report(p.construct, p.message, p.start, p.end, p.severity);
    this.cursor.skipLine();
    const existing = current.relations.get(nameTok.text);
    if (existing !== undefined) {
      this.report(
        "duplicate_name",
        `relation \`${nameTok.text}\` is already defined in type \`${current.name}\` (at ${existing.pos.line}:${existing.pos.column})`,
        nameTok,
      );
      return;
    }
    current.relations.set(nameTok.text, {
      name: nameTok.text,
      kind: parsed.directTypes === undefined ? "permission" : "relation",
      directTypes: parsed.directTypes ?? [],
      rewrite: parsed.rewrite,
      pos: posOf(nameTok),
    });
  }

  /** Conditions arrive in a later issue: report the block and skip it, braces and all. */
  private conditionStatement(): void {
    this.closeType();
    this.skippingBlock = false;
    const tok = this.cursor.next();
    const name = this.cursor.peek();
    this.report(
      "unsupported",
      `conditions (\`condition ${name.kind === "ident" ? name.text : "..."}(...) {...}\`) are not supported yet`,
      tok,
    );
    let depth = 0;
    let opened = false;
    for (;;) {
      const t = this.cursor.peek();
      if (t.kind === "eof") return;
      // A statement keyword at a line start ends a block whose closing brace went missing.
      if (this.cursor.atLineStart() && t.kind === "ident" && (t.text === "type" || t.text === "condition")) return;
      this.cursor.next();
      if (t.kind !== "punct") continue;
      if (t.text === "{") {
        depth++;
        opened = true;
      } else if (t.text === "}" && depth > 0) {
        depth--;
        if (opened && depth === 0) {
          this.cursor.skipLine();
          return;
        }
      }
    }
  }

  /** Ends the open type block, checking that a `relations` section was not left empty (OpenFGA requires a define). */
  private closeType(): void {
    const current = this.current;
    if (current !== undefined && current.relationsTok !== undefined && current.defines === 0) {
      this.report("syntax", `expected at least one \`define\` after \`relations\` in type \`${current.name}\``, current.relationsTok);
    }
    this.current = undefined;
  }

  /** A type or relation name: an identifier that is neither a keyword nor reserved. */
  private expectName(what: "type" | "relation"): Token {
    const tok = this.cursor.peek();
    if (tok.kind !== "ident") throw new FgaSyntaxError(`expected a ${what} name, found ${describe(tok)}`, tok);
    if (KEYWORDS.has(tok.text)) {
      throw new FgaSyntaxError(`\`${tok.text}\` is a keyword and cannot be used as a ${what} name`, tok);
    }
    this.cursor.next();
    if (RESERVED_NAMES.has(tok.text)) this.report("syntax", `a ${what} cannot be named \`self\` or \`this\``, tok);
    return tok;
  }

  private expectEndOfLine(after: string): void {
    const tok = this.cursor.peek();
    if (tok.kind === "newline" || tok.kind === "eof") {
      this.cursor.next();
      return;
    }
    throw new FgaSyntaxError(`expected the end of the line after ${after}, found ${describe(tok)}`, tok);
  }

  /** Skips to the next line that starts with a statement keyword (or to the end). */
  private recover(): void {
    for (;;) {
      const tok = this.cursor.peek();
      if (tok.kind === "eof") return;
      if (this.cursor.atLineStart() && tok.kind === "ident" && RESYNC.has(tok.text)) return;
      this.cursor.next();
    }
  }

  private report(
    construct: string,
    message: string,
    start: Token,
    end: Token = start,
    severity: "error" | "warning" = "error",
  ): void {
    this.diagnostics.push({ severity, message, start: posOf(start), end: endOf(end), construct });
  }
}
