import { describe, expect, it } from "vitest";
import { LimitExceededError, NotFoundError } from "../../common/errors.js";
import { GraphSnapshot } from "../graph/graph-snapshot.js";
import type { GraphView } from "../graph/graph-view.js";
import type { Schema } from "../schema/ir.js";
import { parseSubject, parseTuple, type RelationTuple } from "../tuple.js";
import { check } from "./check.js";
import { buildSchema, viewOf } from "./test-schema.js";

/** `ns:obj#rel@subject` → check result. */
function can(schema: Schema, view: GraphView, query: string, maxDepth?: number): boolean {
  const t = parseTuple(query);
  return check(schema, view, t, maxDepth === undefined ? {} : { maxDepth });
}

describe("check: rewrites", () => {
  const schema = buildSchema({
    user: {},
    folder: { viewer: "[user]" },
    doc: {
      parent: "[folder]",
      owner: "[user]",
      editor: "[user] or owner",
      viewer: "[user] or editor or viewer from parent",
      banned: "[user]",
      reader: "viewer but not banned",
      both: "editor and viewer",
      anyone_not_banned: "not banned",
    },
  });
  const view = viewOf(
    "doc:d#owner@user:olga",
    "doc:d#editor@user:ed",
    "doc:d#viewer@user:vic",
    "doc:d#parent@folder:f",
    "folder:f#viewer@user:fay",
    "doc:d#banned@user:vic",
    "doc:d#banned@user:fay",
  );

  it("this: only the exact stored subject", () => {
    expect(can(schema, view, "doc:d#owner@user:olga")).toBe(true);
    expect(can(schema, view, "doc:d#owner@user:ed")).toBe(false);
  });

  it("computed usersets chain through relations of the same object", () => {
    expect(can(schema, view, "doc:d#editor@user:olga")).toBe(true);
    expect(can(schema, view, "doc:d#viewer@user:olga")).toBe(true);
    expect(can(schema, view, "doc:d#viewer@user:ed")).toBe(true);
    expect(can(schema, view, "doc:d#editor@user:vic")).toBe(false);
  });

  it("tuple-to-userset follows the tupleset to the parent's relation", () => {
    expect(can(schema, view, "doc:d#viewer@user:fay")).toBe(true);
    expect(can(schema, view, "doc:d#editor@user:fay")).toBe(false);
  });

  it("exclusion subtracts", () => {
    expect(can(schema, view, "doc:d#reader@user:ed")).toBe(true);
    expect(can(schema, view, "doc:d#reader@user:vic")).toBe(false);
    expect(can(schema, view, "doc:d#reader@user:fay")).toBe(false);
    expect(can(schema, view, "doc:d#reader@user:nobody")).toBe(false);
  });

  it("intersection needs every branch", () => {
    expect(can(schema, view, "doc:d#both@user:olga")).toBe(true);
    expect(can(schema, view, "doc:d#both@user:vic")).toBe(false);
  });

  it("complement is a true negation, even for objects without tuples", () => {
    expect(can(schema, view, "doc:d#anyone_not_banned@user:ed")).toBe(true);
    expect(can(schema, view, "doc:d#anyone_not_banned@user:vic")).toBe(false);
    expect(can(schema, view, "doc:elsewhere#anyone_not_banned@user:vic")).toBe(true);
  });

  it("rejects unknown namespaces and relations with NotFoundError naming them", () => {
    expect(() => can(schema, view, "nope:d#viewer@user:x")).toThrow(NotFoundError);
    expect(() => can(schema, view, "nope:d#viewer@user:x")).toThrow(/namespace "nope"/);
    expect(() => can(schema, view, "doc:d#nope@user:x")).toThrow(/no relation or permission "nope"/);
  });

  it("skips tuple-to-userset targets whose type lacks the relation", () => {
    const s = buildSchema({
      user: {},
      team: { member: "[user]" },
      org: { admin: "[user]" },
      doc: { owner: "[team, org]", can: "member from owner" },
    });
    const v = viewOf("doc:d#owner@org:o", "org:o#admin@user:a", "doc:d#owner@team:t", "team:t#member@user:m");
    expect(can(s, v, "doc:d#can@user:m")).toBe(true);
    expect(can(s, v, "doc:d#can@user:a")).toBe(false);
  });
});

describe("check: subjects", () => {
  it("follows subject sets nested five deep", () => {
    const schema = buildSchema({ user: {}, group: { member: "[user, group#member]" } });
    const view = viewOf(
      "group:g0#member@group:g1#member",
      "group:g1#member@group:g2#member",
      "group:g2#member@group:g3#member",
      "group:g3#member@group:g4#member",
      "group:g4#member@group:g5#member",
      "group:g5#member@user:deep",
    );
    expect(can(schema, view, "group:g0#member@user:deep")).toBe(true);
    expect(can(schema, view, "group:g3#member@user:deep")).toBe(true);
    expect(can(schema, view, "group:g0#member@user:other")).toBe(false);
    // a subject set is a member where that exact subject set is stored along the way
    expect(can(schema, view, "group:g0#member@group:g4#member")).toBe(true);
    expect(can(schema, view, "group:g4#member@group:g0#member")).toBe(false);
    expect(can(schema, view, "group:g0#member@group:g0#member")).toBe(false);
  });

  it("a typed object with an empty relation matches only itself", () => {
    const schema = buildSchema({ user: {}, team: { member: "[user]" }, doc: { viewer: "[user, team]" } });
    const view = viewOf("doc:d#viewer@team:t", "team:t#member@user:anne");
    expect(can(schema, view, "doc:d#viewer@team:t")).toBe(true);
    // team:t is not expanded: it is an object, not the userset team:t#member
    expect(can(schema, view, "doc:d#viewer@user:anne")).toBe(false);
    expect(can(schema, view, "doc:d#viewer@team:t#member")).toBe(false);
  });

  it("bare subject ids count only when the schema allows them", () => {
    const tuples = ["doc:d#viewer@john", "doc:d#viewer@group:g#member", "group:g#member@mary"];
    const types = { group: { member: "[user]" }, user: {}, doc: { viewer: "[user, group#member]" } };
    const opl = buildSchema(types, { language: "opl" });
    const fga = buildSchema(types, { language: "fga" });
    const view = viewOf(...tuples);
    expect(can(opl, view, "doc:d#viewer@john")).toBe(true);
    expect(can(opl, view, "doc:d#viewer@mary")).toBe(true);
    expect(can(opl, view, "doc:d#viewer@user:john")).toBe(false);
    expect(can(fga, view, "doc:d#viewer@john")).toBe(false);
    expect(can(fga, view, "doc:d#viewer@mary")).toBe(false);
  });

  it("ignores stored tuples whose subject type the schema no longer allows", () => {
    const view = viewOf("doc:d#viewer@user:anne", "doc:d#viewer@group:g#member", "group:g#member@user:bob");
    const before = buildSchema({ user: {}, group: { member: "[user]" }, doc: { viewer: "[user, group#member]" } });
    const after = buildSchema({ user: {}, group: { member: "[user]" }, doc: { viewer: "[group#member]" } });
    expect(can(before, view, "doc:d#viewer@user:anne")).toBe(true);
    expect(can(after, view, "doc:d#viewer@user:anne")).toBe(false);
    expect(can(after, view, "doc:d#viewer@user:bob")).toBe(true);
    const none = buildSchema({ user: {}, group: { member: "[user]" }, doc: { viewer: "[user]" } });
    expect(can(none, view, "doc:d#viewer@user:bob")).toBe(false);
  });
});

describe("check: wildcards", () => {
  const schema = buildSchema({
    user: {},
    employee: {},
    team: { member: "[user]" },
    doc: {
      viewer: "[user, user:*, team#member]",
      blocked: "[user]",
      can_view: "viewer but not blocked",
      plain: "[user]",
    },
  });
  const view = viewOf(
    "doc:pub#viewer@user:*",
    "doc:pub#blocked@user:bob",
    "doc:pub#plain@user:*",
    "doc:team#viewer@team:red#member",
    "team:red#member@user:tia",
  );

  it("matches every typed object of the type", () => {
    expect(can(schema, view, "doc:pub#viewer@user:anyone")).toBe(true);
    expect(can(schema, view, "doc:pub#viewer@user:*")).toBe(true);
    expect(can(schema, view, "doc:pub#viewer@employee:e")).toBe(false);
  });

  it("does not match subject sets or bare ids", () => {
    expect(can(schema, view, "doc:pub#viewer@team:red#member")).toBe(false);
    expect(can(schema, view, "doc:pub#viewer@anyone")).toBe(false);
  });

  it("can be carved out with but not", () => {
    expect(can(schema, view, "doc:pub#can_view@user:anyone")).toBe(true);
    expect(can(schema, view, "doc:pub#can_view@user:bob")).toBe(false);
    expect(can(schema, view, "doc:pub#can_view@user:*")).toBe(true);
  });

  it("counts only where the relation declares the wildcard", () => {
    expect(can(schema, view, "doc:pub#plain@user:anyone")).toBe(false);
    expect(can(schema, view, "doc:pub#plain@user:*")).toBe(false);
  });

  it("is an ordinary id in OPL", () => {
    const opl = buildSchema({ user: {}, doc: { viewer: "[user]" } }, { language: "opl" });
    const v = viewOf("doc:pub#viewer@user:*");
    expect(can(opl, v, "doc:pub#viewer@user:*")).toBe(true);
    expect(can(opl, v, "doc:pub#viewer@user:anyone")).toBe(false);
  });
});

describe("check: cycles", () => {
  const schema = buildSchema({
    user: {},
    group: { member: "[user, group#member]", banned: "[user, group#member]", allowed: "member but not banned", outsider: "not member" },
    folder: { parent: "[folder]", viewer: "[user] or viewer from parent" },
    loop: { a: "b", b: "a or c", c: "[user]" },
  });
  const view = viewOf(
    "group:a#member@group:b#member",
    "group:b#member@group:c#member",
    "group:c#member@group:a#member",
    "group:c#member@user:cara",
    "group:x#member@group:x#member",
    "group:x#member@user:xena",
    "group:x#banned@group:b#member",
    "folder:f1#parent@folder:f2",
    "folder:f2#parent@folder:f1",
    "folder:f2#viewer@user:vic",
    "loop:l#c@user:lou",
  );

  it("terminates and finds members through a cycle", () => {
    for (const g of ["a", "b", "c"]) {
      expect(can(schema, view, `group:${g}#member@user:cara`)).toBe(true);
      expect(can(schema, view, `group:${g}#member@user:nobody`)).toBe(false);
    }
    expect(can(schema, view, "folder:f1#viewer@user:vic")).toBe(true);
    expect(can(schema, view, "folder:f1#viewer@user:nobody")).toBe(false);
  });

  it("terminates under exclusion and complement, counting the cycle as not-a-member", () => {
    expect(can(schema, view, "group:x#allowed@user:xena")).toBe(true);
    expect(can(schema, view, "group:x#allowed@user:cara")).toBe(false);
    expect(can(schema, view, "group:a#outsider@user:nobody")).toBe(true);
    expect(can(schema, view, "group:a#outsider@user:cara")).toBe(false);
  });

  it("terminates on cyclic computed usersets", () => {
    expect(can(schema, view, "loop:l#a@user:lou")).toBe(true);
    expect(can(schema, view, "loop:l#a@user:nobody")).toBe(false);
  });

  it("does not memoize a cycle-cut result as definitive (mutual exclusion)", () => {
    // z = d but not x, x = e but not z: under the path-based semantics, q = z or x is false for u, because
    // each of z and x, evaluated first, is true only when the other is cut. Memoizing z's cycle-cut answer
    // and reusing it for x would wrongly make q true.
    const s = buildSchema({
      user: {},
      t: { d: "[user]", e: "[user]", z: "d but not x", x: "e but not z", q: "z or x", q2: "x or z" },
    });
    const v = viewOf("t:o#d@user:u", "t:o#e@user:u");
    expect(can(s, v, "t:o#z@user:u")).toBe(false);
    expect(can(s, v, "t:o#x@user:u")).toBe(false);
    expect(can(s, v, "t:o#q@user:u")).toBe(false);
    expect(can(s, v, "t:o#q2@user:u")).toBe(false);
  });
});

describe("check: depth", () => {
  const schema = buildSchema({ user: {}, group: { member: "[user, group#member]" }, doc: {
      viewer: "[user, group#member]",
      banned: "[group#member]",
      owner: "[user]",
      ok: "viewer but not banned",
      both: "viewer and owner",
    },
  });
  // g0 <- g1 <- ... <- g6: user:deep is in g6, so in g0 through six nested subject sets.
  const chain = Array.from({ length: 6 }, (_, i) => `group:g${i}#member@group:g${i + 1}#member`);
  const view = viewOf(...chain, "group:g6#member@user:deep", "group:g0#member@user:top");

  it("counts the requested userset and every hop", () => {
    expect(can(schema, view, "group:g0#member@user:deep", 7)).toBe(true);
    expect(() => can(schema, view, "group:g0#member@user:deep", 6)).toThrow(LimitExceededError);
    expect(can(schema, view, "group:g5#member@user:deep", 2)).toBe(true);
    expect(() => can(schema, view, "group:g5#member@user:deep", 1)).toThrow(LimitExceededError);
  });

  it("is an error, not a deny, with reason max_depth_exceeded", () => {
    let error: unknown;
    try {
      can(schema, view, "group:g0#member@user:nobody", 3);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LimitExceededError);
    expect(error).toMatchObject({ reason: "max_depth_exceeded", details: { maxDepth: 3 } });
    expect(String((error as Error).message)).toContain("group:g0#member@user:nobody");
  });

  it("still decides when a branch decides before the limit", () => {
    expect(can(schema, view, "group:g0#member@user:top", 1)).toBe(true);
    const v = viewOf(...chain, "group:g6#member@user:deep", "doc:d#viewer@group:g0#member", "doc:d#viewer@user:u", "doc:d#banned@group:g0#member");
    // union: a direct hit wins over the exhausted subject-set branch
    expect(can(schema, v, "doc:d#viewer@user:u", 2)).toBe(true);
    // exclusion: undecided base, but nothing to subtract? still undecided → error
    expect(() => can(schema, v, "doc:d#ok@user:deep", 3)).toThrow(LimitExceededError);
    // intersection: a definite false wins over an exhausted branch evaluated before it
    expect(() => can(schema, v, "doc:d#viewer@user:nobody", 3)).toThrow(LimitExceededError);
    expect(can(schema, v, "doc:d#both@user:nobody", 3)).toBe(false);
  });

  it("defaults to 25 and rejects a bad maxDepth", () => {
    const long = Array.from({ length: 30 }, (_, i) => `group:h${i}#member@group:h${i + 1}#member`);
    const v = viewOf(...long, "group:h30#member@user:end");
    expect(() => can(schema, v, "group:h0#member@user:end")).toThrow(/max depth 25/);
    expect(can(schema, v, "group:h0#member@user:end", 31)).toBe(true);
    expect(() => can(schema, v, "group:h0#member@user:end", 0)).toThrow(/maxDepth/);
  });

  it("reuses memoized results only with enough depth left", () => {
    // doc:d reaches g6 twice: first through g4 and g5 (deep, where it runs out), then directly (shallow).
    // The exhausted deep attempt must not be memoized as an answer for the shallow one.
    const v = viewOf(...chain, "group:g6#member@user:deep", "doc:d#viewer@group:g4#member", "doc:d#viewer@group:g6#member");
    expect(can(schema, v, "doc:d#viewer@user:deep", 3)).toBe(true);
    expect(can(schema, v, "doc:d#viewer@user:deep", 2)).toBe(true);
    expect(can(schema, v, "doc:d#viewer@user:deep", 4)).toBe(true);
    expect(() => can(schema, v, "doc:d#viewer@user:deep", 1)).toThrow(LimitExceededError);
  });
});

describe("check: scale", () => {
  it("handles a document in 1,000 folders", () => {
    const schema = buildSchema({
      user: {},
      folder: { viewer: "[user]" },
      doc: { parent: "[folder]", viewer: "[user] or viewer from parent" },
    });
    const tuples: RelationTuple[] = [];
    for (let i = 0; i < 1000; i++) tuples.push(parseTuple(`doc:d#parent@folder:f${i}`));
    tuples.push(parseTuple("folder:f999#viewer@user:last"));
    const view = GraphSnapshot.build(tuples, 1).at();
    expect(check(schema, view, { namespace: "doc", object: "d", relation: "viewer", subject: parseSubject("user:last") })).toBe(true);
    expect(check(schema, view, { namespace: "doc", object: "d", relation: "viewer", subject: parseSubject("user:no") })).toBe(false);
  });

  it("handles a group with 10,000 members and a 1,000-group chain", () => {
    const schema = buildSchema({ user: {}, group: { member: "[user, group#member]" } });
    const tuples: RelationTuple[] = [];
    for (let i = 0; i < 10_000; i++) tuples.push(parseTuple(`group:big#member@user:u${i}`));
    for (let i = 0; i < 1000; i++) tuples.push(parseTuple(`group:c${i}#member@group:c${i + 1}#member`));
    tuples.push(parseTuple("group:c1000#member@group:big#member"));
    const view = GraphSnapshot.build(tuples, 1).at();
    const q = (object: string, subject: string) => ({ namespace: "group", object, relation: "member", subject: parseSubject(subject) });
    expect(check(schema, view, q("big", "user:u9999"))).toBe(true);
    expect(check(schema, view, q("big", "user:u10000"))).toBe(false);
    // 1,002 nodes deep: iterative, so no stack overflow
    expect(check(schema, view, q("c0", "user:u5000"), { maxDepth: 2000 })).toBe(true);
    expect(check(schema, view, q("c0", "user:nobody"), { maxDepth: 2000 })).toBe(false);
    expect(() => check(schema, view, q("c0", "user:u5000"), { maxDepth: 500 })).toThrow(LimitExceededError);
  });

  it("explores a clique of groups once per node, not once per path", () => {
    // 14 groups that all contain each other: 13! simple paths for a path-based search.
    const schema = buildSchema({ user: {}, group: { member: "[user, group#member]" } });
    const tuples: string[] = ["group:g13#member@user:last"];
    for (let a = 0; a < 14; a++) for (let b = 0; b < 14; b++) if (a !== b) tuples.push(`group:g${a}#member@group:g${b}#member`);
    const view = viewOf(...tuples);
    expect(can(schema, view, "group:g0#member@user:nobody")).toBe(false);
    expect(can(schema, view, "group:g0#member@user:last")).toBe(true);
  });

  it("stays fast on wide diamonds thanks to the memo", () => {
    // 12 layers of 2 groups, each containing both groups of the next layer: 2^12 paths without a memo.
    const schema = buildSchema({ user: {}, group: { member: "[user, group#member]" } });
    const tuples: string[] = [];
    for (let layer = 0; layer < 12; layer++) {
      for (const a of ["x", "y"]) for (const b of ["x", "y"]) tuples.push(`group:${a}${layer}#member@group:${b}${layer + 1}#member`);
    }
    const view = viewOf(...tuples);
    expect(can(schema, view, "group:x0#member@user:nobody", 50)).toBe(false);
  });
});
