import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseTuple } from "../tuple.js";
import { describeTupleStoreContract } from "./contract.js";
import { createPgliteStore, pgliteExecutor } from "./pglite-store.js";
import { appliedMigrations, LATEST_MIGRATION_VERSION, migrate, migrations } from "./sql-migrations.js";

// One in-memory PGlite for the whole file (starting one takes seconds); each test gets an empty schema.
let db: PGlite;
beforeAll(async () => {
  db = await PGlite.create("memory://");
});
afterAll(async () => {
  await db.close();
});

async function resetSchema(): Promise<void> {
  await db.exec("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;");
}

describeTupleStoreContract("pglite", async () => {
  await resetSchema();
  return createPgliteStore({ database: db });
});

describe("pglite store", () => {
  it("records migrations once and refuses an unmigrated database with migrate: false", async () => {
    await resetSchema();
    await expect(createPgliteStore({ database: db, migrate: false })).rejects.toMatchObject({
      code: "precondition_failed",
    });
    const executor = pgliteExecutor(db, false);
    expect(await appliedMigrations(executor)).toEqual([]);
    expect((await migrate(executor)).applied).toEqual(migrations.map((m) => m.version));
    expect(await migrate(executor)).toEqual({ applied: [], version: LATEST_MIGRATION_VERSION });
    const store = await createPgliteStore({ database: db, migrate: false });
    expect(await store.headRevision()).toBe(0);
    await store.close();
    expect(db.closed).toBe(false); // a store on a borrowed instance leaves it open
  });

  it("rolls a failing migration back completely, its version row included", async () => {
    await resetSchema();
    const executor = pgliteExecutor(db, false);
    const broken = [{ version: 1, name: "broken", up: ["CREATE TABLE t_ok (a INT)", "CREATE TABLE t_ok (a INT)"] }];
    await expect(migrate(executor, { migrations: broken })).rejects.toThrow();
    expect(await appliedMigrations(executor)).toEqual([]);
    const tables = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 't_ok'`);
    expect(tables.rows[0]?.n).toBe(0);
  });

  it("persists tuples, revisions, schemas and page-token secret in a data folder across reopen", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gatehouse-pglite-"));
    try {
      const dataDir = join(dir, "nested", "data"); // missing parents are created
      const first = await createPgliteStore({ dataDir });
      await first.write(["doc:1#viewer@anne", "doc:2#viewer@group:eng#member"].map((t) => ({ op: "touch" as const, tuple: parseTuple(t) })));
      await first.write([{ op: "delete", tuple: parseTuple("doc:1#viewer@anne") }]);
      await first.writeSchema("class Doc implements Namespace {}", "opl");
      await first.write(["doc:3#viewer@bob", "doc:4#viewer@bob"].map((t) => ({ op: "touch" as const, tuple: parseTuple(t) })));
      const token = (await first.read({ subject: { kind: "id", id: "bob" } }, { pageSize: 1 })).nextPageToken as string;
      await first.close();

      const second = await createPgliteStore({ dataDir });
      try {
        expect(await second.headRevision()).toBe(4);
        expect((await second.read({}, { revision: 1 })).tuples).toHaveLength(2);
        expect((await second.read({})).tuples.map((t) => t.object)).toEqual(["2", "3", "4"]);
        expect(await second.readSchema()).toEqual({ text: "class Doc implements Namespace {}", language: "opl", revision: 3 });
        expect((await second.changes(0)).changes).toHaveLength(5);
        const next = await second.read({ subject: { kind: "id", id: "bob" } }, { pageSize: 1, pageToken: token });
        expect(next.tuples.map((t) => t.object)).toEqual(["4"]);
        expect((await second.write([{ op: "touch", tuple: parseTuple("doc:5#viewer@carl") }])).revision).toBe(5);
      } finally {
        await second.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
