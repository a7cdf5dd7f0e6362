/**
 * Two engines over one store, as two nodes over one database: schema changes reach the other node, a node
 * behind the changelog horizon rebuilds its snapshot, a snaptoken the node cannot reach in time is
 * UNAVAILABLE (never a stale answer), and local commits are announced.
 */
import { describe, expect, it } from "vitest";
import { GatehouseError } from "../common/errors.js";
import { openPermissionEngine } from "./permission-engine.js";
import { createMemoryStore, type TupleStore } from "./store/index.js";
import { parseSubject, parseTuple } from "./tuple.js";

const model = `model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member]
type doc
  relations
    define viewer: [user, group#member]`;

const touch = (...tuples: string[]) => tuples.map((t) => ({ op: "touch" as const, tuple: parseTuple(t) }));
const del = (...tuples: string[]) => tuples.map((t) => ({ op: "delete" as const, tuple: parseTuple(t) }));
const viewer = (doc: string, user: string) => ({ namespace: "doc", object: doc, relation: "viewer", subject: parseSubject(user) });

/** A store whose `changes` can be held until released (a slow or unreachable database). */
function gatedStore(inner: TupleStore): { store: TupleStore; hold(): void; release(): void } {
  let gate: Promise<void> | undefined;
  let open = (): void => {};
  const store: TupleStore = {
    ...inner,
    async changes(after, limit) {
      if (gate !== undefined) await gate;
      return inner.changes(after, limit);
    },
  };
  return {
    store,
    hold() {
      gate = new Promise((resolve) => (open = resolve));
    },
    release() {
      gate = undefined;
      open();
    },
  };
}

describe("permission engine replication", () => {
  it("picks up a schema another node wrote when it catches up", async () => {
    const store = createMemoryStore();
    const a = await openPermissionEngine({ store, quantizationMs: 0 });
    await a.writeSchema(model);
    const b = await openPermissionEngine({ store, quantizationMs: 0 });
    expect(b.schema?.types.has("folder")).toBe(false);
    await a.writeSchema(`${model}\ntype folder\n  relations\n    define owner: [user]`);
    await a.write(touch("folder:f#owner@user:ann"));
    await b.catchUp();
    expect(b.schema?.types.has("folder")).toBe(true);
    expect((await b.check({ namespace: "folder", object: "f", relation: "owner", subject: parseSubject("user:ann") })).allowed).toBe(true);
  });

  it("rebuilds its snapshot when the changelog it needs was garbage collected, and answers from the new one", async () => {
    const store = createMemoryStore();
    const a = await openPermissionEngine({ store, quantizationMs: 0 });
    await a.writeSchema(model);
    await a.write(touch("doc:1#viewer@user:ann", "doc:2#viewer@group:eng#member", "group:eng#member@user:bob"));
    const b = await openPermissionEngine({ store, quantizationMs: 0 });
    expect((await b.check(viewer("2", "user:bob"), { consistency: { kind: "latest_applied" } })).allowed).toBe(true);
    // Node A goes on writing and deleting; the collector then drops the history node B would need.
    await a.write(del("group:eng#member@user:bob"));
    await a.write(touch("doc:3#viewer@user:cat"));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const gc = await store.collectGarbage(5);
    expect(gc.horizon).toBe(await store.headRevision());
    expect(gc.removedVersions).toBe(1);
    await b.catchUp();
    expect(b.stats().rebuilds).toBe(1);
    expect(b.revision).toBe(gc.horizon);
    const latest = { consistency: { kind: "latest_applied" as const } };
    expect((await b.check(viewer("2", "user:bob"), latest)).allowed).toBe(false);
    expect((await b.check(viewer("3", "user:cat"), latest)).allowed).toBe(true);
    expect((await b.check(viewer("1", "user:ann"), latest)).allowed).toBe(true);
    // Later changes apply incrementally again.
    await a.write(touch("doc:4#viewer@user:dan"));
    await b.catchUp();
    expect((await b.check(viewer("4", "user:dan"), latest)).allowed).toBe(true);
    expect(b.stats().rebuilds).toBe(1);
  });

  it("waits for a snaptoken it has not applied, then answers with it", async () => {
    const shared = createMemoryStore();
    const a = await openPermissionEngine({ store: shared, quantizationMs: 0 });
    await a.writeSchema(model);
    const gated = gatedStore(shared);
    const b = await openPermissionEngine({ store: gated.store, quantizationMs: 0, snaptokenWaitMs: 5_000 });
    const { revision } = await a.write(touch("doc:1#viewer@user:ann"));
    gated.hold();
    const answer = b.check(viewer("1", "user:ann"), { consistency: { kind: "at_least_as_fresh", revision } });
    setTimeout(() => gated.release(), 50);
    expect(await answer).toEqual({ allowed: true, revision });
  });

  it("fails with UNAVAILABLE naming the snaptoken when it cannot catch up in time, never with a stale answer", async () => {
    const shared = createMemoryStore();
    const a = await openPermissionEngine({ store: shared, quantizationMs: 0 });
    await a.writeSchema(model);
    const gated = gatedStore(shared);
    const b = await openPermissionEngine({ store: gated.store, quantizationMs: 0, snaptokenWaitMs: 100 });
    const { revision } = await a.write(touch("doc:1#viewer@user:ann"));
    gated.hold();
    const started = Date.now();
    const err = await b
      .check(viewer("1", "user:ann"), { consistency: { kind: "at_least_as_fresh", revision } })
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeGreaterThanOrEqual(90);
    expect(err).toBeInstanceOf(GatehouseError);
    expect((err as GatehouseError).code).toBe("unavailable");
    expect((err as GatehouseError).reason).toBe("snaptoken_not_replicated");
    expect((err as GatehouseError).message).toContain(`revision ${revision} is not yet replicated`);
    gated.release();
    // Once the store answers again, the same request succeeds.
    expect((await b.check(viewer("1", "user:ann"), { consistency: { kind: "at_least_as_fresh", revision } })).allowed).toBe(true);
  });

  it("serves a burst of checks waiting for one fresh snaptoken with a couple of catch-ups, not one each", async () => {
    const shared = createMemoryStore();
    const a = await openPermissionEngine({ store: shared, quantizationMs: 0 });
    await a.writeSchema(model);
    let reads = 0;
    const counting: TupleStore = {
      ...shared,
      async changes(after, limit) {
        reads++;
        await new Promise((resolve) => setTimeout(resolve, 5));
        return shared.changes(after, limit);
      },
    };
    const b = await openPermissionEngine({ store: counting, quantizationMs: 0 });
    const { revision } = await a.write(touch("doc:1#viewer@user:ann"));
    reads = 0;
    const answers = await Promise.all(
      Array.from({ length: 200 }, () => b.check(viewer("1", "user:ann"), { consistency: { kind: "at_least_as_fresh", revision } })),
    );
    expect(answers.every((r) => r.allowed)).toBe(true);
    expect(reads).toBeLessThanOrEqual(3);
  });

  it("still refuses a snaptoken ahead of the store's head as invalid", async () => {
    const store = createMemoryStore();
    const a = await openPermissionEngine({ store, quantizationMs: 0 });
    await a.writeSchema(model);
    const err = await a.check(viewer("1", "user:ann"), { consistency: { kind: "at_least_as_fresh", revision: 99 } }).catch((e: unknown) => e);
    expect((err as GatehouseError).code).toBe("invalid_argument");
    expect((err as GatehouseError).reason).toBe("snaptoken_ahead");
  });

  it("announces each of its own commits, and not the ones it merely applied", async () => {
    const store = createMemoryStore();
    const a = await openPermissionEngine({ store, quantizationMs: 0 });
    const b = await openPermissionEngine({ store, quantizationMs: 0 });
    const announcedByA: number[] = [];
    const announcedByB: number[] = [];
    a.onCommit((r) => announcedByA.push(r));
    b.onCommit((r) => announcedByB.push(r));
    const schema = await a.writeSchema(model);
    const write = await a.write(touch("doc:1#viewer@user:ann"));
    const deleted = await a.deleteByFilter({ namespace: "doc" });
    await b.catchUp();
    expect(announcedByA).toEqual([schema.revision, write.revision, deleted.revision]);
    expect(announcedByB).toEqual([]);
  });
});
