import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InvalidArgumentError, NotFoundError } from "../common/errors.js";
import { createTempDatabase, resetPublicSchema, shouldRunPostgresSuite, type TempDatabase } from "../test/support/postgres.js";
import { openPermissionEngine, type PermissionEngine } from "./permission-engine.js";
import { createMemoryStore, createPgliteStore, createPostgresStore, type TupleStore } from "./store/index.js";
import { parseSubject, parseTuple } from "./tuple.js";

const model = `model
  schema 1.1
type user
type group
  relations
    define member: [user, group#member]
type doc
  relations
    define viewer: [user, group#member]
    define blocked: [user]
    define can_view: viewer but not blocked`;

const touch = (...tuples: string[]) => tuples.map((t) => ({ op: "touch" as const, tuple: parseTuple(t) }));
const canView = (user: string) => ({ namespace: "doc", object: "1", relation: "can_view", subject: parseSubject(user) });

/** The engine's behaviour over any store; each test gets a fresh store from `open`. */
function describeEngine(name: string, open: () => Promise<TupleStore>): void {
  describe(`permission engine on ${name}`, () => {
    async function engineWithModel(): Promise<{ engine: PermissionEngine; store: TupleStore }> {
      const store = await open();
      // No quantization: these tests read their own writes with the default consistency.
      const engine = await openPermissionEngine({ store, quantizationMs: 0 });
      await engine.writeSchema(model);
      return { engine, store };
    }

    it("refuses checks and writes before a schema exists", async () => {
      const store = await open();
      const engine = await openPermissionEngine({ store });
      await expect(engine.check(canView("user:a"))).rejects.toBeInstanceOf(NotFoundError);
      await expect(engine.write(touch("doc:1#viewer@user:a"))).rejects.toBeInstanceOf(NotFoundError);
      await store.close();
    });

    it("rejects an invalid schema with positions and keeps the old one", async () => {
      const { engine, store } = await engineWithModel();
      const err = await engine.writeSchema(`model\n  schema 1.1\ntype doc\n  relations\n    define viewer: [person]`).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).details).toMatchObject({ field: "schema", line: 5, column: 21 });
      expect((await store.readSchema())?.text).toBe(model);
      expect(engine.schema?.types.has("group")).toBe(true);
      await store.close();
    });

    it("returns schema warnings with a successful write", async () => {
      const store = await open();
      const engine = await openPermissionEngine({ store });
      const result = await engine.writeSchema(
        `class User implements Namespace {}
class Doc implements Namespace {
  related: { a: User[]; b: User[]; c: User[] }
  permits = { p: (ctx) => this.related.a.includes(ctx.subject) || this.related.b.includes(ctx.subject) && this.related.c.includes(ctx.subject) }
}`,
      );
      expect(result.diagnostics).toEqual([expect.objectContaining({ severity: "warning", construct: "precedence" })]);
      await store.close();
    });

    it("answers from writes at once and returns the revision it read at", async () => {
      const { engine, store } = await engineWithModel();
      const { revision } = await engine.write(touch("doc:1#viewer@group:eng#member", "group:eng#member@user:anne"));
      const result = await engine.check(canView("user:anne"));
      expect(result).toEqual({ allowed: true, revision });
      expect((await engine.check(canView("user:bob"))).allowed).toBe(false);
      await store.close();
    });

    it("rejects a batch with one invalid tuple whole, naming it", async () => {
      const { engine, store } = await engineWithModel();
      const head = await store.headRevision();
      const err = await engine.write(touch("doc:1#viewer@user:anne", "doc:1#can_view@user:bob")).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).details.field).toBe("tuples[1].relation");
      expect(await store.headRevision()).toBe(head);
      expect((await engine.check(canView("user:anne"))).allowed).toBe(false);
      await store.close();
    });

    it("reads at an older revision exactly as the store was then", async () => {
      const { engine, store } = await engineWithModel();
      const r1 = (await engine.write(touch("doc:1#viewer@user:anne"))).revision;
      const r2 = (await engine.write(touch("doc:1#blocked@user:anne"))).revision;
      const r3 = (await engine.deleteByFilter({ namespace: "doc", relation: "blocked" })).revision;
      expect((await engine.check(canView("user:anne"), { consistency: { kind: "at_exact_snapshot", revision: r1 } })).allowed).toBe(true);
      expect((await engine.check(canView("user:anne"), { consistency: { kind: "at_exact_snapshot", revision: r2 } })).allowed).toBe(false);
      expect((await engine.check(canView("user:anne"), { consistency: { kind: "at_exact_snapshot", revision: r3 } })).allowed).toBe(true);
      expect((await engine.check(canView("user:anne"), { consistency: { kind: "at_exact_snapshot", revision: r1 - 1 } })).allowed).toBe(false);
      await expect(engine.check(canView("user:anne"), { consistency: { kind: "at_exact_snapshot", revision: r3 + 5 } })).rejects.toBeInstanceOf(InvalidArgumentError);
      await store.close();
    });

    it("lists, expands and looks up through the same snapshot", async () => {
      const { engine, store } = await engineWithModel();
      await engine.write(touch("doc:1#viewer@user:anne", "doc:2#viewer@user:anne", "doc:2#blocked@user:anne", "doc:1#viewer@user:bob"));
      const resources = await engine.lookupResources({ namespace: "doc", relation: "can_view", subject: parseSubject("user:anne") });
      expect(resources.objects).toEqual(["1"]);
      const subjects = await engine.lookupSubjects({ namespace: "doc", object: "1", relation: "can_view", subjectNamespace: "user" });
      expect(subjects.subjects.map((s) => (s.kind === "set" ? s.object : s.id))).toEqual(["anne", "bob"]);
      const { tree } = await engine.expand({ namespace: "doc", object: "1", relation: "viewer" });
      expect(tree).toMatchObject({ kind: "leaf", subjects: [parseSubject("user:anne"), parseSubject("user:bob")] });
      await store.close();
    });

    it("keeps every acknowledged write when writes race", async () => {
      const { engine, store } = await engineWithModel();
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => engine.write(touch(`doc:${i}#viewer@user:u${i}`))),
      );
      const revisions = results.map((r) => r.revision).sort((a, b) => a - b);
      expect(new Set(revisions).size).toBe(20);
      for (let i = 0; i < 20; i++) {
        const q = { namespace: "doc", object: String(i), relation: "viewer", subject: parseSubject(`user:u${i}`) };
        expect((await engine.check(q)).allowed).toBe(true);
        // Each write is visible exactly from its own revision on.
        const own = results[i]?.revision ?? 0;
        expect((await engine.check(q, { consistency: { kind: "at_exact_snapshot", revision: own } })).allowed).toBe(true);
        expect((await engine.check(q, { consistency: { kind: "at_exact_snapshot", revision: own - 1 } })).allowed).toBe(false);
      }
      await store.close();
    });

    it("evaluates contextual tuples as if written, without storing them", async () => {
      const { engine, store } = await engineWithModel();
      await engine.write(touch("group:eng#member@user:anne"));
      const contextualTuples = [parseTuple("doc:1#viewer@group:eng#member")];
      expect((await engine.check(canView("user:anne"), { contextualTuples })).allowed).toBe(true);
      expect((await engine.check(canView("user:anne"))).allowed).toBe(false);
      const found = await engine.lookupResources({ namespace: "doc", relation: "can_view", subject: parseSubject("user:anne") }, {}, { contextualTuples });
      expect(found.objects).toEqual(["1"]);
      expect((await store.read({ namespace: "doc" })).tuples).toEqual([]);
      const err = await engine.check(canView("user:anne"), { contextualTuples: [parseTuple("doc:1#nope@user:anne")] }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect((err as InvalidArgumentError).details.field).toBe("contextual_tuples[0].relation");
      await store.close();
    });

    it("lists stored tuples page by page at one revision, and 404s an unknown namespace", async () => {
      const { engine, store } = await engineWithModel();
      const { revision } = await engine.write(touch("doc:1#viewer@user:a", "doc:2#viewer@user:b", "doc:3#viewer@user:c"));
      const first = await engine.read({ namespace: "doc" }, { pageSize: 2 });
      expect(first.tuples).toHaveLength(2);
      expect(first.revision).toBe(revision);
      await engine.write(touch("doc:0#viewer@user:z"));
      const second = await engine.read({ namespace: "doc" }, { pageSize: 2, ...(first.nextPageToken === undefined ? {} : { pageToken: first.nextPageToken }) });
      expect(second.tuples.map((t) => t.object)).toEqual(["3"]);
      expect(second.nextPageToken).toBeUndefined();
      await expect(engine.read({ namespace: "folder" })).rejects.toBeInstanceOf(NotFoundError);
      expect((await engine.storedSchema())?.language).toBe("fga");
      await store.close();
    });

    it("announces each new revision and serves the changelog for Watch", async () => {
      const { engine, store } = await engineWithModel();
      const seen: number[] = [];
      const stop = engine.onRevision((r) => seen.push(r));
      const start = engine.revision;
      const { revision: r1 } = await engine.write(touch("doc:1#viewer@user:anne"));
      const { revision: r2 } = await engine.write([{ op: "delete", tuple: parseTuple("doc:1#viewer@user:anne") }]);
      stop();
      await engine.write(touch("doc:2#viewer@user:anne"));
      expect(seen).toEqual([r1, r2]);
      const page = await engine.changes(start);
      expect(page.changes.slice(0, 2).map((c) => [c.revision, c.op])).toEqual([
        [r1, "insert"],
        [r2, "delete"],
      ]);
      await store.close();
    });

    it("rebuilds the same answers when reopened over the same store", async () => {
      const { engine, store } = await engineWithModel();
      await engine.write(touch("doc:1#viewer@user:anne", "doc:1#blocked@user:bob", "doc:1#viewer@user:bob"));
      const again = await openPermissionEngine({ store });
      expect(again.revision).toBe(engine.revision);
      expect((await again.check(canView("user:anne"))).allowed).toBe(true);
      expect((await again.check(canView("user:bob"))).allowed).toBe(false);
      await store.close();
    });
  });
}

describeEngine("the memory store", async () => createMemoryStore());
describe("on PGlite", () => {
  // One in-memory PGlite for all its tests (starting one takes seconds); each test gets an empty schema.
  let db: PGlite;
  beforeAll(async () => {
    db = await PGlite.create("memory://");
  });
  afterAll(async () => {
    await db.close();
  });
  describeEngine("PGlite in memory", async () => {
    await db.exec("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;");
    return createPgliteStore({ database: db });
  });
});

describe("permission engine on PGlite in a data folder", () => {
  const dir = mkdtempSync(join(tmpdir(), "gatehouse-engine-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("keeps schema and tuples across a restart", async () => {
    const first = await createPgliteStore({ dataDir: dir });
    const engine = await openPermissionEngine({ store: first });
    await engine.writeSchema(model);
    await engine.write(touch("doc:1#viewer@user:anne"));
    await first.close();

    const second = await createPgliteStore({ dataDir: dir });
    const reopened = await openPermissionEngine({ store: second });
    expect((await reopened.check(canView("user:anne"))).allowed).toBe(true);
    await second.close();
  });
});

const runPostgres = await shouldRunPostgresSuite("engine/permission-engine.test.ts (PostgreSQL)");
describe.skipIf(!runPostgres)("permission engine on PostgreSQL", () => {
  let temp: TempDatabase;
  const opened: TupleStore[] = [];
  beforeAll(async () => {
    temp = await createTempDatabase();
  });
  afterAll(async () => {
    await Promise.all(opened.map((s) => s.close().catch(() => {})));
    await temp?.drop();
  });

  describeEngine("PostgreSQL", async () => {
    await resetPublicSchema(temp.connectionString);
    const store = await createPostgresStore({ connectionString: temp.connectionString, maxConnections: 3 });
    opened.push(store);
    return store;
  });

  it("lets a second engine on the same database read the first one's write by its revision", async () => {
    await resetPublicSchema(temp.connectionString);
    const storeA = await createPostgresStore({ connectionString: temp.connectionString, maxConnections: 2 });
    const storeB = await createPostgresStore({ connectionString: temp.connectionString, maxConnections: 2 });
    opened.push(storeA, storeB);
    const a = await openPermissionEngine({ store: storeA });
    await a.writeSchema(model);
    const b = await openPermissionEngine({ store: storeB });
    const { revision } = await a.write(touch("doc:1#viewer@user:anne"));
    // B's snapshot is behind: minimize_latency answers from it (stale), a snaptoken makes B catch up first.
    expect(b.revision).toBeLessThan(revision);
    expect((await b.check(canView("user:anne"))).allowed).toBe(false);
    const fresh = await b.check(canView("user:anne"), { consistency: { kind: "at_least_as_fresh", revision } });
    expect(fresh).toEqual({ allowed: true, revision });
    expect(b.revision).toBe(revision);

    // fully_consistent reads the store's head, wherever the write came from.
    const { revision: later } = await a.write(touch("doc:1#blocked@user:anne"));
    expect(await b.check(canView("user:anne"), { consistency: { kind: "fully_consistent" } })).toEqual({ allowed: false, revision: later });
    await expect(
      b.check(canView("user:anne"), { consistency: { kind: "at_least_as_fresh", revision: later + 1 } }),
    ).rejects.toMatchObject({ reason: "snaptoken_ahead", details: { field: "consistency.at_least_as_fresh" } });
  });
});
