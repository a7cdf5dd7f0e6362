import { describe, expect, it } from "vitest";
import { parseFga } from "./fga/index.js";
import type { AllowedSubjectType, Diagnostic, RelationDef, Rewrite, Schema, SourcePosition, TypeDef } from "./ir.js";
import { validateSchema } from "./validate.js";

/** Parses an FGA body (header added) and validates it. */
function fga(body: string): Diagnostic[] {
  const parsed = parseFga(`model\n  schema 1.1\n${body}`);
  expect(parsed.diagnostics).toEqual([]);
  return validateSchema(parsed.schema as Schema);
}

/** `line:column construct` of each diagnostic. */
function where(diagnostics: readonly Diagnostic[]): string[] {
  return diagnostics.map((d) => `${d.start.line}:${d.start.column} ${d.construct}`);
}

// --- Hand-built OPL-style IR: what the OPL front end produces for Keto namespaces. ---------------------------

let line = 0;
/** A fresh position per node, so each diagnostic can be traced to the node that caused it. */
function at(): SourcePosition {
  line++;
  return { line, column: 3 };
}
const includes = (relation: string, pos = at()): Rewrite => ({ kind: "computed", relation, pos });
const traverse = (tupleset: string, computed: string, pos = at()): Rewrite => ({ kind: "tupleToUserset", tupleset, computed, pos });
const or = (...children: Rewrite[]): Rewrite => ({ kind: "union", children, pos: at() });
const and = (...children: Rewrite[]): Rewrite => ({ kind: "intersection", children, pos: at() });
const not = (child: Rewrite): Rewrite => ({ kind: "complement", child, pos: at() });
const cls = (name: string, pos: SourcePosition): AllowedSubjectType => ({ type: name, pos });
const subjectSet = (type: string, relation: string, pos: SourcePosition): AllowedSubjectType => ({ type, relation, pos });
/** OPL `related: { name: (A | SubjectSet<B, "r">)[] }`. */
const related = (name: string, types: AllowedSubjectType[], pos = at()): RelationDef => ({
  name,
  kind: "relation",
  directTypes: types,
  rewrite: { kind: "this", pos },
  pos,
});
/** OPL `permits = { name: (ctx) => … }`. */
const permit = (name: string, rewrite: Rewrite, pos = at()): RelationDef => ({ name, kind: "permission", directTypes: [], rewrite, pos });
const namespace = (name: string, ...relations: RelationDef[]): TypeDef => ({
  name,
  relations: new Map(relations.map((r) => [r.name, r])),
  pos: at(),
});
const opl = (...types: TypeDef[]): Schema => ({ language: "opl", types: new Map(types.map((t) => [t.name, t])), bareSubjectIds: true });

const DRIVE = `type user
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

describe("validateSchema on OpenFGA models", () => {
  it("accepts the Google-Drive model", () => {
    expect(fga(DRIVE)).toEqual([]);
  });

  it("accepts types without relations, relations named like types, and TTUs found on one of several types", () => {
    expect(
      fga(`type user
type org
  relations
    define member: [user]
type team
type doc
  relations
    define user: [user]
    define org: [org, team]
    define viewer: user or member from org
`),
    ).toEqual([]);
  });

  it("reports unknown_type at the type restriction", () => {
    const d = fga("type user\ntype doc\n  relations\n    define viewer: [user, usr, grp#member]\n");
    expect(where(d)).toEqual(["6:27 unknown_type", "6:32 unknown_type"]);
    expect(d[0]?.message).toMatch(/`doc#viewer` allows subject type `usr`, but type `usr` is not defined/);
  });

  it("reports invalid_subject_set when the type exists but lacks the relation", () => {
    const d = fga("type user\ntype group\n  relations\n    define member: [user]\ntype doc\n  relations\n    define viewer: [group#membr]\n");
    expect(where(d)).toEqual(["9:21 invalid_subject_set"]);
    expect(d[0]?.message).toMatch(/subject set `group#membr`, but type `group` has no relation or permission `membr`/);
  });

  it("reports unknown_relation for computed references and TTU tuplesets", () => {
    const d = fga("type user\ntype doc\n  relations\n    define owner: [user]\n    define viewer: ownr or viewer from parnt\n");
    expect(where(d)).toEqual(["7:20 unknown_relation", "7:28 unknown_relation"]);
    expect(d[0]?.message).toMatch(/refers to `ownr`, which is not a relation or permission of type `doc`/);
    expect(d[1]?.message).toMatch(/follows `parnt`.*`parnt` is not a relation of type `doc`/);
  });

  it("reports a TTU whose computed relation exists on none of the tupleset's types", () => {
    const d = fga("type user\ntype folder\ntype doc\n  relations\n    define parent: [folder, user]\n    define viewer: [user] or viewer from parent\n");
    expect(where(d)).toEqual(["8:30 unknown_relation"]);
    expect(d[0]?.message).toMatch(/none of `folder`, `user` defines it/);
  });

  it("follows OpenFGA: the tupleset must be directly assignable with plain types only", () => {
    const computed = fga(
      "type user\ntype folder\n  relations\n    define viewer: [user]\ntype doc\n  relations\n    define p: [folder]\n    define parent: p\n    define viewer: viewer from parent\n",
    );
    expect(where(computed)).toEqual(["11:20 unknown_relation"]);
    expect(computed[0]?.message).toMatch(/directly assignable relation with only a type list/);
    const userset = fga(
      "type user\ntype folder\n  relations\n    define viewer: [user]\ntype doc\n  relations\n    define parent: [folder, folder#viewer, user:*]\n    define viewer: viewer from parent\n",
    );
    expect(where(userset)).toEqual(["10:20 unknown_relation", "10:20 unknown_relation"]);
    expect(userset.map((x) => x.message).join("\n")).toMatch(/allows `folder#viewer`[^]*allows `user:\*`/);
  });

  it("reports no_base_case for self-reference and mutual reference, at the relation", () => {
    const d = fga("type user\ntype doc\n  relations\n    define viewer: viewer\n    define a: b\n    define b: a\n    define ok: [user]\n");
    expect(where(d)).toEqual(["6:12 no_base_case", "7:12 no_base_case", "8:12 no_base_case"]);
    expect(d[0]?.message).toMatch(/`doc#viewer` has no base case: it refers to itself/);
  });

  it("reports no_base_case for relations that only depend on ungrounded ones, and for intersections", () => {
    const d = fga(`type user
type doc
  relations
    define loop: loop
    define dependent: loop
    define both: [user] and loop
    define either: [user] or loop
    define minus: [user] but not loop
`);
    expect(where(d)).toEqual(["6:12 no_base_case", "7:12 no_base_case", "8:12 no_base_case"]);
    expect(d[1]?.message).toMatch(/`doc#dependent` has no base case: it depends only on relations that can never contain a subject/);
  });

  it("reports a subject set that only points back at itself (OpenFGA: no entrypoint)", () => {
    expect(where(fga("type group\n  relations\n    define member: [group#member]\n"))).toEqual(["5:12 no_base_case"]);
  });

  it("reports a recursive TTU with no base case, but accepts one with a base case", () => {
    expect(where(fga("type folder\n  relations\n    define parent: [folder]\n    define viewer: viewer from parent\n"))).toEqual([
      "6:12 no_base_case",
    ]);
    expect(fga("type user\ntype folder\n  relations\n    define parent: [folder]\n    define viewer: [user] or viewer from parent\n")).toEqual([]);
  });

  it("reports every problem in one pass", () => {
    const d = fga(`type user
type doc
  relations
    define a: [usr]
    define b: c
    define d: d
    define e: [user#x]
`);
    expect(where(d)).toEqual(["6:16 unknown_type", "7:15 unknown_relation", "9:16 invalid_subject_set", "8:12 no_base_case"]);
  });
});

describe("validateSchema on OPL-style IR", () => {
  it("accepts a clean Keto model (groups of groups, traverse, negation)", () => {
    const schema = opl(
      namespace("User"),
      namespace("Group", related("members", [cls("User", at()), subjectSet("Group", "members", at())])),
      namespace(
        "Folder",
        related("parents", [cls("Folder", at())]),
        related("viewers", [subjectSet("Group", "members", at())]),
        permit("view", or(includes("viewers"), traverse("parents", "view"))),
      ),
      namespace(
        "File",
        related("parents", [cls("Folder", at())]),
        related("banned", [cls("User", at())]),
        related("owners", [cls("User", at())]),
        permit("view", and(traverse("parents", "view"), not(includes("banned")))),
        permit("edit", includes("owners")),
        permit("outsider", not(includes("owners"))),
      ),
    );
    expect(validateSchema(schema)).toEqual([]);
  });

  it("reports unknown_type for T[] and SubjectSet<T, …> naming a missing class", () => {
    const p1 = at();
    const p2 = at();
    const d = validateSchema(opl(namespace("File", related("owners", [cls("Usr", p1), subjectSet("Team", "members", p2)]))));
    expect(d.map((x) => [x.construct, x.start])).toEqual([
      ["unknown_type", p1],
      ["unknown_type", p2],
    ]);
    expect(d[0]?.message).toMatch(/`File#owners` allows subject type `Usr`/);
  });

  it("reports invalid_subject_set for SubjectSet<Group, \"membrs\">", () => {
    const p = at();
    const d = validateSchema(opl(namespace("Group", related("members", [cls("Group", at())])), namespace("File", related("viewers", [subjectSet("Group", "membrs", p)]))));
    expect(d.map((x) => [x.construct, x.start])).toEqual([["invalid_subject_set", p]]);
  });

  it("reports unknown_relation for includes/permits of a missing relation and traverse of a missing relation", () => {
    const p1 = at();
    const p2 = at();
    const d = validateSchema(
      opl(namespace("User"), namespace("File", related("owners", [cls("User", at())]), permit("view", or(includes("ownrs", p1), traverse("parnts", "view", p2))))),
    );
    expect(d.map((x) => [x.construct, x.start])).toEqual([
      ["unknown_relation", p1],
      ["unknown_relation", p2],
    ]);
  });

  it("follows Keto: a traverse needs the permit on every type of the traversed relation", () => {
    const p = at();
    const schema = opl(
      namespace("User"),
      namespace("Folder", related("viewers", [cls("User", at())]), permit("view", includes("viewers"))),
      namespace("File", related("parents", [cls("Folder", at()), cls("User", at())]), permit("view", traverse("parents", "view", p))),
    );
    const d = validateSchema(schema);
    expect(d.map((x) => [x.construct, x.start])).toEqual([["unknown_relation", p]]);
    expect(d[0]?.message).toMatch(/type `User` \(allowed in `parents`\) has no relation or permission `view`/);
    // The same shape in an OpenFGA schema is accepted: there the relation must exist on at least one type.
    expect(validateSchema({ ...schema, language: "fga", bareSubjectIds: false })).toEqual([]);
  });

  it("follows Keto: a traverse over SubjectSet types checks the types behind the subject set", () => {
    const p = at();
    const d = validateSchema(
      opl(
        namespace("User"),
        namespace("Folder", related("owners", [cls("User", at())]), permit("view", includes("owners"))),
        namespace("Group", related("folders", [cls("Folder", at()), cls("User", at())])),
        namespace("File", related("parents", [subjectSet("Group", "folders", at())]), permit("view", traverse("parents", "view", p))),
      ),
    );
    expect(d.map((x) => x.message)).toEqual([expect.stringMatching(/type `User` \(allowed in `parents`\)/)]);
  });

  it("reports no_base_case for view: (ctx) => this.permits.view(ctx) and for mutual permits", () => {
    const view = at();
    const a = at();
    const b = at();
    const d = validateSchema(
      opl(namespace("File", permit("view", includes("view"), view), permit("a", includes("b"), a), permit("b", and(includes("a"), not(includes("view"))), b))),
    );
    expect(d.map((x) => [x.construct, x.start])).toEqual([
      ["no_base_case", view],
      ["no_base_case", a],
      ["no_base_case", b],
    ]);
  });

  it("treats SubjectSet-only relations as grounded in OPL, since Keto stores bare subject ids in any relation", () => {
    expect(validateSchema(opl(namespace("Group", related("members", [subjectSet("Group", "members", at())]))))).toEqual([]);
  });

  it("treats a complement as grounded and a recursive traverse with a base case as fine", () => {
    const schema = opl(
      namespace("User"),
      namespace(
        "Folder",
        related("parents", [cls("Folder", at())]),
        related("owners", [cls("User", at())]),
        permit("view", or(includes("owners"), traverse("parents", "view"))),
        permit("hidden", not(includes("hidden"))),
      ),
    );
    expect(validateSchema(schema)).toEqual([]);
  });

  it("reports a relation with an empty type list and no rewrite as having no base case", () => {
    const p = at();
    const d = validateSchema(opl(namespace("File", related("nobody", [], p))));
    expect(d.map((x) => [x.construct, x.start])).toEqual([["no_base_case", p]]);
  });
});
