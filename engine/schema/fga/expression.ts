/**
 * The right-hand side of an OpenFGA `define`: a type list, relation references, `x from y`, the operators
 * `or` / `and` / `but not`, and parentheses. The shape rules follow OpenFGA's grammar
 * (openfga/language `OpenFGAParser.g4`, rules `relationDef`, `relationDefPartials`, `relationRecurse*`):
 * - one kind of operator per level: `a or b and c` and `a but not b or c` need parentheses — except that a
 *   trailing `but not` after an `or`/`and` chain is read as excluding from the whole chain
 *   (`a or b but not c` = `(a or b) but not c`), the form Gatehouse's issue text and docs use; OpenFGA
 *   rejects it, so it gets a `compatibility` warning;
 * - `but not` takes exactly one operand per level: `a but not b but not c` needs parentheses;
 * - the `[...]` type list may appear only as the first operand, possibly inside leading parentheses
 *   (`([user] or a) and b` is fine, `a or [user]` is not), so a relation has at most one.
 */
import type { AllowedSubjectType, Rewrite } from "../ir.js";
import type { Token } from "./lexer.js";
import { FgaSyntaxError, TokenCursor, describe, posOf } from "./token-cursor.js";

/** Words that are operators or statement keywords and therefore never relation or type names. */
export const KEYWORDS: ReadonlySet<string> = new Set([
  "model",
  "schema",
  "type",
  "relations",
  "relation",
  "define",
  "and",
  "or",
  "from",
  "with",
  "condition",
  "module",
  "extend",
]);

/** Words that start a statement line; a type list left open stops at them. */
const STATEMENT_KEYWORDS: ReadonlySet<string> = new Set(["type", "relations", "define", "condition", "extend", "module"]);

type Operator = "or" | "and" | "but not";

/** A problem that does not stop parsing (e.g. a `with` condition), reported next to the result. */
export interface SoftProblem {
  /** Default `error`. */
  readonly severity?: "error" | "warning";
  readonly construct: string;
  readonly message: string;
  readonly start: Token;
  readonly end: Token;
}

/** What a parsed definition yields: the rewrite and, when it had a `[...]` list, the direct types. */
export interface ParsedDefinition {
  readonly rewrite: Rewrite;
  readonly directTypes: readonly AllowedSubjectType[] | undefined;
  readonly problems: readonly SoftProblem[];
}

/**
 * Parses one definition starting at the cursor, up to (not including) the end of its line. Throws
 * `FgaSyntaxError` on the first syntax error; soft problems are returned.
 */
export function parseDefinition(cursor: TokenCursor, relationName: string): ParsedDefinition {
  const parser = new ExpressionParser(cursor, relationName);
  const rewrite = parser.parseExpression(true);
  const next = cursor.peek();
  if (next.kind !== "newline" && next.kind !== "eof") {
    throw new FgaSyntaxError(
      `unexpected ${describe(next)} in the definition of \`${relationName}\`; expected \`or\`, \`and\`, \`but not\` or the end of the line`,
      next,
    );
  }
  return { rewrite, directTypes: parser.directTypes, problems: parser.problems };
}

class ExpressionParser {
  directTypes: AllowedSubjectType[] | undefined;
  readonly problems: SoftProblem[] = [];

  constructor(
    private readonly cursor: TokenCursor,
    private readonly relationName: string,
  ) {}

  /** `head (op operand)*` with a single operator kind; `allowDirect` says whether a `[...]` may lead. */
  parseExpression(allowDirect: boolean): Rewrite {
    const startTok = this.cursor.peek();
    const head = this.parseOperand(allowDirect);
    const first = this.peekOperator();
    if (first === undefined) return head;
    const pos = posOf(startTok);
    if (first.op === "but not") {
      this.consumeOperator(first.op);
      const subtract = this.parseOperand(false);
      const after = this.peekOperator();
      if (after !== undefined) {
        throw new FgaSyntaxError(
          `\`but not\` cannot be followed by \`${after.op}\` at the same level; add parentheses, e.g. \`(a but not b) ${after.op} c\``,
          after.tok,
          after.end,
        );
      }
      return { kind: "exclusion", base: head, subtract, pos };
    }
    const kind = first.op === "or" ? "union" : "intersection";
    const children: Rewrite[] = [];
    const add = (child: Rewrite): void => {
      // Flatten `a or (b or c)` into one n-ary node: same meaning, shallower tree for the evaluator.
      if (child.kind === kind) children.push(...child.children);
      else children.push(child);
    };
    add(head);
    for (;;) {
      const op = this.peekOperator();
      if (op === undefined) break;
      if (op.op === "but not") {
        this.consumeOperator(op.op);
        const subtract = this.parseOperand(false);
        const after = this.peekOperator();
        if (after !== undefined) {
          throw new FgaSyntaxError(
            `\`but not\` cannot be followed by \`${after.op}\` at the same level; add parentheses`,
            after.tok,
            after.end,
          );
        }
        this.problems.push({
          severity: "warning",
          construct: "compatibility",
          message: `\`but not\` here excludes from the whole \`${first.op}\` chain before it; OpenFGA requires parentheses: \`(… ${first.op} …) but not …\``,
          start: op.tok,
          end: op.end,
        });
        return { kind: "exclusion", base: { kind, children, pos }, subtract, pos };
      }
      if (op.op !== first.op) {
        throw new FgaSyntaxError(
          `cannot mix \`${first.op}\` and \`${op.op}\` at the same level; add parentheses to say which binds first`,
          op.tok,
          op.end,
        );
      }
      this.consumeOperator(op.op);
      add(this.parseOperand(false));
    }
    return { kind, children, pos };
  }

  private parseOperand(allowDirect: boolean): Rewrite {
    const tok = this.cursor.peek();
    if (tok.kind === "punct" && tok.text === "[") {
      if (!allowDirect) {
        throw new FgaSyntaxError(
          "a type list `[...]` may only be the first operand of a definition (e.g. `[user] or owner`)",
          tok,
        );
      }
      return this.parseTypeList();
    }
    if (tok.kind === "punct" && tok.text === "(") {
      this.cursor.next();
      const inner = this.parseExpression(allowDirect);
      const close = this.cursor.peek();
      if (close.kind !== "punct" || close.text !== ")") {
        throw new FgaSyntaxError(`expected \`)\` to close the \`(\` at ${tok.line}:${tok.column}, found ${describe(close)}`, close);
      }
      this.cursor.next();
      return inner;
    }
    if (tok.kind === "ident" && !KEYWORDS.has(tok.text)) return this.parseReference();
    throw new FgaSyntaxError(
      `expected a relation name, \`(\`${allowDirect ? " or a type list `[...]`" : ""} in the definition of \`${this.relationName}\`, found ${describe(tok)}`,
      tok,
    );
  }

  /** `x` (computed) or `x from y` (tuple to userset). */
  private parseReference(): Rewrite {
    const name = this.cursor.next();
    const from = this.cursor.peek();
    if (from.kind !== "ident" || from.text !== "from") return { kind: "computed", relation: name.text, pos: posOf(name) };
    this.cursor.next();
    const tupleset = this.cursor.peek();
    if (tupleset.kind !== "ident" || KEYWORDS.has(tupleset.text)) {
      throw new FgaSyntaxError(`expected a relation name after \`${name.text} from\`, found ${describe(tupleset)}`, tupleset);
    }
    this.cursor.next();
    return { kind: "tupleToUserset", tupleset: tupleset.text, computed: name.text, pos: posOf(name) };
  }

  /** `[t, t:*, t#r, t with cond]`, which may span lines (OpenFGA allows a newline around each entry). */
  private parseTypeList(): Rewrite {
    const open = this.cursor.next();
    const types: AllowedSubjectType[] = [];
    const seen = new Set<string>();
    for (;;) {
      this.skipNewlinesInList(open);
      types.push(this.parseRestriction(seen));
      this.skipNewlinesInList(open);
      const sep = this.cursor.peek();
      if (sep.kind === "punct" && sep.text === ",") {
        this.cursor.next();
        continue;
      }
      if (sep.kind === "punct" && sep.text === "]") {
        this.cursor.next();
        break;
      }
      throw new FgaSyntaxError(`expected \`,\` or \`]\` in the type list, found ${describe(sep)}`, sep);
    }
    this.directTypes = types;
    return { kind: "this", pos: posOf(open) };
  }

  private parseRestriction(seen: Set<string>): AllowedSubjectType {
    const typeTok = this.cursor.peek();
    if (typeTok.kind !== "ident" || KEYWORDS.has(typeTok.text)) {
      throw new FgaSyntaxError(`expected a type name in the type list, found ${describe(typeTok)}`, typeTok);
    }
    this.cursor.next();
    let result: AllowedSubjectType = { type: typeTok.text, pos: posOf(typeTok) };
    let key = typeTok.text;
    let last = typeTok;
    const sep = this.cursor.peek();
    if (sep.kind === "punct" && sep.text === ":") {
      this.cursor.next();
      const star = this.cursor.peek();
      if (star.kind !== "punct" || star.text !== "*") {
        throw new FgaSyntaxError(`expected \`*\` after \`${typeTok.text}:\` (a wildcard), found ${describe(star)}`, star);
      }
      last = this.cursor.next();
      result = { type: typeTok.text, wildcard: true, pos: posOf(typeTok) };
      key += ":*";
    } else if (sep.kind === "punct" && sep.text === "#") {
      this.cursor.next();
      const rel = this.cursor.peek();
      if (rel.kind !== "ident" || KEYWORDS.has(rel.text)) {
        throw new FgaSyntaxError(`expected a relation name after \`${typeTok.text}#\`, found ${describe(rel)}`, rel);
      }
      last = this.cursor.next();
      result = { type: typeTok.text, relation: rel.text, pos: posOf(typeTok) };
      key += `#${rel.text}`;
    }
    const withTok = this.cursor.peek();
    if (withTok.kind === "ident" && withTok.text === "with") {
      this.cursor.next();
      const cond = this.cursor.peek();
      let end = withTok;
      if (cond.kind === "ident") end = this.cursor.next();
      // OpenFGA tells `user` and `user with c` apart when looking for duplicates.
      key += ` with ${cond.kind === "ident" ? cond.text : "..."}`;
      this.problems.push({
        construct: "unsupported",
        message: `conditions (\`${key}\`) are not supported yet`,
        start: withTok,
        end,
      });
    }
    if (seen.has(key)) {
      this.problems.push({
        construct: "duplicate_name",
        message: `the type restriction \`${key}\` appears more than once in the type list of \`${this.relationName}\``,
        start: typeTok,
        end: last,
      });
    }
    seen.add(key);
    return result;
  }

  /** Inside `[...]` newlines are allowed, but a statement keyword at a line start means the list was left open. */
  private skipNewlinesInList(open: Token): void {
    while (this.cursor.peek().kind === "newline") {
      const after = this.cursor.peek(1);
      if (after.kind === "eof" || (after.kind === "ident" && STATEMENT_KEYWORDS.has(after.text))) {
        throw new FgaSyntaxError(`the type list opened at ${open.line}:${open.column} is not closed; expected \`]\``, open);
      }
      this.cursor.next();
    }
    if (this.cursor.peek().kind === "eof") {
      throw new FgaSyntaxError(`the type list opened at ${open.line}:${open.column} is not closed; expected \`]\``, open);
    }
  }

  private peekOperator(): { op: Operator; tok: Token; end: Token } | undefined {
    const tok = this.cursor.peek();
    if (tok.kind !== "ident") return undefined;
    if (tok.text === "or" || tok.text === "and") return { op: tok.text, tok, end: tok };
    const next = this.cursor.peek(1);
    // `but not` is one token in OpenFGA's lexer; we accept any blanks between the words, on one line.
    if (tok.text === "but" && next.kind === "ident" && next.text === "not") return { op: "but not", tok, end: next };
    return undefined;
  }

  private consumeOperator(op: Operator): void {
    this.cursor.next();
    if (op === "but not") this.cursor.next();
  }
}
