/**
 * The OPL parser: a recursive-descent parser over the lexer's tokens that builds IR type definitions. It
 * follows what Keto's `schema/parser.go` accepts, but recovers from errors (resynchronising at the next
 * relation, permit, section or class) so one pass reports as many problems as it can.
 *
 * Cross-reference checks (unknown types and relations, cycles) are not done here: `validate.ts` runs them
 * on the IR afterwards.
 */
import type { AllowedSubjectType, Diagnostic, RelationDef, Rewrite, SourcePosition, TypeDef } from "../ir.js";
import { combineChain, flattenRewrite, type ChainOperand, type ChainOperator, type PrecedenceMode } from "./expression.js";
import { describeToken, type Token } from "./lexer.js";

/**
 * How deeply `(` and `!` may nest in a permit expression, counting the expression itself as the first
 * level: Keto's `expressionNestingMaxDepth`, so nine nested `(`/`!` are fine and the tenth is an error.
 */
export const EXPRESSION_NESTING_MAX_DEPTH = 10;

/** What the parser produced: type definitions in declaration order (first of each name) and diagnostics. */
export interface ParsedOpl {
  readonly types: ReadonlyMap<string, TypeDef>;
  readonly diagnostics: readonly Diagnostic[];
}

/** Thrown after an error has been recorded, to unwind to the nearest recovery point. */
class ParseFailure {
  constructor(readonly index: number) {}
}

/** A class under construction. */
interface ClassBuilder {
  readonly name: string;
  readonly pos: SourcePosition;
  readonly relations: Map<string, RelationDef>;
}

/** Where a section resynchronisation stopped. */
type ResyncStop = "entry" | "section-end" | "leave-section";

const openers = new Set(["(", "[", "{"]);
const closers: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
const comparisonOperators = new Set(["==", "===", "!=", "!==", "<", ">", "<=", ">="]);

/** Parses the tokens of an OPL text. */
export function parseOplTokens(tokens: readonly Token[], mode: PrecedenceMode): ParsedOpl {
  const parser = new Parser(tokens, mode);
  parser.parseFile();
  return { types: parser.types, diagnostics: parser.diagnostics };
}

class Parser {
  readonly types = new Map<string, TypeDef>();
  readonly diagnostics: Diagnostic[] = [];
  private i = 0;
  /** Token index of the last syntax error, so recovery never reports the same token twice. */
  private lastErrorIndex = -1;
  private readonly eof: Token;

  constructor(
    private readonly tokens: readonly Token[],
    private readonly mode: PrecedenceMode,
  ) {
    const last = tokens[tokens.length - 1];
    this.eof =
      last?.kind === "eof"
        ? last
        : {
            kind: "eof",
            value: "",
            text: "",
            start: { line: 1, column: 1 },
            end: { line: 1, column: 1 },
            index: tokens.length,
            lineStart: true,
          };
  }

  // ---- token helpers ----

  private at(index: number): Token {
    return this.tokens[index] ?? this.eof;
  }

  private peek(ahead = 0): Token {
    return this.at(this.i + ahead);
  }

  private next(): Token {
    const token = this.peek();
    if (token.kind !== "eof") this.i = token.index + 1;
    return token;
  }

  /** True when the token is the given punctuation or bare word (a string literal never matches). */
  private is(token: Token, value: string): boolean {
    return (token.kind === "punct" || token.kind === "ident") && token.value === value;
  }

  private isName(token: Token): boolean {
    return token.kind === "ident" || token.kind === "string";
  }

  private isClassKeyword(token: Token): boolean {
    return token.kind === "ident" && token.value === "class";
  }

  /** Records an error at a token (once per token) and unwinds to the nearest recovery point. */
  private fail(token: Token, message: string, construct = "syntax"): never {
    this.report(token, message, construct);
    throw new ParseFailure(token.index);
  }

  private report(token: Token, message: string, construct = "syntax"): void {
    if (token.index === this.lastErrorIndex) return;
    this.lastErrorIndex = token.index;
    this.diagnostics.push({ severity: "error", message, start: token.start, end: token.end, construct });
  }

  private expected(what: string, token: Token): string {
    return `expected ${what} but found ${describeToken(token)}`;
  }

  /** Consumes the given punctuation or word, or fails naming it. */
  private expect(value: string, context = ""): Token {
    const token = this.peek();
    if (!this.is(token, value)) {
      this.fail(token, this.expected(JSON.stringify(value) + context, token));
    }
    return this.next();
  }

  /** Consumes an identifier or a string literal (a name), or fails. */
  private expectName(what: string): Token {
    const token = this.peek();
    if (!this.isName(token)) this.fail(token, this.expected(what, token));
    return this.next();
  }

  private expectIdent(what: string): Token {
    const token = this.peek();
    if (token.kind !== "ident") this.fail(token, this.expected(what, token));
    return this.next();
  }

  private skipIf(value: string): boolean {
    if (!this.is(this.peek(), value)) return false;
    this.next();
    return true;
  }

  // ---- file and class level ----

  /** Skips everything that is not `class` (imports, `export`, stray text), as Keto's parse loop does. */
  parseFile(): void {
    while (this.peek().kind !== "eof") {
      const token = this.next();
      if (!this.isClassKeyword(token)) continue;
      try {
        this.parseClass(token);
      } catch (err) {
        if (!(err instanceof ParseFailure)) throw err;
        this.resyncToClass(err.index);
      }
    }
  }

  private resyncToClass(from: number): void {
    this.i = from;
    while (this.peek().kind !== "eof" && !this.isClassKeyword(this.peek())) this.next();
  }

  private parseClass(classToken: Token): void {
    const nameToken = this.expectName("class name");
    if (this.skipIf("implements")) this.expect("Namespace", ' after "implements"');
    this.expect("{", ` to open class "${nameToken.value}"`);

    const builder: ClassBuilder = { name: nameToken.value, pos: classToken.start, relations: new Map() };
    const previous = this.types.get(builder.name);
    if (previous === undefined) {
      this.types.set(builder.name, { name: builder.name, relations: builder.relations, pos: builder.pos });
    } else {
      this.duplicate(nameToken, `class "${builder.name}"`, previous.pos);
    }

    for (;;) {
      const token = this.peek();
      if (this.is(token, "}")) {
        this.next();
        return;
      }
      if (this.is(token, ";")) {
        this.next();
        continue;
      }
      if (token.kind === "eof" || this.isClassKeyword(token)) {
        // Leave the `class` for the file loop so the next class still parses.
        this.report(token, this.expected(`"}" to close class "${builder.name}"`, token));
        return;
      }
      try {
        if (this.is(token, "related")) {
          this.next();
          this.parseRelatedSection(builder);
        } else if (this.is(token, "permits")) {
          this.next();
          this.parsePermitsSection(builder);
        } else {
          this.fail(token, this.expected('"related", "permits" or "}"', token));
        }
      } catch (err) {
        if (!(err instanceof ParseFailure)) throw err;
        this.resyncClassBody(err.index);
      }
    }
  }

  /** Skips to the next section keyword, the `}` closing the class, the next `class`, or the end. */
  private resyncClassBody(from: number): void {
    const stack: string[] = [];
    for (let j = from; ; j++) {
      const token = this.at(j);
      const stop =
        token.kind === "eof" ||
        this.isClassKeyword(token) ||
        (this.is(token, "}") && !stack.includes("{")) ||
        // Not at `from`: an error on the section keyword itself must not stop the scan where it began.
        (j > from && stack.length === 0 && this.isSectionStart(j));
      if (stop) {
        this.i = j;
        return;
      }
      this.track(token, stack);
    }
  }

  private isSectionStart(j: number): boolean {
    const token = this.at(j);
    const after = this.at(j + 1);
    return (this.is(token, "related") && this.is(after, ":")) || (this.is(token, "permits") && this.is(after, "="));
  }

  /** Keeps a stack of open brackets; a closer pops back to its opener when there is one. */
  private track(token: Token, stack: string[]): void {
    if (token.kind !== "punct") return;
    if (openers.has(token.value)) {
      stack.push(token.value);
      return;
    }
    const opener = closers[token.value];
    if (opener === undefined) return;
    const at = stack.lastIndexOf(opener);
    if (at >= 0) stack.length = at;
  }

  /**
   * After an error inside an entry, skips to the start of the next entry: a `,` or `;` at the entry's
   * bracket level, a line starting with `name:`, the `}` closing the section, or a new section or class.
   */
  private resyncEntry(entryStart: number, errorIndex: number): ResyncStop {
    const stack: string[] = [];
    for (let j = entryStart; ; j++) {
      const token = this.at(j);
      if (token.kind === "eof") {
        this.i = j;
        return "leave-section";
      }
      if (j > entryStart && j >= errorIndex) {
        if (this.isClassKeyword(token) || this.isSectionStart(j)) {
          this.i = j;
          return "leave-section";
        }
        if (stack.length === 0 && (this.is(token, ",") || this.is(token, ";"))) {
          this.i = j + 1;
          return "entry";
        }
        if (token.lineStart && this.isName(token) && this.is(this.at(j + 1), ":")) {
          this.i = j;
          return "entry";
        }
        if (this.is(token, "}") && !stack.includes("{")) {
          this.i = j;
          return "section-end";
        }
      }
      this.track(token, stack);
    }
  }

  private duplicate(token: Token, what: string, first: SourcePosition): void {
    this.diagnostics.push({
      severity: "error",
      message: `duplicate name: ${what} is already declared at ${first.line}:${first.column}`,
      start: token.start,
      end: token.end,
      construct: "duplicate_name",
    });
  }

  private define(builder: ClassBuilder, nameToken: Token, def: RelationDef): void {
    const previous = builder.relations.get(def.name);
    if (previous !== undefined) {
      const kind = def.kind === "relation" ? "relation" : "permission";
      this.duplicate(nameToken, `${kind} "${def.name}" in class "${builder.name}"`, previous.pos);
      return;
    }
    builder.relations.set(def.name, def);
  }

  /**
   * Runs the entries of a `related` or `permits` block until its `}`, recovering from errors per entry.
   * `entry` parses one entry starting at a name token.
   */
  private parseEntries(builder: ClassBuilder, section: string, entry: (builder: ClassBuilder) => void): void {
    for (;;) {
      const token = this.peek();
      if (this.is(token, "}")) {
        this.next();
        return;
      }
      if (this.is(token, ";") || (this.is(token, ",") && section === "related")) {
        this.next();
        continue;
      }
      const entryStart = token.index;
      try {
        if (!this.isName(token) || this.isClassKeyword(token)) {
          const what = section === "related" ? "relation name" : "permission name";
          this.fail(token, this.expected(`${what} or "}"`, token));
        }
        entry.call(this, builder);
      } catch (err) {
        if (!(err instanceof ParseFailure)) throw err;
        const stop = this.resyncEntry(entryStart, err.index);
        if (stop === "leave-section") return;
      }
    }
  }

  // ---- related ----

  private parseRelatedSection(builder: ClassBuilder): void {
    this.expect(":", ' after "related"');
    this.expect("{", ' to open the "related" block');
    this.parseEntries(builder, "related", this.parseRelationEntry);
  }

  private parseRelationEntry(builder: ClassBuilder): void {
    const nameToken = this.next();
    this.expect(":", ` after relation name "${nameToken.value}"`);
    const types: AllowedSubjectType[] = [];
    const first = this.peek();
    if (this.is(first, "Array")) {
      this.next();
      this.expect("<", ' after "Array"');
      this.parseTypeUnion(types, ">");
    } else if (this.is(first, "(")) {
      this.next();
      this.parseTypeUnion(types, ")");
      this.expectArraySuffix();
    } else {
      types.push(this.parseTypeRef());
      this.expectArraySuffix();
    }
    this.define(builder, nameToken, {
      name: nameToken.value,
      kind: "relation",
      directTypes: types,
      rewrite: { kind: "this", pos: nameToken.start },
      pos: nameToken.start,
    });
  }

  private expectArraySuffix(): void {
    this.expect("[", ' (a relation type must be an array, e.g. "User[]")');
    this.expect("]");
  }

  /** `A | SubjectSet<G, "r"> | …` up to and including `end`. */
  private parseTypeUnion(into: AllowedSubjectType[], end: string): void {
    for (;;) {
      into.push(this.parseTypeRef());
      const token = this.peek();
      if (this.is(token, end)) {
        this.next();
        return;
      }
      if (!this.is(token, "|")) this.fail(token, this.expected(`"|" or ${JSON.stringify(end)}`, token));
      this.next();
    }
  }

  /** `T` or `SubjectSet<T, "relation">`. */
  private parseTypeRef(): AllowedSubjectType {
    const token = this.expectIdent("a type name or SubjectSet<…>");
    if (token.value !== "SubjectSet") return { type: token.value, pos: token.start };
    this.expect("<", ' after "SubjectSet"');
    const type = this.expectIdent("a type name");
    this.expect(",", ' between the type and the relation of "SubjectSet"');
    const relation = this.expectName("a relation name");
    this.expect(">", ' to close "SubjectSet<…>"');
    return { type: type.value, relation: relation.value, pos: token.start };
  }

  // ---- permits ----

  private parsePermitsSection(builder: ClassBuilder): void {
    this.expect("=", ' after "permits"');
    this.expect("{", ' to open the "permits" block');
    this.parseEntries(builder, "permits", this.parsePermitEntry);
  }

  /** `name: (ctx: Context): boolean => EXPR` with both annotations optional. */
  private parsePermitEntry(builder: ClassBuilder): void {
    const nameToken = this.next();
    this.expect(":", ` after permission name "${nameToken.value}"`);
    this.expect("(", " to open the parameter list");
    const param = this.expectIdent("a parameter name").value;
    if (this.skipIf(":")) this.expect("Context", " as the parameter type");
    this.expect(")", " to close the parameter list");
    if (this.skipIf(":")) this.expect("boolean", " as the return type");
    this.expect("=>");
    const rewrite = flattenRewrite(this.parseChain(1, param, undefined));
    const after = this.peek();
    if (this.is(after, ",")) this.next();
    this.define(builder, nameToken, { name: nameToken.value, kind: "permission", directTypes: [], rewrite, pos: nameToken.start });
  }

  // ---- expressions ----

  /**
   * `operand (("||" | "&&") operand)*`, ending before `,`/`}` at the top level or at `closer` (not
   * consumed) inside parentheses.
   */
  private parseChain(level: number, param: string, closer: string | undefined): Rewrite {
    const operands: ChainOperand[] = [this.parseOperand(level, param)];
    const operators: ChainOperator[] = [];
    for (;;) {
      const token = this.peek();
      if (this.is(token, "||") || this.is(token, "&&")) {
        this.next();
        operators.push({ op: token.value === "||" ? "||" : "&&", start: token.start, end: token.end });
        operands.push(this.parseOperand(level, param));
        continue;
      }
      if (closer !== undefined ? this.is(token, closer) : this.is(token, ",") || this.is(token, "}")) break;
      if (token.kind === "punct" && comparisonOperators.has(token.value)) {
        this.fail(token, `comparison with ${JSON.stringify(token.value)} is not supported in OPL: combine relations with "||", "&&" and "!"`);
      }
      const ends = closer !== undefined ? `"||", "&&" or ${JSON.stringify(closer)}` : '"||", "&&", "," or "}"';
      this.fail(token, this.expected(ends, token));
    }

    const combined = combineChain(operands, operators, this.mode);
    if (this.mode === "keto") {
      for (const index of combined.ambiguousOperators) {
        const op = operators[index];
        if (op === undefined) continue;
        this.diagnostics.push({
          severity: "warning",
          message:
            `"${op.op}" here applies to everything before it, because Keto evaluates "||" and "&&" left to right ` +
            'with equal precedence; TypeScript would bind "&&" tighter than "||". Add parentheses to make the grouping explicit',
          start: op.start,
          end: op.end,
          construct: "precedence",
        });
      }
    }
    return combined.rewrite;
  }

  /** Fails when entering one more level of `(` or `!` would exceed Keto's nesting limit. */
  private enterLevel(level: number, token: Token): number {
    const inner = level + 1;
    if (inner > EXPRESSION_NESTING_MAX_DEPTH) {
      this.fail(
        token,
        `expression nested too deeply: at most ${EXPRESSION_NESTING_MAX_DEPTH} levels of "(" and "!" are allowed`,
        "nesting",
      );
    }
    return inner;
  }

  /** `( chain )`, `! atom`, `! ( chain )` or an atom. */
  private parseOperand(level: number, param: string): ChainOperand {
    const token = this.peek();
    if (this.is(token, "(")) return { rewrite: this.parseGroup(level, param), start: token.start };
    if (this.is(token, "!")) {
      const inner = this.enterLevel(level, token);
      this.next();
      const operand = this.peek();
      let child: Rewrite;
      if (this.is(operand, "(")) child = this.parseGroup(inner, param);
      else if (this.is(operand, "this")) child = this.parseAtom(param);
      else this.fail(operand, this.expected('"this" or "(" after "!"', operand));
      return { rewrite: { kind: "complement", child, pos: token.start }, start: token.start };
    }
    return { rewrite: this.parseAtom(param), start: token.start };
  }

  private parseGroup(level: number, param: string): Rewrite {
    const open = this.peek();
    const inner = this.enterLevel(level, open);
    this.next();
    const rewrite = this.parseChain(inner, param, ")");
    this.expect(")");
    return rewrite;
  }

  /** `this.related.R.includes(ctx.subject)`, `this.related.R.traverse(…)` or `this.permits.P(ctx)`. */
  private parseAtom(param: string): Rewrite {
    const start = this.peek();
    if (!this.is(start, "this")) {
      if (this.is(start, param)) {
        this.fail(
          start,
          `unsupported expression starting with "${param}": a permission is built from this.related and this.permits only`,
        );
      }
      this.fail(start, this.expected('"this", "(" or "!"', start));
    }
    this.next();
    const dot = this.peek();
    if (dot.kind === "punct" && comparisonOperators.has(dot.value)) {
      this.fail(dot, `comparing "this" with ${JSON.stringify(dot.value)} is not supported in OPL`);
    }
    this.expect(".", ' after "this"');
    const verb = this.peek();
    if (!this.is(verb, "related") && !this.is(verb, "permits")) {
      this.fail(verb, this.expected('"related" or "permits" after "this."', verb));
    }
    this.next();
    const name = this.parseAccess();

    if (verb.value === "permits") {
      this.parseCtxCall(param);
      return { kind: "computed", relation: name, pos: start.start };
    }

    this.expect(".", ` after "this.related.${name}"`);
    const method = this.peek();
    if (this.is(method, "includes")) {
      this.next();
      this.parseIncludesArgs(param);
      return { kind: "computed", relation: name, pos: start.start };
    }
    if (this.is(method, "traverse")) {
      this.next();
      const computed = this.parseTraverseArgs(param);
      return { kind: "tupleToUserset", tupleset: name, computed, pos: start.start };
    }
    return this.fail(method, this.expected('"includes" or "traverse"', method));
  }

  /** `.name` or `["name"]` (Keto's `matchPropertyAccess`). */
  private parseAccess(): string {
    if (this.skipIf("[")) {
      const name = this.expectName("a relation name");
      this.expect("]");
      return name.value;
    }
    this.expect(".");
    return this.expectName("a relation name").value;
  }

  /** `(ctx)` with an optional trailing comma. */
  private parseCtxCall(param: string): void {
    this.expect("(");
    this.expectParam(param);
    this.skipIf(",");
    this.expect(")");
  }

  /** `(ctx.subject)` with an optional trailing comma. */
  private parseIncludesArgs(param: string): void {
    this.expect("(");
    this.expectParam(param);
    this.expect(".");
    const field = this.peek();
    if (!this.is(field, "subject")) {
      if (field.kind === "ident") {
        this.fail(field, `"${param}.${field.value}" is not supported: the context only provides "${param}.subject"`);
      }
      this.fail(field, this.expected('"subject"', field));
    }
    this.next();
    this.skipIf(",");
    this.expect(")");
  }

  private expectParam(param: string): void {
    const token = this.peek();
    if (!(token.kind === "ident" && token.value === param)) {
      this.fail(token, this.expected(`"${param}" (the permission's parameter)`, token));
    }
    this.next();
  }

  /** `(x => x.permits.P(ctx))` or `((x) => x.related.S.includes(ctx.subject))`; returns P or S. */
  private parseTraverseArgs(param: string): string {
    this.expect("(");
    let variable: Token;
    if (this.skipIf("(")) {
      variable = this.expectIdent("a parameter name");
      this.expect(")");
    } else {
      variable = this.expectIdent('a parameter name or "("');
    }
    this.expect("=>", " in the traverse callback");
    const use = this.peek();
    if (!(use.kind === "ident" && use.value === variable.value)) {
      this.fail(use, this.expected(`"${variable.value}" (the traverse parameter)`, use));
    }
    this.next();
    this.expect(".");
    const verb = this.peek();
    if (!this.is(verb, "related") && !this.is(verb, "permits")) {
      this.fail(verb, this.expected(`"related" or "permits" after "${variable.value}."`, verb));
    }
    this.next();
    const name = this.parseAccess();
    if (verb.value === "permits") {
      this.parseCtxCall(param);
    } else {
      this.expect(".");
      this.expect("includes");
      this.parseIncludesArgs(param);
    }
    this.skipIf(",");
    this.expect(")", " to close traverse(…)");
    return name;
  }
}
