import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { CompileResult, Diagnostic, RelationDef, Rewrite, Schema } from "../ir.js";
import { parseFga } from "./index.js";

/** Parses and insists on success. */
function ok(text: string): Schema {
  const result = parseFga(text);
  expect(result.diagnostics).toEqual([]);
  expect(result.schema).toBeDefined();
  return result.schema as Schema;
}

/** Wraps type blocks in the header. */
function model(body: string): string {
  return `model\n  schema 1.1\n${body}`;
}

function relation(schema: Schema, type: string, name: string): RelationDef {
  const r = schema.types.get(type)?.relations.get(name);
  if (r === undefined) throw new Error(`no ${type}#${name}`);
  return r;
}

/** A rewrite without positions, for structural comparisons. */
function shape(rw: Rewrite): unknown {
  switch (rw.kind) {
    case "this":
      return "this";
    case "computed":
      return rw.relation;
    case "tupleToUserset":
      return `${rw.computed} from ${rw.tupleset}`;
    case "union":
      return { or: rw.children.map(shape) };
    case "intersection":
      return { and: rw.children.map(shape) };
    case "exclusion":
      return { base: shape(rw.base), butNot: shape(rw.subtract) };
    case "complement":
      return { not: shape(rw.child) };
  }
}

/** The rewrite shape of a single `define r: EXPR` in a type that has relations a..f and the type `user`. */
function exprShape(expr: string): unknown {
  const schema = ok(model(`type user\ntype t\n  relations\n    define r: ${expr}\n`));
  return shape(relation(schema, "t", "r").rewrite);
}

/** The diagnostics of a failing parse, as `line:column construct` strings. */
function where(result: CompileResult): string[] {
  return result.diagnostics.map((d) => `${d.start.line}:${d.start.column} ${d.construct}`);
}

function only(result: CompileResult): Diagnostic {
  expect(result.schema).toBeUndefined();
  expect(result.diagnostics).toHaveLength(1);
  return result.diagnostics[0] as Diagnostic;
}

const DRIVE = `model
  schema 1.1

type user

type group
  relations
    define member: [user, group#member]

type folder
  relations
    define owner: [user]
    define parent: [folder]
    define viewer: [user, user:*, group#member] or owner or viewer from parent

type doc
  relations
    define parent: [folder]
    define owner: [user]
    define editor: [user] or owner
    define viewer: [user, user:*, group#member] or editor or viewer from parent
    define blocked: [user]
    define can_view: viewer but not blocked
`;

describe("parseFga: the Google-Drive model", () => {
  const schema = ok(DRIVE);

  it("has the types in declaration order with their positions", () => {
    expect(schema.language).toBe("fga");
    expect(schema.bareSubjectIds).toBe(false);
    expect([...schema.types.keys()]).toEqual(["user", "group", "folder", "doc"]);
    expect(schema.types.get("user")?.relations.size).toBe(0);
    expect(schema.types.get("folder")?.pos).toEqual({ line: 10, column: 6 });
    expect([...(schema.types.get("doc")?.relations.keys() ?? [])]).toEqual([
      "parent",
      "owner",
      "editor",
      "viewer",
      "blocked",
      "can_view",
    ]);
  });

  it("builds group#member with a nested subject set type", () => {
    expect(relation(schema, "group", "member")).toEqual({
      name: "member",
      kind: "relation",
      directTypes: [
        { type: "user", pos: { line: 8, column: 21 } },
        { type: "group", relation: "member", pos: { line: 8, column: 27 } },
      ],
      rewrite: { kind: "this", pos: { line: 8, column: 20 } },
      pos: { line: 8, column: 12 },
    });
  });

  it("builds folder#viewer as a union of this, computed and tuple-to-userset", () => {
    expect(relation(schema, "folder", "viewer")).toEqual({
      name: "viewer",
      kind: "relation",
      directTypes: [
        { type: "user", pos: { line: 14, column: 21 } },
        { type: "user", wildcard: true, pos: { line: 14, column: 27 } },
        { type: "group", relation: "member", pos: { line: 14, column: 35 } },
      ],
      rewrite: {
        kind: "union",
        pos: { line: 14, column: 20 },
        children: [
          { kind: "this", pos: { line: 14, column: 20 } },
          { kind: "computed", relation: "owner", pos: { line: 14, column: 52 } },
          { kind: "tupleToUserset", tupleset: "parent", computed: "viewer", pos: { line: 14, column: 61 } },
        ],
      },
      pos: { line: 14, column: 12 },
    });
  });

  it("builds doc#can_view as a permission with an exclusion", () => {
    expect(relation(schema, "doc", "can_view")).toEqual({
      name: "can_view",
      kind: "permission",
      directTypes: [],
      rewrite: {
        kind: "exclusion",
        pos: { line: 23, column: 22 },
        base: { kind: "computed", relation: "viewer", pos: { line: 23, column: 22 } },
        subtract: { kind: "computed", relation: "blocked", pos: { line: 23, column: 37 } },
      },
      pos: { line: 23, column: 12 },
    });
    expect(shape(relation(schema, "doc", "editor").rewrite)).toEqual({ or: ["this", "owner"] });
    expect(relation(schema, "doc", "editor").kind).toBe("relation");
  });
});

describe("parseFga: expressions", () => {
  it("maps each operator", () => {
    expect(exprShape("[user]")).toBe("this");
    expect(exprShape("a")).toBe("a");
    expect(exprShape("a from b")).toBe("a from b");
    expect(exprShape("a or b or c")).toEqual({ or: ["a", "b", "c"] });
    expect(exprShape("a and b and c")).toEqual({ and: ["a", "b", "c"] });
    expect(exprShape("a but not b")).toEqual({ base: "a", butNot: "b" });
    expect(exprShape("[user] but not b")).toEqual({ base: "this", butNot: "b" });
    expect(exprShape("[user] and a from b")).toEqual({ and: ["this", "a from b"] });
  });

  it("uses parentheses to mix operators and flattens same-kind nesting", () => {
    expect(exprShape("a or (b and c)")).toEqual({ or: ["a", { and: ["b", "c"] }] });
    expect(exprShape("(a or b) and c")).toEqual({ and: [{ or: ["a", "b"] }, "c"] });
    expect(exprShape("a or (b or (c or d)) or e")).toEqual({ or: ["a", "b", "c", "d", "e"] });
    expect(exprShape("(a and b) and c")).toEqual({ and: ["a", "b", "c"] });
    expect(exprShape("(a but not b) or c")).toEqual({ or: [{ base: "a", butNot: "b" }, "c"] });
    expect(exprShape("a but not (b or c)")).toEqual({ base: "a", butNot: { or: ["b", "c"] } });
    expect(exprShape("((a))")).toBe("a");
    expect(exprShape("([user] or a) and (b from c or d)")).toEqual({ and: [{ or: ["this", "a"] }, { or: ["b from c", "d"] }] });
  });

  it("marks a define without a type list as a permission with no direct types", () => {
    const schema = ok(model("type t\n  relations\n    define a: [t]\n    define p: a\n"));
    expect(relation(schema, "t", "p").kind).toBe("permission");
    expect(relation(schema, "t", "p").directTypes).toEqual([]);
    expect(relation(schema, "t", "a").kind).toBe("relation");
  });

  it("accepts a type list spread over several lines", () => {
    const schema = ok(model("type user\ntype g\n  relations\n    define m: [\n      user,\n      g#m\n    ] or n\n    define n: [user]\n"));
    const m = relation(schema, "g", "m");
    expect(m.directTypes.map((t) => [t.type, t.relation, t.pos.line])).toEqual([
      ["user", undefined, 7],
      ["g", "m", 8],
    ]);
    expect(shape(m.rewrite)).toEqual({ or: ["this", "n"] });
  });

  it("is tolerant of tabs, odd indentation, blank lines and missing spaces", () => {
    const schema = ok(
      "model\n\tschema 1.1\n\n\ntype user\ntype doc\n\trelations\n\t\tdefine viewer:[user,user:*]   or   owner\n define owner: [user]\n",
    );
    expect(shape(relation(schema, "doc", "viewer").rewrite)).toEqual({ or: ["this", "owner"] });
    expect(relation(schema, "doc", "viewer").directTypes).toHaveLength(2);
  });

  it("accepts hyphens and underscores in names and a relation named like a type", () => {
    const schema = ok(model("type team-member\ntype group\n  relations\n    define group: [team-member]\n    define can_see_2: group\n"));
    expect(relation(schema, "group", "group").directTypes[0]?.type).toBe("team-member");
    expect(shape(relation(schema, "group", "can_see_2").rewrite)).toBe("group");
  });

  it("skips full-line and trailing comments but keeps group#member", () => {
    const schema = ok(`# leading comment
model # the model
  schema 1.1 # version
# between
type user # people
type group
  # a comment inside the block
  relations # trailing
    # before a define
    define member: [user, group#member] # groups nest
    define admin: [user]	# tab before the hash
`);
    expect(relation(schema, "group", "member").directTypes).toHaveLength(2);
    expect(relation(schema, "group", "member").directTypes[1]).toMatchObject({ type: "group", relation: "member" });
    expect(relation(schema, "group", "admin").pos).toEqual({ line: 11, column: 12 });
  });

  it("accepts a model with only the header, and Windows line endings", () => {
    expect(ok("model\n  schema 1.1\n").types.size).toBe(0);
    const schema = ok("model\r\n  schema 1.1\r\ntype user\r\ntype doc\r\n  relations\r\n    define v: [user]\r\n");
    expect(relation(schema, "doc", "v").pos).toEqual({ line: 6, column: 12 });
  });
});

describe("parseFga: header errors", () => {
  it("requires the model header", () => {
    const d = only(parseFga("type user\n"));
    expect(d).toMatchObject({ construct: "syntax", start: { line: 1, column: 1 }, end: { line: 1, column: 4 } });
    expect(d.message).toMatch(/expected the `model` header/);
  });

  it("rejects schema 1.0 as unsupported", () => {
    const d = only(parseFga("model\n  schema 1.0\ntype user\n"));
    expect(d).toMatchObject({ construct: "unsupported", start: { line: 2, column: 10 }, end: { line: 2, column: 12 } });
    expect(d.message).toMatch(/schema version 1\.0 is not supported/);
  });

  it("requires `schema` after `model`", () => {
    const d = only(parseFga("model\ntype user\n"));
    expect(d).toMatchObject({ construct: "syntax", start: { line: 2, column: 1 } });
    expect(d.message).toMatch(/expected `schema 1\.1` after `model`, found `type`/);
    expect(only(parseFga("model\n  schema1.1\n")).start).toEqual({ line: 2, column: 3 });
    expect(only(parseFga("model\n  schema 11\n")).message).toMatch(/expected a schema version/);
    const oneLine = only(parseFga("model schema 1.1\ntype user\n"));
    expect(oneLine).toMatchObject({ construct: "syntax", start: { line: 1, column: 7 } });
    expect(oneLine.message).toMatch(/expected a new line after `model`/);
  });
});

describe("parseFga: a trailing but not after a chain", () => {
  it("excludes from the whole chain", () => {
    const shapeOf = (expr: string): unknown => {
      const result = parseFga(model(`type user\ntype t\n  relations\n    define r: ${expr}\n`));
      expect(result.diagnostics.map((d) => d.severity)).toEqual(["warning"]);
      return shape(relation(result.schema as Schema, "t", "r").rewrite);
    };
    expect(shapeOf("[user] or a or b from c but not d")).toEqual({ base: { or: ["this", "a", "b from c"] }, butNot: "d" });
    expect(shapeOf("a and b but not c")).toEqual({ base: { and: ["a", "b"] }, butNot: "c" });
  });

  it("is accepted with a compatibility warning at the operator", () => {
    const result = parseFga("model\n  schema 1.1\ntype user\ntype doc\n  relations\n    define blocked: [user]\n    define v: [user] or blocked but not blocked\n");
    expect(result.schema).toBeDefined();
    expect(result.diagnostics).toEqual([
      expect.objectContaining({ severity: "warning", construct: "compatibility", start: { line: 7, column: 33 } }),
    ]);
  });
});

describe("parseFga: syntax errors with positions", () => {
  const cases: Array<[string, string, string, RegExp]> = [
    ["mixed or/and", "define r: a or b and c", "5:22", /cannot mix `or` and `and`/],
    ["mixed and/or after a list", "define r: [user] and a or b", "5:28", /cannot mix `and` and `or`/],
    ["two but nots", "define r: a but not b but not c", "5:27", /`but not` cannot be followed by `but not`/],
    ["but not then or", "define r: a but not b or c", "5:27", /`but not` cannot be followed by `or`/],
    ["but not then and", "define r: a or b but not c and d", "5:32", /`but not` cannot be followed by `and`/],
    ["type list not first", "define r: a or [user]", "5:20", /type list `\[\.\.\.\]` may only be the first operand/],
    ["type list in a later group", "define r: a or ([user] or b)", "5:21", /may only be the first operand/],
    ["empty type list", "define r: []", "5:16", /expected a type name in the type list, found `\]`/],
    ["1.0 syntax", "define r as self", "5:14", /expected `:` after `define r`, found `as`/],
    ["missing expression", "define r:", "5:14", /expected a relation name, `\(` or a type list .* found the end of the line/],
    ["dangling operator", "define r: a or", "5:19", /expected a relation name, `\(` in the definition of `r`, found the end/],
    ["from without tupleset", "define r: a from", "5:21", /expected a relation name after `a from`/],
    ["unclosed paren", "define r: (a or b", "5:22", /expected `\)` to close the `\(` at 5:15/],
    ["wildcard with relation", "define r: [user:*#x]", "5:22", /expected `,` or `\]`/],
    ["double wildcard", "define r: [user:*:*]", "5:22", /expected `,` or `\]`/],
    ["bad wildcard", "define r: [user:x]", "5:21", /expected `\*` after `user:`/],
    ["trailing junk", "define r: a b", "5:17", /unexpected `b` in the definition of `r`/],
    ["keyword as relation name", "define or: [user]", "5:12", /`or` is a keyword/],
    ["reserved relation name", "define self: [user]", "5:12", /cannot be named `self` or `this`/],
    ["unknown character", "define r: a & b", "5:17", /unexpected `&`/],
  ];
  for (const [name, line, at, message] of cases) {
    it(name, () => {
      // The define sits on line 5, indented by four spaces.
      const d = only(parseFga(`model\n  schema 1.1\ntype t\n  relations\n    ${line}\n`));
      expect(`${d.start.line}:${d.start.column}`).toBe(at);
      expect(d.construct).toBe("syntax");
      expect(d.message).toMatch(message);
    });
  }
});

describe("parseFga: names, conditions, modules, recovery", () => {
  it("reports a duplicate type at the second name", () => {
    const d = only(parseFga(model("type user\ntype doc\ntype user\n")));
    expect(d).toMatchObject({ construct: "duplicate_name", start: { line: 5, column: 6 }, end: { line: 5, column: 9 } });
    expect(d.message).toBe("type `user` is already defined (at 3:6)");
  });

  it("reports a duplicate relation within a type, but allows the same name in two types", () => {
    const d = only(parseFga(model("type a\n  relations\n    define r: [a]\n    define r: [a]\ntype b\n  relations\n    define r: [a]\n")));
    expect(d).toMatchObject({ construct: "duplicate_name", start: { line: 6, column: 12 }, end: { line: 6, column: 12 } });
    expect(d.message).toMatch(/relation `r` is already defined in type `a` \(at 5:12\)/);
  });

  it("reports a duplicate type restriction in one list", () => {
    const d = only(parseFga(model("type user\ntype a\n  relations\n    define r: [user, user:*, user]\n")));
    expect(d).toMatchObject({ construct: "duplicate_name", start: { line: 6, column: 30 }, end: { line: 6, column: 33 } });
  });

  it("requires `relations` before `define`, and a define after `relations`", () => {
    const missing = only(parseFga(model("type user\ntype folder\n  define viewer: [user]\n")));
    expect(missing).toMatchObject({ construct: "syntax", start: { line: 5, column: 3 } });
    expect(missing.message).toMatch(/expected `relations` before the first `define` of type `folder`/);
    const empty = only(parseFga(model("type folder\n  relations\ntype user\n")));
    expect(empty).toMatchObject({ construct: "syntax", start: { line: 4, column: 3 } });
    expect(empty.message).toMatch(/at least one `define`/);
  });

  it("reports `define` outside a type and unknown statements", () => {
    expect(where(parseFga(model("  define viewer: [user]\ntype user\n")))).toEqual(["3:3 syntax"]);
    const d = only(parseFga(model("type user\ntype doc\n  relations\n    defne viewer: [user]\n")));
    expect(d.start).toEqual({ line: 6, column: 5 });
    expect(d.message).toMatch(/expected `type`, `relations`, `define` or `condition`, found `defne`/);
  });

  it("reports an unclosed type list at its `[` and keeps parsing the next define", () => {
    const result = parseFga(model("type user\ntype doc\n  relations\n    define a: [user,\n    define b: c or [user]\n"));
    expect(where(result)).toEqual(["6:15 syntax", "7:20 syntax"]);
    expect(result.diagnostics[0]?.message).toMatch(/type list opened at 6:15 is not closed/);
  });

  it("rejects conditions on type restrictions as unsupported", () => {
    const d = only(parseFga(model("type user\ntype doc\n  relations\n    define viewer: [user with non_expired, user]\n")));
    expect(d).toMatchObject({ construct: "unsupported", start: { line: 6, column: 26 }, end: { line: 6, column: 41 } });
    expect(d.message).toMatch(/conditions \(`user with non_expired`\) are not supported yet/);
  });

  it("rejects condition blocks as unsupported and skips their body", () => {
    const text = model(`type user
type doc
  relations
    define viewer: [user]
condition non_expired(current_time: timestamp, grant: timestamp) {
  current_time < grant && "a#b" != 'x' || {"k": [1, 2]}.size() > 0
}
type folder
  relations
    define x: y or z and w
`);
    const result = parseFga(text);
    expect(where(result)).toEqual(["7:1 unsupported", "12:22 syntax"]);
    expect(result.diagnostics[0]?.message).toMatch(/conditions \(`condition non_expired\(\.\.\.\) \{\.\.\.\}`\) are not supported yet/);
  });

  it("rejects modular models as unsupported", () => {
    const mod = parseFga("module core\ntype user\nextend type org\n  relations\n    define viewer: [user]\ntype team\n");
    expect(where(mod)).toEqual(["1:1 unsupported", "3:1 unsupported"]);
    expect(mod.diagnostics[0]?.message).toMatch(/modular models \(`module`\)/);
    expect(mod.diagnostics[1]?.message).toMatch(/modular models \(`extend type`\)/);
    expect(where(parseFga(model("type user\nextend type user\n")))).toEqual(["4:1 unsupported"]);
  });

  it("reports several errors in one pass and resyncs at the next define or type", () => {
    const text = model(`type user
type doc
  relations
    define a: b or c and d
    define e: [user] or [user]
    define a: [user]
    define ok: [user]
    define f: (g
type doc
type 9lives
  relations
    define g: h but not i but not j
`);
    const result = parseFga(text);
    expect(result.schema).toBeUndefined();
    expect(where(result)).toEqual([
      "6:22 syntax",
      "7:25 syntax",
      "10:17 syntax",
      "11:6 duplicate_name",
      "12:6 syntax",
      "14:27 syntax",
    ]);
    // `a` failed to parse, so the later `define a: [user]` is not a duplicate.
    expect(result.diagnostics.some((d) => d.start.line === 8)).toBe(false);
  });

  it("gives every diagnostic a 1-based start and an end not before it", () => {
    const result = parseFga("model\n  schema 1.1\ntype t\n  relations\n    define r: a or b and c\n");
    for (const d of result.diagnostics) {
      expect(d.severity).toBe("error");
      expect(d.start.line).toBeGreaterThanOrEqual(1);
      expect(d.start.column).toBeGreaterThanOrEqual(1);
      expect(d.end).toBeDefined();
      expect(d.end?.line).toBe(d.start.line);
      expect(d.end?.column).toBeGreaterThanOrEqual(d.start.column);
    }
  });
});

describe("parseFga: robustness", () => {
  const pieces = [
    "model", "schema", "1.1", "1.0", "type", "relations", "define", "condition", "module", "extend", "with",
    "user", "doc", "viewer", "parent", "or", "and", "but", "not", "from", "[", "]", "(", ")", ",", ":", "#", "*",
    "{", "}", " #", "\n", "\n  ", "\t", " ", "é", "😀", "\r\n",
  ];

  it("never throws on mangled models, and reports errors inside the text", () => {
    const lines = DRIVE.split("\n");
    const mangled = fc
      .tuple(fc.array(fc.tuple(fc.nat(lines.length), fc.constantFrom(...pieces), fc.nat(40)), { maxLength: 6 }), fc.nat(DRIVE.length))
      .map(([edits, cut]) => {
        const out = [...lines];
        for (const [lineIndex, piece, column] of edits) {
          const line = out[lineIndex % out.length] ?? "";
          const at = Math.min(column, line.length);
          out[lineIndex % out.length] = line.slice(0, at) + piece + line.slice(at + (column % 3));
        }
        const text = out.join("\n");
        return cut % 4 === 0 ? text.slice(0, cut) : text;
      });
    const soup = fc.array(fc.constantFrom(...pieces), { maxLength: 40 }).map((p) => p.join(" "));
    fc.assert(
      fc.property(fc.oneof(mangled, soup, fc.string({ maxLength: 80 })), (text) => {
        const result = parseFga(text);
        const lineCount = text.split(/\r\n|\n|\r/).length;
        for (const d of result.diagnostics) {
          if (d.start.line < 1 || d.start.line > lineCount || d.start.column < 1) return false;
        }
        // A schema comes back exactly when there is no error.
        return (result.schema === undefined) === result.diagnostics.some((d) => d.severity === "error");
      }),
      { numRuns: 400 },
    );
  });
});
