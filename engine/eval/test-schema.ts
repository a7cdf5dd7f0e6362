/**
 * Test support (not exported from the package): builds Schema IR from a compact description, so evaluator
 * tests do not depend on the schema parsers.
 *
 *   buildSchema({ user: {}, doc: { viewer: "[user, user:*, group#member] or editor", can: "viewer but not banned" } })
 *
 * Expressions: `[types]` (this, with the direct types), `rel`, `rel from tupleset`, `not x` (complement),
 * `a or b`, `a and b`, `a but not b`, parentheses. Binary operators fold left to right; a run of the same
 * operator becomes one n-ary node. A relation whose expression has `[…]` is a `relation`, else a `permission`.
 */
import { GraphSnapshot } from "../graph/graph-snapshot.js";
import type { GraphView } from "../graph/graph-view.js";
import type { AllowedSubjectType, RelationDef, Rewrite, Schema, TypeDef } from "../schema/ir.js";
import { parseTuple } from "../tuple.js";

const pos = { line: 1, column: 1 };

/** Options of `buildSchema`. */
export interface BuildSchemaOptions {
  language?: "fga" | "opl";
  /** Default: true for OPL, false for OpenFGA. */
  bareSubjectIds?: boolean;
}

/** Builds a schema: type name → relation name → expression. */
export function buildSchema(types: Record<string, Record<string, string>>, options: BuildSchemaOptions = {}): Schema {
  const language = options.language ?? "fga";
  const typeDefs = new Map<string, TypeDef>();
  for (const [typeName, relations] of Object.entries(types)) {
    const relationDefs = new Map<string, RelationDef>();
    for (const [name, text] of Object.entries(relations)) {
      const parser = new ExpressionParser(text);
      const rewrite = parser.parse();
      relationDefs.set(name, {
        name,
        kind: parser.directTypes === undefined ? "permission" : "relation",
        directTypes: parser.directTypes ?? [],
        rewrite,
        pos,
      });
    }
    typeDefs.set(typeName, { name: typeName, relations: relationDefs, pos });
  }
  return { language, types: typeDefs, bareSubjectIds: options.bareSubjectIds ?? language === "opl" };
}

/** A view at the head of a snapshot built from tuple texts (`ns:obj#rel@subject`). */
export function viewOf(...tuples: string[]): GraphView {
  return GraphSnapshot.build(
    tuples.map((t) => parseTuple(t)),
    1,
  ).at();
}

class ExpressionParser {
  private readonly tokens: string[];
  private index = 0;
  directTypes: AllowedSubjectType[] | undefined;

  constructor(private readonly text: string) {
    this.tokens = text.match(/\[|\]|\(|\)|,|:\*|#|[A-Za-z_][\w-]*/g) ?? [];
  }

  parse(): Rewrite {
    const rewrite = this.expression();
    if (this.index !== this.tokens.length) this.fail(`unexpected "${this.tokens[this.index]}"`);
    return rewrite;
  }

  private peek(): string | undefined {
    return this.tokens[this.index];
  }

  private next(): string {
    const token = this.tokens[this.index++];
    if (token === undefined) this.fail("unexpected end");
    return token;
  }

  private expect(token: string): void {
    if (this.next() !== token) this.fail(`expected "${token}"`);
  }

  private fail(why: string): never {
    throw new Error(`test schema: ${why} in "${this.text}"`);
  }

  private expression(): Rewrite {
    let left = this.unary();
    for (;;) {
      const op = this.peek();
      if (op === "or" || op === "and") {
        this.next();
        const kind = op === "or" ? "union" : "intersection";
        const right = this.unary();
        left = left.kind === kind ? { kind, children: [...left.children, right], pos } : { kind, children: [left, right], pos };
      } else if (op === "but") {
        this.next();
        this.expect("not");
        left = { kind: "exclusion", base: left, subtract: this.unary(), pos };
      } else {
        return left;
      }
    }
  }

  private unary(): Rewrite {
    if (this.peek() === "not") {
      this.next();
      return { kind: "complement", child: this.unary(), pos };
    }
    const token = this.next();
    if (token === "(") {
      const inner = this.expression();
      this.expect(")");
      return inner;
    }
    if (token === "[") {
      this.directTypes = this.types();
      return { kind: "this", pos };
    }
    if (this.peek() === "from") {
      this.next();
      return { kind: "tupleToUserset", tupleset: this.next(), computed: token, pos };
    }
    return { kind: "computed", relation: token, pos };
  }

  private types(): AllowedSubjectType[] {
    const out: AllowedSubjectType[] = [];
    for (;;) {
      const type = this.next();
      if (this.peek() === ":*") {
        this.next();
        out.push({ type, wildcard: true, pos });
      } else if (this.peek() === "#") {
        this.next();
        out.push({ type, relation: this.next(), pos });
      } else {
        out.push({ type, pos });
      }
      const sep = this.next();
      if (sep === "]") return out;
      if (sep !== ",") this.fail(`expected "," or "]"`);
    }
  }
}
