/**
 * The tiny database interface the SQL store and the migrations run on. Each backend (PGlite, `pg`) adapts to
 * it, so the SQL lives in one place and stays identical across backends.
 */
import { ConflictError } from "../../common/errors.js";

/** A bind parameter. Revisions are passed as numbers (they stay far below 2^53). */
export type SqlValue = string | number | null;

/** A result row by column name. BIGINT columns arrive as number, bigint or string depending on the driver. */
export type SqlRow = Readonly<Record<string, unknown>>;

/** The outcome of one statement. */
export interface SqlResult {
  readonly rows: readonly SqlRow[];
  /** Rows inserted, updated, deleted or returned, as the database reports it. */
  readonly rowCount: number;
}

/** Something that runs one statement with `$1`-style parameters. */
export interface SqlQueryable {
  query(sql: string, params?: readonly SqlValue[]): Promise<SqlResult>;
}

/** A database connection (or pool) that can also run a transaction and be closed. */
export interface SqlExecutor extends SqlQueryable {
  /**
   * Runs `fn` in one transaction (PostgreSQL's default READ COMMITTED isolation) on one connection: commits
   * when it resolves, rolls back and rethrows when it throws.
   */
  transaction<T>(fn: (tx: SqlQueryable) => Promise<T>): Promise<T>;
  /** Releases the connection(s). */
  close(): Promise<void>;
}

/** Reads a BIGINT/INT column whatever the driver made of it. */
export function toRevision(value: unknown): number {
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isSafeInteger(n)) throw new Error(`expected an integer column value, got ${String(value)}`);
  return n;
}

/** The SQLSTATE of a database error, if it has one. */
export function sqlStateOf(err: unknown): string | undefined {
  if (typeof err === "object" && err !== null && "code" in err) {
    const code = (err as { code: unknown }).code;
    if (typeof code === "string") return code;
  }
  return undefined;
}

/** Attempts for a transaction the database aborted as a serialisation conflict (CockroachDB's 40001). */
const SERIALIZATION_ATTEMPTS = 3;

/**
 * Runs a write transaction, retrying the serialisation failures CockroachDB reports instead of blocking;
 * after the last attempt the conflict is a `ConflictError` the caller can retry.
 */
export async function writeTransaction<T>(executor: SqlExecutor, fn: (tx: SqlQueryable) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await executor.transaction(fn);
    } catch (err) {
      if (sqlStateOf(err) !== "40001") throw err;
      if (attempt >= SERIALIZATION_ATTEMPTS) {
        throw new ConflictError("the write conflicted with concurrent writes; retry it", { cause: err });
      }
    }
  }
}
