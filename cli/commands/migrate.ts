/**
 * `gatehouse migrate`: applies the versioned SQL migrations to PostgreSQL (`--database-url` or
 * `GATEHOUSE_DATABASE_URL`) or to the embedded PGlite store (`--data-dir`, `GATEHOUSE_DATA_DIR`).
 */
import { parseArgs } from "node:util";
import { GatehouseError } from "../../common/errors.js";
import {
  DEFAULT_PGLITE_DATA_DIR,
  migrate,
  migrateDatabase,
  openPgliteExecutor,
  type MigrateResult,
} from "../../engine/store/index.js";

const usage = `Usage: gatehouse migrate [--database-url postgres://…] [--data-dir PATH]

Applies the versioned SQL migrations (safe to run from several processes at once):
  --database-url URL   PostgreSQL (or GATEHOUSE_DATABASE_URL)
  --data-dir PATH      the embedded PGlite store when no URL is given (or GATEHOUSE_DATA_DIR; default ${DEFAULT_PGLITE_DATA_DIR})
`;

/** Runs `gatehouse migrate`; returns the exit code. */
export async function runMigrate(args: readonly string[]): Promise<number> {
  let values: { "database-url"?: string; "data-dir"?: string; help?: boolean };
  try {
    values = parseArgs({
      args: [...args],
      options: { "database-url": { type: "string" }, "data-dir": { type: "string" }, help: { type: "boolean", short: "h" } },
    }).values;
  } catch (err) {
    process.stderr.write(`gatehouse migrate: ${(err as Error).message}\n\n${usage}`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(usage);
    return 0;
  }
  const url = values["database-url"] ?? process.env.GATEHOUSE_DATABASE_URL;
  try {
    let result: MigrateResult;
    let target: string;
    if (url !== undefined && url !== "") {
      result = await migrateDatabase(url);
      target = "PostgreSQL";
    } else {
      const dataDir = values["data-dir"] ?? process.env.GATEHOUSE_DATA_DIR ?? DEFAULT_PGLITE_DATA_DIR;
      const executor = await openPgliteExecutor({ dataDir });
      try {
        result = await migrate(executor);
      } finally {
        await executor.close();
      }
      target = `the embedded store in ${dataDir}`;
    }
    const applied = result.applied.length === 0 ? "already up to date" : `applied ${result.applied.join(", ")}`;
    process.stdout.write(`Migrated ${target}: ${applied}; schema version ${result.version}.\n`);
    return 0;
  } catch (err) {
    const message = err instanceof GatehouseError ? err.message : String(err);
    process.stderr.write(`gatehouse migrate: ${message}\n`);
    return 1;
  }
}
