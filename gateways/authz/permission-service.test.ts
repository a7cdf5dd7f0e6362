import { Code } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { decodeSnaptoken } from "../../engine/snaptoken.js";
import { formatSubject } from "../../engine/tuple.js";
import type { LookupSubjectsResponse } from "../../proto/gen/gatehouse/authz/v1/permission_service_pb.js";
import { subjectFromProto } from "./convert.js";
import { collect, exact, failure, fresh, rel, startHarness, subj, touch, type Harness } from "./test-support.js";

let h: Harness;
beforeEach(async () => {
  h = await startHarness({ lookupPageSize: 2 });
});
afterEach(async () => {
  await h.close();
});

const write = async (...tuples: string[]) =>
  (await h.relationship.writeRelationships({ updates: tuples.map(touch) })).writtenAt?.token ?? "";

describe("Check", () => {
  it("answers through the schema and returns the revision it evaluated at", async () => {
    const token = await write("group:eng#member@user:anne", "doc:1#viewer@group:eng#member", "doc:1#blocked@user:bob");
    const yes = await h.permission.check({ relationship: rel("doc:1#can_view@user:anne"), consistency: fresh(token) });
    expect(yes.allowed).toBe(true);
    expect(decodeSnaptoken(yes.checkedAt?.token ?? "")).toBe(decodeSnaptoken(token));
    const no = await h.permission.check({ relationship: rel("doc:1#can_view@user:bob") });
    expect(no.allowed).toBe(false);
  });

  it("reads its writes at at_least_as_fresh and sees the past at at_exact_snapshot", async () => {
    const before = await write("doc:1#viewer@user:carl");
    const after = (await h.relationship.writeRelationships({ updates: [{ operation: 3, relationship: rel("doc:1#viewer@user:carl") }] }))
      .writtenAt?.token as string;
    expect((await h.permission.check({ relationship: rel("doc:1#viewer@user:carl"), consistency: fresh(after) })).allowed).toBe(false);
    expect((await h.permission.check({ relationship: rel("doc:1#viewer@user:carl"), consistency: exact(before) })).allowed).toBe(true);
  });

  it("evaluates contextual relationships without storing them", async () => {
    const res = await h.permission.check({
      relationship: rel("doc:1#viewer@user:dan"),
      contextualRelationships: [rel("doc:1#viewer@user:dan")],
    });
    expect(res.allowed).toBe(true);
    expect((await h.permission.check({ relationship: rel("doc:1#viewer@user:dan") })).allowed).toBe(false);
  });

  it("names every missing or bad field", async () => {
    expect(await failure(h.permission.check({}))).toMatchObject({ code: Code.InvalidArgument, field: "relationship" });
    const noSubject = { namespace: "doc", object: "1", relation: "viewer" };
    expect(await failure(h.permission.check({ relationship: noSubject }))).toMatchObject({
      code: Code.InvalidArgument,
      field: "relationship.subject",
    });
    expect(await failure(h.permission.check({ relationship: { ...noSubject, namespace: "", subject: subj("user:a") } }))).toMatchObject({
      field: "relationship.namespace",
    });
    expect(await failure(h.permission.check({ relationship: rel("doc:1#nope@user:a") }))).toMatchObject({
      code: Code.NotFound,
      field: "relationship.relation",
      reason: "relation_not_found",
    });
    expect(await failure(h.permission.check({ relationship: rel("doc:1#viewer@user:a"), consistency: fresh("junk") }))).toMatchObject({
      code: Code.InvalidArgument,
      field: "consistency.at_least_as_fresh",
    });
    expect(
      await failure(h.permission.check({ relationship: rel("doc:1#viewer@user:a"), contextualRelationships: [rel("doc:1#viewer@nobody")] })),
    ).toMatchObject({ code: Code.InvalidArgument, field: "contextual_relationships[0].subject" });
  });

  it("turns exhausted depth into RESOURCE_EXHAUSTED, never a deny", async () => {
    await write("group:a#member@group:b#member", "group:b#member@group:c#member", "group:c#member@user:x");
    expect(await failure(h.permission.check({ relationship: rel("group:a#member@user:x"), maxDepth: 2 }))).toMatchObject({
      code: Code.ResourceExhausted,
      reason: "max_depth_exceeded",
    });
    expect((await h.permission.check({ relationship: rel("group:a#member@user:x"), maxDepth: 0 })).allowed).toBe(true);
  });
});

describe("BatchCheck", () => {
  it("answers in request order at one revision, with per-item errors", async () => {
    const token = await write("doc:1#viewer@user:anne", "group:a#member@group:b#member", "group:b#member@group:c#member");
    const res = await h.permission.batchCheck({
      consistency: fresh(token),
      maxDepth: 2,
      items: [
        { relationship: rel("doc:1#nope@user:anne") },
        { relationship: rel("doc:1#viewer@user:anne") },
        { relationship: rel("group:a#member@user:zed") },
        { relationship: rel("doc:1#viewer@user:bob") },
      ],
    });
    expect(res.results.map((r) => r.result.case)).toEqual(["error", "allowed", "error", "allowed"]);
    expect(res.results[0]?.result.value).toMatchObject({ code: Code.NotFound, reason: "relation_not_found" });
    expect(res.results[0]?.result.case === "error" && res.results[0].result.value.message).toMatch(/nope/);
    expect(res.results[1]?.result.value).toBe(true);
    expect(res.results[2]?.result.value).toMatchObject({ code: Code.ResourceExhausted, reason: "max_depth_exceeded" });
    expect(res.results[3]?.result.value).toBe(false);
    expect(decodeSnaptoken(res.checkedAt?.token ?? "")).toBe(decodeSnaptoken(token));
  });

  it("evaluates every item at the first item's revision", async () => {
    const first = await write("doc:1#viewer@user:anne");
    // A later write must not be seen by any item of a batch pinned to `first`.
    await write("doc:1#viewer@user:bob");
    const res = await h.permission.batchCheck({
      consistency: exact(first),
      items: [{ relationship: rel("doc:1#viewer@user:anne") }, { relationship: rel("doc:1#viewer@user:bob") }],
    });
    expect(res.results.map((r) => r.result.value)).toEqual([true, false]);
    expect(res.checkedAt?.token).toBe(first);
  });

  it("returns an empty result for no items and rejects too many or malformed ones", async () => {
    expect((await h.permission.batchCheck({})).results).toEqual([]);
    const small = await startHarness({ maxBatchCheckItems: 2 });
    const items = Array.from({ length: 3 }, () => ({ relationship: rel("doc:1#viewer@user:a") }));
    const tooMany = await failure(small.permission.batchCheck({ items }));
    expect(tooMany).toMatchObject({ code: Code.InvalidArgument, field: "items" });
    expect(tooMany.message).toMatch(/limit of 2/);
    await small.close();
    const bad = [...items.slice(0, 3), { relationship: { namespace: "", relation: "viewer", subject: subj("user:a") } }];
    expect(await failure(h.permission.batchCheck({ items: bad }))).toMatchObject({
      code: Code.InvalidArgument,
      field: "items[3].relationship.namespace",
    });
    expect(await failure(h.permission.batchCheck({ items, consistency: exact("gh1_zzz.bad") }))).toMatchObject({
      field: "consistency.at_exact_snapshot",
    });
  });
});

describe("Expand", () => {
  it("returns the userset tree and its revision", async () => {
    const token = await write("doc:1#viewer@user:anne", "doc:1#viewer@group:eng#member", "group:eng#member@user:bob");
    const res = await h.permission.expand({ namespace: "doc", object: "1", relation: "viewer", consistency: fresh(token) });
    expect(res.expandedAt?.token).toBe(token);
    const tree = res.tree;
    expect(tree?.userset).toMatchObject({ namespace: "doc", object: "1", relation: "viewer" });
    expect(tree?.kind.case).toBe("leaf");
    if (tree?.kind.case !== "leaf") return;
    expect(tree.kind.value.subjects.map((s) => s.ref.value)).toEqual([
      expect.objectContaining({ namespace: "user", object: "anne" }),
      expect.objectContaining({ namespace: "group", object: "eng", relation: "member" }),
    ]);
    expect(tree.kind.value.children[0]?.userset).toMatchObject({ namespace: "group", object: "eng", relation: "member" });
  });

  it("converts composite nodes and names missing fields", async () => {
    const res = await h.permission.expand({ namespace: "doc", object: "1", relation: "can_view" });
    expect(res.tree?.kind.case).toBe("exclusion");
    expect(await failure(h.permission.expand({ namespace: "doc", object: "1" }))).toMatchObject({
      code: Code.InvalidArgument,
      field: "relation",
    });
    expect(await failure(h.permission.expand({ namespace: "nope", object: "1", relation: "x" }))).toMatchObject({
      code: Code.NotFound,
      field: "namespace",
    });
  });
});

describe("LookupResources", () => {
  beforeEach(async () => {
    await write(...["d1", "d2", "d3", "d4", "d5"].map((d) => `doc:${d}#viewer@user:anne`), "doc:d3#blocked@user:anne");
  });

  it("streams every object, sorted, with one revision", async () => {
    const items = await collect(h.permission.lookupResources({ namespace: "doc", relation: "can_view", subject: subj("user:anne") }));
    expect(items.map((i) => i.object)).toEqual(["d1", "d2", "d4", "d5"]);
    expect(new Set(items.map((i) => i.lookedUpAt?.token)).size).toBe(1);
  });

  it("resumes right after any item's cursor, across engine pages", async () => {
    const request = { namespace: "doc", relation: "can_view", subject: subj("user:anne") };
    const all = await collect(h.permission.lookupResources(request));
    const snapshot = exact(all[0]?.lookedUpAt?.token ?? "");
    for (const [i, item] of all.entries()) {
      const rest = await collect(h.permission.lookupResources({ ...request, consistency: snapshot, cursor: item.cursor }));
      expect(rest.map((r) => r.object)).toEqual(all.slice(i + 1).map((r) => r.object));
    }
  });

  it("honours optional_limit and resumes from the last cursor", async () => {
    const request = { namespace: "doc", relation: "can_view", subject: subj("user:anne") };
    const first = await collect(h.permission.lookupResources({ ...request, optionalLimit: 3 }));
    expect(first.map((i) => i.object)).toEqual(["d1", "d2", "d4"]);
    const rest = await collect(
      h.permission.lookupResources({
        ...request,
        cursor: first[2]?.cursor ?? "",
        consistency: exact(first[0]?.lookedUpAt?.token ?? ""),
      }),
    );
    expect(rest.map((i) => i.object)).toEqual(["d5"]);
  });

  it("stops when the client goes away mid-stream", async () => {
    const controller = new AbortController();
    const seen: string[] = [];
    const stream = h.permission.lookupResources(
      { namespace: "doc", relation: "can_view", subject: subj("user:anne") },
      { signal: controller.signal },
    );
    const error = await (async () => {
      for await (const item of stream) {
        seen.push(item.object);
        controller.abort();
      }
    })().catch((e: unknown) => e);
    expect(seen).toEqual(["d1"]);
    expect(error).toMatchObject({ code: Code.Canceled });
  });

  it("names bad fields and rejects foreign cursors", async () => {
    expect(await failure(collect(h.permission.lookupResources({ namespace: "doc", relation: "can_view" })))).toMatchObject({
      code: Code.InvalidArgument,
      field: "subject",
    });
    expect(
      await failure(collect(h.permission.lookupResources({ namespace: "doc", relation: "can_view", subject: subj("user:a"), cursor: "x!" }))),
    ).toMatchObject({ code: Code.InvalidArgument, field: "cursor" });
  });
});

describe("LookupSubjects", () => {
  it("streams subjects with resumable cursors", async () => {
    const token = await write("doc:1#viewer@user:a", "doc:1#viewer@user:b", "doc:1#viewer@group:g#member", "group:g#member@user:c");
    const request = { namespace: "doc", object: "1", relation: "viewer", subjectNamespace: "user", consistency: fresh(token) };
    const all = await collect(h.permission.lookupSubjects(request));
    expect(all.map((i) => i.subject?.ref.case === "set" && i.subject.ref.value.object)).toEqual(["a", "b", "c"]);
    const rest = await collect(
      h.permission.lookupSubjects({ ...request, cursor: all[0]?.cursor ?? "", consistency: exact(all[0]?.lookedUpAt?.token ?? "") }),
    );
    expect(rest.map((i) => i.subject?.ref.case === "set" && i.subject.ref.value.object)).toEqual(["b", "c"]);
    const sets = await collect(h.permission.lookupSubjects({ ...request, subjectNamespace: "group", subjectRelation: "member" }));
    expect(sets.map((i) => i.subject?.ref.value)).toEqual([expect.objectContaining({ namespace: "group", object: "g", relation: "member" })]);
  });

  it("lists a wildcard, or its known members on request", async () => {
    await write("doc:1#public@user:*", "doc:2#viewer@user:z");
    const request = { namespace: "doc", object: "1", relation: "can_read", subjectNamespace: "user" };
    const objects = (items: LookupSubjectsResponse[]) => items.map((i) => formatSubject(subjectFromProto(i.subject, "subject")));
    expect(objects(await collect(h.permission.lookupSubjects(request)))).toEqual(["user:*"]);
    expect(objects(await collect(h.permission.lookupSubjects({ ...request, listWildcardMembers: true })))).toEqual(["user:*", "user:z"]);
  });

  it("names bad fields in the API's vocabulary", async () => {
    expect(
      await failure(collect(h.permission.lookupSubjects({ namespace: "doc", object: "1", relation: "viewer", subjectRelation: "member" }))),
    ).toMatchObject({ code: Code.InvalidArgument, field: "subject_relation" });
    expect(
      await failure(collect(h.permission.lookupSubjects({ namespace: "doc", object: "1", relation: "viewer", subjectNamespace: "nope" }))),
    ).toMatchObject({ code: Code.NotFound, field: "subject_namespace" });
  });
});

describe("streams on the server side", () => {
  it("stop fetching pages once the client has gone", async () => {
    await write(...["d1", "d2", "d3", "d4", "d5", "d6"].map((d) => `doc:${d}#viewer@user:anne`));
    const spy = vi.spyOn(h.engine, "lookupResources");
    const controller = new AbortController();
    await (async () => {
      for await (const _ of h.permission.lookupResources(
        { namespace: "doc", relation: "viewer", subject: subj("user:anne") },
        { signal: controller.signal },
      )) {
        controller.abort();
      }
    })().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 30));
    // Page size 2: the first page was fetched; the other two never are.
    expect(spy.mock.calls.length).toBe(1);
  });
});
