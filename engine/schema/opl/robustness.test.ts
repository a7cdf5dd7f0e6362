import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CompileResult, Rewrite } from "../ir.js";
import { flattenRewrite } from "./expression.js";
import { parseOpl } from "./index.js";
import { showRewrite } from "./show-rewrite.test-helper.js";

const sample = `import { Namespace, Context } from "@ory/keto-namespace-types"
class User implements Namespace {}
class Group implements Namespace { related: { members: (User | Group)[] } }
class Doc implements Namespace {
  related: {
    parents: Array<Doc | SubjectSet<Group, "members">>
    "owners": SubjectSet<Group, 'members'>[];
  }
  /* block */
  permits = {
    view: (ctx: Context): boolean =>
      this.related.parents.traverse((p) => p.permits.view(ctx)) || // line
      !(this.related["owners"].includes(ctx.subject) && this.permits.edit(ctx)),
    edit: (ctx) => this.related.owners.traverse(g => g.related.members.includes(ctx.subject)),
  }
}
`;

const vocabulary = [
  "class", "implements", "Namespace", "related", "permits", "this", "ctx", "subject", "includes", "traverse",
  "Array", "SubjectSet", "Context", "boolean", "{", "}", "(", ")", "[", "]", "<", ">", ":", ";", ",", ".", "=",
  "=>", "||", "&&", "!", "|", "==", '"r"', "'s'", "x", "42", "/*", "*/", "//", "\n", " ", '"',
];

/** Characters OPL cares about, plus non-ASCII letters, an astral character and a lone surrogate. */
const oplChars = fc.constantFrom(
  ..."{}()[]<>:;,.=|&!\"'/*\\ \n\tabcxyz019_$".split(""),
  "é",
  "\u{1D538}",
  "\uD800",
  "class ",
  "this.",
);

/** Checks what every result must satisfy, whatever the input. */
function assertWellFormed(result: CompileResult): void {
  const hasError = result.diagnostics.some((d) => d.severity === "error");
  expect(result.schema === undefined).toBe(hasError);
  let previous = { line: 0, column: 0 };
  for (const d of result.diagnostics) {
    expect(d.start.line).toBeGreaterThanOrEqual(1);
    expect(d.start.column).toBeGreaterThanOrEqual(1);
    if (d.end !== undefined) {
      expect(d.end.line > d.start.line || (d.end.line === d.start.line && d.end.column >= d.start.column)).toBe(true);
    }
    expect(d.start.line > previous.line || (d.start.line === previous.line && d.start.column >= previous.column)).toBe(
      true,
    );
    expect(d.message.length).toBeGreaterThan(0);
    previous = d.start;
  }
}

const mangled = fc
  .array(
    fc.oneof(
      fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 20 }) }),
      fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), text: fc.constantFrom(...vocabulary) }),
    ),
    { minLength: 1, maxLength: 6 },
  )
  .map((edits) => {
    let text = sample;
    for (const edit of edits) {
      const at = edit.at % (text.length + 1);
      text = edit.kind === "delete" ? text.slice(0, at) + text.slice(at + edit.length) : text.slice(0, at) + edit.text + text.slice(at);
    }
    return text;
  });

describe("parseOpl robustness", () => {
  it("accepts the unmangled sample", () => {
    expect(parseOpl(sample).diagnostics).toEqual([]);
  });

  it("never throws on arbitrary text and always returns a well-formed result", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 200 }), fc.string({ unit: oplChars, maxLength: 200 })), (text) => {
        assertWellFormed(parseOpl(text));
      }),
      { numRuns: 300 },
    );
  });

  it("never throws on random token soup", () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...vocabulary), { maxLength: 80 }), (tokens) => {
        assertWellFormed(parseOpl(tokens.join(" ")));
        assertWellFormed(parseOpl(`class A { permits = { p: (ctx) => ${tokens.join(" ")} } }`));
      }),
      { numRuns: 300 },
    );
  });

  it("never throws on mangled valid schemas", () => {
    fc.assert(
      fc.property(mangled, fc.constantFrom("keto" as const, "typescript" as const), (text, precedence) => {
        assertWellFormed(parseOpl(text, { precedence }));
      }),
      { numRuns: 300 },
    );
  });
});

/** Random permit expression trees over the relations a..d. */
const rewriteArb: fc.Arbitrary<Rewrite> = fc.letrec<{ node: Rewrite }>((tie) => ({
  node: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom("a", "b", "c", "d").map((relation): Rewrite => ({ kind: "computed", relation, pos: { line: 1, column: 1 } })),
    fc.array(tie("node"), { minLength: 2, maxLength: 3 }).map((children): Rewrite => ({ kind: "union", children, pos: { line: 1, column: 1 } })),
    fc.array(tie("node"), { minLength: 2, maxLength: 3 }).map((children): Rewrite => ({ kind: "intersection", children, pos: { line: 1, column: 1 } })),
    tie("node").map((child): Rewrite => ({ kind: "complement", child, pos: { line: 1, column: 1 } })),
  ),
})).node;

/** Prints with the fewest parentheses TypeScript precedence needs. */
function printMinimal(r: Rewrite): string {
  switch (r.kind) {
    case "computed":
      return `this.related.${r.relation}.includes(ctx.subject)`;
    case "union":
      return r.children.map(printMinimal).join(" || ");
    case "intersection":
      return r.children.map((c) => (c.kind === "union" ? `(${printMinimal(c)})` : printMinimal(c))).join(" && ");
    case "complement":
      return r.child.kind === "computed" || r.child.kind === "complement" ? `!${printMinimal(r.child)}` : `!(${printMinimal(r.child)})`;
    default:
      throw new Error(`not generated: ${r.kind}`);
  }
}

/** Nesting of `(` and `!` in the printed text, to stay under the parser's limit. */
function nesting(r: Rewrite): number {
  switch (r.kind) {
    case "union":
      return Math.max(...r.children.map(nesting));
    case "intersection":
      return Math.max(...r.children.map((c) => nesting(c) + (c.kind === "union" ? 1 : 0)));
    case "complement":
      return nesting(r.child) + (r.child.kind === "computed" || r.child.kind === "complement" ? 1 : 2);
    default:
      return 0;
  }
}

const wrap = (expr: string) => `class T { permits = { p: (ctx) => ${expr} } }`;

describe("parseOpl expression round trip", () => {
  const shallow = rewriteArb.filter((r) => nesting(r) <= 9 && !printMinimal(r).includes("!!"));

  it("typescript mode reads back a minimally parenthesised tree exactly (after flattening)", () => {
    fc.assert(
      fc.property(shallow, (tree) => {
        const result = parseOpl(wrap(printMinimal(tree)), { precedence: "typescript" });
        expect(result.diagnostics).toEqual([]);
        const parsed = result.schema?.types.get("T")?.relations.get("p")?.rewrite;
        expect(parsed && showRewrite(parsed)).toBe(showRewrite(flattenRewrite(tree)));
      }),
      { numRuns: 200 },
    );
  });

  it("keto mode warns exactly when its reading differs from TypeScript's", () => {
    fc.assert(
      fc.property(shallow, (tree) => {
        const text = wrap(printMinimal(tree));
        const keto = parseOpl(text);
        const ts = parseOpl(text, { precedence: "typescript" });
        const show = (r: CompileResult) => {
          const rewrite = r.schema?.types.get("T")?.relations.get("p")?.rewrite;
          return rewrite === undefined ? "missing" : showRewrite(rewrite);
        };
        const warned = keto.diagnostics.some((d) => d.construct === "precedence");
        expect(warned).toBe(show(keto) !== show(ts));
      }),
      { numRuns: 200 },
    );
  });
});
