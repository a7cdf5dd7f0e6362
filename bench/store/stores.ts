/**
 * The durable stores the write figures run on: PGlite in a fresh temporary folder and PostgreSQL in a fresh
 * temporary database (`GATEHOUSE_TEST_POSTGRES_URL`, as the test suites use). Whether PostgreSQL runs follows
 * the tests' rule: when the server is reachable, or always under `CI=true` (then an unreachable server fails
 * the group instead of quietly skipping it).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPgliteStore, createPostgresStore, type TupleStore } from "../../engine/store/index.js";
import { createTempDatabase, isPostgresReachable, postgresAdminUrl } from "../../test/support/postgres.js";

export type StoreKind = "pglite" | "postgres";

/** A fresh, empty database of one kind; `open` may be called again after closing (to reopen the same data). */
export interface BenchDatabase {
  readonly kind: StoreKind;
  open(): Promise<TupleStore>;
  /** Deletes the folder or drops the database. */
  dispose(): Promise<void>;
}

/** Creates an empty database of `kind`. */
export async function createBenchDatabase(kind: StoreKind): Promise<BenchDatabase> {
  if (kind === "pglite") {
    const dir = mkdtempSync(join(tmpdir(), "gatehouse-bench-pglite-"));
    return {
      kind,
      open: () => createPgliteStore({ dataDir: dir }),
      async dispose() {
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const db = await createTempDatabase("gatehouse_bench");
  return {
    kind,
    open: () => createPostgresStore({ connectionString: db.connectionString }),
    dispose: () => db.drop(),
  };
}

/** Undefined when PostgreSQL figures should run; otherwise why they are skipped. */
export async function postgresSkipReason(): Promise<string | undefined> {
  if (await isPostgresReachable()) return undefined;
  if (process.env["CI"] === "true") return undefined;
  const url = new URL(postgresAdminUrl());
  url.password = "";
  return `PostgreSQL is not reachable at ${url.host}${url.pathname} (set GATEHOUSE_TEST_POSTGRES_URL; under CI=true this fails instead)`;
}
