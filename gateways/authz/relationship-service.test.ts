import { Code } from "@connectrpc/connect";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { encodeSnaptoken } from "../../engine/snaptoken.js";
import { formatTuple } from "../../engine/tuple.js";
import { RelationshipUpdate_Operation, type Relationship } from "../../proto/gen/gatehouse/authz/v1/relationship_pb.js";
import { Precondition_Kind, RelationshipChange_Operation, type WatchResponse } from "../../proto/gen/gatehouse/authz/v1/relationship_service_pb.js";
import { relationshipFromProto } from "./convert.js";
import { exact, failure, fresh, rel, startHarness, subj, touch, type Harness } from "./test-support.js";

let h: Harness;
beforeEach(async () => {
  h = await startHarness({ watchHeartbeatMillis: 50 });
});
afterEach(async () => {
  await h.close();
});

const write = async (...tuples: string[]) =>
  (await h.relationship.writeRelationships({ updates: tuples.map(touch) })).writtenAt?.token ?? "";
const texts = (rels: readonly (Relationship | undefined)[]) => rels.map((r) => formatTuple(relationshipFromProto(r, "relationship")));

describe("ReadRelationships", () => {
  it("filters with presence (unset matches anything, '' matches the empty id) and pages at one revision", async () => {
    const token = await write("doc:1#viewer@user:a", "doc:1#viewer@user:b", "doc:2#viewer@user:a", "doc:#viewer@user:e");
    const all = await h.relationship.readRelationships({ consistency: fresh(token) });
    expect(all.relationships).toHaveLength(4);
    expect(all.readAt?.token).toBe(token);
    const empty = await h.relationship.readRelationships({ filter: { namespace: "doc", object: "" } });
    expect(texts(empty.relationships)).toEqual(["doc:#viewer@user:e"]);
    const anne = await h.relationship.readRelationships({ filter: { subject: subj("user:a") } });
    expect(texts(anne.relationships).sort()).toEqual(["doc:1#viewer@user:a", "doc:2#viewer@user:a"]);

    const first = await h.relationship.readRelationships({ filter: { namespace: "doc" }, pageSize: 3 });
    expect(first.relationships).toHaveLength(3);
    expect(first.nextPageToken).not.toBe("");
    await write("doc:9#viewer@user:z"); // later pages keep the first page's revision
    const second = await h.relationship.readRelationships({ filter: { namespace: "doc" }, pageSize: 3, pageToken: first.nextPageToken });
    expect(second.relationships).toHaveLength(1);
    expect(second.nextPageToken).toBe("");
    expect(second.readAt?.token).toBe(first.readAt?.token);
  });

  it("reads the past at at_exact_snapshot and names bad fields", async () => {
    const before = await write("doc:1#viewer@user:a");
    await write("doc:2#viewer@user:a");
    expect((await h.relationship.readRelationships({ consistency: exact(before) })).relationships).toHaveLength(1);
    expect(await failure(h.relationship.readRelationships({ filter: { namespace: "nope" } }))).toMatchObject({
      code: Code.NotFound,
      field: "filter.namespace",
    });
    expect(await failure(h.relationship.readRelationships({ pageToken: "forged" }))).toMatchObject({
      code: Code.InvalidArgument,
      field: "page_token",
    });
    expect(await failure(h.relationship.readRelationships({ filter: { subject: {} } }))).toMatchObject({ field: "filter.subject" });
  });
});

describe("WriteRelationships", () => {
  it("applies touch, create and delete atomically and returns the revision", async () => {
    const first = await write("doc:1#viewer@user:a");
    const res = await h.relationship.writeRelationships({
      updates: [
        { operation: RelationshipUpdate_Operation.CREATE, relationship: rel("doc:1#viewer@user:b") },
        { operation: RelationshipUpdate_Operation.DELETE, relationship: rel("doc:1#viewer@user:a") },
      ],
    });
    expect(res.writtenAt?.token).not.toBe(first);
    const read = await h.relationship.readRelationships({ consistency: fresh(res.writtenAt?.token ?? "") });
    expect(texts(read.relationships)).toEqual(["doc:1#viewer@user:b"]);
    const dup = await failure(
      h.relationship.writeRelationships({ updates: [{ operation: RelationshipUpdate_Operation.CREATE, relationship: rel("doc:1#viewer@user:b") }] }),
    );
    expect(dup.code).toBe(Code.AlreadyExists);
  });

  it("checks preconditions in the write", async () => {
    await write("doc:1#viewer@user:a");
    const failed = await failure(
      h.relationship.writeRelationships({
        updates: [touch("doc:2#viewer@user:a")],
        preconditions: [{ kind: Precondition_Kind.MUST_NOT_MATCH, filter: { namespace: "doc", object: "1" } }],
      }),
    );
    expect(failed.code).toBe(Code.FailedPrecondition);
    expect((await h.relationship.readRelationships({ filter: { object: "2" } })).relationships).toHaveLength(0);
    await h.relationship.writeRelationships({
      updates: [touch("doc:2#viewer@user:a")],
      preconditions: [{ kind: Precondition_Kind.MUST_MATCH, filter: { namespace: "doc", object: "1" } }],
    });
    expect((await h.relationship.readRelationships({ filter: { object: "2" } })).relationships).toHaveLength(1);
  });

  it("names every bad field in request terms", async () => {
    expect(await failure(h.relationship.writeRelationships({ updates: [touch("doc:1#viewer@user:a"), { relationship: rel("doc:1#viewer@user:b") }] })))
      .toMatchObject({ code: Code.InvalidArgument, field: "updates[1].operation" });
    expect(await failure(h.relationship.writeRelationships({ updates: [{ operation: RelationshipUpdate_Operation.TOUCH }] }))).toMatchObject({
      field: "updates[0].relationship",
    });
    expect(await failure(h.relationship.writeRelationships({ updates: [touch("doc:1#viewer@user:a"), touch("doc:1#viewer@bare")] })))
      .toMatchObject({ code: Code.InvalidArgument, field: "updates[1].relationship.subject" });
    expect(await failure(h.relationship.writeRelationships({ updates: [touch("doc:1#nope@user:a")] }))).toMatchObject({
      field: "updates[0].relationship.relation",
    });
    expect(await failure(h.relationship.writeRelationships({ updates: [touch("doc:1#viewer@robot:a")] }))).toMatchObject({
      field: "updates[0].relationship.subject.set.namespace",
    });
    expect(
      await failure(h.relationship.writeRelationships({ updates: [touch("doc:1#viewer@user:a")], preconditions: [{ filter: { namespace: "doc" } }] })),
    ).toMatchObject({ field: "preconditions[0].kind" });
  });
});

describe("DeleteRelationships", () => {
  it("deletes by filter and reports the count", async () => {
    await write("doc:1#viewer@user:a", "doc:1#viewer@user:b", "doc:2#viewer@user:a");
    const res = await h.relationship.deleteRelationships({ filter: { namespace: "doc", object: "1" } });
    expect(res.deletedCount).toBe(2n);
    const left = await h.relationship.readRelationships({ consistency: fresh(res.deletedAt?.token ?? "") });
    expect(texts(left.relationships)).toEqual(["doc:2#viewer@user:a"]);
  });

  it("refuses an empty filter", async () => {
    await write("doc:1#viewer@user:a");
    expect(await failure(h.relationship.deleteRelationships({}))).toMatchObject({ code: Code.InvalidArgument, field: "filter" });
    expect(await failure(h.relationship.deleteRelationships({ filter: {} }))).toMatchObject({ field: "filter" });
    expect((await h.relationship.readRelationships({})).relationships).toHaveLength(1);
  });
});

describe("Watch", () => {
  /** Reads from a stream until `until` holds for the collected messages. */
  async function take(stream: AsyncIterable<WatchResponse>, until: (msgs: WatchResponse[]) => boolean): Promise<WatchResponse[]> {
    const msgs: WatchResponse[] = [];
    for await (const msg of stream) {
      msgs.push(msg);
      if (until(msgs)) break;
    }
    return msgs;
  }
  const changesOf = (msgs: WatchResponse[]) =>
    msgs.flatMap((m) =>
      m.changes.map((c) => `${c.operation === RelationshipChange_Operation.INSERT ? "+" : "-"}${texts([c.relationship])[0]}`),
    );

  it("streams changes committed after start, then new ones as they commit", async () => {
    const start = await write("doc:0#viewer@user:old");
    await write("doc:1#viewer@user:a", "doc:2#viewer@user:b");
    const controller = new AbortController();
    const stream = h.relationship.watch({ start: { token: start } }, { signal: controller.signal });
    const later = (async () => {
      await new Promise((r) => setTimeout(r, 10));
      await h.relationship.writeRelationships({
        updates: [{ operation: RelationshipUpdate_Operation.DELETE, relationship: rel("doc:1#viewer@user:a") }],
      });
    })();
    const msgs = await take(stream, (m) => changesOf(m).length >= 3);
    await later;
    controller.abort();
    expect(changesOf(msgs)).toEqual(["+doc:1#viewer@user:a", "+doc:2#viewer@user:b", "-doc:1#viewer@user:a"]);
    const revisions = msgs.flatMap((m) => m.changes.map((c) => c.revision?.token));
    expect(revisions[0]).toBe(revisions[1]); // one write batch, one revision
  });

  it("starts at now when start is unset and sends heartbeats while idle", async () => {
    const head = await write("doc:1#viewer@user:a");
    const msgs = await take(h.relationship.watch({}), (m) => m.length >= 2);
    expect(msgs.every((m) => m.changes.length === 0)).toBe(true);
    expect(msgs.map((m) => m.changesThrough?.token)).toEqual([head, head]);
  });

  it("resumes from a changes_through with exactly what followed", async () => {
    const start = await write("doc:0#viewer@user:x");
    await write("doc:1#viewer@user:a");
    const [first] = await take(h.relationship.watch({ start: { token: start } }), () => true);
    expect(changesOf(first ? [first] : [])).toEqual(["+doc:1#viewer@user:a"]);
    await write("doc:2#viewer@user:b");
    await write("doc:3#viewer@user:c");
    const resumed = await take(h.relationship.watch({ start: first?.changesThrough }), (m) => changesOf(m).length >= 2);
    expect(changesOf(resumed)).toEqual(["+doc:2#viewer@user:b", "+doc:3#viewer@user:c"]);
  });

  it("filters by namespace and still advances changes_through", async () => {
    const start = await write("doc:0#viewer@user:x");
    await write("group:g#member@user:a");
    const last = await write("doc:1#viewer@user:a");
    const msgs = await take(h.relationship.watch({ start: { token: start }, namespaces: ["group"] }), (m) => m.at(-1)?.changesThrough?.token === last);
    expect(changesOf(msgs)).toEqual(["+group:g#member@user:a"]);
  });

  it("ends when the client cancels", async () => {
    const controller = new AbortController();
    let received = 0;
    const error = await (async () => {
      for await (const _ of h.relationship.watch({}, { signal: controller.signal })) {
        received++;
        controller.abort();
      }
    })().catch((e: unknown) => e);
    expect(received).toBe(1);
    expect(error).toMatchObject({ code: Code.Canceled });
  });

  it("rejects a start ahead of the store or malformed", async () => {
    expect(await failure(async () => take(h.relationship.watch({ start: { token: encodeSnaptoken(999) } }), () => true))).toMatchObject({
      code: Code.InvalidArgument,
      field: "start",
      reason: "snaptoken_ahead",
    });
    expect(await failure(async () => take(h.relationship.watch({ start: { token: "nope" } }), () => true))).toMatchObject({
      code: Code.InvalidArgument,
      field: "start",
    });
  });
});

describe("Watch on the server side", () => {
  it("stops reading the changelog after the client cancels", async () => {
    const spy = vi.spyOn(h.engine, "changes");
    const controller = new AbortController();
    await (async () => {
      for await (const _ of h.relationship.watch({}, { signal: controller.signal })) controller.abort();
    })().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 20));
    const calls = spy.mock.calls.length;
    await new Promise((r) => setTimeout(r, 200)); // four heartbeat periods
    expect(spy.mock.calls.length).toBe(calls);
  });

  it("stops when the client breaks out of the stream", async () => {
    const spy = vi.spyOn(h.engine, "changes");
    for await (const _ of h.relationship.watch({})) break;
    await new Promise((r) => setTimeout(r, 20));
    const calls = spy.mock.calls.length;
    await new Promise((r) => setTimeout(r, 200));
    expect(spy.mock.calls.length).toBe(calls);
  });
});
