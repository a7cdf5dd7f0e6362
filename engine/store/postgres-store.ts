/**
 * The PostgreSQL backend over a `pg` connection pool (the same SQL also targets CockroachDB). Connection
 * failures surface as `UnavailableError` naming the server, never the password.
 */
import pg from "pg";
import type { PoolClient, PoolConfig } from "pg";
import { UnavailableError } from "../../common/errors.js";
import type { SqlExecutor, SqlQueryable, SqlResult, SqlValue } from "./sql-executor.js";
import { sqlStateOf } from "./sql-executor.js";
import type { MigrateOptions, MigrateResult } from "./sql-migrations.js";
import { migrate } from "./sql-migrations.js";
import { createSqlStore } from "./sql-store.js";
import type { TupleStore } from "./tuple-store.js";

/** Options of `createPostgresExecutor`. */
export interface PostgresConnectionOptions {
  /** A libpq connection URI, e.g. `postgres://user:password@host:5432/gatehouse`. */
  readonly connectionString: string;
  /** The most connections the pool opens (default 10). */
  readonly maxConnections?: number;
  /** How long to wait for a connection before failing with `unavailable` (default 5,000 ms). */
  readonly connectionTimeoutMillis?: number;
  /** How long an idle connection stays open (default 30,000 ms). */
  readonly idleTimeoutMillis?: number;
  /** Server-side limit per statement; absent means the server's setting. */
  readonly statementTimeoutMillis?: number;
  /** TLS settings passed to `pg` as-is. */
  readonly ssl?: PoolConfig["ssl"];
}

/** Options of `createPostgresStore`. */
export interface PostgresStoreOptions extends PostgresConnectionOptions {
  /** Apply pending migrations at start (default true). */
  readonly migrate?: boolean;
  /** HMAC key for page tokens; default: a random secret generated once per database (see `SqlStoreOptions`). */
  readonly paginationSecret?: string | Uint8Array;
}

/** Node network errors and SQLSTATEs that mean "the server cannot be used right now". */
const NETWORK_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EPIPE"]);
const UNAVAILABLE_STATES = new Set(["57P01", "57P02", "57P03", "53300", "3D000", "28000", "28P01"]);

/** Whether a pg error means the server cannot be reached or used right now (exported for its test). */
export function isConnectionFailure(err: unknown): boolean {
  const code = sqlStateOf(err);
  if (code !== undefined && (NETWORK_CODES.has(code) || UNAVAILABLE_STATES.has(code) || code.startsWith("08"))) return true;
  const message = err instanceof Error ? err.message : "";
  // pg reports pool timeouts, dropped sockets and clients reused after their connection broke (a query
  // racing a server shutdown) without a code.
  return /timeout exceeded when trying to connect|Connection terminated|connection timeout|is not queryable/i.test(message);
}

/** `host:port/database` of a connection string, without credentials, for error messages. */
export function describeServer(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    return `${url.hostname || "localhost"}:${url.port || "5432"}${url.pathname}`;
  } catch {
    return "the configured server";
  }
}

function mapError(err: unknown, server: string): unknown {
  if (!isConnectionFailure(err)) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new UnavailableError(`PostgreSQL at ${server} is unavailable: ${reason}`, { cause: err });
}

function adapt(client: Pick<PoolClient, "query">, server: string): SqlQueryable {
  return {
    async query(sql: string, params: readonly SqlValue[] = []): Promise<SqlResult> {
      try {
        const result = await client.query<Record<string, unknown>>(sql, [...params]);
        return { rows: result.rows, rowCount: result.rowCount ?? result.rows.length };
      } catch (err) {
        throw mapError(err, server);
      }
    },
  };
}

/** Creates a pooled PostgreSQL executor. Connections open lazily, on the first query. */
export function createPostgresExecutor(options: PostgresConnectionOptions): SqlExecutor {
  const server = describeServer(options.connectionString);
  const config: PoolConfig = {
    connectionString: options.connectionString,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: options.connectionTimeoutMillis ?? 5_000,
    idleTimeoutMillis: options.idleTimeoutMillis ?? 30_000,
    application_name: "gatehouse",
  };
  if (options.statementTimeoutMillis !== undefined) config.statement_timeout = options.statementTimeoutMillis;
  if (options.ssl !== undefined) config.ssl = options.ssl;
  const pool = new pg.Pool(config);
  // An idle connection dropped by the server emits "error" on the pool; without a listener Node would crash
  // the process. The pool discards that connection and the next query reports any lasting problem.
  pool.on("error", () => {});
  const base = adapt(pool, server);
  let ended = false;

  return {
    query: base.query,
    async transaction(fn) {
      let client: PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        throw mapError(err, server);
      }
      let broken: Error | undefined;
      // While a client is checked out the pool does not listen for its errors, and `pg` emits "error" when the
      // server drops the connection (a restart) even with a query running: without a listener that would
      // crash the process. The running query fails on its own; the connection must not be reused.
      const onError = (err: Error): void => {
        broken = err;
      };
      client.on("error", onError);
      try {
        const tx = adapt(client, server);
        await tx.query("BEGIN");
        const result = await fn(tx);
        await tx.query("COMMIT");
        return result;
      } catch (err) {
        try {
          await client.query("ROLLBACK");
        } catch (rollbackErr) {
          // The connection is unusable; have the pool destroy it instead of reusing it.
          broken = rollbackErr instanceof Error ? rollbackErr : new Error(String(rollbackErr));
        }
        throw err;
      } finally {
        client.off("error", onError);
        client.release(broken);
      }
    },
    async close() {
      if (ended) return;
      ended = true;
      await pool.end();
    },
  };
}

/** The channel every write notifies with its revision (`LISTEN gatehouse_changelog` to follow the head). */
export const CHANGELOG_CHANNEL = "gatehouse_changelog";

/** Opens the PostgreSQL tuple store (migrated unless `migrate: false`). */
export async function createPostgresStore(options: PostgresStoreOptions): Promise<TupleStore> {
  const executor = createPostgresExecutor(options);
  return createSqlStore({
    executor,
    notifyChannel: CHANGELOG_CHANNEL,
    ...(options.migrate === undefined ? {} : { migrate: options.migrate }),
    ...(options.paginationSecret === undefined ? {} : { paginationSecret: options.paginationSecret }),
  });
}

/** Applies pending migrations to a PostgreSQL database (the `gatehouse migrate` command). */
export async function migrateDatabase(
  connectionString: string,
  options: MigrateOptions & Omit<PostgresConnectionOptions, "connectionString"> = {},
): Promise<MigrateResult> {
  const executor = createPostgresExecutor({ ...options, connectionString, maxConnections: 1 });
  try {
    return await migrate(executor, options.migrations === undefined ? {} : { migrations: options.migrations });
  } finally {
    await executor.close();
  }
}
