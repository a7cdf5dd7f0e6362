import { describe, expect, it } from "vitest";
import { InvalidArgumentError } from "../../common/errors.js";
import type { TupleChange } from "../store/tuple-store.js";
import { formatSubject, parseSubject, parseTuple } from "../tuple.js";
import type { GraphView } from "./graph-view.js";
import { GraphSnapshot } from "./graph-snapshot.js";

const t = parseTuple;
const s = parseSubject;
const ins = (revision: number, text: string): TupleChange => ({ revision, op: "insert", tuple: t(text) });
const del = (revision: number, text: string): TupleChange => ({ revision, op: "delete", tuple: t(text) });

const sorted = (it: Iterable<string>): string[] => [...it].sort();
const subjectsOf = (view: GraphView, ns: string, obj: string, rel: string): string[] =>
  sorted([...view.subjects(ns, obj, rel)].map(formatSubject));

describe("GraphSnapshot.build and the view", () => {
  const snap = GraphSnapshot.build(
    [
      t("group:eng#member@user:anne"),
      t("group:eng#member@group:ops#member"),
      t("group:eng#member@john"),
      t("doc:d1#viewer@user:*"),
      t("doc:d1#parent@folder:f1"),
      t("doc:d2#parent@folder:f1"),
    ],
    7,
  );
  const view = snap.at();

  it("reads at the build revision, and no older", () => {
    expect(snap.revision).toBe(7);
    expect(view.revision).toBe(7);
    expect(() => snap.at(6)).toThrow(/horizon 7/);
    expect(() => snap.at(8)).toThrow(/newer/);
  });

  it("answers exact membership for every subject kind", () => {
    expect(view.hasTuple("group", "eng", "member", s("user:anne"))).toBe(true);
    expect(view.hasTuple("group", "eng", "member", s("group:ops#member"))).toBe(true);
    expect(view.hasTuple("group", "eng", "member", s("john"))).toBe(true);
    expect(view.hasTuple("doc", "d1", "viewer", s("user:*"))).toBe(true);
    // exact only: no nesting, no wildcard expansion, no confusion of kinds
    expect(view.hasTuple("doc", "d1", "viewer", s("user:anne"))).toBe(false);
    expect(view.hasTuple("group", "eng", "member", s("group:ops"))).toBe(false);
    expect(view.hasTuple("group", "eng", "member", s("anne"))).toBe(false);
    expect(view.hasTuple("group", "nope", "member", s("user:anne"))).toBe(false);
    expect(view.hasTuple("group", "eng", "owner", s("user:anne"))).toBe(false);
  });

  it("iterates subjects, and subject sets alone", () => {
    expect(subjectsOf(view, "group", "eng", "member")).toEqual(["group:ops#member", "john", "user:anne"]);
    expect([...view.subjectSets("group", "eng", "member")].map(formatSubject)).toEqual(["group:ops#member"]);
    expect(subjectsOf(view, "group", "none", "member")).toEqual([]);
  });

  it("looks up in reverse, filtered by namespace and relation", () => {
    const refs = [...view.objectsWithSubject(s("folder:f1"))].map((r) => `${r.namespace}:${r.object}#${r.relation}`);
    expect(refs.sort()).toEqual(["doc:d1#parent", "doc:d2#parent"]);
    expect([...view.objectsWithSubject(s("folder:f1"), "doc", "viewer")]).toEqual([]);
    expect([...view.objectsWithSubject(s("folder:f1"), "group")]).toEqual([]);
    expect([...view.objectsWithSubject(s("group:ops#member"), "group", "member")]).toEqual([
      { namespace: "group", object: "eng", relation: "member" },
    ]);
    expect([...view.objectsWithSubject(s("user:nobody"))]).toEqual([]);
  });

  it("knows the ids of each type, as objects and as subjects", () => {
    expect(sorted(view.objectsOfType("group"))).toEqual(["eng", "ops"]);
    expect(sorted(view.objectsOfType("user"))).toEqual(["*", "anne"]);
    expect(sorted(view.objectsOfType("folder"))).toEqual(["f1"]);
    expect(sorted(view.objectsOfType(""))).toEqual(["john"]);
    expect(sorted(view.objectsOfType("unknown"))).toEqual([]);
  });
});

describe("MVCC", () => {
  function history(): GraphSnapshot {
    const snap = new GraphSnapshot();
    snap.apply([ins(1, "doc:a#viewer@user:anne"), ins(1, "doc:a#viewer@user:bob")]);
    snap.apply([del(2, "doc:a#viewer@user:anne")]);
    snap.apply([ins(3, "doc:a#viewer@user:anne"), ins(3, "doc:b#viewer@user:anne")]);
    snap.apply([del(4, "doc:a#viewer@user:bob")], 5);
    return snap;
  }

  it("sees exactly the tuples live at each revision", () => {
    const snap = history();
    expect(snap.revision).toBe(5);
    expect(subjectsOf(snap.at(0), "doc", "a", "viewer")).toEqual([]);
    expect(subjectsOf(snap.at(1), "doc", "a", "viewer")).toEqual(["user:anne", "user:bob"]);
    expect(subjectsOf(snap.at(2), "doc", "a", "viewer")).toEqual(["user:bob"]);
    expect(subjectsOf(snap.at(3), "doc", "a", "viewer")).toEqual(["user:anne", "user:bob"]);
    expect(subjectsOf(snap.at(4), "doc", "a", "viewer")).toEqual(["user:anne"]);
    expect(subjectsOf(snap.at(5), "doc", "a", "viewer")).toEqual(["user:anne"]);
    expect(snap.at(2).hasTuple("doc", "a", "viewer", s("user:anne"))).toBe(false);
    expect(snap.at(3).hasTuple("doc", "a", "viewer", s("user:anne"))).toBe(true);
    expect([...snap.at(2).objectsWithSubject(s("user:anne"))]).toEqual([]);
    expect([...snap.at(3).objectsWithSubject(s("user:anne"))].map((r) => r.object).sort()).toEqual(["a", "b"]);
    expect(sorted(snap.at(2).objectsOfType("doc"))).toEqual(["a"]);
    expect(sorted(snap.at(3).objectsOfType("doc"))).toEqual(["a", "b"]);
  });

  it("keeps an old view stable while the head moves on", () => {
    const snap = history();
    const old = snap.at(3);
    snap.apply([del(6, "doc:a#viewer@user:anne"), ins(6, "doc:a#viewer@user:carl")]);
    expect(subjectsOf(old, "doc", "a", "viewer")).toEqual(["user:anne", "user:bob"]);
    expect(subjectsOf(snap.at(), "doc", "a", "viewer")).toEqual(["user:carl"]);
  });

  it("treats inserting a live tuple and deleting a missing one as no-ops", () => {
    const snap = new GraphSnapshot();
    snap.apply([ins(1, "doc:a#viewer@user:anne")]);
    snap.apply([ins(2, "doc:a#viewer@user:anne"), del(2, "doc:a#viewer@user:zed")]);
    expect(snap.stats().edgeVersions).toBe(1);
    // the re-insert did not move the tuple's start
    expect(snap.at(1).hasTuple("doc", "a", "viewer", s("user:anne"))).toBe(true);
  });

  it("applies a delete and a re-insert within one revision in order", () => {
    const snap = new GraphSnapshot();
    snap.apply([ins(1, "doc:a#viewer@user:anne")]);
    snap.apply([del(2, "doc:a#viewer@user:anne"), ins(2, "doc:a#viewer@user:anne")]);
    expect(snap.at(2).hasTuple("doc", "a", "viewer", s("user:anne"))).toBe(true);
    expect(snap.at(1).hasTuple("doc", "a", "viewer", s("user:anne"))).toBe(true);
  });

  it("rejects out-of-order changes whole, naming the revisions", () => {
    const snap = history();
    expect(() => snap.apply([ins(5, "doc:z#viewer@user:x")])).toThrow(/revision 5 is out of order.*revision 5/);
    expect(() => snap.apply([ins(7, "doc:z#viewer@user:x"), ins(6, "doc:z#viewer@user:y")])).toThrow(
      InvalidArgumentError,
    );
    expect(() => snap.apply([ins(7, "doc:z#viewer@user:x")], 6)).toThrow(/untilRevision 6/);
    expect(() => snap.apply([], 4)).toThrow(/untilRevision 4/);
    // nothing of the rejected batches was applied
    expect(snap.revision).toBe(5);
    expect(snap.at().hasTuple("doc", "z", "viewer", s("user:x"))).toBe(false);
  });

  it("advances over revisions without changes", () => {
    const snap = new GraphSnapshot();
    snap.apply([], 3);
    expect(snap.revision).toBe(3);
    snap.apply([ins(4, "doc:a#viewer@user:anne")]);
    expect(snap.revision).toBe(4);
  });
});

describe("compact", () => {
  it("drops versions removed at or before the horizon and rejects older readers", () => {
    const snap = new GraphSnapshot();
    snap.apply([ins(1, "doc:a#viewer@user:anne"), ins(1, "doc:a#viewer@user:bob")]);
    snap.apply([del(2, "doc:a#viewer@user:anne")]);
    snap.apply([ins(3, "doc:a#viewer@user:anne")]);
    snap.apply([del(4, "doc:a#viewer@user:bob")]);
    const early = snap.at(1);
    expect(snap.stats().edgeVersions).toBe(3);

    snap.compact(2);
    expect(snap.horizon).toBe(2);
    // anne's first version (removed at 2) is gone; bob's (removed at 4) and anne's second stay
    expect(snap.stats().edgeVersions).toBe(2);
    expect(() => snap.at(1)).toThrow(/horizon 2/);
    expect(() => early.hasTuple("doc", "a", "viewer", s("user:bob"))).toThrow(/horizon 2/);
    expect(subjectsOf(snap.at(2), "doc", "a", "viewer")).toEqual(["user:bob"]);
    expect(subjectsOf(snap.at(3), "doc", "a", "viewer")).toEqual(["user:anne", "user:bob"]);
    expect(subjectsOf(snap.at(4), "doc", "a", "viewer")).toEqual(["user:anne"]);

    snap.compact(4);
    expect(snap.stats().edgeVersions).toBe(1);
    expect([...snap.at(4).objectsWithSubject(s("user:bob"))]).toEqual([]);
    expect(subjectsOf(snap.at(4), "doc", "a", "viewer")).toEqual(["user:anne"]);
    // the snapshot still advances after compaction
    snap.apply([del(5, "doc:a#viewer@user:anne")]);
    expect(subjectsOf(snap.at(4), "doc", "a", "viewer")).toEqual(["user:anne"]);
    expect(subjectsOf(snap.at(5), "doc", "a", "viewer")).toEqual([]);
  });

  it("keeps chains of re-inserted tuples readable", () => {
    const snap = new GraphSnapshot();
    snap.apply([ins(1, "doc:a#viewer@user:anne")]);
    snap.apply([del(2, "doc:a#viewer@user:anne")]);
    snap.apply([ins(3, "doc:a#viewer@user:anne")]);
    snap.apply([del(4, "doc:a#viewer@user:anne")]);
    snap.apply([ins(5, "doc:a#viewer@user:anne")]);
    snap.compact(3);
    expect([3, 4, 5].map((r) => snap.at(r).hasTuple("doc", "a", "viewer", s("user:anne")))).toEqual([true, false, true]);
  });

  it("rejects a horizon beyond the head", () => {
    const snap = new GraphSnapshot();
    expect(() => snap.compact(1)).toThrow(/newer/);
  });
});
