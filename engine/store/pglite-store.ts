/**
 * The embedded default backend: PostgreSQL compiled to WebAssembly (PGlite), data in a local folder. One
 * process at a time may open a data folder; PGlite runs one statement at a time, which also serialises writers.
 */
import { mkdir } from "node:fs/promises";
import { PGlite } from "@electric-sql/pglite";
import type { Transaction } from "@electric-sql/pglite";
import { UnavailableError } from "../../common/errors.js";
import type { SqlExecutor, SqlQueryable, SqlResult, SqlValue } from "./sql-executor.js";
import { createSqlStore } from "./sql-store.js";
import type { TupleStore } from "./tuple-store.js";

/** Where PGlite keeps its data when no folder is given. */
export const DEFAULT_PGLITE_DATA_DIR = "./.gatehouse/data";

/** Options of `openPgliteExecutor`. */
export interface PgliteExecutorOptions {
  /** The data folder (created if missing); `"memory://"` keeps everything in memory. Default `./.gatehouse/data`. */
  readonly dataDir?: string;
  /** An already-open PGlite to use instead of opening `dataDir`; it is then not closed by the executor. */
  readonly database?: PGlite;
}

/** Options of `createPgliteStore`. */
export interface PgliteStoreOptions extends PgliteExecutorOptions {
  /** Apply pending migrations at start (default true). */
  readonly migrate?: boolean;
  /** HMAC key for page tokens; default: a random secret generated once per database (see `SqlStoreOptions`). */
  readonly paginationSecret?: string | Uint8Array;
}

type PgliteQueryable = Pick<Transaction, "query">;

function adapt(q: PgliteQueryable): SqlQueryable {
  return {
    async query(sql: string, params: readonly SqlValue[] = []): Promise<SqlResult> {
      const result = await q.query<Record<string, unknown>>(sql, [...params]);
      return { rows: result.rows, rowCount: result.rowCount ?? result.affectedRows ?? result.rows.length };
    },
  };
}

/** Wraps an open PGlite instance as an executor; `ownsDatabase` decides whether `close()` closes it. */
export function pgliteExecutor(db: PGlite, ownsDatabase: boolean): SqlExecutor {
  const base = adapt(db);
  return {
    query: base.query,
    transaction: (fn) => db.transaction((tx) => fn(adapt(tx))),
    async close() {
      if (ownsDatabase && !db.closed) await db.close();
    },
  };
}

/** Opens PGlite on a data folder (or uses the given instance) and returns it as an executor. */
export async function openPgliteExecutor(options: PgliteExecutorOptions = {}): Promise<SqlExecutor> {
  if (options.database !== undefined) return pgliteExecutor(options.database, false);
  const dataDir = options.dataDir ?? DEFAULT_PGLITE_DATA_DIR;
  try {
    if (!dataDir.includes("://")) await mkdir(dataDir, { recursive: true });
    const db = await PGlite.create(dataDir);
    return pgliteExecutor(db, true);
  } catch (err) {
    throw new UnavailableError(`cannot open the PGlite database in ${dataDir}: ${(err as Error).message}`, { cause: err });
  }
}

/** Opens the embedded PGlite tuple store (migrated unless `migrate: false`). */
export async function createPgliteStore(options: PgliteStoreOptions = {}): Promise<TupleStore> {
  const executor = await openPgliteExecutor(options);
  return createSqlStore({
    executor,
    ...(options.migrate === undefined ? {} : { migrate: options.migrate }),
    ...(options.paginationSecret === undefined ? {} : { paginationSecret: options.paginationSecret }),
  });
}
