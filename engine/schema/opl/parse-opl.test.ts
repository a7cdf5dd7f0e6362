import { describe, expect, it } from "vitest";
import type { Diagnostic, RelationDef, Schema } from "../ir.js";
import { parseOpl, type OplOptions } from "./index.js";
import { showRewrite } from "./show-rewrite.test-helper.js";

const ketoRewritesExample = `/// <reference path="./lib.ts" />
import { Namespace, SubjectSet, Context } from "@ory/keto-namespace-types"

class User implements Namespace {}

class Group implements Namespace {
  related: {
    members: (User | Group)[]
  }
}

class Folder implements Namespace {
  related: {
    parents: (File | Folder)[]
    viewers: SubjectSet<Group, "members">[]
  }

  permits = {
    view: (ctx: Context): boolean =>
      this.related.viewers.includes(ctx.subject) ||
      this.related.parents.traverse((p) => p.permits.view(ctx)),
  }
}

class File implements Namespace {
  related: {
    parents: (File | Folder)[]
    viewers: (User | SubjectSet<Group, "members">)[]
    owners: (User | SubjectSet<Group, "members">)[]
  }

  // Some comment
  permits = {
    view: (ctx: Context): boolean =>
      this.related.parents.traverse((p) => p.permits.view(ctx)) ||
      this.related.viewers.includes(ctx.subject) ||
      this.related.owners.includes(ctx.subject),

    edit: (ctx: Context) => this.related.owners.includes(ctx.subject),
  }
}
`;

function ok(text: string, options?: OplOptions): Schema {
  const result = parseOpl(text, options);
  const errors = result.diagnostics.filter((d) => d.severity === "error");
  expect(errors).toEqual([]);
  if (result.schema === undefined) throw new Error("no schema");
  return result.schema;
}

function relation(schema: Schema, type: string, name: string): RelationDef {
  const def = schema.types.get(type)?.relations.get(name);
  if (def === undefined) throw new Error(`${type}#${name} missing`);
  return def;
}

/** A class `T` with relations a..e and one permit `p` defined by `expr`. */
function permitSource(expr: string): string {
  return `class T implements Namespace {
  related: { a: T[]  b: T[]  c: T[]  d: T[]  e: T[] }
  permits = {
    p: (ctx: Context): boolean => ${expr},
  }
}`;
}

/** Shorthand atoms for precedence tests. */
const atom = (r: string) => `this.related.${r}.includes(ctx.subject)`;

function permitShape(expr: string, options?: OplOptions): string {
  return showRewrite(relation(ok(permitSource(expr), options), "T", "p").rewrite);
}

function errorsOf(text: string): Diagnostic[] {
  return parseOpl(text).diagnostics.filter((d) => d.severity === "error");
}

const at = (d: Diagnostic | undefined) => (d === undefined ? "none" : `${d.start.line}:${d.start.column}`);

describe("parseOpl: Keto's rewrites example", () => {
  const schema = ok(ketoRewritesExample);

  it("returns an OPL schema that allows bare subject ids, with classes in order", () => {
    expect(schema.language).toBe("opl");
    expect(schema.bareSubjectIds).toBe(true);
    expect([...schema.types.keys()]).toEqual(["User", "Group", "Folder", "File"]);
    expect(schema.types.get("User")?.relations.size).toBe(0);
    expect(schema.types.get("Folder")?.pos).toEqual({ line: 12, column: 1 });
  });

  it("compiles related entries to relations with direct types", () => {
    const members = relation(schema, "Group", "members");
    expect(members).toMatchObject({ kind: "relation", rewrite: { kind: "this" } });
    expect(members.directTypes).toEqual([
      { type: "User", pos: { line: 8, column: 15 } },
      { type: "Group", pos: { line: 8, column: 22 } },
    ]);
    expect(members.pos).toEqual({ line: 8, column: 5 });
    expect(relation(schema, "Folder", "viewers").directTypes).toEqual([
      { type: "Group", relation: "members", pos: { line: 15, column: 14 } },
    ]);
    expect(relation(schema, "File", "owners").directTypes.map((t) => [t.type, t.relation])).toEqual([
      ["User", undefined],
      ["Group", "members"],
    ]);
  });

  it("compiles permits to permissions with rewrites", () => {
    const view = relation(schema, "Folder", "view");
    expect(view.kind).toBe("permission");
    expect(view.directTypes).toEqual([]);
    expect(showRewrite(view.rewrite)).toBe("or(viewers,parents->view)");
    expect(view.rewrite.pos).toEqual({ line: 20, column: 7 });
    expect(showRewrite(relation(schema, "File", "view").rewrite)).toBe("or(parents->view,viewers,owners)");
    expect(showRewrite(relation(schema, "File", "edit").rewrite)).toBe("owners");
    expect([...(schema.types.get("File")?.relations.keys() ?? [])]).toEqual(["parents", "viewers", "owners", "view", "edit"]);
  });

  it("has no diagnostics at all", () => {
    expect(parseOpl(ketoRewritesExample).diagnostics).toEqual([]);
  });
});

describe("parseOpl: atoms", () => {
  it("compiles includes and permits calls to computed usersets", () => {
    expect(permitShape("this.related.a.includes(ctx.subject)")).toBe("a");
    expect(permitShape("this.permits.q(ctx)")).toBe("q");
  });

  it("compiles traverse to tuple-to-userset in every lambda form", () => {
    expect(permitShape("this.related.a.traverse(x => x.permits.view(ctx))")).toBe("a->view");
    expect(permitShape("this.related.a.traverse((x) => x.related.b.includes(ctx.subject))")).toBe("a->b");
    expect(permitShape("this.related.a.traverse((x) => x.related.b.includes(ctx.subject,),)")).toBe("a->b");
  });

  it("accepts bracket access with string literal names", () => {
    const schema = ok(`class R implements Namespace {
  related: { "scope.relation": R[] }
  permits = {
    "scope.a": (ctx: Context) => this.related["scope.relation"].traverse((r) => r.permits["scope.b"](ctx)),
    'scope.b': (ctx: Context) => this.related["scope.relation"].traverse((r) => r.related['scope.relation'].includes(ctx.subject)),
    "scope.c": (ctx: Context) => this.permits["scope.a"](ctx),
  }
}`);
    expect(showRewrite(relation(schema, "R", "scope.a").rewrite)).toBe("scope.relation->scope.b");
    expect(showRewrite(relation(schema, "R", "scope.b").rewrite)).toBe("scope.relation->scope.relation");
    expect(showRewrite(relation(schema, "R", "scope.c").rewrite)).toBe("scope.a");
  });

  it("accepts any parameter name and no annotations", () => {
    const schema = ok(`class T { related: { a: T[] } permits = { p: (c) => this.related.a.includes(c.subject) || this.permits.p(c) } }`);
    expect(showRewrite(relation(schema, "T", "p").rewrite)).toBe("or(a,p)");
  });

  it("compiles ! to a complement of an atom or a group", () => {
    expect(permitShape(`!${atom("a")}`)).toBe("not(a)");
    expect(permitShape(`!(${atom("a")} || ${atom("b")})`)).toBe("not(or(a,b))");
    const schema = ok(permitSource(`!${atom("a")}`));
    expect(relation(schema, "T", "p").rewrite.pos).toEqual({ line: 4, column: 35 });
  });
});

describe("parseOpl: related forms", () => {
  it("accepts T[], unions, SubjectSet[], Array<…> and optional separators", () => {
    const schema = ok(`class G implements Namespace {
  related: {
    a: G[];
    b: (G | SubjectSet<G, "a">)[],
    c: SubjectSet<G, 'a'>[]
    "d": Array<G | SubjectSet<G, "a">>
    e: Array<G>;
  };
}`);
    const types = (name: string) =>
      relation(schema, "G", name).directTypes.map((t) => (t.relation === undefined ? t.type : `${t.type}#${t.relation}`));
    expect(types("a")).toEqual(["G"]);
    expect(types("b")).toEqual(["G", "G#a"]);
    expect(types("c")).toEqual(["G#a"]);
    expect(types("d")).toEqual(["G", "G#a"]);
    expect(types("e")).toEqual(["G"]);
  });

  it("accepts either section order and a class without implements", () => {
    const schema = ok(`class A { permits = { p: (ctx) => this.related.r.includes(ctx.subject) } related: { r: A[] } }`);
    expect([...(schema.types.get("A")?.relations.keys() ?? [])]).toEqual(["p", "r"]);
  });
});

describe("parseOpl: preamble, comments and text between classes", () => {
  it("skips everything that is not a class", () => {
    const schema = ok(`import { Namespace, SubjectSet, Context } from "@ory/keto-namespace-types"
const x = 1 + 2; // some code
export class A implements Namespace {}
export default 42;
/* block */ class B implements Namespace { related: { /* inline */ a: A[] // trailing
} }
`);
    expect([...schema.types.keys()]).toEqual(["A", "B"]);
  });

  it("accepts comments inside permit expressions", () => {
    const schema = ok(permitSource(`(${atom("a")} /* c */ && // line\n ${atom("b")})`));
    expect(showRewrite(relation(schema, "T", "p").rewrite)).toBe("and(a,b)");
  });
});

describe("parseOpl: precedence", () => {
  it("folds left to right in keto mode", () => {
    expect(permitShape(`${atom("a")} || ${atom("b")} && ${atom("c")}`)).toBe("and(or(a,b),c)");
    expect(permitShape(`${atom("a")} && ${atom("b")} || ${atom("c")}`)).toBe("or(and(a,b),c)");
    expect(permitShape(`!${atom("a")} && ${atom("b")}`)).toBe("and(not(a),b)");
    expect(permitShape(`${atom("a")} || !${atom("b")} && ${atom("c")}`)).toBe("and(or(a,not(b)),c)");
  });

  it("respects parentheses", () => {
    expect(permitShape(`${atom("a")} || (${atom("b")} && ${atom("c")})`)).toBe("or(a,and(b,c))");
    expect(permitShape(`(${atom("a")} || ${atom("b")}) && ${atom("c")}`)).toBe("and(or(a,b),c)");
  });

  it("uses TypeScript precedence in typescript mode", () => {
    const ts = { precedence: "typescript" } as const;
    expect(permitShape(`${atom("a")} || ${atom("b")} && ${atom("c")}`, ts)).toBe("or(a,and(b,c))");
    expect(permitShape(`${atom("a")} && ${atom("b")} || ${atom("c")} && ${atom("d")}`, ts)).toBe("or(and(a,b),and(c,d))");
    expect(permitShape(`!${atom("a")} && ${atom("b")}`, ts)).toBe("and(not(a),b)");
  });

  it("flattens same-operator runs and parenthesised groups into n-ary nodes", () => {
    expect(permitShape(`${atom("a")} || ${atom("b")} || ${atom("c")} || ${atom("d")}`)).toBe("or(a,b,c,d)");
    expect(permitShape(`${atom("a")} || (${atom("b")} || (${atom("c")} || ${atom("d")}))`)).toBe("or(a,b,c,d)");
    expect(permitShape(`(${atom("a")} && ${atom("b")}) && ${atom("c")} && ${atom("d")}`)).toBe("and(a,b,c,d)");
  });

  it("warns at the && whose Keto grouping differs from TypeScript's", () => {
    const text = permitSource(`${atom("a")} || ${atom("b")} && ${atom("c")}`);
    const result = parseOpl(text);
    expect(result.schema).toBeDefined();
    const warnings = result.diagnostics.filter((d) => d.construct === "precedence");
    expect(warnings).toHaveLength(1);
    const line4 = text.split("\n")[3] ?? "";
    const column = line4.indexOf("&&") + 1;
    expect(warnings[0]).toMatchObject({
      severity: "warning",
      start: { line: 4, column },
      end: { line: 4, column: column + 1 },
    });
    expect(warnings[0]?.message).toContain("left to right");
  });

  it("warns once per moved && in longer chains, also inside groups", () => {
    const text = `class T {
  permits = {
    p: (ctx) => this.permits.a(ctx) && this.permits.b(ctx) || this.permits.c(ctx) && this.permits.d(ctx),
    q: (ctx) => !(this.permits.a(ctx) || this.permits.b(ctx) && this.permits.c(ctx)),
  }
}`;
    const warnings = parseOpl(text).diagnostics.filter((d) => d.construct === "precedence");
    const lines = text.split("\n");
    expect(warnings.map(at)).toEqual([
      `3:${(lines[2] ?? "").lastIndexOf("&&") + 1}`,
      `4:${(lines[3] ?? "").indexOf("&&") + 1}`,
    ]);
  });

  it("does not warn when both readings agree, parentheses are explicit, or in typescript mode", () => {
    const quiet = [
      `${atom("a")} && ${atom("b")} || ${atom("c")}`,
      `${atom("a")} || (${atom("b")} && ${atom("c")})`,
      `(${atom("a")} || ${atom("b")}) && ${atom("c")}`,
      `!${atom("a")} && ${atom("b")} && ${atom("c")}`,
    ];
    for (const expr of quiet) expect(parseOpl(permitSource(expr)).diagnostics).toEqual([]);
    const ts = parseOpl(permitSource(`${atom("a")} || ${atom("b")} && ${atom("c")}`), { precedence: "typescript" });
    expect(ts.diagnostics).toEqual([]);
  });
});

describe("parseOpl: errors", () => {
  it("reports an unclosed block comment with its position and returns no schema", () => {
    const result = parseOpl("class A implements Namespace {}\n  /* unclosed");
    expect(result.schema).toBeUndefined();
    expect(result.diagnostics).toHaveLength(1);
    expect(result.diagnostics[0]).toMatchObject({ construct: "syntax", start: { line: 2, column: 3 } });
  });

  it("reports a missing => naming what was expected and found", () => {
    const errors = errorsOf("class A {\n  permits = {\n    p: (ctx) { return true },\n  }\n}");
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({
      construct: "syntax",
      message: 'expected "=>" but found "{"',
      start: { line: 3, column: 14 },
      end: { line: 3, column: 14 },
    });
  });

  it("reports an unknown atom", () => {
    const errors = errorsOf(permitSource("this.related.a.contains(ctx.subject)"));
    expect(errors[0]?.message).toBe('expected "includes" or "traverse" but found "contains"');
    expect(at(errors[0])).toBe("4:50");
    expect(errorsOf(permitSource("this.foo.a(ctx)"))[0]?.message).toBe(
      'expected "related" or "permits" after "this." but found "foo"',
    );
    expect(errorsOf(permitSource("true"))[0]?.message).toBe('expected "this", "(" or "!" but found "true"');
  });

  it("names constructs Keto does not support", () => {
    const eq = errorsOf(permitSource("this == ctx.subject"));
    expect(eq).toHaveLength(1);
    expect(eq[0]?.message).toContain('comparing "this" with "==" is not supported');
    expect(at(eq[0])).toBe("4:40");
    const field = errorsOf(permitSource("this.related.a.includes(ctx.foo)"));
    expect(field[0]?.message).toBe('"ctx.foo" is not supported: the context only provides "ctx.subject"');
    const ctxAtom = errorsOf(permitSource("ctx.subject"));
    expect(ctxAtom[0]?.message).toContain('unsupported expression starting with "ctx"');
    const cmp = errorsOf(permitSource(`${atom("a")} === true`));
    expect(cmp[0]?.message).toContain('comparison with "===" is not supported');
  });

  it("rejects what Keto's grammar rejects: double negation, other annotations, a foreign traverse variable", () => {
    expect(errorsOf(permitSource(`!!${atom("a")}`))[0]?.message).toBe('expected "this" or "(" after "!" but found "!"');
    const annotated = errorsOf("class A { permits = { p: (ctx: Foo) => this.permits.p(ctx) } }");
    expect(annotated[0]?.message).toBe('expected "Context" as the parameter type but found "Foo"');
    const traverse = errorsOf(permitSource("this.related.a.traverse(x => y.permits.p(ctx))"));
    expect(traverse[0]?.message).toBe('expected "x" (the traverse parameter) but found "y"');
    const arg = errorsOf(permitSource("this.permits.p(context)"));
    expect(arg[0]?.message).toBe(`expected "ctx" (the permission's parameter) but found "context"`);
  });

  it("reports duplicate classes, relations and permits with the first declaration's position", () => {
    const text = `class A {
  related: { r: A[]  r: A[] }
  permits = { p: (ctx) => this.permits.r(ctx), r: (ctx) => this.permits.p(ctx), p: (ctx) => this.permits.p(ctx) }
}
class A {}`;
    const errors = errorsOf(text);
    expect(errors.every((e) => e.construct === "duplicate_name")).toBe(true);
    expect(errors.map(at)).toEqual(["2:22", "3:48", "3:81", "5:7"]);
    expect(errors[0]?.message).toBe('duplicate name: relation "r" in class "A" is already declared at 2:14');
    expect(errors[1]?.message).toContain('permission "r" in class "A" is already declared at 2:14');
    expect(errors[3]?.message).toBe('duplicate name: class "A" is already declared at 1:1');
  });

  it("allows nine nested ( and ! but not ten, as Keto's nesting limit of 10", () => {
    const nested = (depth: number) => `${"(".repeat(depth)}${atom("a")}${")".repeat(depth)}`;
    expect(permitShape(nested(9))).toBe("a");
    const errors = errorsOf(permitSource(nested(10)));
    expect(errors).toHaveLength(1);
    expect(errors[0]?.construct).toBe("nesting");
    expect(at(errors[0])).toBe("4:44");
    const nots = `${"!(".repeat(5)}${atom("a")}${")".repeat(5)}`;
    expect(errorsOf(permitSource(nots))[0]).toMatchObject({ construct: "nesting", start: { line: 4, column: 44 } });
    expect(permitShape(`!(!(!(!(${atom("a")}))))`)).toBe("not(not(not(not(a))))");
  });

  it("reports a missing array suffix and a bad union separator in related", () => {
    const errors = errorsOf(`class A {\n  related: {\n    a: A\n    b: (A & B)[]\n    c: A[]\n  }\n}`);
    expect(errors.map((e) => `${at(e)} ${e.message}`)).toEqual([
      '4:5 expected "[" (a relation type must be an array, e.g. "User[]") but found "b"',
      '4:11 expected "|" or ")" but found "&"',
    ]);
  });

  it("reports end of input inside a class once", () => {
    const errors = errorsOf("class A {\n  related: {\n    a: A[]\n");
    expect(errors).toHaveLength(1);
    expect(errors[0]?.message).toBe('expected relation name or "}" but found end of input');
    expect(at(errors[0])).toBe("4:1");
  });

  it("reports junk in a class body and keeps parsing the class", () => {
    const text = `class File {
  related: { parents: File[] }

  SYNTAX ERROR

  permits = { view: (ctx) => this.related.parents.includes(ctx.subject) }
}
class Other { related: { x: File[] } }`;
    const result = parseOpl(text);
    expect(result.schema).toBeUndefined();
    expect(result.diagnostics).toHaveLength(1);
    expect(result.diagnostics[0]?.message).toBe('expected "related", "permits" or "}" but found "SYNTAX"');
    expect(at(result.diagnostics[0])).toBe("4:3");
  });

  it("reports a binary operator with no left operand", () => {
    const errors = errorsOf(`class Resource implements Namespace {
  permits = {
    update: (ctx: Context) => ||
      this.related.annotators.includes(ctx.subject),
`);
    expect(errors[0]?.message).toBe('expected "this", "(" or "!" but found "||"');
    expect(at(errors[0])).toBe("3:31");
  });
});

describe("parseOpl: error recovery", () => {
  it("reports errors in several entries and classes in one pass", () => {
    const text = `class A implements Namespace {
  related: {
    ok1: A[]
    bad1: A[
    ok2: (A | B)[]
    bad2 A[]
  }
  permits = {
    p1: (ctx) => this.related.ok1.includes(ctx.subject),
    p2: (ctx) { },
    p3: (ctx) => (this.related.ok1.includes(ctx.subject),
    p4: (ctx) => this.related.ok2.includes(ctx.subject),
  }
}
class B implements Namespace {
  related: { x: B }
  permits = { q: (ctx) => this.permits.nope }
}
class C implements Namespace { related: { fine: C[] } }
class A {}
`;
    const result = parseOpl(text);
    expect(result.schema).toBeUndefined();
    const errors = result.diagnostics.filter((d) => d.severity === "error");
    expect(errors.map((e) => `${at(e)} ${e.construct}`)).toEqual([
      "5:5 syntax", // `]` expected; found the next entry's name
      "6:10 syntax", // `:` expected after bad2
      "10:15 syntax", // `=>` expected
      "11:57 syntax", // `)` expected
      "16:19 syntax", // `[` expected
      "17:45 syntax", // `(` expected after this.permits.nope
      "20:7 duplicate_name",
    ]);
  });

  it("still defines the good entries around a bad one (visible through duplicate detection)", () => {
    const text = `class A {
  permits = {
    p: (ctx) => this.permits.x(ctx),
    broken: (ctx) => this.nope,
    q: (ctx) => this.permits.p(ctx),
    q: (ctx) => this.permits.p(ctx),
  }
}`;
    const errors = errorsOf(text);
    expect(errors.map((e) => `${at(e)} ${e.construct}`)).toEqual(["4:27 syntax", "6:5 duplicate_name"]);
  });
});
