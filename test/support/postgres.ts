/**
 * PostgreSQL helpers for test suites: is a server reachable, should a suite run, and throwaway databases.
 *
 * The server is `GATEHOUSE_TEST_POSTGRES_URL` (default `postgres://postgres@127.0.0.1:5432/test`, the
 * database used to create and drop temporary ones). Outside CI an unreachable server skips the suite with a
 * loud warning; with `CI=true` the suite runs anyway and fails, so CI can never silently skip it.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";

/** The admin connection string tests use. */
export function postgresAdminUrl(): string {
  return process.env["GATEHOUSE_TEST_POSTGRES_URL"] ?? "postgres://postgres@127.0.0.1:5432/test";
}

/** True when a connection to the server succeeds within `timeoutMillis`. */
export async function isPostgresReachable(url = postgresAdminUrl(), timeoutMillis = 2_000): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMillis });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/**
 * Whether a PostgreSQL suite should run: true when the server is reachable or `CI=true` (then the suite
 * fails loudly instead of being skipped); otherwise warns on the console and returns false.
 */
export async function shouldRunPostgresSuite(suite: string): Promise<boolean> {
  if (await isPostgresReachable()) return true;
  if (process.env["CI"] === "true") return true;
  console.warn(
    `\n!!! SKIPPING ${suite}: PostgreSQL is not reachable at ${redact(postgresAdminUrl())}.\n` +
      `!!! Start one or set GATEHOUSE_TEST_POSTGRES_URL; under CI=true this suite fails instead.\n`,
  );
  return false;
}

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== "") u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable URL)";
  }
}

/** A database created for one test run. */
export interface TempDatabase {
  readonly name: string;
  /** A connection string to it (same server and credentials as the admin URL). */
  readonly connectionString: string;
  /** Drops it, disconnecting anyone still connected. */
  drop(): Promise<void>;
}

async function withAdmin<T>(fn: (client: pg.Client) => Promise<T>, url = postgresAdminUrl()): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  client.on("error", () => {});
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => {});
  }
}

/** Creates `<prefix>_<random>` on the test server. */
export async function createTempDatabase(prefix = "gatehouse_test"): Promise<TempDatabase> {
  const name = `${prefix}_${randomBytes(6).toString("hex")}`;
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unsafe database name ${name}`);
  await withAdmin((c) => c.query(`CREATE DATABASE ${name}`));
  const url = new URL(postgresAdminUrl());
  url.pathname = `/${name}`;
  return {
    name,
    connectionString: url.toString(),
    async drop() {
      await withAdmin(async (c) => {
        try {
          await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        } catch {
          // Before PostgreSQL 13 there is no FORCE; end the other sessions by hand.
          await c.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [name]);
          await c.query(`DROP DATABASE IF EXISTS ${name}`);
        }
      });
    },
  };
}

/** Empties a database by recreating its `public` schema (fast isolation between tests). */
export async function resetPublicSchema(connectionString: string): Promise<void> {
  await withAdmin(async (c) => {
    await c.query("DROP SCHEMA IF EXISTS public CASCADE");
    await c.query("CREATE SCHEMA public");
  }, connectionString);
}
