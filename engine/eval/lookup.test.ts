import { describe, expect, it } from "vitest";
import { InvalidArgumentError, LimitExceededError, NotFoundError } from "../../common/errors.js";
import type { GraphView } from "../graph/graph-view.js";
import type { Schema } from "../schema/ir.js";
import { formatSubject, parseSubject } from "../tuple.js";
import { lookupResources } from "./lookup-resources.js";
import { lookupSubjects, type LookupSubjectsOptions } from "./lookup-subjects.js";
import { buildSchema, viewOf } from "./test-schema.js";

const schema = buildSchema({
  user: {},
  employee: {},
  group: { member: "[user, group#member]" },
  folder: { parent: "[folder]", viewer: "[user, group#member] or viewer from parent" },
  doc: {
    parent: "[folder]",
    owner: "[user]",
    viewer: "[user, user:*, group#member] or owner or viewer from parent",
    banned: "[user]",
    reader: "viewer but not banned",
    both: "owner and viewer",
    outsider: "not banned",
  },
});
const view = viewOf(
  "doc:d1#owner@user:olga",
  "doc:d2#viewer@group:eng#member",
  "doc:d3#parent@folder:f1",
  "folder:f1#parent@folder:root",
  "folder:root#viewer@group:eng#member",
  "doc:d4#viewer@user:*",
  "doc:d4#banned@user:anne",
  "doc:d5#banned@user:bob",
  "doc:d6#viewer@user:anne",
  "doc:d6#banned@user:anne",
  "group:eng#member@group:core#member",
  "group:core#member@user:anne",
  "doc:d7#owner@user:anne",
  "doc:d7#viewer@user:anne",
);

function all(request: { namespace: string; relation: string; subject: string }, pageSize = 2, v: GraphView = view, s: Schema = schema): string[] {
  const out: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = lookupResources(s, v, { ...request, subject: parseSubject(request.subject) }, cursor === undefined ? { pageSize } : { pageSize, cursor });
    expect(page.objects.length).toBeLessThanOrEqual(pageSize);
    out.push(...page.objects);
    cursor = page.nextCursor;
    if (++pages > 100) throw new Error("pagination does not end");
  } while (cursor !== undefined);
  return out;
}

function allSubjects(
  request: { namespace: string; object: string; relation: string; subjectNamespace: string; subjectRelation?: string },
  options: LookupSubjectsOptions = {},
  v: GraphView = view,
  s: Schema = schema,
): string[] {
  const out: string[] = [];
  let cursor: string | undefined;
  do {
    const page = lookupSubjects(s, v, request, cursor === undefined ? { ...options, pageSize: 2 } : { ...options, pageSize: 2, cursor });
    out.push(...page.subjects.map(formatSubject));
    cursor = page.nextCursor;
  } while (cursor !== undefined);
  return out;
}

describe("lookupResources", () => {
  it("finds objects through subject sets, computed usersets, tuple-to-userset chains and wildcards", () => {
    expect(all({ namespace: "doc", relation: "viewer", subject: "user:anne" })).toEqual(["d2", "d3", "d4", "d6", "d7"]);
    expect(all({ namespace: "doc", relation: "viewer", subject: "user:olga" })).toEqual(["d1", "d4"]);
    expect(all({ namespace: "folder", relation: "viewer", subject: "user:anne" })).toEqual(["f1", "root"]);
  });

  it("applies exclusion and intersection", () => {
    expect(all({ namespace: "doc", relation: "reader", subject: "user:anne" })).toEqual(["d2", "d3", "d7"]);
    expect(all({ namespace: "doc", relation: "reader", subject: "user:zed" })).toEqual(["d4"]);
    expect(all({ namespace: "doc", relation: "both", subject: "user:anne" })).toEqual(["d7"]);
    expect(all({ namespace: "doc", relation: "both", subject: "user:olga" })).toEqual(["d1"]);
  });

  it("falls back to every known object under a complement", () => {
    expect(all({ namespace: "doc", relation: "outsider", subject: "user:anne" })).toEqual(["d1", "d2", "d3", "d5", "d7"]);
    expect(all({ namespace: "doc", relation: "outsider", subject: "user:bob" })).toEqual(["d1", "d2", "d3", "d4", "d6", "d7"]);
  });

  it("takes a subject set as the subject", () => {
    expect(all({ namespace: "doc", relation: "viewer", subject: "group:core#member" })).toEqual(["d2", "d3"]);
    expect(all({ namespace: "doc", relation: "viewer", subject: "group:eng#member" })).toEqual(["d2", "d3"]);
    expect(all({ namespace: "doc", relation: "viewer", subject: "user:*" })).toEqual(["d4"]);
  });

  it("paginates with opaque cursors and exact ends", () => {
    const first = lookupResources(schema, view, { namespace: "doc", relation: "viewer", subject: parseSubject("user:anne") }, { pageSize: 3 });
    expect(first.objects).toEqual(["d2", "d3", "d4"]);
    expect(first.nextCursor).toMatch(/^[A-Za-z0-9_-]+$/);
    const second = lookupResources(schema, view, { namespace: "doc", relation: "viewer", subject: parseSubject("user:anne") }, { pageSize: 3, cursor: first.nextCursor as string });
    expect(second).toEqual({ objects: ["d6", "d7"] });
    // a full last page has no cursor when nothing follows
    expect(lookupResources(schema, view, { namespace: "doc", relation: "viewer", subject: parseSubject("user:anne") }, { pageSize: 5 }).nextCursor).toBeUndefined();
    // pageSize 0 = everything; default = 100
    expect(lookupResources(schema, view, { namespace: "doc", relation: "viewer", subject: parseSubject("user:anne") }, { pageSize: 0 }).objects).toHaveLength(5);
    expect(lookupResources(schema, view, { namespace: "doc", relation: "viewer", subject: parseSubject("user:anne") }).objects).toHaveLength(5);
    for (let size = 1; size <= 6; size++) {
      expect(all({ namespace: "doc", relation: "viewer", subject: "user:anne" }, size)).toEqual(["d2", "d3", "d4", "d6", "d7"]);
    }
  });

  it("rejects bad cursors, page sizes and requests", () => {
    const q = { namespace: "doc", relation: "viewer", subject: parseSubject("user:anne") };
    expect(() => lookupResources(schema, view, q, { cursor: "!!" })).toThrow(InvalidArgumentError);
    expect(() => lookupResources(schema, view, q, { cursor: "bm9wZQ" })).toThrow(/cursor/);
    expect(() => lookupResources(schema, view, q, { pageSize: -1 })).toThrow(/pageSize/);
    expect(() => lookupResources(schema, view, { ...q, namespace: "nope" })).toThrow(NotFoundError);
    expect(() => lookupResources(schema, view, { ...q, relation: "nope" })).toThrow(NotFoundError);
  });

  it("propagates a depth error of a candidate", () => {
    const v = viewOf("group:a#member@group:b#member", "group:b#member@group:c#member", "group:c#member@user:x");
    expect(() => lookupResources(schema, v, { namespace: "group", relation: "member", subject: parseSubject("user:x") }, { maxDepth: 2 })).toThrow(
      LimitExceededError,
    );
    expect(lookupResources(schema, v, { namespace: "group", relation: "member", subject: parseSubject("user:x") }, { maxDepth: 3 }).objects).toEqual(["a", "b", "c"]);
  });

  it("lists objects for bare subject ids (Keto)", () => {
    const opl = buildSchema({ group: { member: "[group#member]" }, doc: { viewer: "[group#member]" } }, { language: "opl" });
    const v = viewOf("group:g#member@john", "doc:x#viewer@group:g#member", "doc:y#viewer@john", "doc:z#viewer@mary");
    expect(all({ namespace: "doc", relation: "viewer", subject: "john" }, 1, v, opl)).toEqual(["x", "y"]);
  });
});

describe("lookupSubjects", () => {
  it("lists typed objects through nesting and tuple-to-userset", () => {
    expect(allSubjects({ namespace: "doc", object: "d3", relation: "viewer", subjectNamespace: "user" })).toEqual(["user:anne"]);
    expect(allSubjects({ namespace: "doc", object: "d7", relation: "both", subjectNamespace: "user" })).toEqual(["user:anne"]);
  });

  it("lists subject sets when a subject relation is given", () => {
    expect(allSubjects({ namespace: "doc", object: "d3", relation: "viewer", subjectNamespace: "group", subjectRelation: "member" })).toEqual([
      "group:core#member",
      "group:eng#member",
    ]);
    expect(allSubjects({ namespace: "doc", object: "d3", relation: "viewer", subjectNamespace: "group" })).toEqual([]);
  });

  it("reports the wildcard itself, or every covered subject on request", () => {
    expect(allSubjects({ namespace: "doc", object: "d4", relation: "viewer", subjectNamespace: "user" })).toEqual(["user:*"]);
    expect(allSubjects({ namespace: "doc", object: "d4", relation: "viewer", subjectNamespace: "user" }, { listWildcardMembers: true })).toEqual([
      "user:*",
      "user:anne",
      "user:bob",
      "user:olga",
    ]);
    // reader on d4 = everyone but anne: the wildcard stands for the rest, anne is not listed
    expect(allSubjects({ namespace: "doc", object: "d4", relation: "reader", subjectNamespace: "user" }, { listWildcardMembers: true })).toEqual([
      "user:*",
      "user:bob",
      "user:olga",
    ]);
    expect(allSubjects({ namespace: "doc", object: "d4", relation: "viewer", subjectNamespace: "employee" })).toEqual([]);
  });

  it("lists covered subjects one by one when the wildcard itself is excluded", () => {
    const s = buildSchema({ user: {}, doc: { viewer: "[user, user:*]", blocked: "[user, user:*]", vip: "[user]", can: "viewer but not (blocked but not vip)" } });
    const v = viewOf("doc:d#viewer@user:*", "doc:d#blocked@user:*", "doc:d#vip@user:kim", "doc:e#viewer@user:lee");
    // user:* is blocked, but kim is a VIP: kim must appear even though only the wildcard admits her
    expect(allSubjects({ namespace: "doc", object: "d", relation: "can", subjectNamespace: "user" }, {}, v, s)).toEqual(["user:kim"]);
  });

  it("lists every known subject under a complement", () => {
    expect(allSubjects({ namespace: "doc", object: "d5", relation: "outsider", subjectNamespace: "user" })).toEqual([
      "user:*",
      "user:anne",
      "user:olga",
    ]);
  });

  it("lists bare ids when the subject namespace is empty", () => {
    const opl = buildSchema({ group: { member: "[group#member]" }, doc: { viewer: "[group#member]" } }, { language: "opl" });
    const v = viewOf("group:g#member@john", "doc:x#viewer@group:g#member", "doc:x#viewer@adam", "doc:z#viewer@mary");
    expect(allSubjects({ namespace: "doc", object: "x", relation: "viewer", subjectNamespace: "" }, {}, v, opl)).toEqual(["adam", "john"]);
    expect(lookupSubjects(opl, v, { namespace: "doc", object: "x", relation: "viewer", subjectNamespace: "" }).subjects).toEqual([
      { kind: "id", id: "adam" },
      { kind: "id", id: "john" },
    ]);
  });

  it("rejects unknown subject types and relations", () => {
    const q = { namespace: "doc", object: "d1", relation: "viewer" };
    expect(() => lookupSubjects(schema, view, { ...q, subjectNamespace: "nope" })).toThrow(NotFoundError);
    expect(() => lookupSubjects(schema, view, { ...q, subjectNamespace: "group", subjectRelation: "nope" })).toThrow(NotFoundError);
    expect(() => lookupSubjects(schema, view, { ...q, subjectNamespace: "", subjectRelation: "member" })).toThrow(InvalidArgumentError);
  });
});

describe("lookups at scale", () => {
  it("lists a 10,000-member group and a document's 1,000 folders", () => {
    const s = buildSchema({ user: {}, group: { member: "[user]" }, folder: { viewer: "[group#member]" }, doc: { parent: "[folder]", viewer: "viewer from parent" } });
    const tuples: string[] = [];
    for (let i = 0; i < 10_000; i++) tuples.push(`group:big#member@user:u${String(i).padStart(5, "0")}`);
    for (let i = 0; i < 1000; i++) tuples.push(`folder:f${i}#viewer@group:big#member`, `doc:d${i % 10}#parent@folder:f${i}`);
    const v = viewOf(...tuples);
    const members = lookupSubjects(s, v, { namespace: "group", object: "big", relation: "member", subjectNamespace: "user" }, { pageSize: 0 });
    expect(members.subjects).toHaveLength(10_000);
    expect(formatSubject(members.subjects[9999] ?? { kind: "id", id: "" })).toBe("user:u09999");
    const docs = lookupResources(s, v, { namespace: "doc", relation: "viewer", subject: parseSubject("user:u04242") });
    expect(docs.objects).toEqual(["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9"]);
    const viewers = lookupSubjects(s, v, { namespace: "doc", object: "d3", relation: "viewer", subjectNamespace: "user" }, { pageSize: 3 });
    expect(viewers.subjects.map(formatSubject)).toEqual(["user:u00000", "user:u00001", "user:u00002"]);
  });
});
