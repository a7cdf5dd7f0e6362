import { describe, expect, it } from "vitest";
import { GraphSnapshot } from "../../graph/graph-snapshot.js";
import type { Schema } from "../../schema/ir.js";
import { parseTuple } from "../../tuple.js";
import { buildSchema } from "../test-schema.js";
import { evaluateBatch, INTERNAL_ERROR } from "./batch.js";
import { IntChecker, type IntTri } from "./int-checker.js";
import { batchItems, fixtureOf, intFixture, intTri, RequestIds, request, stringTri, type IntFixture } from "./test-support.js";

/** The int answer to `ns:obj#rel@subject`, asserted equal to the string evaluator's. */
function both(schema: Schema, f: IntFixture, query: string, maxDepth = 25): IntTri {
  const r = request(query);
  const expected = stringTri(schema, f.snapshot, f.snapshot.revision, r, maxDepth);
  const actual = intTri(f, f.snapshot.revision, r, maxDepth);
  expect(actual, `${query} (maxDepth ${maxDepth})`).toBe(expected);
  return actual;
}

describe("IntChecker: rewrites", () => {
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
  const f = fixtureOf(
    schema,
    "doc:d#owner@user:olga",
    "doc:d#editor@user:ed",
    "doc:d#viewer@user:vic",
    "doc:d#parent@folder:f",
    "folder:f#viewer@user:fay",
    "doc:d#banned@user:vic",
    "doc:d#banned@user:fay",
  );

  it("agrees with check on this, computed, tuple-to-userset, exclusion, intersection, complement", () => {
    expect(both(schema, f, "doc:d#owner@user:olga")).toBe(1);
    expect(both(schema, f, "doc:d#owner@user:ed")).toBe(0);
    expect(both(schema, f, "doc:d#viewer@user:olga")).toBe(1);
    expect(both(schema, f, "doc:d#viewer@user:fay")).toBe(1);
    expect(both(schema, f, "doc:d#editor@user:fay")).toBe(0);
    expect(both(schema, f, "doc:d#reader@user:ed")).toBe(1);
    expect(both(schema, f, "doc:d#reader@user:vic")).toBe(0);
    expect(both(schema, f, "doc:d#reader@user:nobody")).toBe(0);
    expect(both(schema, f, "doc:d#both@user:olga")).toBe(1);
    expect(both(schema, f, "doc:d#both@user:vic")).toBe(0);
    expect(both(schema, f, "doc:d#anyone_not_banned@user:ed")).toBe(1);
    expect(both(schema, f, "doc:d#anyone_not_banned@user:vic")).toBe(0);
    // an object and a subject the graph never saw (negative ids)
    expect(both(schema, f, "doc:elsewhere#anyone_not_banned@user:vic")).toBe(1);
    expect(both(schema, f, "doc:elsewhere#anyone_not_banned@user:ghost")).toBe(1);
  });

  it("answers FALSE for a type or relation the schema lacks", () => {
    expect(both(schema, f, "nope:d#viewer@user:olga")).toBe(0);
    expect(both(schema, f, "doc:d#nope@user:olga")).toBe(0);
  });

  it("skips tuple-to-userset targets whose type lacks the relation", () => {
    const s = buildSchema({ user: {}, team: { member: "[user]" }, org: { admin: "[user]" }, doc: { owner: "[team, org]", can: "member from owner" } });
    const g = fixtureOf(s, "doc:d#owner@org:o", "org:o#admin@user:a", "doc:d#owner@team:t", "team:t#member@user:m");
    expect(both(s, g, "doc:d#can@user:m")).toBe(1);
    expect(both(s, g, "doc:d#can@user:a")).toBe(0);
  });
});

describe("IntChecker: subjects and wildcards", () => {
  it("bare ids count only when the schema allows them", () => {
    const tuples = ["doc:d#viewer@john", "doc:d#viewer@group:g#member", "group:g#member@mary"];
    const types = { group: { member: "[user]" }, user: {}, doc: { viewer: "[user, group#member]" } };
    const opl = buildSchema(types, { language: "opl" });
    const fga = buildSchema(types, { language: "fga" });
    const f1 = fixtureOf(opl, ...tuples);
    const f2 = fixtureOf(fga, ...tuples);
    expect(both(opl, f1, "doc:d#viewer@john")).toBe(1);
    expect(both(opl, f1, "doc:d#viewer@mary")).toBe(1);
    expect(both(opl, f1, "doc:d#viewer@user:john")).toBe(0);
    expect(both(fga, f2, "doc:d#viewer@john")).toBe(0);
    expect(both(fga, f2, "doc:d#viewer@mary")).toBe(0);
  });

  it("typed objects are not expanded; subject sets match where stored", () => {
    const s = buildSchema({ user: {}, team: { member: "[user]" }, doc: { viewer: "[user, team]" } });
    const f = fixtureOf(s, "doc:d#viewer@team:t", "team:t#member@user:anne");
    expect(both(s, f, "doc:d#viewer@team:t")).toBe(1);
    expect(both(s, f, "doc:d#viewer@user:anne")).toBe(0);
    expect(both(s, f, "doc:d#viewer@team:t#member")).toBe(0);
  });

  const schema = buildSchema({
    user: {},
    employee: {},
    team: { member: "[user]" },
    doc: { viewer: "[user, user:*, team#member]", blocked: "[user]", can_view: "viewer but not blocked", plain: "[user]" },
  });
  const f = fixtureOf(
    schema,
    "doc:pub#viewer@user:*",
    "doc:pub#blocked@user:bob",
    "doc:pub#plain@user:*",
    "doc:team#viewer@team:red#member",
    "team:red#member@user:tia",
  );

  it("OpenFGA wildcards match typed objects of the type, where declared", () => {
    expect(both(schema, f, "doc:pub#viewer@user:anyone")).toBe(1);
    expect(both(schema, f, "doc:pub#viewer@user:*")).toBe(1);
    expect(both(schema, f, "doc:pub#viewer@employee:e")).toBe(0);
    expect(both(schema, f, "doc:pub#viewer@team:red#member")).toBe(0);
    expect(both(schema, f, "doc:pub#viewer@anyone")).toBe(0);
    expect(both(schema, f, "doc:pub#can_view@user:anyone")).toBe(1);
    expect(both(schema, f, "doc:pub#can_view@user:bob")).toBe(0);
    expect(both(schema, f, "doc:pub#plain@user:anyone")).toBe(0);
    expect(both(schema, f, "doc:pub#plain@user:*")).toBe(0);
  });

  it("`*` is an ordinary id in OPL", () => {
    const opl = buildSchema({ user: {}, doc: { viewer: "[user]" } }, { language: "opl" });
    const g = fixtureOf(opl, "doc:pub#viewer@user:*");
    expect(both(opl, g, "doc:pub#viewer@user:*")).toBe(1);
    expect(both(opl, g, "doc:pub#viewer@user:anyone")).toBe(0);
  });

  it("Keto non-strict: permits hold their own tuples, undeclared relations are plain, every subject set is followed", () => {
    const base = buildSchema(
      { user: {}, group: { member: "[user]" }, doc: { viewer: "[user]", view: "viewer" } },
      { language: "opl" },
    );
    const schema: Schema = { ...base, ketoNonStrict: true };
    const g = fixtureOf(
      schema,
      "doc:d#view@user:direct",
      "doc:d#shadow@user:undeclared",
      "doc:d#viewer@group:g#anything",
      "group:g#anything@user:nested",
      "doc:d#viewer@bare",
    );
    expect(both(schema, g, "doc:d#view@user:direct")).toBe(1);
    expect(both(schema, g, "doc:d#shadow@user:undeclared")).toBe(1);
    expect(both(schema, g, "doc:d#view@user:nested")).toBe(1);
    expect(both(schema, g, "doc:d#view@bare")).toBe(1);
    expect(both(schema, g, "doc:d#never_seen@user:direct")).toBe(0);
    expect(both(schema, g, "doc:d#never_seen@user:direct", 1)).toBe(0);
    expect(both(schema, g, "ghost:d#view@user:direct")).toBe(0);
    // strict: none of that
    const strict = intFixture(base, g.snapshot);
    expect(both(base, strict, "doc:d#view@user:direct")).toBe(0);
    expect(both(base, strict, "doc:d#shadow@user:undeclared")).toBe(0);
    expect(both(base, strict, "doc:d#view@user:nested")).toBe(0);
  });
});

describe("IntChecker: cycles", () => {
  const schema = buildSchema({
    user: {},
    group: { member: "[user, group#member]", banned: "[user, group#member]", allowed: "member but not banned", outsider: "not member" },
    folder: { parent: "[folder]", viewer: "[user] or viewer from parent" },
    loop: { a: "b", b: "a or c", c: "[user]" },
  });
  const f = fixtureOf(
    schema,
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

  it("terminates and agrees through cycles, exclusion and complement", () => {
    for (const g of ["a", "b", "c"]) {
      expect(both(schema, f, `group:${g}#member@user:cara`)).toBe(1);
      expect(both(schema, f, `group:${g}#member@user:nobody`)).toBe(0);
    }
    expect(both(schema, f, "folder:f1#viewer@user:vic")).toBe(1);
    expect(both(schema, f, "group:x#allowed@user:xena")).toBe(1);
    expect(both(schema, f, "group:x#allowed@user:cara")).toBe(0);
    expect(both(schema, f, "group:a#outsider@user:nobody")).toBe(1);
    expect(both(schema, f, "group:a#outsider@user:cara")).toBe(0);
    expect(both(schema, f, "loop:l#a@user:lou")).toBe(1);
    expect(both(schema, f, "loop:l#a@user:nobody")).toBe(0);
  });

  it("does not memoize a cycle-cut result, also across checks of one checker", () => {
    const s = buildSchema({ user: {}, t: { d: "[user]", e: "[user]", z: "d but not x", x: "e but not z", q: "z or x", q2: "x or z" } });
    const g = fixtureOf(s, "t:o#d@user:u", "t:o#e@user:u");
    const ids = new RequestIds(g.snapshot.names);
    const checker = new IntChecker(g.index, g.graph(), 1, g.wildcard());
    for (const query of ["t:o#z@user:u", "t:o#x@user:u", "t:o#q@user:u", "t:o#q2@user:u", "t:o#z@user:u"]) {
      const [t, o, r, st, so, sr] = ids.request(request(query)) as [number, number, number, number, number, number];
      expect(checker.resolve(t, o, r, st, so, sr, 25), query).toBe(0);
      expect(both(s, g, query)).toBe(0);
    }
  });
});

describe("IntChecker: depth", () => {
  const schema = buildSchema({
    user: {},
    group: { member: "[user, group#member]" },
    doc: { viewer: "[user, group#member]", banned: "[group#member]", owner: "[user]", ok: "viewer but not banned", both: "viewer and owner" },
  });
  const chain = Array.from({ length: 6 }, (_, i) => `group:g${i}#member@group:g${i + 1}#member`);

  it("counts the requested userset and every hop, and decides when a branch decides", () => {
    const f = fixtureOf(schema, ...chain, "group:g6#member@user:deep", "group:g0#member@user:top");
    expect(both(schema, f, "group:g0#member@user:deep", 7)).toBe(1);
    expect(both(schema, f, "group:g0#member@user:deep", 6)).toBe(2);
    expect(both(schema, f, "group:g5#member@user:deep", 2)).toBe(1);
    expect(both(schema, f, "group:g5#member@user:deep", 1)).toBe(2);
    expect(both(schema, f, "group:g0#member@user:top", 1)).toBe(1);
    const v = fixtureOf(schema, ...chain, "group:g6#member@user:deep", "doc:d#viewer@group:g0#member", "doc:d#viewer@user:u", "doc:d#banned@group:g0#member");
    expect(both(schema, v, "doc:d#viewer@user:u", 2)).toBe(1);
    expect(both(schema, v, "doc:d#ok@user:deep", 3)).toBe(2);
    expect(both(schema, v, "doc:d#viewer@user:nobody", 3)).toBe(2);
    expect(both(schema, v, "doc:d#both@user:nobody", 3)).toBe(0);
  });

  it("reuses memoized results only with enough depth left, in one checker across depths", () => {
    const f = fixtureOf(schema, ...chain, "group:g6#member@user:deep", "doc:d#viewer@group:g4#member", "doc:d#viewer@group:g6#member");
    const ids = new RequestIds(f.snapshot.names);
    const [t, o, r, st, so, sr] = ids.request(request("doc:d#viewer@user:deep")) as [number, number, number, number, number, number];
    const checker = new IntChecker(f.index, f.graph(), 1, f.wildcard());
    for (const depth of [3, 2, 4, 1, 2, 7, 1, 3]) {
      expect(checker.resolve(t, o, r, st, so, sr, depth), `depth ${depth}`).toBe(depth === 1 ? 2 : 1);
      both(schema, f, "doc:d#viewer@user:deep", depth);
    }
  });
});

describe("IntChecker: scale", () => {
  const groups = buildSchema({ user: {}, group: { member: "[user, group#member]" } });

  it("walks 10,000 nested groups without growing the JS stack", () => {
    const tuples = ["group:g0#member@user:anne"];
    for (let i = 0; i < 10_000; i++) tuples.push(`group:g${i + 1}#member@group:g${i}#member`);
    const f = fixtureOf(groups, ...tuples);
    expect(both(groups, f, "group:g10000#member@user:anne", 20_000)).toBe(1);
    expect(both(groups, f, "group:g10000#member@user:nobody", 20_000)).toBe(0);
    expect(both(groups, f, "group:g10000#member@user:anne", 10_000)).toBe(2);
    expect(both(groups, f, "group:g10000#member@user:anne", 10_001)).toBe(1);
  });

  it("walks 10,000 nested folders through tuple-to-userset with exclusion on the way", () => {
    const s = buildSchema({
      user: {},
      folder: { parent: "[folder]", banned: "[user]", viewer: "([user] or viewer from parent) but not banned" },
    });
    const tuples = ["folder:f0#viewer@user:anne", "folder:f5000#banned@user:bob", "folder:f0#viewer@user:bob"];
    for (let i = 0; i < 10_000; i++) tuples.push(`folder:f${i + 1}#parent@folder:f${i}`);
    const f = fixtureOf(s, ...tuples);
    expect(both(s, f, "folder:f10000#viewer@user:anne", 20_000)).toBe(1);
    expect(both(s, f, "folder:f10000#viewer@user:bob", 20_000)).toBe(0);
    expect(both(s, f, "folder:f4000#viewer@user:bob", 20_000)).toBe(1);
  });

  it("explores a clique of groups once per node (union-only mode)", () => {
    const tuples = ["group:g13#member@user:last"];
    for (let a = 0; a < 14; a++) for (let b = 0; b < 14; b++) if (a !== b) tuples.push(`group:g${a}#member@group:g${b}#member`);
    const f = fixtureOf(groups, ...tuples);
    expect(both(groups, f, "group:g0#member@user:nobody")).toBe(0);
    expect(both(groups, f, "group:g0#member@user:last")).toBe(1);
  });

  it("handles a node table that grows while a deep path is open", () => {
    // 3,000 groups in a chain, each also holding 3 leaf groups: thousands of table slots with the path open.
    const tuples = ["group:c0#member@user:end"];
    for (let i = 0; i < 3000; i++) {
      tuples.push(`group:c${i + 1}#member@group:c${i}#member`);
      for (let k = 0; k < 3; k++) tuples.push(`group:c${i + 1}#member@group:leaf${i}_${k}#member`);
    }
    const f = fixtureOf(groups, ...tuples);
    expect(both(groups, f, "group:c3000#member@user:end", 5000)).toBe(1);
    expect(both(groups, f, "group:c3000#member@user:none", 5000)).toBe(0);
  });
});

describe("IntChecker: MVCC revisions", () => {
  it("reads each revision's tuples", () => {
    const s = buildSchema({ user: {}, group: { member: "[user, group#member]" }, doc: { viewer: "[user, group#member]" } });
    const snapshot = GraphSnapshot.build([parseTuple("doc:d#viewer@group:g#member")], 1);
    const f = intFixture(s, snapshot);
    const t = (text: string) => parseTuple(text);
    snapshot.apply([
      { revision: 2, op: "insert", tuple: t("group:g#member@user:anne") },
      { revision: 3, op: "delete", tuple: t("group:g#member@user:anne") },
      { revision: 4, op: "insert", tuple: t("group:g#member@user:anne") },
      { revision: 4, op: "delete", tuple: t("doc:d#viewer@group:g#member") },
      { revision: 5, op: "insert", tuple: t("doc:d#viewer@group:g#member") },
    ]);
    const r = request("doc:d#viewer@user:anne");
    const expected = [0, 1, 0, 0, 1];
    for (let rev = 1; rev <= 5; rev++) {
      expect(stringTri(s, snapshot, rev, r, 25), `string @${rev}`).toBe(expected[rev - 1]);
      expect(intTri(f, rev, r, 25), `int @${rev}`).toBe(expected[rev - 1]);
    }
  });
});

describe("evaluateBatch", () => {
  it("answers in input order, grouping subjects internally, and isolates a failing check", () => {
    const s = buildSchema({ user: {}, group: { member: "[user, group#member]" } });
    const f = fixtureOf(s, "group:a#member@user:x", "group:b#member@group:a#member", "group:c#member@user:y");
    const queries = ["group:b#member@user:x", "group:c#member@user:y", "group:b#member@user:y", "group:c#member@user:x", "group:a#member@user:x", "group:b#member@user:x"];
    const checks = queries.map((q, i) => ({ request: request(q), maxDepth: i === 5 ? 1 : 25 }));
    const ids = new RequestIds(f.snapshot.names);
    const results = evaluateBatch(f.index, f.graph(), { revision: 1, wildcardObject: f.wildcard(), items: batchItems(ids, checks) });
    expect([...results]).toEqual([1, 1, 0, 0, 1, 2]);
    // The next batch on the same graph and revision reuses the checker (memo, node cache): same answers.
    const again = evaluateBatch(f.index, f.graph(), { revision: 1, wildcardObject: f.wildcard(), items: batchItems(ids, checks.slice(2)) });
    expect([...again]).toEqual([0, 0, 1, 2]);

    // A graph that throws on one node: that check reports INTERNAL_ERROR, the others still answer.
    const graph = f.graph();
    const bad = graph.findNode(f.snapshot.names.typeId("group"), f.snapshot.names.objectId("c"), f.snapshot.names.relationId("member"));
    const throwing = Object.create(graph) as typeof graph;
    throwing.firstSetEdge = (node: number) => {
      if (node === bad) throw new Error("boom");
      return graph.firstSetEdge(node);
    };
    const partial = evaluateBatch(f.index, throwing, { revision: 1, wildcardObject: f.wildcard(), items: batchItems(ids, checks) });
    expect([...partial]).toEqual([1, 1, 0, INTERNAL_ERROR, 1, 2]);
    expect(evaluateBatch(f.index, f.graph(), { revision: 1, wildcardObject: -1, items: new Int32Array(0) })).toHaveLength(0);
    expect(() => evaluateBatch(f.index, f.graph(), { revision: 1, wildcardObject: -1, items: new Int32Array(8) })).toThrow(RangeError);
  });
});
