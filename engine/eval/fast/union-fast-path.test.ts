/**
 * The union-only fast path (`IntChecker.decide`): the same value as the string evaluator, and it really
 * answers (the stats count it), on a small Drive dataset, at depth boundaries, through cycles, schema drift,
 * wildcards, deletions and budgets.
 */
import { describe, expect, it } from "vitest";
import { Drive, DRIVE_SCHEMA_FGA } from "../../../bench/datasets/drive.js";
import { GraphSnapshot } from "../../graph/graph-snapshot.js";
import { compileSchema } from "../../schema/compile.js";
import type { Schema } from "../../schema/ir.js";
import { parseTuple } from "../../tuple.js";
import { buildSchema } from "../test-schema.js";
import { IntChecker, type IntTri } from "./int-checker.js";
import { fixtureOf, intFixture, RequestIds, request, stringTri, type IntFixture } from "./test-support.js";
import { fastPathStats } from "./union-fast-path.js";

/** Decides `query` with `checker` (or a fresh one), asserting the string evaluator's value. */
function decide(schema: Schema, f: IntFixture, query: string, maxDepth = 25, checker?: IntChecker, revision = f.snapshot.revision): IntTri {
  const r = request(query);
  const expected = stringTri(schema, f.snapshot, revision, r, maxDepth);
  const c = checker ?? new IntChecker(f.index, f.graph(), revision, f.wildcard());
  const [t, o, rel, st, so, sr] = new RequestIds(f.snapshot.names).request(r) as [number, number, number, number, number, number];
  const actual = c.decide(t, o, rel, st, so, sr, maxDepth);
  expect(actual, `${query} (maxDepth ${maxDepth})`).toBe(expected);
  return actual;
}

/** Runs `body` and returns how many of its checks the fast path answered (TRUE, FALSE). */
function answered(body: () => void): [number, number] {
  const before = [fastPathStats.answeredTrue, fastPathStats.answeredFalse];
  body();
  return [fastPathStats.answeredTrue - (before[0] as number), fastPathStats.answeredFalse - (before[1] as number)];
}

describe("union-only fast path", () => {
  it("agrees on the Drive workload at every depth and answers nearly all of it", () => {
    const drive = new Drive(10_000);
    const snapshot = GraphSnapshot.build(drive.tuples(), 1, 10_000);
    const schema = compileSchema(DRIVE_SCHEMA_FGA, { language: "fga" }).schema as Schema;
    const f = intFixture(schema, snapshot);
    const { requests } = drive.workload(150);
    const checker = new IntChecker(f.index, f.graph(), 1, f.wildcard());
    const values: [number, number, number] = [0, 0, 0];
    const [yes, no] = answered(() => {
      for (const depth of [1, 2, 3, 5, 7, 9, 11, 13, 25]) {
        for (const r of requests) {
          const s = r.subject;
          const query = `${r.namespace}:${r.object}#${r.relation}@${s.namespace}:${s.object}`;
          values[decide(schema, f, query, depth, checker)]++;
        }
      }
    });
    console.log(`drive 10k: answers ${JSON.stringify(values)}, fast path TRUE ${yes} FALSE ${no}`);
    expect(values[1]).toBeGreaterThan(300);
    expect(values[0]).toBeGreaterThan(80);
    expect(values[2]).toBeGreaterThan(80);
    // Every TRUE has a short enough path; a FALSE needs the whole graph below the document to fit the depth.
    expect(yes).toBe(values[1]);
    expect(no).toBeGreaterThan(values[0] * 0.8);
  });

  const groups = buildSchema({
    user: {},
    group: { member: "[user, user:*, group#member]" },
    folder: { parent: "[folder]", viewer: "[user, group#member]", view: "viewer or view from parent" },
    doc: { parent: "[folder]", viewer: "[user, group#member]", owner: "[user]", view: "viewer or owner or view from parent" },
  });

  it("counts hops exactly: TRUE from the depth the path needs, DEPTH_EXCEEDED or FALSE below", () => {
    const chain = Array.from({ length: 4 }, (_, i) => `group:g${i}#member@group:g${i + 1}#member`);
    const f = fixtureOf(
      groups,
      ...chain,
      "group:g4#member@user:deep",
      "folder:f1#parent@folder:f0",
      "folder:f0#viewer@group:g0#member",
      "doc:d#parent@folder:f1",
      "doc:d#owner@user:olga",
    );
    // doc:d#view -> folder:f1#view -> folder:f0#view -> viewer -> g0 .. g4: 2 + 1 + 4 hops, so 8 levels.
    const [yes] = answered(() => {
      for (let depth = 1; depth <= 10; depth++) {
        expect(decide(groups, f, "doc:d#view@user:deep", depth)).toBe(depth >= 8 ? 1 : 2);
        expect(decide(groups, f, "doc:d#view@user:olga", depth)).toBe(1);
        decide(groups, f, "doc:d#view@user:nobody", depth);
        decide(groups, f, "folder:f1#view@user:deep", depth);
        decide(groups, f, "group:g1#member@user:deep", depth);
      }
    });
    expect(yes).toBeGreaterThan(20);
    // The longest path from doc:d#view has 7 hops: FALSE needs depth 8, below it the walk may run out.
    const [, no] = answered(() => {
      expect(decide(groups, f, "doc:d#view@user:nobody", 8)).toBe(0);
      expect(decide(groups, f, "doc:d#view@user:nobody", 7)).toBe(2);
    });
    expect(no).toBe(1);
  });

  it("agrees through cycles of groups and folders, and answers FALSE when the cycle is short enough", () => {
    const f = fixtureOf(
      groups,
      "group:a#member@group:b#member",
      "group:b#member@group:c#member",
      "group:c#member@group:a#member",
      "group:c#member@user:cara",
      "folder:f1#parent@folder:f2",
      "folder:f2#parent@folder:f1",
      "folder:f2#viewer@group:a#member",
      "doc:d#parent@folder:f1",
    );
    const [yes, no] = answered(() => {
      for (let depth = 1; depth <= 9; depth++) {
        for (const who of ["cara", "nobody", "*"]) {
          decide(groups, f, `doc:d#view@user:${who}`, depth);
          decide(groups, f, `folder:f2#view@user:${who}`, depth);
          decide(groups, f, `group:b#member@user:${who}`, depth);
        }
        decide(groups, f, "doc:d#view@group:c#member", depth);
      }
    });
    expect(yes).toBeGreaterThan(10);
    expect(no).toBeGreaterThan(5);
  });

  it("ignores stored tuples the walk never reads: no `this`, subject types the list does not allow", () => {
    const s = buildSchema({
      user: {},
      team: { member: "[user]" },
      group: { member: "[user, group#member]" },
      doc: { viewer: "[user, group#member]", view: "viewer", other: "[user]" },
    });
    const f = fixtureOf(
      s,
      "doc:d#view@user:shadow",
      "doc:d#viewer@team:t#member",
      "team:t#member@user:tina",
      "doc:d#viewer@group:g#member",
      "group:g#member@user:gus",
      "group:g#member@team:t#member",
    );
    for (const depth of [1, 2, 3, 25]) {
      decide(s, f, "doc:d#view@user:shadow", depth);
      decide(s, f, "doc:d#view@user:tina", depth);
      decide(s, f, "doc:d#view@user:gus", depth);
      decide(s, f, "group:g#member@user:tina", depth);
      decide(s, f, "doc:d#view@team:t#member", depth);
      decide(s, f, "doc:d#other@user:gus", depth);
    }
  });

  it("matches wildcards only where the type list accepts them", () => {
    const f = fixtureOf(groups, "group:pub#member@user:*", "doc:d#viewer@group:pub#member", "doc:e#owner@user:*");
    const [yes] = answered(() => {
      expect(decide(groups, f, "doc:d#view@user:anyone")).toBe(1);
      expect(decide(groups, f, "doc:d#view@user:*")).toBe(1);
      expect(decide(groups, f, "doc:e#view@user:anyone")).toBe(0);
      expect(decide(groups, f, "doc:d#view@group:x")).toBe(0);
    });
    expect(yes).toBe(2);
  });

  it("reads each revision as of that revision (one checker per revision, reused across subjects)", () => {
    const snapshot = GraphSnapshot.build(
      ["group:g#member@user:u", "doc:d#viewer@group:g#member", "doc:d#owner@user:o"].map((t) => parseTuple(t)),
      1,
    );
    const del = (t: string, revision: number) => ({ revision, op: "delete" as const, tuple: parseTuple(t) });
    const ins = (t: string, revision: number) => ({ revision, op: "insert" as const, tuple: parseTuple(t) });
    snapshot.apply([del("group:g#member@user:u", 2), ins("group:h#member@user:u", 2), ins("doc:d#viewer@group:h#member", 3)], 3);
    const f = intFixture(groups, snapshot);
    for (let revision = 1; revision <= 3; revision++) {
      const checker = new IntChecker(f.index, f.graph(), revision, f.wildcard());
      for (const who of ["u", "o", "x", "u", "o"]) decide(groups, f, `doc:d#view@user:${who}`, 25, checker, revision);
    }
  });

  it("gives up beyond its budgets and lets the forward walk answer", () => {
    const tuples = ["group:g0#member@user:anne"];
    for (let i = 0; i < 3000; i++) tuples.push(`group:g${i + 1}#member@group:g${i}#member`);
    tuples.push("doc:d#viewer@group:g3000#member");
    const f = fixtureOf(groups, ...tuples);
    expect(decide(groups, f, "doc:d#view@user:anne", 5000)).toBe(1);
    expect(decide(groups, f, "doc:d#view@user:nobody", 5000)).toBe(0);
    expect(decide(groups, f, "doc:d#view@user:anne", 3001)).toBe(2);
    expect(decide(groups, f, "doc:d#view@user:anne", 3002)).toBe(1);
  });
});
